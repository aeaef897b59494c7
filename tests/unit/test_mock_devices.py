import pytest

from sis.kernel.drivers.block import BLOCK_SIZE, FileBlockDevice, MemoryBlockDevice, create_image
from sis.kernel.drivers.mock import MockBlockDevice, MockClock, PowerCut
from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import Errno, KernelError

BLOCK = b"x" * BLOCK_SIZE


def test_rng_is_deterministic_per_seed():
    a, b, c = Rng(7), Rng(7), Rng(8)
    assert [a.next_u64() for _ in range(5)] == [b.next_u64() for _ in range(5)]
    assert Rng(7).next_u64() != c.next_u64()
    r = Rng(1)
    assert all(0 <= r.randrange(10) < 10 for _ in range(1000))
    assert 0.4 < sum(r.chance(0.5) for _ in range(10_000)) / 10_000 < 0.6


def test_mock_disk_failure_rate_is_seeded_and_counted():
    def run(seed):
        d = MockBlockDevice(64, write_failure_rate=0.3, seed=seed)
        out = []
        for i in range(50):
            try:
                d.write_block(i, BLOCK)
                out.append(True)
            except KernelError as e:
                assert e.errno is Errno.EIO
                out.append(False)
        return out, d

    first, d = run(3)
    again, _ = run(3)
    assert first == again  # the same seed replays the same faults
    assert 5 < first.count(False) < 30 and d.injected_errors == first.count(False)
    assert d.stats.writes == first.count(True)


def test_mock_disk_fail_blocks_read_only_and_power_cut():
    d = MockBlockDevice(16, fail_blocks={3})
    with pytest.raises(KernelError):
        d.read_block(3)
    ro = MockBlockDevice(16, read_only=True)
    with pytest.raises(KernelError) as e:
        ro.write_block(0, BLOCK)
    assert e.value.errno is Errno.EROFS
    cut = MockBlockDevice(16, crash_after_writes=2)
    cut.write_block(0, BLOCK)
    cut.write_block(1, BLOCK)
    with pytest.raises(PowerCut):
        cut.write_block(2, BLOCK)
    image = cut.snapshot()
    assert image.read_block(1) == BLOCK and image.read_block(2) == bytes(BLOCK_SIZE)


def test_file_block_device_persists_and_checks_geometry(tmp_path):
    path = tmp_path / "d.img"
    create_image(path, 10 * BLOCK_SIZE)
    d = FileBlockDevice(path)
    d.write_block(9, BLOCK)
    d.flush()
    d.close()
    assert FileBlockDevice(path).read_block(9) == BLOCK
    with pytest.raises(KernelError):
        FileBlockDevice(path).read_block(10)
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"abc")
    with pytest.raises(KernelError) as e:
        FileBlockDevice(odd)
    assert "4 KiB" in e.value.detail
    with pytest.raises(KernelError):
        FileBlockDevice(tmp_path / "missing.img")


def test_memory_block_device_stats():
    d = MemoryBlockDevice(4)
    d.write_block(0, BLOCK)
    d.read_block(0)
    d.read_block(1)
    assert (d.stats.writes, d.stats.reads, d.stats.bytes_read) == (1, 2, 2 * BLOCK_SIZE)


def test_mock_clock_jitter_and_advance():
    c = MockClock(jitter_ns=1000, seed=1)
    t0 = c.monotonic_ns()
    c.advance(5_000_000_000)
    assert c.monotonic_ns() - t0 >= 5_000_000_000 - 1000


def test_host_timer_stands_still_while_paused():
    import time

    from sis.kernel.drivers.timer import HostTimer

    t = HostTimer()
    t.pause()
    frozen = t.monotonic_ns()
    time.sleep(0.05)
    assert t.monotonic_ns() == frozen
    t.resume()
    assert 0 <= t.monotonic_ns() - frozen < 40_000_000  # the 50 ms pause is not counted

"""The chaos disk's volatile write cache: a power loss leaves what was flushed (and FUA
writes) and nothing after; anything else leaves the disk as it was."""

from __future__ import annotations

from pathlib import Path

from sis.harness.chaos.crashpoints import power_loss_state
from sis.harness.chaos.volatile import CachedDisk
from sis.harness.chaos.writelog import FUA, LogWriter, read_log

SECTOR = 512


class _Guest:
    """What CachedDisk asks of a session; `write` does what QEMU does: the disk and its log."""

    def __init__(self, tmp: Path) -> None:
        self.image = tmp / "disk.img"
        self.image.write_bytes(bytes(64 * SECTOR))
        self.boot_count = 0
        self.cache = CachedDisk(self, tmp / "cache")  # type: ignore[arg-type]
        self.log: LogWriter | None = None

    def prepare_disk(self) -> Path:
        return self.image

    def disk_path(self) -> Path:
        return self.image

    def boot(self) -> None:
        self.cache.booting()
        self.boot_count += 1
        self.log = LogWriter(self.cache.disk.log, SECTOR)

    def write(self, sector: int, byte: int, flags: int = 0, *, logged: bool = True) -> None:
        data = bytes([byte]) * SECTOR
        with open(self.image, "r+b") as f:
            f.seek(sector * SECTOR)
            f.write(data)
        if logged:
            assert self.log is not None
            self.log.write(sector, data, flags)

    def sector(self, n: int) -> int:
        return self.image.read_bytes()[n * SECTOR]


def test_a_power_loss_keeps_the_flushed_writes_and_drops_the_rest(tmp_path: Path) -> None:
    g = _Guest(tmp_path)
    g.boot()
    g.write(1, 0xA1)
    g.log.flush()
    g.write(2, 0xB2)  # after the last flush: in the cache only
    g.write(3, 0xC3, FUA)  # FUA: durable on its own
    what = g.cache.stopped(power_lost=True)
    assert what == "boot 1: the volatile write cache lost 1 of 3 writes (not yet flushed)"
    assert (g.sector(1), g.sector(2), g.sector(3)) == (0xA1, 0, 0xC3)


def test_a_stop_without_power_loss_keeps_every_write(tmp_path: Path) -> None:
    g = _Guest(tmp_path)
    g.boot()
    g.write(2, 0xB2)
    assert g.cache.stopped(power_lost=False) == ""
    assert g.sector(2) == 0xB2
    # and a power cycle of the machine that is already off loses nothing more
    assert g.cache.stopped(power_lost=True) == ""
    assert g.sector(2) == 0xB2


def test_each_boot_starts_from_the_disk_the_last_one_left(tmp_path: Path) -> None:
    g = _Guest(tmp_path)
    g.boot()
    g.write(1, 0x11)
    g.log.flush()
    g.cache.stopped(power_lost=True)
    g.boot()
    g.write(2, 0x22)
    g.cache.stopped(power_lost=True)
    assert (g.sector(1), g.sector(2)) == (0x11, 0)


def test_a_boot_that_wrote_nothing_loses_nothing(tmp_path: Path) -> None:
    g = _Guest(tmp_path)
    g.cache.booting()  # QEMU opened the log and never wrote to it
    g.boot_count += 1
    assert g.cache.stopped(power_lost=True).endswith("lost 0 of 0 writes (not yet flushed)")
    assert not g.cache.losses[-1].error


def test_a_log_that_missed_a_write_is_said_and_the_disk_left_alone(tmp_path: Path) -> None:
    g = _Guest(tmp_path)
    g.boot()
    g.write(1, 0x11)
    g.write(2, 0x22, logged=False)  # reached the disk without the log knowing
    what = g.cache.stopped(power_lost=True)
    assert "could not be dropped: the write log (1 entries) replayed onto the disk" in what
    assert what.endswith("the log missed writes")
    assert (g.sector(1), g.sector(2)) == (0x11, 0x22)
    assert g.cache.losses[-1].error


def test_the_power_loss_state_is_the_last_flush_point(tmp_path: Path) -> None:
    w = LogWriter(tmp_path / "log", SECTOR)
    w.write(0, bytes(SECTOR))
    w.flush()
    w.write(1, bytes(SECTOR))
    w.write(2, bytes(SECTOR), FUA)
    w.flush()
    w.write(3, bytes(SECTOR))
    w.write(4, bytes(SECTOR), FUA)
    w.close()
    state = power_loss_state(read_log(tmp_path / "log"))
    assert (state.name, state.durable, state.extra, state.cut) == ("flush 2", 5, (6,), 7)
    empty = LogWriter(tmp_path / "empty", SECTOR)
    empty.close()
    assert power_loss_state(read_log(tmp_path / "empty")).durable == 0

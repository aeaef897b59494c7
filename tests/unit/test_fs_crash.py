"""Crash consistency, in the style of SQLite's and CrashMonkey's tests.

A scripted workload runs once on a mock disk to count its block writes W. Then, for each crash
point k, it runs again on a disk that loses power after k writes (or fails the k-th write with
EIO). What is left on the platters must mount, pass fsck, and hold exactly the state after some
whole prefix of the workload that includes every operation acknowledged by a completed
sync/fsync: acknowledged changes survive, each file is an old or a new version, never a mix.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.drivers.mock import MockBlockDevice, PowerCut
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck, journal, resolve, walk
from sis.kernel.fs.layout import Superblock

BLOCKS = 512
JOURNAL_BLOCKS = 48  # small, so the workload also commits on its own when the journal fills
MAX_POINTS = 700  # beyond this, crash points are sampled (see crash_points)


def payload(seed: int, size: int) -> bytes:
    return bytes((seed * 31 + i * 7 + i // 251) & 0xFF for i in range(size))


STEPS: list[tuple] = [
    ("mkdir", "/d"),
    ("create", "/d/a"),
    ("write", "/d/a", 0, payload(1, 10_000)),
    ("fsync", "/d/a"),
    ("create", "/b"),
    ("write", "/b", 0, payload(2, 3_000)),
    ("write", "/d/a", 4096, payload(3, 5_000)),  # overwrite across a block boundary
    ("sync",),
    ("rename", "/b", "/d/c"),
    ("mkdir", "/d/sub"),
    ("create", "/d/sub/x"),
    ("write", "/d/sub/x", 0, payload(4, 60_000)),
    ("truncate", "/d/a", 2_000),
    ("fsync", "/d/sub/x"),
    ("rename", "/d/c", "/d/a"),  # replaces a file
    ("unlink", "/d/sub/x"),
    ("write", "/d/a", 100_000, payload(5, 20_000)),  # a hole, into the indirect range
    ("sync",),
    ("rmdir", "/d/sub"),
    ("mkdir", "/e"),
    ("rename", "/d", "/e/d"),  # moves a directory
    ("create", "/e/d/y"),
    # Each fills most of the journal, so the file system commits on its own before the next.
    ("write", "/e/d/y", 0, payload(6, 30 * 4096)),
    ("write", "/e/d/y", 30 * 4096, payload(8, 30 * 4096)),
    ("write", "/e/d/y", 60 * 4096, payload(9, 30 * 4096 - 100)),
    ("unlink", "/e/d/a"),
    ("fsync", "/e/d/y"),
    ("write", "/e/d/y", 5 * 4096, payload(7, 3 * 4096)),
    ("create", "/e/z"),
    ("write", "/e/z", 0, b"last"),
    ("unmount",),
]
SYNCS = {"sync", "fsync", "unmount"}

State = dict[str, bytes | None]  # path -> contents, None for a directory


def apply_model(state: State, step: tuple) -> State:
    s = dict(state)
    op = step[0]
    if op == "mkdir":
        s[step[1]] = None
    elif op == "create":
        s[step[1]] = b""
    elif op == "write":
        _, path, off, data = step
        old = s[path] or b""
        old = old.ljust(off, b"\0")
        s[path] = old[:off] + data + old[off + len(data) :]
    elif op == "truncate":
        _, path, size = step
        s[path] = (s[path] or b"")[:size].ljust(size, b"\0")
    elif op in ("unlink", "rmdir"):
        del s[step[1]]
    elif op == "rename":
        _, src, dst = step
        moved = {p: v for p, v in s.items() if p == src or p.startswith(src + "/")}
        for p in moved:
            del s[p]
        s.pop(dst, None)
        for p, v in moved.items():
            s[dst + p[len(src) :]] = v
    return s


def apply_fs(fs: FileSystem, step: tuple) -> None:
    op = step[0]
    root = fs.ROOT_INO
    if op in ("mkdir", "create", "unlink", "rmdir"):
        d, name = resolve(fs, step[1], root, parent=True)
        if op == "mkdir":
            fs.mkdir(d, name, 0o755)
        elif op == "create":
            fs.create(d, name, 0o644)
        elif op == "unlink":
            fs.unlink(d, name)
        else:
            fs.rmdir(d, name)
    elif op == "write":
        assert fs.write(resolve(fs, step[1], root), step[2], step[3]) == len(step[3])
    elif op == "truncate":
        fs.truncate(resolve(fs, step[1], root), step[2])
    elif op == "rename":
        od, on = resolve(fs, step[1], root, parent=True)
        nd, nn = resolve(fs, step[2], root, parent=True)
        fs.rename(od, on, nd, nn)
    elif op == "fsync":
        fs.fsync(resolve(fs, step[1], root))
    elif op == "sync":
        fs.sync()
    elif op == "unmount":
        fs.unmount()


def fs_state(fs: FileSystem) -> State:
    out: State = {}
    for path, st in walk(fs):
        if path != "/":
            out[path] = None if st.is_dir else fs.read(st.ino, 0, st.size)
    return out


STATES: list[State] = list(itertools.accumulate(STEPS, apply_model, initial={}))
# DURABLE[i]: how many steps are acknowledged once steps[:i] have completed.
DURABLE = [
    max([j + 1 for j in range(i) if STEPS[j][0] in SYNCS], default=0) for i in range(len(STEPS) + 1)
]


def clock() -> int:
    return 1_700_000_000_000_000_000


@dataclass
class FailingDisk(MockBlockDevice):
    """Fails exactly one write, the `fail_write`-th (0-based), with EIO."""

    fail_write: int | None = None

    def write_block(self, index: int, data: bytes) -> None:
        if self.fail_write is not None and self.writes_done == self.fail_write:
            self.fail_write = None
            self.injected_errors += 1
            raise KernelError(Errno.EIO, f"injected write error on block {index}")
        super().write_block(index, data)


def fresh_disk(cls: type[MockBlockDevice] = MockBlockDevice) -> MockBlockDevice:
    dev = cls(BLOCKS)
    FileSystem.format(dev, journal_blocks=JOURNAL_BLOCKS, clock=clock)
    return dev


def run_clean() -> tuple[int, list[int]]:
    """Block writes the whole workload makes, and the write counts at each flush."""
    dev = fresh_disk()
    base = dev.writes_done
    flushes: list[int] = []
    real_flush = dev.flush

    def flush() -> None:
        flushes.append(dev.writes_done - base)
        real_flush()

    dev.flush = flush  # type: ignore[method-assign]
    fs = FileSystem.mount(dev, clock=clock)
    for step in STEPS:
        apply_fs(fs, step)
    assert fs_state(FileSystem.mount(dev.snapshot(), clock=clock)) == STATES[-1]
    return dev.writes_done - base, flushes


WRITES, FLUSH_POINTS = run_clean()


def crash_points(total: int, boundaries: list[int], limit: int = MAX_POINTS) -> list[int]:
    """Every k in 0..total if that is at most `limit` points. Otherwise a deterministic
    sample: every flush boundary and its neighbours (where ordering bugs live), plus evenly
    spaced points, `limit` in all at least."""
    if total + 1 <= limit:
        return list(range(total + 1))
    points = {0, total}
    for b in boundaries:
        points.update(k for k in (b - 1, b, b + 1) if 0 <= k <= total)
    stride = max(1, total // limit)
    points.update(range(0, total + 1, stride))
    return sorted(points)


def check_recovered(image: MemoryBlockDevice, failed_step: int | None, what: str) -> None:
    before = fsck(image)
    assert before.clean, f"{what}: fsck before mount: {before.findings}"
    fs = FileSystem.mount(image, clock=clock)
    after = fsck(image)
    assert after.clean, f"{what}: fsck after replay: {after.findings}"
    state = fs_state(fs)
    if failed_step is None:
        assert state == STATES[-1], f"{what}: completed run lost data"
        return
    allowed = range(DURABLE[failed_step], failed_step + 1)
    assert any(state == STATES[j] for j in allowed), (
        f"{what}: after a failure in step {failed_step} {STEPS[failed_step][0]!r}, the disk matches "
        f"none of the states after steps {allowed.start}..{allowed.stop - 1}"
    )
    fs.unmount()


def test_workload_is_big_enough_to_matter() -> None:
    # A commit flushes 4 times; besides the explicit syncs, the full journal forced some.
    commits = len(FLUSH_POINTS) // 4
    assert commits >= sum(1 for s in STEPS if s[0] in SYNCS) + 2
    assert WRITES > 300


def test_sampling_keeps_flush_boundaries() -> None:
    pts = crash_points(10_000, [5, 500, 9_000], limit=150)
    assert {4, 5, 6, 499, 500, 501, 8_999, 9_000, 9_001, 0, 10_000} <= set(pts)
    assert len(pts) >= 150
    assert crash_points(100, [50]) == list(range(101))


def test_power_cut_at_every_write() -> None:
    for k in crash_points(WRITES, FLUSH_POINTS):
        dev = fresh_disk()
        dev.crash_after_writes = dev.writes_done + k
        failed = None
        fs = FileSystem.mount(dev, clock=clock)
        for i, step in enumerate(STEPS):
            try:
                apply_fs(fs, step)
            except PowerCut:
                failed = i
                break
        # Even at k == WRITES the power goes before the final flush returns.
        assert failed is not None, f"k={k}"
        check_recovered(dev.snapshot(), failed, f"power cut after {k} writes")


def test_write_error_at_every_write() -> None:
    for k in crash_points(WRITES - 1, FLUSH_POINTS):
        dev = fresh_disk(FailingDisk)
        assert isinstance(dev, FailingDisk)
        dev.fail_write = dev.writes_done + k
        fs = FileSystem.mount(dev, clock=clock)
        failed = None
        for i, step in enumerate(STEPS):
            try:
                apply_fs(fs, step)
            except KernelError as e:
                if failed is None:
                    assert e.errno == Errno.EIO, f"k={k}: step {i} failed with {e}"
                    failed = i
                else:
                    # After the error the mount is read-only (ENOENT: a step whose file
                    # could not be created).
                    assert e.errno in (Errno.EROFS, Errno.EIO, Errno.ENOENT), (
                        f"k={k}: step {i}: {e}"
                    )
            else:
                assert failed is None, (
                    f"k={k}: step {i} {STEPS[i][0]!r} succeeded after an I/O error"
                )
        assert failed is not None, f"k={k}: the injected error was not reported"
        check_recovered(dev.snapshot(), failed, f"EIO at write {k}")


def test_power_cut_during_replay_then_mount_again() -> None:
    """A crash while mount replays the journal is repaired by the next mount."""
    checked = 0
    for k in crash_points(WRITES, FLUSH_POINTS):
        dev = fresh_disk()
        dev.crash_after_writes = dev.writes_done + k
        fs = FileSystem.mount(dev, clock=clock)
        failed = None
        for i, step in enumerate(STEPS):
            try:
                apply_fs(fs, step)
            except PowerCut:
                failed = i
                break
        image = dev.snapshot()
        sb = Superblock.parse(image.read_block(0), image.block_count)
        pending = journal.read_state(image, sb)
        if pending.status != "committed":
            continue
        for j in range(len(pending.blocks) + 1):
            disk = MockBlockDevice(BLOCKS)
            for n in range(BLOCKS):
                disk.write_block(n, image.read_block(n))
            disk.crash_after_writes = disk.writes_done + j
            with pytest.raises(PowerCut):
                FileSystem.mount(disk, clock=clock)
            check_recovered(
                disk.snapshot(), failed, f"crash after {k} writes, then {j} replay writes"
            )
        checked += 1
        if checked == 4:
            break
    assert checked == 4

"""Crash consistency, in the style of SQLite's and CrashMonkey's tests.

A scripted workload runs once on a mock disk to count its block writes W. Then, for each crash
point k, it runs again on a disk that loses power after k writes (or fails the k-th write with
EIO). What is left on the platters must mount, pass fsck, and hold exactly the state after some
whole prefix of the workload that includes every operation acknowledged by a completed
sync/fsync: acknowledged changes survive, each file is an old or a new version, never a mix.
After an EIO the workload goes on, and must end as if the failed step had never been asked for.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import pytest

from fsops import run_fs_op
from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.drivers.mock import MockBlockDevice, PowerCut
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck, journal, walk
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
    """The state after `step`; a step on a missing path (after an earlier step failed) fails
    in the file system with ENOENT and changes nothing here either."""
    s = dict(state)
    op = step[0]
    if op in ("mkdir", "create"):
        parent = step[1].rsplit("/", 1)[0] or "/"
        if parent != "/" and parent not in s:
            return s
    elif op in ("write", "truncate", "unlink", "rmdir", "rename") and step[1] not in s:
        return s
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
    n = run_fs_op(fs, step)
    if step[0] == "write":
        assert n == len(step[3])  # the workload never fills the disk: writes are never short


def fs_state(fs: FileSystem) -> State:
    out: State = {}
    for path, st in walk(fs):
        if path != "/":
            out[path] = None if st.is_dir else fs.read(st.ino, 0, st.size)
    return out


def durable_points(steps: list[tuple], failed: frozenset[int] = frozenset()) -> list[int]:
    """[i]: how many steps are acknowledged once steps[:i] have run (a sync that failed
    acknowledges nothing)."""
    return [
        max([j + 1 for j in range(i) if steps[j][0] in SYNCS and j not in failed], default=0)
        for i in range(len(steps) + 1)
    ]


STATES: list[State] = list(itertools.accumulate(STEPS, apply_model, initial={}))
DURABLE = durable_points(STEPS)


def allowed_after(step: int) -> list[State]:
    """States a crash during `step` may leave: any whole prefix holding the acknowledged ones."""
    return STATES[DURABLE[step] : step + 1]


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


def run_clean() -> tuple[int, list[int], list[int]]:
    """Block writes the whole workload makes, the write counts at each flush, and the block
    each write went to."""
    dev = fresh_disk()
    base = dev.writes_done
    flushes: list[int] = []
    targets: list[int] = []
    real_flush, real_write = dev.flush, dev.write_block

    def flush() -> None:
        flushes.append(dev.writes_done - base)
        real_flush()

    def write_block(index: int, data: bytes) -> None:
        targets.append(index)
        real_write(index, data)

    dev.flush = flush  # type: ignore[method-assign]
    dev.write_block = write_block  # type: ignore[method-assign]
    fs = FileSystem.mount(dev, clock=clock)
    for step in STEPS:
        apply_fs(fs, step)
    assert fs_state(FileSystem.mount(dev.snapshot(), clock=clock)) == STATES[-1]
    return dev.writes_done - base, flushes, targets


WRITES, FLUSH_POINTS, TARGETS = run_clean()


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


def check_recovered(image: MemoryBlockDevice, allowed: list[State], what: str) -> None:
    before = fsck(image)
    assert before.clean, f"{what}: fsck before mount: {before.findings}"
    fs = FileSystem.mount(image, clock=clock)
    after = fsck(image)
    assert after.clean, f"{what}: fsck after replay: {after.findings}"
    state = fs_state(fs)
    assert state in allowed, f"{what}: the disk holds none of the {len(allowed)} allowed states"
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
        check_recovered(dev.snapshot(), allowed_after(failed), f"power cut after {k} writes")


def run_steps(fs: FileSystem, skip: int | None = None, on_error=None) -> list[tuple[int, Errno]]:
    """Run the workload, going on after errors; returns (step, errno) of each failed step."""
    errors = []
    for i, step in enumerate(STEPS):
        if i == skip:
            continue
        try:
            apply_fs(fs, step)
        except KernelError as e:
            if on_error is not None and not errors:
                on_error(i)
            errors.append((i, e.errno))
    return errors


@functools.cache
def reference_run(skip: int | None) -> tuple[list[tuple[int, Errno]], State]:
    """Errors and final state of the workload without step `skip`, on a healthy disk."""
    dev = fresh_disk()
    errors = run_steps(FileSystem.mount(dev, clock=clock), skip)
    return errors, fs_state(FileSystem.mount(dev.snapshot(), clock=clock))


def test_write_error_at_every_write() -> None:
    for k in crash_points(WRITES - 1, FLUSH_POINTS):
        dev = fresh_disk(FailingDisk)
        assert isinstance(dev, FailingDisk)
        dev.fail_write = dev.writes_done + k

        def at_failure(step: int, dev: FailingDisk = dev, k: int = k) -> None:
            # What is on the platters when the error is reported is already consistent.
            check_recovered(dev.snapshot(), allowed_after(step), f"EIO at write {k}")

        errors = run_steps(FileSystem.mount(dev, clock=clock), on_error=at_failure)
        assert errors and errors[0][1] == Errno.EIO, f"k={k}: {errors}"
        failed = errors[0][0]
        if STEPS[failed][0] == "unmount":
            continue  # detached: what the disk holds was checked at the failure
        # The mount stays usable: the rest of the workload ends exactly as on a healthy disk
        # where the failed step never ran (a failed sync is simply retried by the next one).
        ref_errors, ref_state = reference_run(None if STEPS[failed][0] in SYNCS else failed)
        assert errors[1:] == ref_errors, f"k={k}: {errors} vs {ref_errors}"
        assert fsck(dev).clean, f"k={k}"
        assert fs_state(FileSystem.mount(dev.snapshot(), clock=clock)) == ref_state, f"k={k}"


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
                disk.snapshot(),
                allowed_after(failed),
                f"crash after {k} writes, then {j} replay writes",
            )
        checked += 1
        if checked == 4:
            break
    assert checked == 4


def test_power_cut_while_retrying_after_a_write_error() -> None:
    """A write error during a checkpoint leaves a committed transaction in the journal; the
    retry must finish that checkpoint before reusing the journal. Cut the power at points
    during the retry and check what the disk holds."""
    sb = Superblock.parse(fresh_disk().read_block(0), BLOCKS)
    in_journal = range(sb.journal_start, sb.journal_start + sb.journal_blocks)
    # The second home-location write of each checkpoint: one block has reached its home.
    points = [
        k
        for k in range(2, WRITES)
        if TARGETS[k] not in in_journal
        and TARGETS[k - 1] not in in_journal
        and TARGETS[k - 2] in in_journal
    ]
    assert len(points) >= 6
    for k in points:
        for j in range(1, 64, 2):
            dev = fresh_disk(FailingDisk)
            assert isinstance(dev, FailingDisk)
            dev.fail_write = dev.writes_done + k
            dev.crash_after_writes = dev.writes_done + k + j
            fs = FileSystem.mount(dev, clock=clock)
            failed = crashed = None
            for i, step in enumerate(STEPS):
                try:
                    apply_fs(fs, step)
                except KernelError as e:
                    assert failed is None and e.errno == Errno.EIO
                    failed = i
                except PowerCut:
                    crashed = i
                    break
            assert failed is not None
            # The failed step did nothing (a failed sync acknowledged nothing).
            if STEPS[failed][0] in SYNCS:
                steps, skipped, not_durable = STEPS, 0, frozenset({failed})
            else:
                steps, skipped, not_durable = STEPS[:failed] + STEPS[failed + 1 :], 1, frozenset()
            states = list(itertools.accumulate(steps, apply_model, initial={}))
            durable = durable_points(steps, not_durable)
            if crashed is None:  # the workload ended first: all of it must be there
                pos = len(steps)
            else:
                pos = crashed - skipped if crashed > failed else crashed
            check_recovered(
                dev.snapshot(),
                states[durable[pos] : pos + 1],
                f"EIO at write {k}, power cut {j} writes later",
            )

"""Crash points: the disks a power cut could have left, rebuilt from a write log, each checked
for every write acknowledged before the cut.

A disk with a volatile write cache keeps, at a power cut, everything written before the last
completed flush (and FUA writes), plus any subset of what was written since. So for each
interval between two flushes of the log (the start counts as the first "flush point"):

* `flush K`: the cut just before the next flush, and only the flushed data survives; every
  write acknowledged before the cut must be there. This is the point that catches a flush
  that was never sent (`nobarrier`) or an acknowledgement given before the flush.
* `flush K prefix N`: the cache wrote back in order, and the cut came after the N-th write of
  the interval (each prefix, or an even spread of them when there are more than allowed).
* `flush K reorder R`: a seeded random subset of the interval's writes survived.

An acknowledgement is placed in the log by a mark (see `Ack.known_by`): it is checked at every
cut that comes after it. The images are rebuilt on the host and checked by a `Checker`
(`hostcheck`): journal replay on a copy, file-system check, contents read back.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from sis.harness.chaos.writelog import FUA, Entry, WriteLog, apply_entries

__all__ = [
    "Ack",
    "CrashState",
    "ImageCheck",
    "PointResult",
    "check_crash_points",
    "crash_states",
    "power_loss_state",
    "sparse_copy",
]


@dataclass(frozen=True)
class Ack:
    """A write the workload acknowledged: `path` must hold bytes with digest `sha256` (or, when
    the place was written again later, one of `later`) at every cut at or after `known_by`
    (the number of log entries that had certainly been issued once the acknowledgement was
    given: a mark written after it sits at entry known_by - 1)."""

    path: str
    size: int
    sha256: str
    known_by: int
    later: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CrashState:
    name: str  # `flush 3`, `flush 3 prefix 2`, `flush 3 reorder 1`
    flush: int  # the flush point it belongs to (0: the start)
    cut: int  # entries [0, cut) had been issued when the power went
    durable: int  # entries [0, durable) survive whole (up to and with the last flush)
    extra: tuple[int, ...]  # indices of later entries that survived too


@dataclass
class ImageCheck:
    """What a Checker found in one image."""

    contents: dict[str, str | None]  # path -> sha256 of what it holds (None: missing)
    fsck: str = ""  # the file-system check's complaint ("" when clean)
    fsck_output: str = ""


class Checker(Protocol):
    def check(self, image: Path, paths: list[str]) -> ImageCheck: ...


@dataclass
class PointResult:
    name: str
    flush: int
    cut: int
    checked: int  # acknowledged writes checked at this point
    ok: bool
    lost: list[dict[str, object]] = field(default_factory=list)  # path, size, want, got
    fsck: str = ""
    fsck_output: str = ""

    def reason(self) -> str:
        if self.lost:
            first = self.lost[0]
            more = f" (and {len(self.lost) - 1} more files)" if len(self.lost) > 1 else ""
            got = "missing" if first["got"] is None else "other bytes"
            return (
                f"at {self.name} (log entry {self.cut}): lost {first['size']} acknowledged bytes "
                f"of {first['path']} ({got}){more}"
            )
        if self.fsck:
            return f"at {self.name} (log entry {self.cut}): file system not clean: {self.fsck}"
        return ""


def crash_states(
    log: WriteLog, *, max_prefixes: int | None = None, reorders: int = 0, seed: int = 0
) -> Iterator[CrashState]:
    """Every crash state of the log, interval by interval (see the module docstring)."""
    rng = random.Random(seed)
    entries = log.entries
    starts = [0] + [i + 1 for i in log.flushes()]
    for k, start in enumerate(starts):
        end = starts[k + 1] - 1 if k + 1 < len(starts) else len(entries)
        window = entries[start:end]
        fua = tuple(e.index for e in window if e.flags & FUA and e.is_write)
        yield CrashState(f"flush {k}", k, end, start, fua)
        writes = [e.index for e in window if e.is_write]
        if not writes:
            continue
        cuts = [i + 1 for i in writes]
        for n, cut in _spread(cuts, max_prefixes):
            kept = tuple(i for i in writes if i < cut)
            yield CrashState(f"flush {k} prefix {n}", k, cut, start, kept)
        if len(writes) > 1:
            for r in range(reorders):
                kept = tuple(sorted(i for i in writes if rng.random() < 0.5))
                yield CrashState(f"flush {k} reorder {r + 1}", k, end, start, kept)


def power_loss_state(log: WriteLog) -> CrashState:
    """The state a power loss at the end of `log` leaves on a disk with a volatile write cache
    that lost everything it could: the last flush point, whole, plus the FUA writes since."""
    flushes = log.flushes()
    start = flushes[-1] + 1 if flushes else 0
    fua = tuple(e.index for e in log.entries[start:] if e.flags & FUA and e.is_write)
    return CrashState(f"flush {len(flushes)}", len(flushes), len(log.entries), start, fua)


def _spread(cuts: list[int], limit: int | None) -> list[tuple[int, int]]:
    """(1-based number, cut) of every cut, or of `limit` of them spread evenly (the last one
    always: it is the whole interval written in order)."""
    numbered = list(enumerate(cuts, 1))
    if limit is None or len(numbered) <= limit:
        return numbered
    if limit <= 0:
        return []
    step = len(numbered) / limit
    picked = {numbered[min(len(numbered) - 1, int((i + 1) * step) - 1)] for i in range(limit)}
    return sorted(picked)


def check_crash_points(
    log: WriteLog,
    base: Path,
    acks: list[Ack],
    checker: Checker,
    *,
    max_prefixes: int | None = None,
    reorders: int = 0,
    seed: int = 0,
    workdir: Path | None = None,
    on_point: Callable[[PointResult], None] | None = None,
    jobs: int = 1,
) -> list[PointResult]:
    """Rebuild and check every crash state of `log` over the disk `base` (the disk as it was
    before the first logged entry). Nothing of `base` is changed. With `jobs` > 1 that many
    images are checked at once (the checker must allow it: its checks run host tools on
    separate files); the images are still rebuilt one after another, in order."""
    results: list[PointResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="sis-crash-", dir=workdir) as tmp,
        ThreadPoolExecutor(max_workers=max(1, jobs)) as pool,
    ):
        durable_img = Path(tmp) / "durable.img"
        sparse_copy(base, durable_img)
        applied = 0  # entries [0, applied) are in durable_img
        pending: deque[tuple[CrashState, Path, Future[ImageCheck]]] = deque()

        def settle() -> None:
            state, image, future = pending.popleft()
            result = judge(state, acks, future.result())
            image.unlink(missing_ok=True)
            results.append(result)
            if on_point is not None:
                on_point(result)

        with open(durable_img, "r+b") as durable:
            states = crash_states(log, max_prefixes=max_prefixes, reorders=reorders, seed=seed)
            for n, state in enumerate(states):
                if state.durable < applied:
                    raise ValueError("crash states out of order")  # crash_states never does
                apply_entries(durable, log.entries[applied : state.durable], log.sectorsize)
                applied = state.durable
                durable.flush()
                scratch = Path(tmp) / f"point{n}.img"
                sparse_copy(durable_img, scratch)
                with open(scratch, "r+b") as f:
                    apply_entries(f, _pick(log.entries, state.extra), log.sectorsize)
                paths = _paths(acks, state.cut)
                pending.append((state, scratch, pool.submit(checker.check, scratch, paths)))
                while len(pending) >= max(1, jobs):
                    settle()
            while pending:
                settle()
    return results


def _pick(entries: list[Entry], indices: tuple[int, ...]) -> list[Entry]:
    return [entries[i] for i in indices]


def _paths(acks: list[Ack], cut: int) -> list[str]:
    return sorted({a.path for a in acks if a.known_by <= cut})


def judge(state: CrashState, acks: list[Ack], found: ImageCheck) -> PointResult:
    """The verdict at one crash point: each place's last write acknowledged before the cut
    must be there (or a later write to the same place), and the file system clean."""
    due: dict[str, Ack] = {}
    for a in acks:
        if a.known_by <= state.cut:
            due[a.path] = a  # the last acknowledged write to a place is the one that counts
    lost = []
    for path, a in sorted(due.items()):
        got = found.contents.get(path)
        if got != a.sha256 and got not in a.later:
            lost.append({"path": path, "size": a.size, "want": a.sha256, "got": got})
    return PointResult(
        name=state.name,
        flush=state.flush,
        cut=state.cut,
        checked=len(due),
        ok=not lost and not found.fsck,
        lost=lost,
        fsck=found.fsck,
        fsck_output=found.fsck_output,
    )


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy a disk image, holes kept as holes (a fresh file system is mostly holes)."""
    size = src.stat().st_size
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        fo.truncate(size)
        fd_in, fd_out = fi.fileno(), fo.fileno()
        pos = 0
        try:
            while pos < size:
                try:
                    data = os.lseek(fd_in, pos, os.SEEK_DATA)
                except OSError:
                    break  # no data after pos
                hole = os.lseek(fd_in, data, os.SEEK_HOLE)
                _copy_range(fd_in, fd_out, data, hole - data)
                pos = hole
        except OSError:
            fi.seek(0)
            fo.seek(0)
            shutil.copyfileobj(fi, fo)  # a file system without SEEK_DATA


def _copy_range(fd_in: int, fd_out: int, offset: int, count: int) -> None:
    done = 0
    while done < count:
        n = os.copy_file_range(fd_in, fd_out, count - done, offset + done, offset + done)
        if n <= 0:
            raise OSError("copy_file_range made no progress")
        done += n

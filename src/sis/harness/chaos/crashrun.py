"""The crash-point experiment: boot the target with its disk's writes logged, run the workload,
cut the power, then rebuild and check the disk at every crash point of the log (`crashpoints`).

How each target logs its disk:

* a QEMU guest (linux-busybox): QEMU's `blklogwrites` driver between the disk's raw format node
  and its file (the profile's `write_log` and `disk_under` placeholders). The workload marks
  each acknowledgement in the log itself: right after it, a write of `sis-ack <run> <n>` with
  O_DIRECT to the disk's reserved last MiB (no flush: a flush there would make durable what
  the file system left unflushed, and hide exactly the bugs this looks for).
* the reference kernel: its block layer writes the same log format (`-drive
  file=IMG,log=LOG`, the profile's `drive_log` placeholder) and counts each entry in the log's
  super block as it is written; the lab reads that count when an acknowledgement comes back
  over QMP, which places it in the log. The kernel's disk has no volatile cache of its own: a
  write reaches the image file at once, and only the log says which were flushed, so the
  same replay models the volatile cache a real disk would have.

Before anything is checked the whole log is replayed onto the disk as it was at boot and must
give the disk as it was at the power cut: a log that does not account for every write would
make every verdict a guess (an ERROR, not a pass).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sis.contract.options import escape as escape_option
from sis.harness.chaos.crashpoints import (
    Ack,
    Checker,
    PointResult,
    check_crash_points,
    sparse_copy,
)
from sis.harness.chaos.hostcheck import Ext4Checker, HostToolMissing, SisDiskChecker
from sis.harness.chaos.workload import (
    EXT4_MOUNT,
    Ext4Files,
    SyscallFiles,
    Workload,
    WorkloadError,
    Write,
)
from sis.harness.chaos.writelog import LogFormatError, WriteLog, apply_entries, read_log
from sis.harness.images.ext4disk import data_digest
from sis.harness.outdir import write_atomic
from sis.harness.results import ERROR, FAIL, PASS, SKIP, StepResult, TestResult
from sis.harness.session import Session, TargetDied
from sis.harness.targets.base import TargetError
from sis.harness.targets.profile import Profile

__all__ = [
    "CrashPointOptions",
    "LoggedDisk",
    "check_crash_points_of",
    "logged_disk",
    "replays_to",
]

SUITE = "chaos"
TEST = "crash_points"
QEMU_LOG_SECTOR = 512  # blklogwrites' default log-sector-size, which the profiles keep


@dataclass(frozen=True)
class CrashPointOptions:
    files: int = 4  # files the workload writes (each acknowledged separately)
    max_prefixes: int | None = 8  # in-order prefixes checked per flush interval (None: all)
    reorders: int = 2  # seeded random subsets of each interval's unflushed writes
    # Planted bugs a self-test turns on (the oracle knows nothing of them):
    mount_options: str = ""  # ext4 mount options, e.g. `nobarrier`
    ack_before_fsync: bool = False  # the workload acknowledges before fsync returns


@dataclass
class CrashPointsRun:
    """Everything one run found: written to OUT/<target>.crash_points.json."""

    target: str
    preset: str
    seed: int
    options: dict[str, object]
    verdict: str = ERROR
    reason: str = ""
    log_entries: int = 0
    flushes: int = 0
    writes: list[dict[str, object]] = field(default_factory=list)
    points: list[dict[str, object]] = field(default_factory=list)
    check_seconds: float = 0.0
    workload_seconds: float = 0.0

    @property
    def points_per_minute(self) -> float:
        return len(self.points) * 60.0 / self.check_seconds if self.check_seconds else 0.0


def logged_disk(profile: Profile, preset: str, log: Path) -> dict[str, str] | None:
    """Placeholder values that make the target log its disk to `log`; None if it cannot."""
    known = profile.variables(preset)
    if "write_log" in known and "disk_under" in known:
        return {"write_log": str(log), "disk_under": "disk0-logged"}
    if "drive_log" in known:  # a key of its own in -drive: its path's commas doubled
        return {"drive_log": f",log={escape_option(str(log))}"}
    return None


@dataclass(frozen=True)
class LoggedDisk:
    """Where one run's disk log and the disk as it was before boot go (a fresh directory:
    a disk or log an earlier run wrote would already hold the files)."""

    directory: Path

    @property
    def log(self) -> Path:
        return self.directory / "write.log"

    @property
    def base(self) -> Path:
        return self.directory / "base.img"

    def fresh(self) -> LoggedDisk:
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.log.touch()  # QEMU opens the log file, it does not create it
        return self


def check_crash_points_of(
    session: Session,
    disk: LoggedDisk,
    *,
    seed: int = 0,
    out: Path,
    options: CrashPointOptions | None = None,
    test: str = TEST,
) -> TestResult:
    """The experiment on `session`, booted on the logged disk whose state before boot is
    `disk.base` (the `crash_points` phase sets that up): the workload, the power cut, then
    every crash point rebuilt from the log and checked."""
    options = options or CrashPointOptions()
    out.mkdir(parents=True, exist_ok=True)
    profile = session.profile
    run = CrashPointsRun(profile.name, session.preset, seed, asdict(options))
    started, t0 = time.time(), time.monotonic()
    steps: list[StepResult] = []
    stem = out / f"{session.name}.{test}"
    log_path, base, workdir = disk.log, disk.base, disk.directory

    def finish(verdict: str, reason: str, artifacts: dict[str, str] | None = None) -> TestResult:
        run.verdict, run.reason = verdict, reason
        write_atomic(Path(f"{stem}.json"), json.dumps(asdict(run), indent=2, default=str) + "\n")
        return TestResult(
            target=profile.name,
            preset=session.preset,
            suite=SUITE,
            test=test,
            verdict=verdict,
            reason=reason,
            steps=steps,
            duration_s=time.monotonic() - t0,
            started=started,
            artifacts={"crash_points": f"{stem}.json", **(artifacts or {})},
        )

    if logged_disk(profile, session.preset, log_path) is None:
        return finish(SKIP, f"target {profile.name} cannot log its disk's writes")
    caps = session.capabilities
    checker: Checker
    try:
        if "sis_contract" in caps:
            checker = SisDiskChecker()
        elif "ext4_disk" in caps and "shell" in caps:
            checker = Ext4Checker(EXT4_MOUNT)
        else:
            return finish(SKIP, "target lacks ext4_disk (no file system to check on the host)")
    except HostToolMissing as e:
        return finish(ERROR, str(e))
    disk_image = session.disk_path()

    # The workload, then the power cut.
    tw = time.monotonic()
    try:
        writes, known_by = _workload(session, options, run, log_path, seed)
    except (TargetError, WorkloadError, TargetDied) as e:
        return finish(ERROR, f"workload could not run on the logged disk: {e}")
    finally:
        run.workload_seconds = time.monotonic() - tw
        session.kill()  # the power cut
    artifacts = {k: str(v) for k, v in session.artifacts().items()} | {"write_log": str(log_path)}
    acked = [w for w in writes if w.acked]
    run.writes = [asdict(w) for w in writes]
    steps.append(
        StepResult(
            command=f"[workload] {len(writes)} writes on the logged disk",
            output=f"{len(acked)} acknowledged",
            ok=bool(acked),
        )
    )
    if not acked:
        return finish(ERROR, "no write was acknowledged: nothing to check", artifacts)

    try:
        log = read_log(log_path, unwritten_super=QEMU_LOG_SECTOR)
    except LogFormatError as e:
        return finish(ERROR, f"the write log cannot be read: {e}", artifacts)
    run.log_entries, run.flushes = len(log.entries), len(log.flushes())
    complete = replays_to(log, base, disk_image, workdir)
    if complete:
        return finish(ERROR, complete, artifacts)

    acks = _acks(writes, known_by, log)
    placed = iter(acks)
    for record in run.writes:
        if record["acked"]:
            record["known_by"] = next(placed).known_by
    tc = time.monotonic()
    try:
        results = check_crash_points(
            log,
            base,
            acks,
            checker,
            max_prefixes=options.max_prefixes,
            reorders=options.reorders,
            seed=seed,
            workdir=workdir,
            # e2fsck and debugfs on separate images run side by side; the reference kernel's
            # tools answer from one process, one image at a time.
            jobs=1 if isinstance(checker, SisDiskChecker) else min(2, os.cpu_count() or 1),
        )
    finally:
        if isinstance(checker, SisDiskChecker):
            checker.close()
    run.check_seconds = time.monotonic() - tc
    run.points = [asdict(r) for r in results]
    for r in results:
        steps.append(_step(r))
    failed = [r for r in results if not r.ok]
    checked = sum(1 for r in results if r.checked)
    summary = (
        f"{len(results)} crash points ({run.flushes + 1} flush points, log of "
        f"{run.log_entries} entries), {len(acked)} acknowledged writes; "
        f"{run.points_per_minute:.0f} points/min"
    )
    if failed:
        where = ", ".join(r.name for r in failed[:6]) + (" ..." if len(failed) > 6 else "")
        return finish(
            FAIL,
            f"{failed[0].reason()}; {len(failed)} of {len(results)} crash points fail ({where})",
            artifacts,
        )
    if not checked:
        return finish(ERROR, f"no crash point checked an acknowledged write: {summary}", artifacts)
    return finish(PASS, summary, artifacts)


def _workload(
    session: Session, options: CrashPointOptions, run: CrashPointsRun, log_path: Path, seed: int
) -> tuple[list[Write], dict[int, int]]:
    """Write on the booted session, and for the reference kernel read the log's entry count
    at each acknowledgement (index -> entries issued by then)."""
    known_by: dict[int, int] = {}
    workload: Workload
    if "sis_contract" in session.capabilities:
        workload = SyscallFiles(session)

        def on_ack(w: Write) -> None:
            if w.acked:
                known_by[w.index] = _counted(log_path)

        workload.on_write = on_ack
    else:
        workload = Ext4Files(
            session,
            mount_options=options.mount_options,
            ack_before_fsync=options.ack_before_fsync,
        )
    workload.prepare()
    label = f"crash_points seed={seed}"
    return workload.write(label, options.files), known_by


def _counted(log_path: Path) -> int:
    with open(log_path, "rb") as f:
        head = f.read(24)
    return int.from_bytes(head[16:24], "little") if len(head) == 24 else 0


def _acks(writes: list[Write], known_by: dict[int, int], log: WriteLog) -> list[Ack]:
    """Each acknowledged write with its place in the log: the reference kernel's counts, or
    the entry of the guest's mark (an acknowledgement whose mark is not in the log is placed
    at the end: checked only where everything survived)."""
    marks = _mark_entries(log)
    out = []
    for pos, w in enumerate(writes):
        if not w.acked:
            continue
        later = frozenset(x.sha256 for x in writes[pos + 1 :] if x.where == w.where)
        where = known_by.get(w.index)
        if where is None:
            where = marks.get(w.mark, len(log.entries) - 1) + 1
        out.append(Ack(w.where, w.size, w.sha256, where, later))
    return out


def _mark_entries(log: WriteLog) -> dict[str, int]:
    """Mark text -> index of the log entry that wrote it (the first one)."""
    found: dict[str, int] = {}
    for e in log.entries:
        if not e.is_write or b"sis-ack " not in e.data:
            continue
        for start in range(0, len(e.data), log.sectorsize):
            chunk = e.data[start : start + log.sectorsize]
            if chunk.startswith(b"sis-ack "):
                text = chunk.split(b"\n", 1)[0].decode("ascii", errors="replace")
                found.setdefault(text, e.index)
    return found


def replays_to(log: WriteLog, base: Path, disk: Path, workdir: Path) -> str:
    """ "" when the whole log over `base` gives `disk`, else why not."""
    replayed = workdir / "replayed.img"
    sparse_copy(base, replayed)
    with open(replayed, "r+b") as f:
        apply_entries(f, log.entries, log.sectorsize)
    same = data_digest(replayed) == data_digest(disk)
    replayed.unlink()
    if same:
        return ""
    return (
        f"the write log ({len(log.entries)} entries) replayed onto the disk as booted does "
        "not give the disk as it was at the power cut: the log missed writes"
    )


def _step(r: PointResult) -> StepResult:
    if r.ok:
        return StepResult(
            command=f"[crash point] {r.name}",
            output=f"log entry {r.cut}: {r.checked} acknowledged writes present, fsck clean",
            ok=True,
        )
    return StepResult(
        command=f"[crash point] {r.name}",
        output=(r.fsck_output or "")[-1500:],
        ok=False,
        why=r.reason(),
    )

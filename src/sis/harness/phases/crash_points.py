"""The crash-point experiment as a phase (`sis chaos run crash_points`, `sis chaos
crash-points`): the job's target boots on a disk whose writes and flushes are logged (the
phase's placeholder values), the disk as it was before boot is kept, the workload runs, the
power is cut, and the disk is rebuilt and checked at every crash point of the log
(`sis.harness.chaos.crashrun`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.chaos.crashpoints import sparse_copy
from sis.harness.chaos.crashrun import (
    TEST,
    CrashPointOptions,
    LoggedDisk,
    check_crash_points_of,
    logged_disk,
)
from sis.harness.results import TestResult
from sis.harness.session import Session
from sis.harness.targets.profile import load_profile

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class CrashPointsPhaseOptions:
    seed: int = 0  # seeds the sampled reorderings
    test: str = TEST  # the result's name (the experiment's, when run as one)
    files: int = 4  # files the workload writes (each acknowledged separately)
    max_prefixes: int | None = 8  # in-order prefixes checked per flush interval (None: all)
    reorders: int = 2  # seeded random subsets of each interval's unflushed writes
    mount_options: str = ""  # ext4 mount options of a Linux guest (a self-test's planted bug)
    ack_before_fsync: bool = False  # the workload acknowledges early (a planted bug)


class CrashPointsPhase:
    name = "crash_points"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = CrashPointsPhaseOptions

    def planned(self, job: Job, options: CrashPointsPhaseOptions) -> list[tuple[str, str]]:
        return [("chaos", options.test)]

    def overrides(self, job: Job, options: CrashPointsPhaseOptions) -> dict[str, str]:
        disk = _disk(job).fresh()
        return logged_disk(load_profile(job.target), job.preset, disk.log) or {}

    def before_boot(self, session: Session, job: Job, options: CrashPointsPhaseOptions) -> None:
        made = session.prepare_disk()
        if made is not None:
            sparse_copy(made, _disk(job).base)

    def run(
        self, session: Session, job: Job, options: CrashPointsPhaseOptions
    ) -> Iterator[TestResult]:
        fields = {k: v for k, v in asdict(options).items() if k not in ("seed", "test")}
        yield check_crash_points_of(
            session, _disk(job), seed=options.seed, out=_out(job),
            options=CrashPointOptions(**fields), test=options.test,
        )  # fmt: skip


def _out(job: Job) -> Path:
    return Path(job.workdir).parent / "chaos"


def _disk(job: Job) -> LoggedDisk:
    return LoggedDisk(_out(job) / f"{job.name}-{job.preset}.crash_points.d")

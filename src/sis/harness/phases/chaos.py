"""The chaos experiments, one after another on the job's target: `sis chaos run`, and
`sis check --phases ...,chaos` (not a default phase: it power-cycles the target)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.chaos.experiment import load_experiments
from sis.harness.chaos.runner import SUITE, run_experiment
from sis.harness.chaos.volatile import CachedDisk, cache_overrides
from sis.harness.chaos.workload import WorkloadOptions
from sis.harness.results import TestResult
from sis.harness.session import Session
from sis.harness.targets.profile import load_profile

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class ChaosOptions:
    experiments: tuple[str, ...] = ()  # built-in names or experiment files; none: all built-ins
    seed: int = 0  # seed of the faults: the same seed replays them
    # Planted bugs a self-test turns on (the oracle knows nothing of them):
    mount_options: str = ""  # ext4 mount options of a Linux guest's workload, e.g. `nobarrier`
    ack_before_fsync: bool = False  # the workload acknowledges before fsync returns


class ChaosPhase:
    name = "chaos"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = ChaosOptions

    def planned(self, job: Job, options: ChaosOptions) -> list[tuple[str, str]]:
        return [(SUITE, e.name) for e in _experiments(options)]

    def overrides(self, job: Job, options: ChaosOptions) -> dict[str, str]:
        """A guest whose disk can be logged boots with it logged (see before_boot)."""
        if not any("disk" in e.requires for e in _experiments(options)):
            return {}
        return cache_overrides(load_profile(job.target), job.preset, _cache_dir(job) / "write.log")

    def before_boot(self, session: Session, job: Job, options: ChaosOptions) -> None:
        """Its disk then has a volatile write cache: a power loss drops what was not flushed
        (chaos.volatile), or a power cut could never lose anything."""
        if session.overrides.get("write_log") == str(_cache_dir(job) / "write.log"):
            session.disk_cache = CachedDisk(session, _cache_dir(job))

    def run(self, session: Session, job: Job, options: ChaosOptions) -> Iterator[TestResult]:
        out = chaos_dir(job)
        workload = WorkloadOptions(options.mount_options, options.ack_before_fsync)
        for exp in _experiments(options):
            yield run_experiment(
                session, exp, seed=options.seed, out=out, workload_options=workload
            )


def _experiments(options: ChaosOptions) -> list:
    """The experiments asked for; all built-ins but the crash-point ones (which boot a logged
    disk of their own, as the `crash_points` phase) when none are named."""
    chosen = load_experiments(list(options.experiments))
    if options.experiments:
        return chosen
    return [e for e in chosen if e.crash_points is None]


def _cache_dir(job: Job) -> Path:
    return chaos_dir(job) / f"{job.name}-{job.preset}.disk-cache.d"


def chaos_dir(job: Job) -> Path:
    """Where the experiments' journals go: OUT/chaos."""
    return Path(job.workdir).parent / "chaos"

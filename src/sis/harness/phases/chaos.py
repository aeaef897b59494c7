"""The chaos experiments, one after another on the job's target: `sis chaos run`, and
`sis check --phases ...,chaos` (not a default phase: it power-cycles the target)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.chaos.experiment import load_experiments
from sis.harness.chaos.runner import SUITE, run_experiment
from sis.harness.chaos.workload import WorkloadOptions
from sis.harness.results import TestResult
from sis.harness.session import Session

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


def chaos_dir(job: Job) -> Path:
    """Where the experiments' journals go: OUT/chaos."""
    return Path(job.workdir).parent / "chaos"

"""The chaos experiments as a phase of `sis check` (not in the default set: `--phases
chaos`). Options: `chaos_experiments` (names or files; default all built-ins), `seed`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.chaos.plan import load_experiments
from sis.harness.chaos.runner import SUITE, run_experiment
from sis.harness.results import TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


class ChaosPhase:
    name = "chaos"
    requires = frozenset({"shell"})
    after_poweroff = False

    def planned(self, job: Job) -> list[tuple[str, str]]:
        return [
            (SUITE, e.name) for e in load_experiments(job.options.get("chaos_experiments") or [])
        ]

    def run(self, session: Session, job: Job) -> Iterator[TestResult]:
        out = Path(job.workdir).parent / "chaos"
        seed = int(job.options.get("seed", 0))
        for exp in load_experiments(job.options.get("chaos_experiments") or []):
            yield run_experiment(session, exp, seed=seed, out=out)

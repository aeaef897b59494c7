"""Phases: the jobs `sis check` sequences on a target. A phase has a name, the capabilities it
needs, and `run(session, job)`, which yields results as they come. A new readiness job is a new
module here, registered in PHASES; `check` itself does not change.

A phase that reads the run's captures after the target is off (log regression) says
`after_poweroff = True`; the others get a session at its shell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar, Protocol

from sis.harness.results import TestResult

if TYPE_CHECKING:
    from sis.harness.jobs import Job
    from sis.harness.session import Session


class Phase(Protocol):
    name: ClassVar[str]
    requires: ClassVar[frozenset[str]]
    after_poweroff: ClassVar[bool]

    def planned(self, job: Job) -> list[tuple[str, str]]:
        """(suite, test) names this phase will report, for progress and for ERROR results
        when the target never boots; may be empty when the names are only known by running."""
        ...

    def run(self, session: Session, job: Job) -> Iterator[TestResult]: ...


def phases_by_name() -> dict[str, Phase]:
    from sis.harness.phases.chaos import ChaosPhase
    from sis.harness.phases.fuzz import FuzzPhase
    from sis.harness.phases.log_regression import LogRegressionPhase
    from sis.harness.phases.metrics import MetricsPhase
    from sis.harness.phases.soak import SoakPhase
    from sis.harness.phases.suites import SuitesPhase

    phases = (
        SuitesPhase(), MetricsPhase(), ChaosPhase(), SoakPhase(), FuzzPhase(), LogRegressionPhase(),
    )  # fmt: skip
    return {p.name: p for p in phases}


#: In the order `sis check` runs them.
PHASE_ORDER = ("suites", "metrics", "chaos", "soak", "fuzz", "log_regression")
#: `chaos`, `soak` and `fuzz` run only when asked for (`--phases ...,chaos`): chaos
#: power-cycles the target, soaks and fuzzing take long.
DEFAULT_PHASES = ("suites", "metrics", "log_regression")

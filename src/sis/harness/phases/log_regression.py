"""The log regression check: this run's kernel log against a recorded baseline (nothing boots
again). Reports nothing when no baseline exists for the target and preset."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sis.harness.logs import log_regression_result
from sis.harness.results import TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


class LogRegressionPhase:
    name = "log_regression"
    requires = frozenset()
    after_poweroff = True

    def planned(self, job: Job) -> list[tuple[str, str]]:
        return []

    def run(self, session: Session, job: Job) -> Iterator[TestResult]:
        baselines = job.options.get("baselines", "baselines")
        r = log_regression_result(
            session.profile.name, session.preset, baselines, artifacts=session.artifacts()
        )
        if r is not None:
            yield r

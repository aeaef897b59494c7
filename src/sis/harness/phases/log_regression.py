"""The log regression check: this run's kernel log against a recorded baseline (nothing boots
again). Without a baseline for the target and preset it is skipped, saying how to record one."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sis.harness.logs import log_regression_result
from sis.harness.logs.regression import SUITE
from sis.harness.results import SKIP, TestResult
from sis.harness.runner import record as record_result
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class LogRegressionOptions:
    baselines: str = "baselines"  # the directory `sis logs baseline --dir` wrote


class LogRegressionPhase:
    name = "log_regression"
    requires = frozenset()
    after_poweroff = True
    Options = LogRegressionOptions

    def planned(self, job: Job, options: LogRegressionOptions) -> list[tuple[str, str]]:
        return []

    def run(
        self, session: Session, job: Job, options: LogRegressionOptions
    ) -> Iterator[TestResult]:
        baselines = options.baselines
        # The log of the last real boot: a boot resumed from a snapshot prints no boot log.
        booted = [b for b in session.boots if not b.restored]
        artifacts = booted[-1].artifacts if booted else session.artifacts()
        r = log_regression_result(
            session.profile.name, session.preset, baselines, artifacts=artifacts
        )
        if r is None:
            record = (
                f"sis logs baseline --target {shlex.quote(job.target)} --preset "
                f"{shlex.quote(session.preset)} --dir {shlex.quote(str(baselines))}"
            )
            reason = f"no log baseline for {session.profile.name}/{session.preset} in "
            r = record_result(
                session,
                SUITE,
                "baseline",
                SKIP,
                f"{reason}{baselines}/; record one with `{record}`",
            )
        yield r

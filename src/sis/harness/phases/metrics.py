"""The metrics checks: formats (JSON, simple, Prometheus via promtool) and counters that move."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sis.harness.metrics import metrics_checks
from sis.harness.results import TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class MetricsOptions:
    pass


class MetricsPhase:
    name = "metrics"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = MetricsOptions

    def planned(self, job: Job, options: MetricsOptions) -> list[tuple[str, str]]:
        return []  # which checks run depends on the metrics source the target offers

    def run(self, session: Session, job: Job, options: MetricsOptions) -> Iterator[TestResult]:
        yield from metrics_checks(session)

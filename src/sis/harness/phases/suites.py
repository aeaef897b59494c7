"""The shell suites: YAML tests typed into the target's shell."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sis.harness.results import TestResult
from sis.harness.runner import run_suite
from sis.harness.session import Session
from sis.harness.suites import Suite, load_suite

if TYPE_CHECKING:
    from sis.harness.jobs import Job

DEFAULT_SUITES = ("basic_commands", "process_ops", "networking", "system_info")


def job_suites(job: Job) -> list[Suite]:
    return [load_suite(s) for s in job.options.get("suites") or DEFAULT_SUITES]


class SuitesPhase:
    name = "suites"
    requires = frozenset({"shell"})
    after_poweroff = False

    def planned(self, job: Job) -> list[tuple[str, str]]:
        return [(s.name, t.name) for s in job_suites(job) for t in s.tests]

    def run(self, session: Session, job: Job) -> Iterator[TestResult]:
        results: list[TestResult] = []
        for suite in job_suites(job):
            run_suite(session, suite, results.append)
            yield from results
            results.clear()

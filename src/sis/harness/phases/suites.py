"""The shell suites: YAML tests typed into the target's shell."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sis.harness.results import TestResult
from sis.harness.runner import run_suite
from sis.harness.session import Session
from sis.harness.suites import Suite, load_suite

if TYPE_CHECKING:
    from sis.harness.jobs import Job

DEFAULT_SUITES = ("basic_commands", "process_ops", "networking", "system_info")


@dataclass(frozen=True)
class SuitesOptions:
    suites: tuple[str, ...] = DEFAULT_SUITES  # built-in names or suite files


class SuitesPhase:
    name = "suites"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = SuitesOptions

    def planned(self, job: Job, options: SuitesOptions) -> list[tuple[str, str]]:
        return [(s.name, t.name) for s in _suites(options) for t in s.tests]

    def run(self, session: Session, job: Job, options: SuitesOptions) -> Iterator[TestResult]:
        results: list[TestResult] = []
        for suite in _suites(options):
            run_suite(session, suite, results.append)
            yield from results
            results.clear()


def _suites(options: SuitesOptions) -> list[Suite]:
    return [load_suite(s) for s in options.suites or DEFAULT_SUITES]

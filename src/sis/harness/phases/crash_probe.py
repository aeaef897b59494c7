"""The crash probe (`sis.harness.crash_probe`): requests every kernel must answer without
dying, tried from the shell; a crash is a FAIL titled by forensics."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sis.harness.results import TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class CrashProbeOptions:
    pass


class CrashProbePhase:
    name = "crash_probe"
    requires = frozenset({"shell", "sis_contract"})
    after_poweroff = False
    Options = CrashProbeOptions

    def planned(self, job: Job, options: CrashProbeOptions) -> list[tuple[str, str]]:
        from sis.harness.crash_probe import JOB

        return [("selftest", JOB)]

    def run(self, session: Session, job: Job, options: CrashProbeOptions) -> Iterator[TestResult]:
        from sis.harness.crash_probe import probe_crashes

        yield probe_crashes(session)

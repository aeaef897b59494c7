"""The kernel log of one boot, captured for `sis logs baseline|check`: the suites asked for are
run, the target is powered off, and its log is parsed and normalized into
WORKDIR/<target>-<preset>.capture.json (read back by the command)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.logs.baseline import BaselineError
from sis.harness.logs.capture import SUITE, capture_path, capture_session_log, write_capture
from sis.harness.results import ERROR, PASS, TestResult
from sis.harness.runner import run_suite
from sis.harness.session import Session
from sis.harness.suites import load_suite

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class LogCaptureOptions:
    suites: tuple[str, ...] = ()  # suites run before the log is taken (default: none)


class LogCapturePhase:
    name = "log_capture"
    requires = frozenset()
    after_poweroff = False
    Options = LogCaptureOptions

    def planned(self, job: Job, options: LogCaptureOptions) -> list[tuple[str, str]]:
        return [(SUITE, "capture")]

    def run(self, session: Session, job: Job, options: LogCaptureOptions) -> Iterator[TestResult]:
        suites = [load_suite(s) for s in options.suites]
        results: list[TestResult] = []
        for suite in suites:
            run_suite(session, suite, results.append)
            yield from results
            results.clear()
        session.poweroff()
        workdir = Path(job.workdir)
        try:
            capture = capture_session_log(session, workdir, [s.name for s in suites])
        except BaselineError as e:
            yield TestResult(job.name, job.preset, SUITE, "capture", ERROR, str(e))
            return
        write_capture(capture, capture_path(workdir, job.name, job.preset))
        yield TestResult(
            job.name, job.preset, SUITE, "capture", PASS,
            f"{len(capture.signatures)} log records from the {capture.source.replace('_', ' ')}",
            artifacts={"log": str(capture.log_path)} if capture.log_path else {},
        )  # fmt: skip

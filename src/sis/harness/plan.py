"""The one door: every command that boots a target (`check`, `chaos run`, `soak`, `fuzz`,
`logs`, `metrics collect`, `selftest`) turns its arguments into a Plan of jobs and runs it here.
The plan goes to an executor in rounds (a fuzz campaign merges its corpus between rounds; most
commands have one round), and every command leaves the same artifacts in OUT:

    results.jsonl   one line per result, appended as it happens
    jobs.jsonl      one summary per job (kernel, command line, boots, phase times)
    junit.xml       for CI
    report.html     the scorecard; the command's own pages (chaos timelines, soak charts,
                    fuzz summary) linked from it

OUT is locked for the run; reports are rebuilt from the JSONL files, also after an interrupt.
Ctrl-C or SIGTERM stops the run at once (Interrupted, with the signal's exit status)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.executors import make_executor
from sis.harness.jobs import Job, check_job
from sis.harness.outdir import OutputDir
from sis.harness.report import write_html, write_junit
from sis.harness.results import (
    JobSummary,
    ResultLog,
    TestResult,
    last_attempts,
    read_jobs,
    read_results,
)

OnResult = Callable[[TestResult], None]
OnStatus = Callable[[str, str], None]
#: Writes a command's own page from OUT and the run's results; returns the file it wrote
#: (relative to OUT), or None when there was nothing to show.
PageWriter = Callable[[Path, list[TestResult]], str | None]


class Interrupted(Exception):
    """The run was stopped by a signal; results so far are written. `exit_status` is 130 for
    SIGINT, 143 for SIGTERM."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_status = 128 + signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")


@dataclass
class Plan:
    title: str  # the report's title, e.g. "SIS check"
    rounds: list[list[Job]]  # run one after another; most commands have one
    out: Path
    parallel: int = 1
    executor: str = "local"
    #: The executor's own settings (dask: scheduler, tls_dir, insecure, shared_out).
    executor_options: dict[str, Any] = field(default_factory=dict)
    #: The command's own pages, written after the run (and after an interrupt).
    pages: list[PageWriter] = field(default_factory=list)
    #: Called between rounds with OUT and the round just done (a fuzz campaign merges its
    #: corpus and crashes there); not after the last.
    between_rounds: Callable[[Path, int], None] | None = None

    @property
    def jobs(self) -> list[Job]:
        return [job for jobs in self.rounds for job in jobs]

    def __post_init__(self) -> None:
        for job in self.jobs:
            check_job(job)  # an unknown phase or option fails before anything boots


def run_plan(
    plan: Plan,
    on_result: OnResult | None = None,
    on_status: OnStatus | None = None,
    stop: threading.Event | None = None,
) -> list[TestResult]:
    """Run the plan; OutputError if OUT cannot be locked or written, Interrupted after Ctrl-C
    or SIGTERM (results so far stay, reports are written either way)."""
    stop = stop if stop is not None else threading.Event()
    with OutputDir(plan.out) as out:
        log = ResultLog(out.path / "results.jsonl", fresh=True)
        summaries = ResultLog(out.path / "jobs.jsonl", fresh=True)

        def report(r: TestResult | JobSummary) -> None:
            if isinstance(r, JobSummary):
                summaries.add(r)
                return
            log.add(r)
            if on_result is not None:
                on_result(r)

        executor = make_executor(plan.executor, plan.parallel, **plan.executor_options)
        try:
            with _signals_interrupt() as caught:
                try:
                    for n, jobs in enumerate(plan.rounds):
                        if n and plan.between_rounds is not None:
                            plan.between_rounds(out.path, n - 1)
                        executor.run(jobs, report, on_status, stop)
                        if stop.is_set():
                            break
                except KeyboardInterrupt:
                    stop.set()
                    raise Interrupted(caught[0] if caught else signal.SIGINT) from None
        finally:
            log.close()
            summaries.close()
            write_reports(out.path, title=plan.title, pages=plan.pages)
        # Of a job a cluster ran again (its worker was lost), the last attempt's results.
        return last_attempts(log.results, [])[0]


def write_reports(
    out: Path, *, title: str = "SIS check", pages: list[PageWriter] | None = None
) -> list[TestResult]:
    """(Re)build junit.xml, report.html and the command's own pages from results.jsonl and
    jobs.jsonl (also after an interrupted run). Each file is written whole or not at all."""
    results, problems = read_results(out / "results.jsonl")
    jobs, more = read_jobs(out / "jobs.jsonl")
    links: dict[str, str] = {}
    for writer in pages or []:
        page = writer(out, results)
        if page:
            links[page] = page
    write_junit(results, out / "junit.xml")
    write_html(
        results,
        out / "report.html",
        title=title,
        notes=problems + more,
        meta={"results": "results.jsonl", "generated": time.strftime("%Y-%m-%d %H:%M:%S")},
        jobs=jobs,
        pages=links,
    )
    return results


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[list[int]]:
    """SIGTERM is handled like Ctrl-C while a plan runs (in the main thread: signal handlers
    can only be set there); the list says which signal came."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum: int, frame: object) -> None:
        caught.append(signum)
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in previous.items():
            signal.signal(s, h)

"""A job is one target in one preset with the phases to run on it: plain data (it pickles and
round-trips through JSON), so an executor may run it in a thread, another process or another
machine. `run_job` is what any executor calls to do one."""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.console import ConsoleError
from sis.harness.datafile import DataFileError
from sis.harness.phases import phases_by_name
from sis.harness.results import ERROR, SKIP, JobSummary, TestResult
from sis.harness.session import Session, State, TargetDied
from sis.harness.targets.base import TargetError

Report = Callable[[TestResult | JobSummary], None]
Status = Callable[[str, str], None]  # (job key, what it is doing)


@dataclass(frozen=True)
class Job:
    target: str  # sim, a built-in profile or a profile file
    preset: str
    target_name: str  # the profile's name, as results name the target
    phases: tuple[str, ...]
    workdir: str  # where the target's captures and disks go
    #: Per phase options, e.g. {"suites": [...], "baselines": "baselines"}.
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.target_name}/{self.preset}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**{**d, "phases": tuple(d["phases"])})


def run_job(job: Job, report: Report, status: Status | None = None) -> None:
    """Boot the job's target, run its phases in order, power it off. Never raises for the
    target's or the lab's trouble: that becomes results (ERROR when the lab could not work)."""
    say = (lambda text: status(job.key, text)) if status else (lambda text: None)
    registry = phases_by_name()
    phases = [registry[name] for name in job.phases]
    started = time.monotonic()

    def lab_error(reason: str) -> None:
        for phase in phases:
            for suite, test in phase.planned(job) or [(phase.name, phase.name)]:
                report(_result(job, suite, test, ERROR, reason, time.monotonic() - started))

    try:
        session = Session(job.target, preset=job.preset, workdir=Path(job.workdir))
        say("booting")
        session.start()
    except (TargetError, DataFileError, OSError) as e:
        lab_error(f"target did not start: {e}")
        say("error")
        return
    summary = JobSummary(
        target=job.target_name,
        preset=job.preset,
        profile=str(session.profile.path or session.profile.name),
        kernel=kernel_version(session),
    )
    timed = _Timer(summary)
    timed.add("boot", session.boots[0].seconds_to_shell or 0.0)
    try:
        for phase in phases:
            lacking = sorted(phase.requires - session.capabilities)
            if lacking:
                reason = f"target lacks {', '.join(lacking)}"
                report(_result(job, phase.name, phase.name, SKIP, reason))
                continue
            with timed(phase.name):
                if phase.after_poweroff:
                    say("powering off")
                    session.poweroff()
                else:
                    session.ensure_shell()
                say(phase.name)
                for r in phase.run(session, job):
                    report(r)
    except TargetError as e:
        # The target could not be brought back between phases: what is left cannot run.
        report(_result(job, "lab", "restart", ERROR, f"target could not be restarted: {e}"))
    finally:
        with timed("teardown"):
            if session.state is not State.OFF:
                say("powering off")
                session.poweroff()
        summary.wall_s = time.monotonic() - started
        summary.command = shlex.join(session.target.argv)
        summary.boots = [asdict(b) for b in session.boots]
        summary.history = [
            {"t": t, "state": st.value, "why": why} for t, st, why in session.history
        ]
        report(summary)
    say("done")


def kernel_version(session: Session) -> str:
    """The kernel's version line: `version` (or the profile's mapping of it, e.g. `uname -a`),
    when the target has one; "" otherwise or if it fails."""
    if "version" not in session.profile.commands and "sis_contract" not in session.capabilities:
        return ""
    try:
        r = session.run("version", timeout=10)
    except (TargetDied, ConsoleError):
        return ""
    if r.status not in (0, None):
        return ""
    return next((line.strip() for line in r.output.splitlines() if line.strip()), "")


class _Timer:
    """Wall time per phase, added to a JobSummary (`with timer("suites"): ...`)."""

    def __init__(self, summary: JobSummary) -> None:
        self.summary = summary

    def add(self, name: str, seconds: float) -> None:
        self.summary.phases.append({"name": name, "seconds": round(seconds, 3)})

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - t0)


def _result(
    job: Job, suite: str, test: str, verdict: str, reason: str, duration_s: float = 0.0
) -> TestResult:
    """A result the job itself reports (not a phase): a target that never booted, a phase the
    target cannot run."""
    return TestResult(
        target=job.target_name,
        preset=job.preset,
        suite=suite,
        test=test,
        verdict=verdict,
        reason=reason,
        duration_s=duration_s,
    )

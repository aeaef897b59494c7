"""A job is one booted target (a profile in one preset) doing its phases in order: plain data
(it pickles and round-trips through JSON), so an executor may run it in a thread, another
process or another machine. `run_job` is what every executor calls to do one, and the only
place a job's Session is made: it creates, starts and powers off the session, and turns what
went wrong into results.

    command ──plan──▶ [Job, ...] ──executor──▶ run_job ──▶ Session ──▶ phases ──▶ results
"""

from __future__ import annotations

import contextlib
import dataclasses
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.capacity import target_bytes
from sis.harness.console import ConsoleError
from sis.harness.datafile import DataFileError
from sis.harness.phases import PlanError, options_for, phase
from sis.harness.results import ERROR, SKIP, JobSummary, TestResult
from sis.harness.session import Session, State, Stopped, StopToken, TargetDied, launching
from sis.harness.targets.base import TargetError
from sis.harness.targets.profile import load_profile

Report = Callable[[TestResult | JobSummary], None]
Status = Callable[[str, str], None]  # (job key, what it is doing)


class _Never:
    def is_set(self) -> bool:
        return False

    def wait(self, timeout: float | None = None) -> bool:
        if timeout:
            time.sleep(timeout)
        return False


NEVER: StopToken = _Never()


@dataclass(frozen=True)
class Job:
    target: str  # a built-in profile (sis, linux-busybox) or a profile file
    preset: str
    target_name: str  # the profile's name
    phases: tuple[str, ...]
    workdir: str  # where the target's captures and disks go
    #: Per phase, its options as plain data, e.g. {"suites": {"suites": ["basic_commands"]}}.
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: What results call the target; a target given twice is numbered (sis-1, sis-2).
    label: str = ""
    #: Placeholder values the target starts with, e.g. {"append": "sis.bug=oom_hang"}.
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label or self.target_name

    @property
    def key(self) -> str:
        return f"{self.name}/{self.preset}"

    def phase_options(self, name: str) -> Any:
        return options_for(name, self.options.get(name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**{**d, "phases": tuple(d["phases"])})


def check_job(job: Job) -> None:
    """Every phase known and its options valid (PlanError otherwise): called when the plan is
    made, so nothing boots for a plan that cannot run."""
    for name in job.phases:
        job.phase_options(name)
    for name in job.options:
        if name not in job.phases:
            raise PlanError(f"options given for phase {name!r}, which the job does not run")


def label_targets(names: list[str]) -> list[str]:
    """Labels for targets given by profile name: a name given once is itself, one given several
    times is numbered per name (sis-1, linux-busybox, sis-2)."""
    from collections import Counter

    counts, seen = Counter(names), Counter[str]()
    labels = []
    for n in names:
        seen[n] += 1
        labels.append(n if counts[n] == 1 else f"{n}-{seen[n]}")
    return labels


def presets_of(profile_spec: str, presets: str) -> list[str]:
    """The presets a comma-separated --preset names; `all` means the ones the profile defines.
    An unknown preset is an error here, before anything boots."""
    profile = load_profile(profile_spec)
    wanted = (
        profile.preset_names()
        if presets == "all"
        else [p.strip() for p in presets.split(",") if p.strip()]
    )
    if not wanted:
        raise PlanError(f"--preset {presets!r} names no preset")
    for preset in wanted:
        profile.variables(preset)
    return wanted


def target_jobs(
    targets: list[str],
    presets: str,
    phases: tuple[str, ...],
    options: dict[str, dict],
    workdir: Path,
    overrides: dict[str, str] | None = None,
) -> tuple[list[Job], list[int]]:
    """One job per target and preset (a target given twice is labelled sis-1, sis-2), and the
    memory each job's target takes (for the default -j)."""
    names = [load_profile(t).name for t in targets]
    jobs, sizes = [], []
    for spec, name, label in zip(targets, names, label_targets(names), strict=True):
        profile = load_profile(spec)
        for preset in presets_of(spec, presets):
            sizes.append(target_bytes(profile.kind, profile.variables(preset).get("memory")))
            jobs.append(
                Job(
                    target=spec, preset=preset, target_name=name, phases=phases,
                    workdir=str(workdir), options=options, label=label,
                    overrides=dict(overrides or {}),
                )
            )  # fmt: skip
    if not jobs:
        raise PlanError("no target to run")
    return jobs, sizes


def run_job(
    job: Job, report: Report, status: Status | None = None, stop: StopToken | None = None
) -> None:
    """Boot the job's target, run its phases in order, power it off. Never raises for the
    target's or the lab's trouble: that becomes results (ERROR when the lab could not work).
    Once `stop` is set the job ends at the next step; what it reports after that is dropped
    (an interrupted test has no verdict), its summary says it was interrupted."""
    stop = stop or NEVER
    if stop.is_set():
        return  # a queued job never starts after an interrupt
    say = (lambda text: status(job.key, text)) if status else (lambda text: None)
    started = time.monotonic()
    steps = [(phase(name), job.phase_options(name)) for name in job.phases]

    def emit(r: TestResult | JobSummary) -> None:
        if isinstance(r, TestResult):
            if stop.is_set():
                return
            if r.target != job.name:
                r = dataclasses.replace(r, target=job.name)
        report(r)

    def lab_error(reason: str) -> None:
        for p, options in steps:
            for suite, test in p.planned(job, options) or [(p.name, p.name)]:
                emit(_result(job, suite, test, ERROR, reason, time.monotonic() - started))

    overrides = dict(job.overrides)
    summary = JobSummary(target=job.name, preset=job.preset)
    session: Session | None = None
    with launching(), _StopWatch(stop) as watch:
        try:
            try:
                for p, options in steps:
                    overrides |= getattr(p, "overrides", _none)(job, options)
                session = Session(
                    job.target, preset=job.preset, workdir=Path(job.workdir),
                    name=f"{job.name}-{job.preset}", overrides=overrides or None, stop=stop,
                )  # fmt: skip
                watch.session = session
                summary.profile = str(session.profile.path or session.profile.name)
                for p, options in steps:
                    getattr(p, "before_boot", _nothing)(session, job, options)
                say("booting")
                session.start()
            except Stopped:
                return
            except (TargetError, DataFileError, OSError, ValueError) as e:
                lab_error(f"target did not start: {e}")
                return
            summary.kernel = kernel_version(session)
            timed = _Timer(summary)
            timed.add("boot", session.boots[0].seconds_to_shell or 0.0)
            _run_phases(job, session, steps, emit, say, timed, stop)
        finally:
            if session is not None:
                _power_off(session, summary, say, started, stop)
                report(summary)
            say("done")  # what the job reported is all there will be


def _none(job: Job, options: Any) -> dict[str, str]:
    return {}


def _nothing(session: Session, job: Job, options: Any) -> None:
    return None


def _run_phases(job, session, steps, emit, say, timed, stop) -> None:  # noqa: ANN001
    try:
        for p, options in steps:
            if stop.is_set():
                return
            lacking = sorted(p.requires - session.capabilities)
            if lacking:
                emit(_result(job, p.name, p.name, SKIP, f"target lacks {', '.join(lacking)}"))
                continue
            with timed(p.name):
                if p.after_poweroff:
                    say("powering off")
                    session.poweroff()
                else:
                    session.ensure_shell()
                say(p.name)
                for r in p.run(session, job, options):
                    emit(r)
    except Stopped:
        return
    except TargetError as e:
        # The target could not be brought back between phases: what is left cannot run.
        emit(_result(job, "lab", "restart", ERROR, f"target could not be restarted: {e}"))
    except Exception as e:  # noqa: BLE001 - a phase that breaks is the lab's failure, said
        what = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        emit(_result(job, p.name, p.name, ERROR, f"the lab failed in the {p.name} phase: {what}"))


def _power_off(session: Session, summary: JobSummary, say, started, stop) -> None:  # noqa: ANN001
    timer = _Timer(summary)
    with timer("teardown"):
        if session.state is not State.OFF:
            say("powering off")
            if stop.is_set():
                session.kill()
            else:
                session.poweroff()
    summary.wall_s = time.monotonic() - started
    summary.command = shlex.join(session.command)
    summary.boots = [b.record() for b in session.boots]
    summary.history = session.history_records()
    if stop.is_set():
        summary.interrupted = True


class _StopWatch:
    """Ends a running job's target soon after the stop token is set, from a thread of its own:
    the job gets STOP_GRACE_S to wind down by itself (a chaos experiment rolls its faults back,
    a soak writes its last sample), then whatever it was waiting for (a command, a boot) ends
    with the target."""

    POLL_S = 0.1
    STOP_GRACE_S = 2.0

    def __init__(self, stop: StopToken) -> None:
        self.stop = stop
        self.session: Session | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _StopWatch:
        if self.stop is not NEVER:
            self._thread = threading.Thread(target=self._watch, name="sis-stop", daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(self.POLL_S):
            if self.stop.is_set():
                if not self._done.wait(self.STOP_GRACE_S) and self.session is not None:
                    self.session.abort()
                return

    def __exit__(self, *exc: object) -> None:
        self._done.set()


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
        target=job.name,
        preset=job.preset,
        suite=suite,
        test=test,
        verdict=verdict,
        reason=reason,
        duration_s=duration_s,
    )

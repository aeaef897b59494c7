"""Running suites in a Session: steps, expectations, captures, verdicts.

FAIL means the kernel did the wrong thing (wrong output or status, a panic, a hang, a death
mid-command); ERROR means the lab could not do its job (the target would not boot, a setup
step could not run). After each test the session is brought back to its shell (a hung command
interrupted, a crashed, powered-off or rebooted kernel restarted) before the next one."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from sis.harness.console import ConsoleError
from sis.harness.results import ERROR, FAIL, PASS, SKIP, StepResult, TestResult
from sis.harness.session import PoweredOff, Session, State, TargetDied
from sis.harness.suites import Step, Suite, Test
from sis.harness.targets.base import TargetError

RETRY_PAUSE_S = 0.2


def _substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), text)


class CannotRun(Exception):
    """The step cannot be run on this target (its shell has no such command): an ERROR."""


def check_step(step: Step, output: str, status: int | None, variables: dict[str, str]) -> str:
    """Why the step's result is wrong, or "" if it is right. Regexes are searched line by
    line (`^` and `$` anchor at each line of the output), as in grep."""
    if step.status == "nonzero":
        if status == 0:
            return "expected a non-zero exit status, got 0"
    elif step.status is not None and status is not None and status != step.status:
        return f"expected exit status {step.status}, got {status}"
    for rx in step.expect:
        rx = _substitute(rx, variables)
        if not re.search(rx, output, re.MULTILINE):
            return f"expected output matching {rx!r}"
    for rx in step.not_expect:
        rx = _substitute(rx, variables)
        if re.search(rx, output, re.MULTILINE):
            return f"output must not match {rx!r}"
    return ""


def check_crash(spec: dict[str, str], crash: dict[str, Any]) -> str:
    """Why a crash is not the one a step's `crash:` asks for, or "" if it is."""
    got = crash.get("title") or "(no report)"
    if "type" in spec and crash.get("type") != spec["type"]:
        return f"expected a crash of type {spec['type']!r}, got {crash.get('type')!r}: {got}"
    if "title" in spec and not re.search(spec["title"], crash.get("title", "")):
        return f"expected a crash title matching {spec['title']!r}, got {got!r}"
    if "frame" in spec and not re.fullmatch(spec["frame"], crash.get("frame") or ""):
        frame = crash.get("frame") or "none"
        return f"expected the guilty frame {spec['frame']!r}, got {frame!r} ({got})"
    return ""


def run_crash_step(
    session: Session, step: Step, variables: dict[str, str]
) -> tuple[StepResult, dict[str, Any]]:
    """Run a step that must crash (or oops) the kernel, and check the parsed crash against
    its `crash:`. Returns the result and the crash; the target may be left crashed."""
    assert step.crash is not None
    command = _substitute(step.run, variables)
    started = time.monotonic()
    try:
        r = session.run(command, timeout=step.timeout)
        session.await_crash(command)
    except TargetDied as e:
        why = check_crash(step.crash, e.crash)
        output = e.crash.get("text", "")
        return StepResult(command, output, None, time.monotonic() - started, not why, why), e.crash
    why = f"expected a crash ({', '.join(f'{k} {v}' for k, v in step.crash.items())}), but "
    why += f"the command finished with status {r.status} and the kernel reported nothing"
    return StepResult(command, r.output, r.status, r.duration_s, False, why), {}


def run_ending_step(session: Session, step: Step, variables: dict[str, str]) -> StepResult:
    """Run a step that must end the machine (`ends: poweroff|reboot`): it passes when the
    machine ends that way within the step's timeout. TargetDied if it crashed or hung."""
    command = _substitute(step.run, variables)
    started = time.monotonic()

    def result(ok: bool, why: str = "", output: str = "") -> StepResult:
        return StepResult(command, output, None, time.monotonic() - started, ok, why)

    try:
        r = session.run(command, timeout=step.timeout)
        # The command returned: the machine may still be on its way down.
        left = max(0.0, step.timeout - (time.monotonic() - started))
        session.await_end(command, left)
    except PoweredOff as e:
        if e.how == step.ends:
            return result(True)
        return result(False, f"expected the kernel to {step.ends}, but {e}")
    return result(
        False,
        f"expected the kernel to {step.ends} within {step.timeout:.0f} s; it did not "
        f"(`{command}` exited with status {r.status})",
        r.output,
    )


def run_step(session: Session, step: Step, variables: dict[str, str]) -> StepResult:
    """Run one step (with its retries); TargetDied if the kernel panicked, hung or went away."""
    command = _substitute(step.run, variables)
    attempts = step.retry + 1
    result = StepResult(command)
    for attempt in range(attempts):
        r = session.run(command, timeout=step.timeout)
        missing_command = session.command_not_found(r.output, r.status)
        # ...unless the step is about that very message (it expects it).
        if missing_command and not any(
            re.search(_substitute(rx, variables), missing_command) for rx in step.expect
        ):
            raise CannotRun(f"`{command}`: the target has no such command ({missing_command})")
        result = StepResult(command, r.output, r.status, r.duration_s)
        why = check_step(step, r.output, r.status, variables)
        if not why:
            for name, rx in step.capture.items():
                m = re.search(rx, r.output, re.MULTILINE)
                if m is None:
                    why = f"could not capture {name} with {rx!r}"
                    break
                variables[name] = m.group(1)
        if not why:
            return result
        result.ok, result.why = False, why
        if attempt + 1 < attempts:
            time.sleep(RETRY_PAUSE_S)
    return result


def missing(requires: list[str], session: Session) -> list[str]:
    return [c for c in requires if c not in session.capabilities]


def record(
    session: Session,
    suite: str,
    test: str,
    verdict: str,
    reason: str = "",
    steps: list[StepResult] | None = None,
    started: float | None = None,
    crash: dict[str, Any] | None = None,
) -> TestResult:
    """A result of `session`'s current boot, linking that boot's captures."""
    duration = 0.0 if started is None else time.monotonic() - started
    return TestResult(
        target=session.profile.name,
        preset=session.preset,
        suite=suite,
        test=test,
        verdict=verdict,
        reason=reason,
        steps=steps or [],
        duration_s=duration,
        started=time.time() - duration,  # wall time the test began, not when it was recorded
        artifacts={k: str(v) for k, v in session.artifacts().items()},
        crash=crash or {},
    )


def run_suite(session: Session, suite: Suite, report: Callable[[TestResult], None]) -> None:
    """Run every test of `suite` in `session`, reporting each result as it comes."""
    lacking = missing(suite.requires, session)
    if lacking:
        for t in suite.tests:
            report(record(session, suite.name, t.name, SKIP, f"target lacks {', '.join(lacking)}"))
        return
    variables: dict[str, str] = {}
    setup_error = _prepare(session, suite, variables)
    for n, test in enumerate(suite.tests):
        started = time.monotonic()
        if n and suite.reset == "snapshot" and not setup_error:
            # Each test starts from the just-booted machine, not from what the last one left.
            setup_error = _prepare(session, suite, variables, reset=True)
        if setup_error:
            report(record(session, suite.name, test.name, ERROR, f"setup failed: {setup_error}"))
            continue
        lacking = missing(test.requires, session)
        if lacking:
            reason = f"target lacks {', '.join(lacking)}"
            report(record(session, suite.name, test.name, SKIP, reason))
            continue
        report(run_test(session, suite, test, dict(variables), started))
        if session.state is not State.SHELL:
            # The test crashed, hung, powered off or rebooted the kernel: bring the shell back
            # for the next test, and redo the suite's setup.
            setup_error = _prepare(session, suite, variables)
    if not setup_error:
        _run_fixture(session, suite.teardown, variables)


def _prepare(
    session: Session, suite: Suite, variables: dict[str, str], *, reset: bool = False
) -> str:
    """The shell answering (after a reset to the just-booted machine, if asked) and the suite's
    setup done, or why not."""
    try:
        if reset and session.state is State.SHELL:
            session.reset()
        else:
            session.ensure_shell()
    except TargetError as e:
        return f"target could not be restarted: {e}"
    return _run_fixture(session, suite.setup, variables)


def run_test(
    session: Session, suite: Suite, test: Test, variables: dict[str, str], started: float
) -> TestResult:
    steps: list[StepResult] = []
    crash: dict[str, Any] = {}  # the last crash a `crash:` step expected and got
    for step in test.steps:
        lacking = missing(step.requires, session)
        if lacking:
            steps.append(StepResult(step.run, why=f"skipped: target lacks {', '.join(lacking)}"))
            continue
        try:
            if session.state is not State.SHELL and crash:
                session.ensure_shell()  # an expected crash ended the last step: come back
            if step.crash is not None:
                result, crash = run_crash_step(session, step, variables)
            elif step.ends is not None:
                result = run_ending_step(session, step, variables)
            else:
                result = run_step(session, step, variables)
        except TargetDied as e:
            steps.append(StepResult(_substitute(step.run, variables), ok=False, why=str(e)))
            return record(session, suite.name, test.name, FAIL, str(e), steps, started, e.crash)
        except CannotRun as e:
            steps.append(StepResult(step.run, ok=False, why=str(e)))
            reason = f"cannot run here: {e}"
            return record(session, suite.name, test.name, ERROR, reason, steps, started)
        except (ConsoleError, TargetError) as e:
            steps.append(StepResult(step.run, ok=False, why=str(e)))
            reason = f"lab error: {e}"
            return record(session, suite.name, test.name, ERROR, reason, steps, started)
        steps.append(result)
        if not result.ok:
            where = f" (line {step.line})" if step.line else ""
            reason = f"`{result.command}`{where}: {result.why}"
            return record(session, suite.name, test.name, FAIL, reason, steps, started, crash)
    return record(session, suite.name, test.name, PASS, "", steps, started, crash)


def _run_fixture(session: Session, steps: list[Step], variables: dict[str, str]) -> str:
    for step in steps:
        try:
            result = run_step(session, step, variables)
        except (TargetDied, CannotRun, ConsoleError, TargetError) as e:
            return str(e)
        if not result.ok and step.status is not None:
            return f"`{result.command}`: {result.why}"
    return ""

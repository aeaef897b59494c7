"""Running suites on a booted target: steps, expectations, captures, verdicts.

FAIL means the kernel did the wrong thing (wrong output or status, a panic, a hang, a death
mid-command); ERROR means the lab could not do its job (the target would not boot, a setup
step could not run). A target that crashed is restarted before the next test."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from sis.harness.console import ConsoleClosed, ConsoleError, ConsoleTimeout, DeathString
from sis.harness.results import ERROR, FAIL, PASS, SKIP, StepResult, TestResult
from sis.harness.suites import Step, Suite, Test
from sis.harness.targets.base import Target, TargetError

RETRY_PAUSE_S = 0.2


class KernelDied(Exception):
    """The kernel panicked, hung or went away in the middle of a step."""


def _substitute(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), m.group(0)), text)


def check_step(step: Step, output: str, status: int | None, variables: dict[str, str]) -> str:
    """Why the step's result is wrong, or "" if it is right."""
    if step.status == "nonzero":
        if status == 0:
            return "expected a non-zero exit status, got 0"
    elif step.status is not None and status is not None and status != step.status:
        return f"expected exit status {step.status}, got {status}"
    for rx in step.expect:
        rx = _substitute(rx, variables)
        if not re.search(rx, output, re.MULTILINE if rx.startswith("(?m)") else 0):
            return f"expected output matching {rx!r}"
    for rx in step.not_expect:
        rx = _substitute(rx, variables)
        if re.search(rx, output):
            return f"output must not match {rx!r}"
    return ""


def run_step(target: Target, step: Step, variables: dict[str, str]) -> StepResult:
    command = _substitute(step.run, variables)
    attempts = step.retry + 1
    result = StepResult(command)
    for attempt in range(attempts):
        try:
            r = target.run(command, timeout=step.timeout)
        except DeathString as e:
            raise KernelDied(f"kernel panicked during `{command}`: {e.match.strip()}") from None
        except ConsoleTimeout:
            target.console.hung = True  # the runner interrupts it (or restarts) after the test
            death = target.death()
            if death:
                raise KernelDied(f"kernel panicked during `{command}`: {death}") from None
            raise KernelDied(
                f"`{command}` did not finish within {step.timeout:.0f} s (hung)"
            ) from None
        except ConsoleClosed:
            death = target.death()
            raise KernelDied(
                f"the kernel went away during `{command}`" + (f": {death}" if death else "")
            ) from None
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


def missing(requires: list[str], target: Target) -> list[str]:
    return [c for c in requires if c not in target.capabilities]


def _record(
    target: Target,
    suite: Suite,
    test: str,
    verdict: str,
    reason: str,
    steps: list[StepResult],
    started: float,
) -> TestResult:
    return TestResult(
        target=target.profile.name,
        preset=target.preset,
        suite=suite.name,
        test=test,
        verdict=verdict,
        reason=reason,
        steps=steps,
        duration_s=time.monotonic() - started,
        artifacts={k: str(v) for k, v in target.artifacts().items()},
    )


def run_suite(target: Target, suite: Suite, report: Callable[[TestResult], None]) -> None:
    """Run every test of `suite` on the booted `target`, reporting each result as it comes."""
    lacking = missing(suite.requires, target)
    if lacking:
        for t in suite.tests:
            report(
                _record(
                    target,
                    suite,
                    t.name,
                    SKIP,
                    f"target lacks {', '.join(lacking)}",
                    [],
                    time.monotonic(),
                )
            )
        return
    variables: dict[str, str] = {}
    setup_error = _run_fixture(target, suite.setup, variables)
    for test in suite.tests:
        started = time.monotonic()
        if setup_error:
            report(
                _record(
                    target, suite, test.name, ERROR, f"setup failed: {setup_error}", [], started
                )
            )
            continue
        lacking = missing(test.requires, target)
        if lacking:
            report(
                _record(
                    target,
                    suite,
                    test.name,
                    SKIP,
                    f"target lacks {', '.join(lacking)}",
                    [],
                    started,
                )
            )
            continue
        report(run_test(target, suite, test, dict(variables), started))
        if not target.alive() or target.death() or not _shell_responds(target):
            # The kernel crashed or its shell is stuck: bring it back for the next test, and
            # redo the suite's setup.
            try:
                target.restart()
            except TargetError as e:
                setup_error = f"target could not be restarted after a crash: {e}"
                continue
            setup_error = _run_fixture(target, suite.setup, variables)
    if not setup_error:
        _run_fixture(target, suite.teardown, variables)


def run_test(
    target: Target, suite: Suite, test: Test, variables: dict[str, str], started: float
) -> TestResult:
    steps: list[StepResult] = []
    for step in test.steps:
        lacking = missing(step.requires, target)
        if lacking:
            steps.append(StepResult(step.run, why=f"skipped: target lacks {', '.join(lacking)}"))
            continue
        try:
            result = run_step(target, step, variables)
        except KernelDied as e:
            steps.append(StepResult(_substitute(step.run, variables), ok=False, why=str(e)))
            return _record(target, suite, test.name, FAIL, str(e), steps, started)
        except (ConsoleError, TargetError) as e:
            steps.append(StepResult(step.run, ok=False, why=str(e)))
            return _record(target, suite, test.name, ERROR, f"lab error: {e}", steps, started)
        steps.append(result)
        if not result.ok:
            where = f" (line {step.line})" if step.line else ""
            return _record(
                target,
                suite,
                test.name,
                FAIL,
                f"`{result.command}`{where}: {result.why}",
                steps,
                started,
            )
    return _record(target, suite, test.name, PASS, "", steps, started)


def _shell_responds(target: Target) -> bool:
    """After a hung command: interrupt it; True if the shell gives a prompt again."""
    if not target.console.hung:
        return True
    try:
        target.console.interrupt()
        target.console.wait_prompt(timeout=5)
        target.console.hung = False
        return True
    except ConsoleError:
        return False


def _run_fixture(target: Target, steps: list[Step], variables: dict[str, str]) -> str:
    for step in steps:
        try:
            result = run_step(target, step, variables)
        except (KernelDied, ConsoleError, TargetError) as e:
            return str(e)
        if not result.ok and step.status is not None:
            return f"`{result.command}`: {result.why}"
    return ""

"""The log regression check as a result of `sis check`: the run's own log against the
baseline recorded for its target and preset (`sis.harness.logs.diff`). Recording and checking
from the command line is `sis.harness.commands.logs`."""

from __future__ import annotations

import shlex
import time
from collections.abc import Sequence
from pathlib import Path

from sis.harness.logs.baseline import (
    SUFFIX,
    Baseline,
    BaselineError,
    accept_command,
    find_baseline,
    read_baseline,
)
from sis.harness.logs.capture import Capture, capture_from_file
from sis.harness.logs.diff import BaselineDiff, compare
from sis.harness.results import ERROR, FAIL, PASS, StepResult, TestResult

__all__ = ["SUITE", "log_regression_result"]

#: The suite name of the check's result in `sis check`.
SUITE = "log_regression"


def diff_capture(
    base: Baseline,
    path: Path,
    capture: Capture,
    target: str,
    preset: str,
    suites: Sequence[str],
    *,
    strict: bool = False,
) -> BaselineDiff:
    """A capture compared with the baseline at `path`, with the command that accepts it."""
    diff = compare(
        base.signatures(),
        capture.signatures,
        strict=strict,
        expected_lines=base.lines(),
        actual_lines=capture.lines,
    )
    diff.baseline_path = path
    diff.what = f"{base.profile or base.target}/{base.preset}, recorded {base.recorded or '?'}"
    name = path.name.removesuffix(SUFFIX)
    diff.accept = accept_command(target, preset, name, path.parent, list(suites))
    diff.notes = capture.notes
    diff.log_path = capture.log_path
    return diff


def log_regression_result(
    target_profile_name: str,
    preset: str,
    directory: str | Path,
    *,
    artifacts: dict[str, str] | dict[str, Path] | None = None,
    strict: bool = False,
) -> TestResult | None:
    """The log regression check of `sis check`, as a TestResult (suite "log_regression",
    test = the baseline's name), or None when `directory` has no baseline for this target
    and preset. `artifacts` are a target's captures after its run: the log of that run is
    checked."""
    started = time.monotonic()
    path = find_baseline(directory, target_profile_name, preset)
    if path is None:
        return None
    name = path.name.removesuffix(SUFFIX)

    def result(verdict: str, reason: str, output: str = "", ok: bool = True) -> TestResult:
        command = f"sis logs check --name {shlex.quote(name)} --dir {shlex.quote(str(directory))}"
        return TestResult(
            target=target_profile_name,
            preset=preset,
            suite=SUITE,
            test=name,
            verdict=verdict,
            reason=reason,
            steps=[StepResult(command, output, None, time.monotonic() - started, ok, reason)],
            duration_s=time.monotonic() - started,
            artifacts={"baseline": str(path), **{k: str(v) for k, v in (artifacts or {}).items()}},
        )

    try:
        base = read_baseline(path)
        log = None
        if artifacts:
            log = artifacts.get("kernel_log") if base.source == "kernel_log" else None
            log = log or artifacts.get("console")
        if not log:
            return result(ERROR, "this run left no log to check", ok=False)
        target = base.target if (base.profile or base.target) == target_profile_name else None
        capture = capture_from_file(log, source=base.source, target=target or "", preset=preset)
        diff = diff_capture(
            base, path, capture, target or target_profile_name, preset, base.suites, strict=strict
        )
    except BaselineError as e:
        return result(ERROR, str(e), ok=False)
    text = diff.render()
    if diff.ok:
        return result(PASS, "", text)
    return result(FAIL, f"log regression against {path}: {diff.summary()}", text, ok=False)

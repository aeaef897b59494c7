"""The log regression check: record a baseline from a run (`sis logs baseline`), check a
run against it (`sis logs check`), and the same check as a result of `sis check`.

A check boots the target again (the one the baseline names unless overridden), runs the same
suites, and compares its normalized log with the baseline (`sis.harness.logs.diff`); or it
takes a log already captured, as `sis check` does with each target's own run.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sis.harness.logs.baseline import (
    SUFFIX,
    Baseline,
    BaselineError,
    accept_command,
    baseline_path,
    collapse,
    find_baseline,
    read_baseline,
    write_baseline,
)
from sis.harness.logs.capture import Status, capture_from_file, capture_log
from sis.harness.logs.diff import BaselineDiff, compare
from sis.harness.results import ERROR, FAIL, PASS, StepResult, TestResult

__all__ = ["SUITE", "check_against_baseline", "log_regression_result", "record_baseline"]

#: The suite name of the check's result in `sis check`.
SUITE = "log_regression"


def _utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Workdir:
    """The given directory, or a fresh temporary one that is removed unless kept."""

    def __init__(self, given: str | Path | None) -> None:
        self.given = given is not None
        self.path = Path(given) if given is not None else Path(tempfile.mkdtemp(prefix="sis-logs-"))
        self.keep = self.given

    def close(self) -> None:
        if not self.keep:
            shutil.rmtree(self.path, ignore_errors=True)


def record_baseline(
    target: str = "sim",
    *,
    directory: str | Path,
    name: str | None = None,
    preset: str = "default",
    suites: Sequence[str] = (),
    workdir: str | Path | None = None,
    on_status: Status | None = None,
) -> Baseline:
    """Boot `target`, run `suites`, and write its normalized log as `directory/NAME.baseline`
    (NAME defaults to ``<profile>-<preset>``). Returns the baseline (with `path` set)."""
    wd = _Workdir(workdir)
    try:
        capture = capture_log(
            target, preset=preset, suites=suites, workdir=wd.path, on_status=on_status
        )
    finally:
        wd.close()
    name = name or f"{capture.profile}-{preset}"
    path = baseline_path(directory, name)
    baseline = Baseline(
        target=target,
        profile=capture.profile,
        preset=preset,
        suites=list(suites),
        source=capture.source,
        recorded=_utc_now(),
        records=len(capture.signatures),
        events=collapse(capture.signatures),
        notes=capture.notes,
    )
    if not baseline.events:
        raise BaselineError(
            f"{capture.profile}/{preset} logged no records; nothing to record as a baseline"
            + (f" ({capture.notes[0]})" if capture.notes else "")
        )
    write_baseline(baseline, path, accept_command(target, preset, name, directory, suites))
    return baseline


def check_against_baseline(
    name: str,
    directory: str | Path,
    *,
    target: str | None = None,
    preset: str | None = None,
    suites: Sequence[str] | None = None,
    strict: bool = False,
    workdir: str | Path | None = None,
    log: str | Path | None = None,
    on_status: Status | None = None,
) -> BaselineDiff:
    """Run the target the baseline names (or `target`/`preset`/`suites` if given), or take
    the log file `log`, and compare its normalized log with the baseline."""
    path = baseline_path(directory, name)
    base = read_baseline(path)
    target = target or base.target
    preset = preset or base.preset
    suite_names = list(base.suites if suites is None else suites)
    wd: _Workdir | None = None
    if log is not None:
        capture = capture_from_file(log, source=base.source, target=target, preset=preset)
    else:
        wd = _Workdir(workdir)
        try:
            capture = capture_log(
                target, preset=preset, suites=suite_names, workdir=wd.path, on_status=on_status
            )
        except BaseException:
            wd.close()
            raise
    diff = compare(
        base.signatures(),
        capture.signatures,
        strict=strict,
        expected_lines=base.lines(),
        actual_lines=capture.lines,
    )
    diff.baseline_path = path
    diff.what = f"{base.profile or base.target}/{base.preset}, recorded {base.recorded or '?'}"
    diff.accept = accept_command(target, preset, name, directory, suite_names)
    diff.notes = capture.notes
    if wd is not None:
        if diff.ok:
            wd.close()
        else:
            wd.keep = True  # the evidence stays for the user
    diff.log_path = capture.log_path
    return diff


def log_regression_result(
    target_profile_name: str,
    preset: str,
    directory: str | Path,
    *,
    artifacts: dict[str, str] | dict[str, Path] | None = None,
    strict: bool = False,
    workdir: str | Path | None = None,
) -> TestResult | None:
    """The log regression check of `sis check`, as a TestResult (suite "log_regression",
    test = the baseline's name), or None when `directory` has no baseline for this target
    and preset. With `artifacts` (a target's `artifacts()` after its run) the log of that
    run is checked; otherwise the target is booted again with the baseline's suites."""
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
        target = base.target if (base.profile or base.target) == target_profile_name else None
        diff = check_against_baseline(
            name,
            directory,
            target=target or target_profile_name,
            preset=preset,
            strict=strict,
            workdir=workdir,
            log=log,
        )
    except BaselineError as e:
        return result(ERROR, str(e), ok=False)
    text = diff.render()
    if diff.ok:
        return result(PASS, "", text)
    return result(FAIL, f"log regression against {path}: {diff.summary()}", text, ok=False)

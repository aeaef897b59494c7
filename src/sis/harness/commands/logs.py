"""`sis logs baseline|check`: the kernel log of one boot, captured by one job through the one
door (the `log_capture` phase), written as a baseline or compared with one. A check boots the
target again (the one the baseline names unless overridden), runs the same suites, and compares
its normalized log with the baseline; or it takes a log already captured."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from sis.harness.logs.baseline import (
    Baseline,
    BaselineError,
    accept_command,
    baseline_path,
    collapse,
    read_baseline,
    write_baseline,
)
from sis.harness.logs.capture import (
    SUITE,
    Capture,
    Status,
    capture_from_file,
    capture_path,
    read_capture,
)
from sis.harness.logs.diff import BaselineDiff
from sis.harness.logs.regression import diff_capture
from sis.harness.results import ERROR, FAIL


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
    target: str = "sis",
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
    diff = diff_capture(base, path, capture, target, preset, suite_names, strict=strict)
    if wd is not None:
        if diff.ok:
            wd.close()
        else:
            wd.keep = True  # the evidence stays for the user
    return diff


def capture_log(
    target: str = "sis",
    *,
    preset: str = "default",
    suites: Sequence[str] = (),
    workdir: str | Path,
    on_status: Status | None = None,
) -> Capture:
    """Boot `target`, run `suites`, power it off, and parse and normalize its kernel log
    (its own serial line if the profile has one, else the records in the console). The boot
    is one job through the one door (`sis.harness.plan`): WORKDIR gets its results.jsonl,
    jobs.jsonl, junit.xml and report.html like any command's OUT."""
    from sis.harness.datafile import DataFileError
    from sis.harness.jobs import target_jobs
    from sis.harness.outdir import OutputError
    from sis.harness.phases import PlanError
    from sis.harness.plan import Plan, run_plan
    from sis.harness.suites import load_suite

    workdir = Path(workdir).resolve()
    try:
        loaded = [str(load_suite(s).path or load_suite(s).name) for s in suites]
        jobs, _ = target_jobs(
            [target],
            preset,
            ("log_capture",),
            {"log_capture": {"suites": loaded}},
            workdir / "targets",
        )
        plan = Plan("SIS logs", [jobs], workdir)
        status = (lambda key, text: on_status(f"{key}: {text}")) if on_status else None
        results = run_plan(plan, on_status=status)
    except (DataFileError, PlanError, OutputError) as e:
        raise BaselineError(str(e)) from None
    job = jobs[0]
    path = capture_path(workdir / "targets", job.name, job.preset)
    if not path.exists():
        why = next((r.reason for r in results if r.verdict == ERROR), "no log was captured")
        raise BaselineError(f"{job.key}: {why}")
    capture = read_capture(path)
    capture.results = [r for r in results if r.suite != SUITE]
    bad = [r for r in capture.results if r.verdict in (FAIL, ERROR)]
    if bad:
        capture.notes.append(
            f"{len(bad)} suite test(s) did not pass while the log was captured, "
            f"first: {bad[0].suite} :: {bad[0].test}: {bad[0].reason}"
        )
    return capture

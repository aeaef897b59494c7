"""A capture: the kernel log of one run of a target, parsed and normalized, ready to be
written as a baseline or compared with one.

The log is the kernel's own serial line when the target's profile has one (``kernel_log``),
else the log records picked out of the console (``console``). Paths of the run's own files
differ from run to run, so the run's directory is masked as ``<workdir>`` before parsing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sis.harness.logs.baseline import BaselineError
from sis.harness.logs.parse import Problem
from sis.harness.logs.stream import scan
from sis.harness.results import ERROR, FAIL, TestResult

__all__ = ["Capture", "Status", "capture_from_file", "capture_log"]

#: Told what a capture is doing ("booting sis/default"), for a progress display.
Status = Callable[[str], None]


@dataclass
class Capture:
    """The log of one run of a target, parsed and normalized."""

    target: str
    profile: str
    preset: str
    suites: list[str]
    source: str  # "kernel_log" or "console"
    problems: list[Problem]  # malformed log lines
    signatures: list[str]
    lines: list[int]  # the log line of each signature
    log_path: Path | None = None
    results: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _mask_workdir(data: bytes, workdir: Path) -> bytes:
    """Paths of the run's own files (its disk image) differ from run to run: the directory
    they are in becomes <workdir>, spelled absolute or relative to the current directory."""
    spellings = {str(workdir.resolve())}
    with contextlib.suppress(ValueError):
        spellings.add(os.path.relpath(workdir.resolve()))
    for spelling in sorted(spellings - {".", ""}, key=len, reverse=True):
        data = data.replace(spelling.encode() + b"/", b"<workdir>/")
    return data


def _from_text(
    data: bytes,
    source: str,
    *,
    target: str,
    profile: str,
    preset: str,
    suites: list[str],
    log_path: Path | None,
    workdir: Path | None,
) -> Capture:
    if workdir is not None:
        data = _mask_workdir(data, workdir)
    # One streaming pass: signatures and their line numbers, no records kept.
    found = scan(data, mixed=source == "console", lines=True)
    capture = Capture(
        target=target,
        profile=profile,
        preset=preset,
        suites=suites,
        source=source,
        problems=found.problems,
        signatures=found.signatures,
        lines=found.lines,
        log_path=log_path,
    )
    if found.problems:
        capture.notes.append(
            f"{len(found.problems)} malformed log line(s) ignored, the first at "
            f"{log_path or 'the log'}:{found.problems[0]}"
        )
    if not found.signatures:
        capture.notes.append(f"no log records found in the {source.replace('_', ' ')}")
    return capture


def capture_log(
    target: str = "sim",
    *,
    preset: str = "default",
    suites: Sequence[str] = (),
    workdir: str | Path,
    on_status: Status | None = None,
) -> Capture:
    """Boot `target`, run `suites`, power it off, and parse and normalize its kernel log
    (its own serial line if the profile has one, else the records in the console)."""
    from sis.harness.datafile import DataFileError
    from sis.harness.runner import run_suite
    from sis.harness.session import Session
    from sis.harness.suites import load_suite
    from sis.harness.targets import TargetError

    status = on_status or (lambda _text: None)
    workdir = Path(workdir).resolve()
    try:
        loaded = [load_suite(s) for s in suites]
        tgt = Session(target, preset=preset, workdir=workdir)
    except (DataFileError, TargetError) as e:
        raise BaselineError(str(e)) from None
    profile = tgt.profile
    results: list[TestResult] = []
    try:
        status(f"booting {profile.name}/{preset}")
        tgt.start()
        for suite in loaded:
            status(f"running suite {suite.name}")
            run_suite(tgt, suite, results.append)
    except TargetError as e:
        raise BaselineError(f"{profile.name}/{preset}: {e}") from None
    finally:
        status("powering off")
        tgt.poweroff()
    artifacts = tgt.artifacts()
    source = "kernel_log" if "kernel_log" in artifacts else "console"
    log_path = artifacts.get(source)
    if log_path is None:
        raise BaselineError(f"{profile.name}/{preset} left no {source} capture in {workdir}")
    capture = _from_text(
        log_path.read_bytes(),
        source,
        target=target,
        profile=profile.name,
        preset=preset,
        suites=[s.name for s in loaded],
        log_path=log_path,
        workdir=workdir,
    )
    capture.results = results
    bad = [r for r in results if r.verdict in (FAIL, ERROR)]
    if bad:
        capture.notes.append(
            f"{len(bad)} suite test(s) did not pass while the log was captured, "
            f"first: {bad[0].suite} :: {bad[0].test}: {bad[0].reason}"
        )
    if len(tgt.boots) > 1:
        capture.notes.append(
            f"the kernel was restarted {len(tgt.boots) - 1} time(s) during the suites; "
            "only the last boot's log is used"
        )
    return capture


def capture_from_file(
    path: str | Path, *, source: str = "kernel_log", target: str = "", preset: str = ""
) -> Capture:
    """A capture from a log file already on disk (console captures: source="console")."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BaselineError(f"{path}: cannot read: {e.strerror or e}") from None
    # A target keeps its files beside its captures, so their directory is the run's workdir.
    return _from_text(
        data,
        source,
        target=target,
        profile="",
        preset=preset,
        suites=[],
        log_path=path,
        workdir=path.parent,
    )

"""A capture: the kernel log of one run of a target, parsed and normalized, ready to be
written as a baseline or compared with one.

The log is the kernel's own serial line when the target's profile has one (``kernel_log``),
else the log records picked out of the console (``console``). Paths of the run's own files
differ from run to run, so the run's directory is masked as ``<workdir>`` before parsing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sis.harness.logs.baseline import BaselineError
from sis.harness.logs.parse import Problem
from sis.harness.logs.stream import scan
from sis.harness.results import TestResult

__all__ = ["Capture", "Status", "capture_from_file", "capture_session_log", "read_capture"]

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
    problems: list[Problem] | list[str]  # malformed log lines
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


#: The suite name of the capture's own result.
SUITE = "log_capture"


def capture_path(workdir: Path, name: str, preset: str) -> Path:
    return workdir / f"{name}-{preset}.capture.json"


def capture_session_log(session: object, workdir: Path, suites: list[str]) -> Capture:
    """The capture of a session that has just been powered off: its last real boot's log (a
    boot resumed from a snapshot prints no boot log)."""
    booted = [b for b in session.boots if not b.restored]  # type: ignore[attr-defined]
    artifacts = booted[-1].artifacts if booted else {}
    source = "kernel_log" if "kernel_log" in artifacts else "console"
    log_path = artifacts.get(source)
    profile = session.profile  # type: ignore[attr-defined]
    preset = session.preset  # type: ignore[attr-defined]
    if log_path is None:
        raise BaselineError(f"{profile.name}/{preset} left no {source} capture in {workdir}")
    capture = _from_text(
        Path(log_path).read_bytes(), source, target=str(profile.path or profile.name),
        profile=profile.name, preset=preset, suites=suites, log_path=Path(log_path),
        workdir=workdir,
    )  # fmt: skip
    if len(session.boots) > 1:  # type: ignore[attr-defined]
        capture.notes.append(
            f"the kernel was restarted {len(session.boots) - 1} time(s) during the suites; "  # type: ignore[attr-defined]
            "only the last boot's log is used"
        )
    return capture


def write_capture(capture: Capture, path: Path) -> None:
    from sis.harness.outdir import write_atomic

    data = {
        "target": capture.target, "profile": capture.profile, "preset": capture.preset,
        "suites": capture.suites, "source": capture.source, "signatures": capture.signatures,
        "lines": capture.lines, "notes": capture.notes,
        "problems": [str(p) for p in capture.problems],
        "log_path": str(capture.log_path) if capture.log_path else None,
    }  # fmt: skip
    write_atomic(path, json.dumps(data) + "\n")


def read_capture(path: Path) -> Capture:
    try:
        data = json.loads(path.read_text())
        return Capture(
            target=data["target"], profile=data["profile"], preset=data["preset"],
            suites=list(data["suites"]), source=data["source"], problems=list(data["problems"]),
            signatures=list(data["signatures"]), lines=list(data["lines"]),
            log_path=Path(data["log_path"]) if data.get("log_path") else None,
            notes=list(data["notes"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BaselineError(f"{path}: not a log capture ({e})") from None


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

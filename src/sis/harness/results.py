"""Results: one record per test, appended to `results.jsonl` as it happens (an interrupted run
keeps what it finished); reports are built from that file."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sis.harness.outdir import OutputError, describe_os_error, open_for_writing

T = TypeVar("T")

PASS, FAIL, ERROR, SKIP = "PASS", "FAIL", "ERROR", "SKIP"
VERDICTS = (PASS, FAIL, ERROR, SKIP)
NOT_TESTED = "NOT TESTED"  # a run's verdict, never a test's


@dataclass
class StepResult:
    command: str
    output: str = ""
    status: int | None = None
    duration_s: float = 0.0
    ok: bool = True
    why: str = ""


@dataclass
class TestResult:
    __test__ = False  # a result, not a pytest test class

    target: str
    preset: str
    suite: str
    test: str
    verdict: str
    reason: str = ""
    steps: list[StepResult] = field(default_factory=list)
    duration_s: float = 0.0
    started: float = field(default_factory=time.time)
    artifacts: dict[str, str] = field(default_factory=dict)
    #: The crash behind a FAIL, as forensics parsed it (type, title, frame, corrupted, text).
    crash: dict[str, Any] = field(default_factory=dict)
    #: Which attempt at its job this came from when a cluster runs jobs (1, 2, ... after a lost
    #: worker); 0 for a job that can only run once, as on this machine (left out of the JSON).
    attempt: int = 0

    @property
    def key(self) -> str:
        return f"{self.target}/{self.preset}/{self.suite}/{self.test}"

    def to_json(self) -> str:
        d = asdict(self)
        if not d["attempt"]:
            del d["attempt"]
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TestResult:
        steps = [StepResult(**s) for s in d.get("steps", [])]
        return cls(**{**d, "steps": steps})


@dataclass
class JobSummary:
    """What a job did with its target, beside its results: the report's per-target header
    (kernel, command line, boot and phase times, a timeline of boots and crashes)."""

    target: str
    preset: str
    profile: str = ""  # the profile's file, or its built-in name
    kernel: str = ""  # the kernel's version line, as the target printed it
    command: str = ""  # the command line that started it (last boot)
    wall_s: float = 0.0
    phases: list[dict[str, Any]] = field(default_factory=list)  # {name, seconds}
    boots: list[dict[str, Any]] = field(default_factory=list)  # Session.boots as dicts
    history: list[dict[str, Any]] = field(default_factory=list)  # {t, state, why}
    interrupted: bool = False  # the run was stopped while this job ran

    @property
    def key(self) -> str:
        return f"{self.target} / {self.preset}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> JobSummary:
        return cls(**d)


class ResultLog:
    """Appends results as JSON lines (thread-safe: parallel targets share one file). A line is
    written whole or not at all: when the disk is full the file is cut back to its last
    complete line and OutputError says so, so what was written stays readable."""

    def __init__(self, path: Path, *, fresh: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.results: list[TestResult] = []
        self.jobs: list[JobSummary] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = open_for_writing(self.path, append=True, truncate=fresh)
        except OSError as e:
            raise OutputError(describe_os_error(path, e)) from None

    def add(self, result: TestResult | JobSummary) -> None:
        line = (result.to_json() + "\n").encode("utf-8")
        with self._lock:
            if self._fd < 0:
                return  # the run is over (a job still winding down after an interrupt)
            size = os.fstat(self._fd).st_size
            try:
                written = os.write(self._fd, line)
                if written != len(line):
                    raise OSError(errno.ENOSPC, "short write")
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, size)
                raise OutputError(describe_os_error(self.path, e)) from None
            if isinstance(result, JobSummary):
                self.jobs.append(result)
            else:
                self.results.append(result)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._fd = -1


def read_results(path: Path) -> tuple[list[TestResult], list[str]]:
    """The results of a results.jsonl, and a note per line that could not be read (a run cut
    short). Of a job run more than once (its worker was lost), the last attempt's results;
    the earlier ones stay in the file, and a note says so."""
    results, problems = _read_lines(path, TestResult.from_dict)
    return last_attempts(results, problems)


def last_attempts(
    results: list[TestResult], notes: list[str]
) -> tuple[list[TestResult], list[str]]:
    last: dict[tuple[str, str], int] = {}
    for r in results:
        last[(r.target, r.preset)] = max(r.attempt, last.get((r.target, r.preset), 0))
    kept = [r for r in results if r.attempt == last[(r.target, r.preset)]]
    if len(kept) == len(results):
        return results, notes
    notes = list(notes)
    for (target, preset), n in last.items():
        earlier = sum(
            1 for r in results if (r.target, r.preset) == (target, preset) and r.attempt < n
        )
        if earlier:
            notes.append(
                f"{target}/{preset}: ran {n} times (a worker was lost); verdicts are attempt "
                f"{n}'s, the {earlier} earlier result(s) stay in results.jsonl"
            )
    return kept, notes


def read_jobs(path: Path) -> tuple[list[JobSummary], list[str]]:
    """The job summaries of a jobs.jsonl (none if the run wrote none), and a note per
    unreadable line."""
    if not path.exists():
        return [], []
    return _read_lines(path, JobSummary.from_dict)


def _read_lines(path: Path, parse: Callable[[dict[str, Any]], T]) -> tuple[list[T], list[str]]:
    items: list[T] = []
    problems: list[str] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return [], [describe_os_error(path, e)]
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(parse(json.loads(line)))
        except (ValueError, TypeError) as e:
            problems.append(f"{path}:{n}: unreadable line ({e})")
    return items, problems


def summarize(results: list[TestResult]) -> dict[str, int]:
    counts = {v: 0 for v in VERDICTS}
    for r in results:
        counts[r.verdict] += 1
    return counts


def nothing_tested(results: list[TestResult]) -> bool:
    """No test passed or failed: every one was skipped, or there were none."""
    counts = summarize(results)
    return counts[PASS] + counts[FAIL] + counts[ERROR] == 0


def overall_verdict(results: list[TestResult]) -> str:
    """What a run amounts to: ERROR, FAIL, NOT TESTED (all skipped or none) or PASS."""
    counts = summarize(results)
    if counts[ERROR]:
        return ERROR
    if counts[FAIL]:
        return FAIL
    return NOT_TESTED if nothing_tested(results) else PASS


def exit_code(results: list[TestResult]) -> int:
    """0 all passed, 1 a FAIL, 2 an ERROR (infrastructure trouble wins) — or nothing was
    tested at all (every test skipped, or none): that is not a pass either, also 2."""
    counts = summarize(results)
    if counts[ERROR] or nothing_tested(results):
        return 2
    return 1 if counts[FAIL] else 0

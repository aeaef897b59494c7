"""Results: one record per test, appended to `results.jsonl` as it happens (an interrupted run
keeps what it finished); reports are built from that file."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PASS, FAIL, ERROR, SKIP = "PASS", "FAIL", "ERROR", "SKIP"
VERDICTS = (PASS, FAIL, ERROR, SKIP)


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

    @property
    def key(self) -> str:
        return f"{self.target}/{self.preset}/{self.suite}/{self.test}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TestResult:
        steps = [StepResult(**s) for s in d.get("steps", [])]
        return cls(**{**d, "steps": steps})


class ResultLog:
    """Appends results as JSON lines (thread-safe: parallel targets share one file)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.results: list[TestResult] = []

    def add(self, result: TestResult) -> None:
        with self._lock:
            self.results.append(result)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(result.to_json() + "\n")
                f.flush()


def read_results(path: Path) -> tuple[list[TestResult], list[str]]:
    """Results of a JSONL file, and a note per line that could not be read (a run cut short)."""
    results, problems = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            results.append(TestResult.from_dict(json.loads(line)))
        except (ValueError, TypeError) as e:
            problems.append(f"{path}:{n}: unreadable result line ({e})")
    return results, problems


def summarize(results: list[TestResult]) -> dict[str, int]:
    counts = {v: 0 for v in VERDICTS}
    for r in results:
        counts[r.verdict] += 1
    return counts


def exit_code(results: list[TestResult]) -> int:
    """0 all passed (or skipped), 1 a FAIL, 2 an ERROR (infrastructure trouble wins)."""
    counts = summarize(results)
    if counts[ERROR]:
        return 2
    return 1 if counts[FAIL] else 0

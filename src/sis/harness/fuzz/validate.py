"""`sis fuzz validate`: the differential validation suite (`cases`) run on one or more
targets through their executor channels, each case's answer put beside Linux's.

Per target and case the verdict is:
  match      the answer is Linux's
  explained  the reference kernel answers otherwise on purpose (the case says why)
  differs    any other answer: a finding
  error      the case could not be judged: a setup call failed, or the kernel died (its
             crash title is the answer)

Results go to OUT/validation.json and OUT/validation.txt (the side-by-side table)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sis.harness.fuzz.cases import CASES, Case
from sis.harness.fuzz.channel import Channel
from sis.harness.fuzz.program import Program
from sis.harness.outdir import write_atomic

MATCH, EXPLAINED, DIFFERS, ERROR = "match", "explained", "differs", "error"
BATCH = 32  # cases a round trip


@dataclass
class Answer:
    case: str
    answer: str  # an errno name, a number, "ok", "crash: TITLE" or "setup: ..."
    verdict: str
    detail: str = ""


@dataclass
class TargetRun:
    target: str
    arch: str
    answers: dict[str, Answer] = field(default_factory=dict)
    error: str = ""  # the lab could not run the suite on this target

    def counts(self) -> dict[str, int]:
        out = {MATCH: 0, EXPLAINED: 0, DIFFERS: 0, ERROR: 0}
        for a in self.answers.values():
            out[a.verdict] += 1
        return out


def family(arch: str) -> str:
    return "sis" if arch == "sis" else "linux"


def cases_for(arch: str, names: list[str] | None = None) -> list[Case]:
    chosen = [c for c in CASES if not c.arches or arch in c.arches]
    if names:
        unknown = sorted(set(names) - {c.name for c in CASES})
        if unknown:
            raise ValueError(f"no validation case {unknown[0]!r}")
        chosen = [c for c in chosen if c.name in names]
    return chosen


def judge(case: Case, arch: str, results: list[dict]) -> Answer:
    """The verdict on one case from its calls' results."""
    n = len(case.calls)
    for i, r in enumerate(results[: n - 1]):
        if r.get("ret", 0) < 0:
            name = case.calls[i][0]
            return Answer(case.name, f"setup: {name} {r.get('errno')}", ERROR,
                          f"setup call {i} ({name}) failed")  # fmt: skip
    if len(results) < n:
        return Answer(case.name, "not run", ERROR, "the checked call did not run")
    last = results[n - 1]
    value = int(last.get("ret", 0))
    answer = str(last.get("errno") or value) if value < 0 else str(value)
    answer = answer if value < 0 else _shown(case.expected(family(arch)), value)
    if _same(case.linux, answer, value):
        return Answer(case.name, answer, MATCH)
    if family(arch) == "sis" and case.sis is not None and _same(case.sis, answer, value):
        return Answer(case.name, answer, EXPLAINED, case.why)
    return Answer(case.name, answer, DIFFERS, f"Linux answers {case.linux}")


def _shown(expected: str, value: int) -> str:
    return "ok" if expected == "ok" else str(value)


def _same(expected: str, answer: str, value: int) -> bool:
    if expected == "ok":
        return value >= 0
    return answer == expected


def run_cases(
    channel: Channel,
    target: str,
    names: list[str] | None = None,
    on_case: Callable[[Answer], None] | None = None,
) -> TargetRun:
    """Run the suite through a started channel. A case that kills the kernel is answered with
    the crash's title; the target is restarted and the rest go on."""
    run = TargetRun(target, channel.arch)
    pending = cases_for(channel.arch, names)
    while pending:
        chunk, pending = pending[:BATCH], pending[BATCH:]
        programs: list[Program] = [c.program(channel.arch) for c in chunk]
        res = channel.run(programs)
        for i, (case, results) in enumerate(zip(chunk, res.results, strict=False)):
            if res.crash is not None and res.crash_at is not None and i >= res.crash_at[0]:
                break
            _record(run, judge(case, channel.arch, results), on_case)
        if res.crash is not None:
            at = res.crash_at[0] if res.crash_at is not None else len(res.results)
            if at < len(chunk):
                _record(run, Answer(chunk[at].name, f"crash: {res.crash.title}", ERROR,
                                    res.crash.kind), on_case)  # fmt: skip
            # The cases after the one that crashed go again on a fresh kernel.
            pending = [c for c in chunk[at + 1 :] if c.name not in run.answers] + pending
            channel.restart()
    return run


def _record(run: TargetRun, answer: Answer, on_case: Callable[[Answer], None] | None) -> None:
    run.answers[answer.case] = answer
    if on_case is not None:
        on_case(answer)


def unexplained(runs: list[TargetRun]) -> list[tuple[str, Answer]]:
    """(target, answer) of every case not answered as Linux does or as the case explains."""
    return [
        (r.target, a) for r in runs for a in r.answers.values() if a.verdict in (DIFFERS, ERROR)
    ]


def table(runs: list[TargetRun]) -> str:
    """The side-by-side table: each case, Linux's answer, and every target's."""
    names = [c.name for c in CASES if any(c.name in r.answers for r in runs)]
    header = ["case", "linux (expected)", *(f"{r.target}" for r in runs)]
    rows = [header]
    marks = {MATCH: "", EXPLAINED: " (explained)", DIFFERS: " <- DIFFERS", ERROR: " <- ERROR"}
    for name in names:
        case = next(c for c in CASES if c.name == name)
        row = [name, case.linux]
        for r in runs:
            a = r.answers.get(name)
            row.append("-" if a is None else a.answer + marks[a.verdict])
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    for r in runs:
        c = r.counts()
        notes.append(
            f"{r.target} ({r.arch}): {c[MATCH]} match, {c[EXPLAINED]} explained, "
            f"{c[DIFFERS]} differ, {c[ERROR]} error" + (f"; {r.error}" if r.error else "")
        )
    explained = [
        f"  {name}: {case.why}"
        for name in names
        if (case := next(c for c in CASES if c.name == name)).sis is not None
    ]
    if explained:
        notes.append("deliberate differences of the reference kernel:")
        notes.extend(explained)
    return "\n".join(lines + [""] + notes) + "\n"


def write(out: Path, runs: list[TargetRun]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "targets": [
            {
                "target": r.target,
                "arch": r.arch,
                "error": r.error,
                "counts": r.counts(),
                "answers": [asdict(a) for a in r.answers.values()],
            }
            for r in runs
        ],
        "unexplained": [{"target": t, **asdict(a)} for t, a in unexplained(runs)],
    }
    write_atomic(out / "validation.json", json.dumps(data, indent=1) + "\n")
    write_atomic(out / "validation.txt", table(runs))
    return out / "validation.txt"

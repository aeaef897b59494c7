"""`sis selftest`: every readiness job against the clean reference kernel and against every
planted bug (contract section 9), as a detection matrix job x kernel. Each cell is one job
through the one door: the reference kernel started with `-append "sis.bug=NAME
sis.bug_seed=N"` (none for the clean column) running the row's phase, as `sis check`,
`sis chaos run`, `sis soak` and `sis fuzz` run it.

A cell is
  ok           the clean kernel, and the job passed
  caught       a bug the job is meant to catch, and it failed for that bug's reason
  missed       a bug the job is meant to catch, and it passed
  other        a bug the job is meant to catch, and it failed for another reason
  quiet        a bug the job is not meant for, and it passed
  also caught  a bug the job is not meant for, and it failed with that bug's symptom (a
               crash, or the reason another job is meant to give for it)
  false alarm  it failed on the clean kernel, or failed on a bug it is not meant for without
               that bug's symptom
  error        the lab could not run the cell (a row that raised, a cell with no result)
  skipped      the job did not apply

The self-test holds only when every bug is caught by each job meant for it, no cell is a
false alarm, other or error, and the run completed. The oracle (which job catches which bug,
by what reason) lives here alone: the detectors never import it."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.contract.bugs import NAMES as BUG_NAMES
from sis.contract.bugs import NULL_DEREF_IOCTL_FUNCTION, PWRITE_OVERFLOW_FUNCTION
from sis.harness.capacity import default_parallel, target_bytes
from sis.harness.jobs import Job
from sis.harness.outdir import write_atomic
from sis.harness.plan import Plan
from sis.harness.results import ERROR, FAIL, PASS, SKIP, TestResult

CLEAN = "clean"
CAUGHT, MISSED, OTHER, QUIET, ALSO, FALSE_ALARM, OK, LAB_ERROR, SKIPPED = (
    "caught", "missed", "other", "quiet", "also caught", "false alarm", "ok", "error", "skipped",
)  # fmt: skip
#: Cells that keep the self-test from holding.
BAD = (MISSED, OTHER, FALSE_ALARM, LAB_ERROR)
MATRIX = "matrix.json"


@dataclass(frozen=True)
class Row:
    job: str  # "chaos/disk_full"
    phase: str  # the phase that runs it
    options: dict[str, Any] = field(default_factory=dict)
    #: The bugs this job must catch, each with the regex one of its FAIL reasons must match.
    catches: dict[str, str] = field(default_factory=dict)
    budget_s: float = 60.0  # what a cell of this row may take (printed with the matrix)


def _chaos(name: str, catches: dict[str, str]) -> Row:
    return Row(f"chaos/{name}", "chaos", {"experiments": [name]}, catches, budget_s=60)


_LOST = r"^lost \d+ acknowledged bytes in "
_FUZZ = r"^kernel crashed under fuzzing .*"
#: The soak and fuzz cells are short forms that still prove the point: a soak long enough to
#: tell a leak from warm-up, a fuzz run long enough to find the planted crashes.
SOAK_S, FUZZ_S = 45.0, 90.0
ROWS: list[Row] = [
    _chaos("disk_full", {"enospc_panic": r"^kernel panicked under disk_full"}),
    _chaos("disk_fail", {"fsync_lies": _LOST}),
    _chaos("network_fail", {"net_wedge": r"^steady state not restored after network_fail"}),
    _chaos("memory_pressure", {"oom_hang": r"^hung under memory_pressure"}),
    _chaos("slow_io", {}),
    _chaos("random_panic", {}),
    _chaos("power_cut", {"fsync_lies": _LOST}),
    Row("soak/churn", "soak",
        {"workload": "churn", "duration": SOAK_S, "interval": 1.0},
        {"leak_on_spawn": r"^leaking \+[\d.]+ MiB/h"}, budget_s=SOAK_S + 30),
    Row("fuzz/syscalls", "fuzz", {"duration": FUZZ_S, "stop_on_crash": True},
        {"pwrite_overflow": _FUZZ + PWRITE_OVERFLOW_FUNCTION,
         "null_deref_ioctl": _FUZZ + NULL_DEREF_IOCTL_FUNCTION}, budget_s=FUZZ_S + 30),
    Row("crash/forensics", "crash_probe", {},
        {"null_deref_ioctl": rf"^kernel crashed in ioctl \S+: .*\b{NULL_DEREF_IOCTL_FUNCTION}\b"},
        budget_s=30),
]  # fmt: skip


@dataclass
class SelftestPlan:
    rows: list[Row]
    columns: list[str]  # "clean" and bug names
    out: Path
    seed: int  # seeds the faults, the workloads and the fuzzer
    bug_seed: int  # places each planted bug's trigger
    diagonal: bool = False  # only the cells meant for each bug (and the clean column)
    cells: list[tuple[Row, str]] = field(default_factory=list)


def plan_selftest(
    jobs: list[str],
    bugs: list[str],
    out: Path,
    seed: int = 0,
    clean: bool = True,
    bug_seed: int | None = None,
    diagonal: bool = False,
) -> SelftestPlan:
    """ValueError naming an unknown job or bug. `bug_seed=None` draws one (say it: the
    command prints it, so a run can be repeated)."""
    known = {r.job: r for r in ROWS}
    for j in jobs:
        if j not in known:
            raise ValueError(f"unknown job {j!r} (known: {', '.join(known)})")
    rows = [known[j] for j in jobs] if jobs else list(ROWS)
    for b in bugs:
        if b not in BUG_NAMES:
            raise ValueError(f"unknown planted bug {b!r} (known: {', '.join(BUG_NAMES)})")
    wanted = bugs or [b for b in BUG_NAMES if any(b in r.catches for r in ROWS)]
    columns = ([CLEAN] if clean else []) + wanted
    if bug_seed is None:
        bug_seed = random.SystemRandom().randrange(1, 1 << 31)
    plan = SelftestPlan(rows, columns, out, seed, bug_seed, diagonal)
    plan.cells = [
        (row, column)
        for column in columns
        for row in rows
        if not diagonal or column == CLEAN or column in row.catches
    ]
    return plan


def cell_label(row: Row, column: str) -> str:
    """The target's name in the cell's results and files: sis-<column>-<job>."""
    return f"sis-{column}-{row.job.replace('/', '-')}"


def as_plan(plan: SelftestPlan, jobs: int | None = None, executor: str = "local") -> Plan:
    """The cells as jobs of the one door."""
    job_list = []
    for row, column in plan.cells:
        append = "" if column == CLEAN else f"sis.bug={column} sis.bug_seed={plan.bug_seed}"
        options = dict(row.options)
        if row.phase in ("chaos", "soak", "fuzz"):
            options["seed"] = plan.seed
        job_list.append(
            Job(
                target="sis", preset="default", target_name="sis", phases=(row.phase,),
                workdir=str(plan.out / "targets"), options={row.phase: options},
                label=cell_label(row, column), overrides={"append": append} if append else {},
            )
        )  # fmt: skip
    sizes = [target_bytes("sim", None)] * len(job_list)
    parallel = default_parallel(sizes) if jobs is None else max(1, jobs)
    return Plan("SIS selftest", [job_list], plan.out, parallel, executor)


def cell_result(results: list[TestResult]) -> TestResult | None:
    """A cell's one verdict from what its phase reported: FAIL if any result failed (their
    reasons joined), else ERROR if any errored, else PASS if any passed, else SKIP."""
    if not results:
        return None
    for verdict in (FAIL, ERROR, PASS, SKIP):
        chosen = [r for r in results if r.verdict == verdict]
        if chosen:
            first = chosen[0]
            return TestResult(
                first.target, first.preset, "selftest", first.test, verdict,
                "; ".join(dict.fromkeys(r.reason for r in chosen if r.reason)),
                crash=next((r.crash for r in chosen if r.crash), {}),
            )  # fmt: skip
    return None


def classify(row: Row, column: str, result: TestResult | None) -> str:
    if result is None or result.verdict == ERROR:
        return LAB_ERROR
    if result.verdict == SKIP:
        return SKIPPED
    if column == CLEAN:
        return OK if result.verdict == PASS else FALSE_ALARM
    reasons = result.reason.split("; ")
    if column in row.catches:
        if result.verdict == PASS:
            return MISSED
        rx = row.catches[column]
        return CAUGHT if any(re.search(rx, why) for why in reasons) else OTHER
    if result.verdict == PASS:
        return QUIET
    symptoms = [r.catches[column] for r in ROWS if column in r.catches]
    if result.crash.get("title") or any(re.search(rx, why) for rx in symptoms for why in reasons):
        return ALSO
    return FALSE_ALARM


def holds(matrix: dict[str, dict[str, str]], plan: SelftestPlan) -> bool:
    """Every planned cell present and none bad; every bug caught by each row meant for it."""
    for row, column in plan.cells:
        cell = matrix.get(row.job, {}).get(column)
        if cell is None or cell in BAD:
            return False
        if column in row.catches and cell != CAUGHT:
            return False
    return True


def build_matrix(
    plan: SelftestPlan, results: list[TestResult]
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """The cells and their reasons, from the run's results (a cell with no result is an
    error: the lab lost it)."""
    by_label: dict[str, list[TestResult]] = {}
    for r in results:
        by_label.setdefault(r.target, []).append(r)
    matrix: dict[str, dict[str, str]] = {r.job: {} for r in plan.rows}
    reasons: dict[str, dict[str, str]] = {r.job: {} for r in plan.rows}
    for row, column in plan.cells:
        result = cell_result(by_label.get(cell_label(row, column), []))
        matrix[row.job][column] = classify(row, column, result)
        reasons[row.job][column] = result.reason if result else "no result (the lab lost it)"
    return matrix, reasons


def write_matrix(
    plan: SelftestPlan,
    matrix: dict[str, dict[str, str]],
    reasons: dict[str, dict[str, str]],
    *,
    complete: bool,
) -> bool:
    """matrix.json, written once, whole: `holds` is false unless the run completed."""
    ok = complete and holds(matrix, plan)
    data = {
        "complete": complete,
        "holds": ok,
        "seed": plan.seed,
        "bug_seed": plan.bug_seed,
        "columns": plan.columns,
        "budgets_s": {r.job: r.budget_s for r in plan.rows},
        "matrix": matrix,
        "reasons": reasons,
    }
    write_atomic(plan.out / MATRIX, json.dumps(data, indent=2) + "\n")
    return ok


class CellWatch:
    """Says each cell as soon as its job is done: `result` and `status` are a run's callbacks
    (the job's results are gathered until its status says "done")."""

    def __init__(
        self, plan: SelftestPlan, show: Callable[[str, str, str, TestResult | None], None]
    ) -> None:
        self.cells = {f"{cell_label(r, c)}/default": (r, c) for r, c in plan.cells}
        self.show = show
        self.results: dict[str, list[TestResult]] = {}

    def result(self, r: TestResult) -> None:
        self.results.setdefault(f"{r.target}/{r.preset}", []).append(r)

    def status(self, key: str, text: str) -> None:
        if text != "done" or key not in self.cells:
            return
        row, column = self.cells[key]
        cell = cell_result(self.results.get(key, []))
        self.show(row.job, column, classify(row, column, cell), cell)


def format_matrix(
    matrix: dict[str, dict[str, str]], columns: list[str], rows: list[Row] | None = None
) -> str:
    """The matrix as a plain-text table, one job a line (with its budget per cell)."""
    budgets = {r.job: f"{r.budget_s:.0f} s" for r in rows or []}
    width = max([len(j) for j in matrix] + [4])
    cols = [max(len(c), 11) for c in columns]
    lines = [
        "job".ljust(width)
        + "  "
        + "  ".join(c.ljust(w) for c, w in zip(columns, cols, strict=True))
        + ("  budget" if budgets else "")
    ]
    for job, cells in matrix.items():
        lines.append(
            job.ljust(width) + "  "
            + "  ".join(cells.get(c, "").ljust(w) for c, w in zip(columns, cols, strict=True))
            + (f"  {budgets.get(job, '')}" if budgets else "")
        )  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)

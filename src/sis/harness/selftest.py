"""`sis selftest`: every readiness job against a clean reference kernel and against each
planted bug (contract section 9), as a detection matrix job x kernel.

A cell is `caught` (the job failed, for the reason meant for that bug), `missed` (it passed
on the buggy kernel), `false alarm` (it failed on the clean kernel), `other failure` (it
failed, but not the way it should have), `error` (the lab could not run it) or `-` (a job not
meant for that bug, which passed). The self-test holds only when every bug is caught by each
job meant for it and no job fails on the clean kernel.

Jobs register as rows (`ROWS`); the chaos experiments are here; crash, soak and fuzz rows
join the same registry."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sis.contract.bugs import NAMES as BUG_NAMES
from sis.harness.outdir import OutputDir, write_atomic
from sis.harness.results import ERROR, PASS, SKIP, ResultLog, TestResult
from sis.harness.session import Session, State
from sis.harness.targets.profile import load_profile
from sis.harness.targets.sim import SimTarget

CLEAN = "clean"
CAUGHT, MISSED, FALSE_ALARM, OTHER, LAB_ERROR, NOT_MEANT, OK, SKIPPED = (
    "caught", "missed", "false alarm", "other failure", "error", "-", "ok", "skipped",
)  # fmt: skip

#: Runs one job on a started-or-not session; returns its verdict as a TestResult.
JobRun = Callable[[Session, int, Path], TestResult]


@dataclass(frozen=True)
class Row:
    job: str  # "chaos/disk_full"
    run: JobRun
    #: The bugs this job must catch, each with the regex its FAIL reason must match.
    catches: dict[str, str] = field(default_factory=dict)


def _chaos_row(name: str, catches: dict[str, str]) -> Row:
    def run(session: Session, seed: int, out: Path) -> TestResult:
        from sis.harness.chaos.experiment import load_experiment
        from sis.harness.chaos.runner import run_experiment

        return run_experiment(session, load_experiment(name), seed=seed, out=out)

    return Row(f"chaos/{name}", run, catches)


_LOST = r"^lost \d+ acknowledged bytes in "
ROWS: list[Row] = [
    _chaos_row("disk_full", {"enospc_panic": r"^kernel panicked under disk_full"}),
    _chaos_row("disk_fail", {"fsync_lies": _LOST}),
    _chaos_row("network_fail", {"net_wedge": r"^steady state not restored after network_fail"}),
    _chaos_row("memory_pressure", {"oom_hang": r"^hung under memory_pressure"}),
    _chaos_row("slow_io", {}),
    _chaos_row("random_panic", {}),
    _chaos_row("power_cut", {"fsync_lies": _LOST}),
]


def _soak(session: Session, seed: int, out: Path) -> TestResult:
    from sis.harness.phases.soak import selftest_soak

    return selftest_soak(session, seed, out)


ROWS.append(Row("soak/churn", _soak, {"leak_on_spawn": r"^leaking \+[\d.]+ MiB/h"}))


def _fuzz(session: Session, seed: int, out: Path) -> TestResult:
    from sis.harness.phases.fuzz import selftest_fuzz

    return selftest_fuzz(session, seed, out)


_FUZZ = r"^kernel crashed under fuzzing: .*"
ROWS.append(
    Row(
        "fuzz/syscalls",
        _fuzz,
        {
            "pwrite_overflow": _FUZZ + "pwrite_store_end_unchecked",
            "null_deref_ioctl": _FUZZ + "tty_ioctl_get_ldisc_private",
        },
    )
)


def _crash(session: Session, seed: int, out: Path) -> TestResult:
    from sis.harness.crash_probe import probe_crashes

    return probe_crashes(session)


ROWS.append(
    Row("crash/forensics", _crash, {"null_deref_ioctl": r"^kernel crashed in ioctl TIOCGETD: "
                                    r".*\btty_ioctl_get_ldisc_private$"})
)  # fmt: skip


def register(row: Row) -> None:
    """Add a job's row (crash, soak, fuzz) to the matrix."""
    ROWS.append(row)


def bugs_with_rows() -> list[str]:
    """The planted bugs some registered job is meant to catch, in contract order."""
    meant = {b for r in ROWS for b in r.catches}
    return [b for b in BUG_NAMES if b in meant]


def classify(row: Row, column: str, result: TestResult) -> str:
    if result.verdict == ERROR:
        return LAB_ERROR
    if result.verdict == SKIP:
        return SKIPPED
    if column == CLEAN:
        return OK if result.verdict == PASS else FALSE_ALARM
    if column in row.catches:
        if result.verdict == PASS:
            return MISSED
        return CAUGHT if re.search(row.catches[column], result.reason) else OTHER
    return NOT_MEANT if result.verdict == PASS else f"{CAUGHT} (also)"


def holds(matrix: dict[str, dict[str, str]], rows: list[Row]) -> bool:
    """Every expected cell caught, and the clean column clean."""
    for row in rows:
        cells = matrix.get(row.job, {})
        if cells.get(CLEAN, OK) != OK:
            return False
        for bug in row.catches:
            if bug in cells and cells[bug] != CAUGHT:
                return False
    return True


def kernel_with_bugs(bugs: list[str], *, preset: str, workdir: Path, label: str) -> SimTarget:
    """The reference kernel started with `-append sis.bug=...` (no bug: the clean kernel)."""
    profile = load_profile("sis")
    if bugs:
        profile = dataclasses.replace(
            profile, args=[*profile.args, "-append", f"sis.bug={','.join(bugs)}"]
        )
    return SimTarget(profile, preset=preset, workdir=workdir, name=f"sis-{label}-{preset}")


@dataclass
class SelftestPlan:
    rows: list[Row]
    columns: list[str]  # "clean" and bug names
    out: Path
    seed: int = 0
    preset: str = "default"


def plan_selftest(
    jobs: list[str], bugs: list[str], out: Path, seed: int = 0, clean: bool = True
) -> SelftestPlan:
    """ValueError naming an unknown job or bug."""
    known = {r.job: r for r in ROWS}
    for j in jobs:
        if j not in known:
            raise ValueError(f"unknown job {j!r} (known: {', '.join(known)})")
    rows = [known[j] for j in jobs] if jobs else list(ROWS)
    for b in bugs:
        if b not in BUG_NAMES:
            raise ValueError(f"unknown planted bug {b!r} (known: {', '.join(BUG_NAMES)})")
    wanted = bugs or [b for b in bugs_with_rows() if any(b in r.catches for r in rows)]
    return SelftestPlan(rows, ([CLEAN] if clean else []) + wanted, out, seed)


def run_selftest(
    plan: SelftestPlan, on_cell: Callable[[str, str, str, TestResult], None] | None = None
) -> dict[str, dict[str, str]]:
    """Run every row on every column; the matrix {job: {column: cell}} (also matrix.json).
    A bug column runs only the rows meant for it, unless `all_rows` was planned (the clean
    column runs them all)."""
    matrix: dict[str, dict[str, str]] = {r.job: {} for r in plan.rows}
    reasons: dict[str, dict[str, str]] = {r.job: {} for r in plan.rows}
    with OutputDir(plan.out) as out:
        log = ResultLog(out.path / "results.jsonl", fresh=True)
        try:
            for column in plan.columns:
                rows = [r for r in plan.rows if column == CLEAN or column in r.catches]
                if not rows:
                    continue
                target = kernel_with_bugs(
                    [] if column == CLEAN else [column],
                    preset=plan.preset,
                    workdir=out.path / "targets",
                    label=column,
                )
                session = Session(target)
                try:
                    for row in rows:
                        r = row.run(session, plan.seed, out.path / "journals" / column)
                        r = dataclasses.replace(
                            r, target=f"sis[{column}]", suite="selftest", test=row.job
                        )
                        log.add(r)
                        cell = classify(row, column, r)
                        matrix[row.job][column] = cell
                        reasons[row.job][column] = r.reason
                        if on_cell is not None:
                            on_cell(row.job, column, cell, r)
                finally:
                    if session.state is not State.OFF:
                        session.poweroff()
        finally:
            log.close()
            write_atomic(
                out.path / "matrix.json",
                json.dumps(
                    {"columns": plan.columns, "matrix": matrix, "reasons": reasons,
                     "holds": holds(matrix, plan.rows)},
                    indent=2,
                ) + "\n",
            )  # fmt: skip
    return matrix


def format_matrix(matrix: dict[str, dict[str, str]], columns: list[str]) -> str:
    """The matrix as a plain-text table, one job a line."""
    width = max([len(j) for j in matrix] + [4])
    cols = [max(len(c), 13) for c in columns]
    lines = [
        "job".ljust(width)
        + "  "
        + "  ".join(c.ljust(w) for c, w in zip(columns, cols, strict=True))
    ]
    for job, cells in matrix.items():
        lines.append(
            job.ljust(width) + "  "
            + "  ".join(cells.get(c, "").ljust(w) for c, w in zip(columns, cols, strict=True))
        )  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)

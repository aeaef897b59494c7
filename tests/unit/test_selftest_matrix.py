"""The self-test's matrix, judged in-process: what each cell is called, when the matrix holds,
and what matrix.json says when a run did not complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sis.harness.commands.selftest import (
    ALSO,
    CAUGHT,
    CLEAN,
    FALSE_ALARM,
    LAB_ERROR,
    MISSED,
    OK,
    OTHER,
    QUIET,
    ROWS,
    as_plan,
    build_matrix,
    cell_label,
    classify,
    format_matrix,
    holds,
    plan_selftest,
    write_matrix,
)
from sis.harness.results import ERROR, FAIL, PASS, TestResult


def _result(verdict: str, reason: str = "", crash: dict | None = None) -> TestResult:
    return TestResult("sis", "default", "selftest", "job", verdict, reason, crash=crash or {})


def _row(job: str):  # noqa: ANN202
    return next(r for r in ROWS if r.job == job)


def test_cells_say_caught_missed_other_quiet_also_caught_or_false_alarm() -> None:
    row = _row("chaos/disk_full")
    assert classify(row, CLEAN, _result(PASS)) == OK
    assert classify(row, CLEAN, _result(FAIL, "hung under disk_full")) == FALSE_ALARM
    panicked = _result(FAIL, "kernel panicked under disk_full (KERNEL PANIC)")
    assert classify(row, "enospc_panic", panicked) == CAUGHT
    assert classify(row, "enospc_panic", _result(PASS)) == MISSED
    assert classify(row, "enospc_panic", _result(FAIL, "hung under disk_full")) == OTHER
    # Not meant for fsync_lies: quiet when it passes; its symptom (the reason the jobs meant
    # for it give) is "also caught"; any other failure is a false alarm.
    assert classify(row, "fsync_lies", _result(PASS)) == QUIET
    lost = _result(FAIL, "lost 4096 acknowledged bytes in /chaos/f0 after the power cycle")
    assert classify(row, "fsync_lies", lost) == ALSO
    assert classify(row, "fsync_lies", _result(FAIL, "steady state not restored")) == FALSE_ALARM
    crashed = _result(FAIL, "kernel panicked", {"title": "BUG: something"})
    assert classify(row, "fsync_lies", crashed) == ALSO
    assert classify(row, "fsync_lies", _result(ERROR, "lab")) == LAB_ERROR
    assert classify(row, "fsync_lies", None) == LAB_ERROR


def test_the_whole_matrix_is_every_job_against_clean_and_every_bug() -> None:
    plan = plan_selftest([], [], Path("unused"), bug_seed=7)
    assert plan.columns[0] == CLEAN and len(plan.columns) > 4
    assert len(plan.cells) == len(ROWS) * len(plan.columns)
    diagonal = plan_selftest([], [], Path("unused"), bug_seed=7, diagonal=True)
    assert all(c == CLEAN or c in r.catches for r, c in diagonal.cells)
    assert len(diagonal.cells) < len(plan.cells)


def test_each_cell_is_a_job_on_the_kernel_with_its_bug_and_seed() -> None:
    plan = plan_selftest(["fuzz/syscalls"], ["pwrite_overflow"], Path("o"), seed=3, bug_seed=11)
    jobs = as_plan(plan, jobs=2).jobs
    assert [j.label for j in jobs] == [
        "sis-clean-fuzz-syscalls",
        "sis-pwrite_overflow-fuzz-syscalls",
    ]
    assert jobs[0].overrides == {}
    assert jobs[1].overrides == {"append": "sis.bug=pwrite_overflow sis.bug_seed=11"}
    assert jobs[1].phases == ("fuzz",) and jobs[1].options["fuzz"]["seed"] == 3


def test_a_cell_with_no_result_is_an_error_and_the_matrix_does_not_hold(tmp_path: Path) -> None:
    plan = plan_selftest(["chaos/power_cut"], ["fsync_lies"], tmp_path, bug_seed=1)
    row = plan.rows[0]
    clean = TestResult(cell_label(row, CLEAN), "default", "chaos", "power_cut", PASS)
    matrix, reasons = build_matrix(plan, [clean])
    assert matrix["chaos/power_cut"] == {CLEAN: OK, "fsync_lies": LAB_ERROR}
    assert not holds(matrix, plan)
    caught = TestResult(
        cell_label(row, "fsync_lies"), "default", "chaos", "power_cut", FAIL,
        "lost 4096 acknowledged bytes in /chaos/f1 after the power cycle",
    )  # fmt: skip
    matrix, reasons = build_matrix(plan, [clean, caught])
    assert holds(matrix, plan)
    assert "chaos/power_cut" in format_matrix(matrix, plan.columns, plan.rows)


def test_an_incomplete_run_writes_holds_false_whatever_its_cells(tmp_path: Path) -> None:
    plan = plan_selftest(["chaos/slow_io"], ["fsync_lies"], tmp_path, bug_seed=1)
    matrix = {"chaos/slow_io": {CLEAN: OK, "fsync_lies": QUIET}}
    assert holds(matrix, plan)
    assert not write_matrix(plan, matrix, {}, complete=False)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["complete"] is False and data["holds"] is False and data["bug_seed"] == 1
    assert write_matrix(plan, matrix, {}, complete=True)
    assert json.loads((tmp_path / "matrix.json").read_text())["holds"] is True


def test_unknown_jobs_and_bugs_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown job"):
        plan_selftest(["chaos/nope"], [], Path("x"))
    with pytest.raises(ValueError, match="unknown planted bug"):
        plan_selftest([], ["nope"], Path("x"))


def test_every_planted_bug_of_the_contract_has_a_job_meant_for_it() -> None:
    from sis.contract.bugs import NAMES

    meant = {b for r in ROWS for b in r.catches}
    assert meant == set(NAMES)

"""The self-test's matrix for a real Linux guest, judged in-process: its rows and planted bugs
(configurations of the guest, planted by phase options), how its cells are classified, what is
refused, and what matrix.json says. The cells themselves run in
tests/integration/test_selftest_linux.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sis.harness.commands.selftest import (
    ALSO,
    CAUGHT,
    CLEAN,
    FALSE_ALARM,
    MISSED,
    OK,
    OTHER,
    QUIET,
    TARGETS,
    as_plan,
    build_matrix,
    cell_label,
    classify,
    format_matrix,
    holds,
    plan_selftest,
    target_ready,
    write_matrix,
)
from sis.harness.results import FAIL, PASS, TestResult

LINUX = TARGETS["linux-busybox"]
# What the crash-point experiment and a power cut say when acknowledged data is gone.
AT_POINT = (
    "at flush 3 (log entry 57): lost 4096 acknowledged bytes of /mnt/chaos/f1 (missing); "
    "2 of 40 crash points fail (flush 3, flush 3 prefix 1)"
)
AFTER_CUT = "lost 4096 acknowledged bytes in /mnt/chaos/f2 after the power cut"


def _result(verdict: str, reason: str = "", crash: dict | None = None) -> TestResult:
    return TestResult("linux-busybox", "default", "selftest", "job", verdict, reason,
                      crash=crash or {})  # fmt: skip


def _row(job: str):  # noqa: ANN202
    return next(r for r in LINUX.rows if r.job == job)


def _cell(row, column: str, verdict: str, reason: str = "") -> TestResult:  # noqa: ANN001
    return TestResult(cell_label(row, column, "linux-busybox"), "default", "chaos", "t", verdict,
                      reason)  # fmt: skip


def test_linux_columns_are_clean_and_its_two_guest_configurations() -> None:
    plan = plan_selftest([], [], Path("o"), target="linux-busybox")
    assert plan.columns == [CLEAN, "nobarrier", "ack_before_fsync"]
    assert [r.job for r in plan.rows] == ["chaos/crash_points", "chaos/power_cut"]
    assert len(plan.cells) == 6 and plan.bug_seed is None
    # The diagonal leaves out only what the power cut is not meant for.
    diagonal = plan_selftest([], [], Path("o"), target="linux-busybox", diagonal=True)
    assert ("chaos/power_cut", "ack_before_fsync") not in {(r.job, c) for r, c in diagonal.cells}
    assert len(diagonal.cells) == 5


def test_a_linux_cell_is_a_job_on_the_guest_with_its_bug_in_the_phase_options() -> None:
    plan = plan_selftest([], [], Path("o"), seed=5, target="linux-busybox")
    jobs = {j.label: j for j in as_plan(plan).jobs}
    clean = jobs["linux-busybox-clean-chaos-crash_points"]
    assert clean.target == "linux-busybox" and clean.target_name == "linux-busybox"
    assert clean.phases == ("crash_points",) and clean.overrides == {}
    options = clean.options["crash_points"]
    assert options["seed"] == 5 and options["test"] == "crash_points"
    assert "mount_options" not in options and "ack_before_fsync" not in options
    barrierless = jobs["linux-busybox-nobarrier-chaos-power_cut"]
    assert barrierless.phases == ("chaos",) and barrierless.overrides == {}  # no -append
    assert barrierless.options["chaos"] == {
        "experiments": ["power_cut"], "seed": 5, "mount_options": "nobarrier"
    }  # fmt: skip
    early = jobs["linux-busybox-ack_before_fsync-chaos-crash_points"]
    assert early.options["crash_points"]["ack_before_fsync"] is True
    for job in jobs.values():  # each job's options are what its phase takes
        job.phase_options(job.phases[0])


def test_the_twins_run_the_same_matrix_on_their_own_guest() -> None:
    plan = plan_selftest(["chaos/power_cut"], ["nobarrier"], Path("o"),
                         target="linux-busybox-arm64")  # fmt: skip
    (clean, bug) = as_plan(plan).jobs
    assert clean.target == "linux-busybox-arm64"
    assert bug.label == "linux-busybox-arm64-nobarrier-chaos-power_cut"


def test_the_crash_points_row_catches_both_bugs_by_a_named_loss() -> None:
    row = _row("chaos/crash_points")
    assert classify(row, CLEAN, _result(PASS, "52 crash points"), LINUX) == OK
    assert classify(row, CLEAN, _result(FAIL, AT_POINT), LINUX) == FALSE_ALARM
    for bug in ("nobarrier", "ack_before_fsync"):
        assert classify(row, bug, _result(FAIL, AT_POINT), LINUX) == CAUGHT
        assert classify(row, bug, _result(PASS), LINUX) == MISSED
        # An unclean file system is not the loss of acknowledged data it must show.
        unclean = "at flush 2 (log entry 9): file system not clean: e2fsck exit 4"
        assert classify(row, bug, _result(FAIL, unclean), LINUX) == OTHER


def test_the_power_cut_row_catches_nobarrier_and_is_not_meant_for_early_acks() -> None:
    row = _row("chaos/power_cut")
    assert classify(row, "nobarrier", _result(FAIL, AFTER_CUT), LINUX) == CAUGHT
    assert classify(row, "nobarrier", _result(PASS), LINUX) == MISSED
    hung = "hung under power_cut"
    assert classify(row, "nobarrier", _result(FAIL, hung), LINUX) == OTHER
    # The fsync completes before the cut: an early acknowledgement is durable by then, so the
    # cell is quiet, or "also caught" if it did lose acknowledged data anyway.
    assert classify(row, "ack_before_fsync", _result(PASS), LINUX) == QUIET
    assert classify(row, "ack_before_fsync", _result(FAIL, AFTER_CUT), LINUX) == ALSO
    assert classify(row, "ack_before_fsync", _result(FAIL, hung), LINUX) == FALSE_ALARM


def test_the_linux_matrix_holds_only_when_both_rows_catch_nobarrier(tmp_path: Path) -> None:
    plan = plan_selftest([], [], tmp_path, target="linux-busybox")
    cp, pc = _row("chaos/crash_points"), _row("chaos/power_cut")
    results = [
        _cell(cp, CLEAN, PASS, "52 crash points"), _cell(pc, CLEAN, PASS),
        _cell(cp, "nobarrier", FAIL, AT_POINT), _cell(cp, "ack_before_fsync", FAIL, AT_POINT),
        _cell(pc, "ack_before_fsync", PASS),
    ]  # fmt: skip
    # A power cut that cannot lose anything misses nobarrier: the self-test does not hold.
    matrix, reasons = build_matrix(plan, [*results, _cell(pc, "nobarrier", PASS)])
    assert matrix["chaos/power_cut"] == {CLEAN: OK, "nobarrier": MISSED, "ack_before_fsync": QUIET}
    assert not holds(matrix, plan)
    matrix, reasons = build_matrix(plan, [*results, _cell(pc, "nobarrier", FAIL, AFTER_CUT)])
    assert matrix == {
        "chaos/crash_points": {CLEAN: OK, "nobarrier": CAUGHT, "ack_before_fsync": CAUGHT},
        "chaos/power_cut": {CLEAN: OK, "nobarrier": CAUGHT, "ack_before_fsync": QUIET},
    }
    assert write_matrix(plan, matrix, reasons, complete=True)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["target"] == "linux-busybox" and data["holds"] is True
    assert data["bug_seed"] is None and data["columns"] == plan.columns
    assert data["reasons"]["chaos/crash_points"]["nobarrier"] == AT_POINT
    table = format_matrix(matrix, plan.columns, plan.rows)
    assert table.splitlines()[0].split() == ["job", CLEAN, "nobarrier", "ack_before_fsync",
                                             "budget"]  # fmt: skip


def test_the_reference_kernels_matrix_names_its_target_too(tmp_path: Path) -> None:
    plan = plan_selftest(["chaos/slow_io"], ["fsync_lies"], tmp_path, bug_seed=4)
    write_matrix(plan, {"chaos/slow_io": {CLEAN: OK, "fsync_lies": QUIET}}, {}, complete=True)
    data = json.loads((tmp_path / "matrix.json").read_text())
    assert data["target"] == "sis" and data["bug_seed"] == 4


@pytest.mark.parametrize(
    ("target", "jobs", "bugs", "bug_seed", "says"),
    [
        ("linux-busybox", [], ["fsync_lies"], None,
         "planted bug 'fsync_lies' is not one of linux-busybox's (its bugs: nobarrier, "
         "ack_before_fsync; fsync_lies is sis's)"),
        ("sis", [], ["nobarrier"], None, "planted bug 'nobarrier' is not one of sis's"),
        ("linux-busybox", ["fuzz/syscalls"], [], None,
         "job 'fuzz/syscalls' is not a row of linux-busybox's self-test (its jobs: "
         "chaos/crash_points, chaos/power_cut)"),
        ("sis", ["chaos/nope"], [], None, "unknown job 'chaos/nope'"),
        ("linux-busybox", ["chaos/nope"], [], None, "unknown job 'chaos/nope'"),
        ("linux-busybox", [], ["nope"], None, "unknown planted bug 'nope'"),
        ("linux-busybox", [], [], 7,
         "linux-busybox's planted bugs are configurations of the guest: they take no --bug-seed"),
        ("nope", [], [], None, "no self-test for target 'nope' (known: sis, linux-busybox, "),
    ],
)  # fmt: skip
def test_what_does_not_belong_to_the_target_is_refused_in_one_line(
    target: str, jobs: list[str], bugs: list[str], bug_seed: int | None, says: str
) -> None:
    with pytest.raises(ValueError) as e:
        plan_selftest(jobs, bugs, Path("x"), bug_seed=bug_seed, target=target)
    assert str(e.value).startswith(says) and "\n" not in str(e.value)


def test_a_guest_without_its_image_is_refused_with_the_build_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    plan = plan_selftest([], [], tmp_path, target="linux-busybox-riscv64")
    with pytest.raises(ValueError) as e:
        target_ready(plan)
    images = tmp_path / "sis" / "images" / "linux-busybox-riscv64"
    assert str(e.value) == (
        f"linux-busybox-riscv64 has no image in {images}: build it with "
        "`sis image build linux-busybox --arch riscv64`"
    )
    images.mkdir(parents=True)
    (images / "manifest.json").write_text("{}")
    target_ready(plan)  # the image is there: nothing to say
    target_ready(plan_selftest([], [], tmp_path, bug_seed=1))  # the reference kernel needs none


def test_a_guest_without_its_qemu_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(
        ValueError, match=r"^qemu-system-x86_64 is not installed \(make qemu-deps\)"
    ):
        target_ready(plan_selftest([], [], tmp_path, target="linux-busybox"))


def test_the_command_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from sis.cli import app

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    out = tmp_path / "out"
    for args, says in [
        (["--bug", "oom_hang"], "sis selftest: planted bug 'oom_hang' is not one of linux-busybox"),
        (["--job", "soak/churn"], "sis selftest: job 'soak/churn' is not a row of linux-busybox"),
        ([], "sis selftest: linux-busybox has no image in "),
    ]:
        r = CliRunner().invoke(app, ["selftest", "-t", "linux-busybox", "--out", str(out), *args])
        assert r.exit_code == 2, r.output
        assert r.output.startswith(says) and r.output.count("\n") == 1, r.output
    assert not out.exists()

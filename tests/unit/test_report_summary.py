"""`sis report summary OUT`: the Markdown a CI job summary shows, read from a run's files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sis.cli import app
from sis.harness.results import JobSummary, ResultLog, TestResult


def _run_dir(tmp_path: Path, results: list[TestResult], jobs: list[JobSummary]) -> Path:
    out = tmp_path / "out"
    log, job_log = ResultLog(out / "results.jsonl", fresh=True), ResultLog(out / "jobs.jsonl")
    for r in results:
        log.add(r)
    for j in jobs:
        job_log.add(j)
    log.close()
    job_log.close()
    return out


def test_a_failed_run_lists_its_jobs_and_what_did_not_pass(tmp_path: Path) -> None:
    out = _run_dir(
        tmp_path,
        [
            TestResult("sis", "default", "basic", "echo", "PASS"),
            TestResult("sis", "default", "basic", "ls | wc", "FAIL", reason="wanted 3\nlines"),
            TestResult("linux-busybox", "lowmem", "basic", "echo", "PASS"),
            TestResult("linux-busybox", "lowmem", "net", "ping", "SKIP", reason="no network"),
        ],
        [JobSummary("sis", "default", wall_s=3.25), JobSummary("linux-busybox", "lowmem")],
    )
    result = CliRunner().invoke(app, ["report", "summary", str(out)])
    assert result.exit_code == 0
    text = result.output
    assert text.startswith("## SIS: ❌ FAIL")
    assert "2 PASS, 1 FAIL, 0 ERROR, 1 SKIP (4 tests)" in text
    assert "| sis | default | ❌ FAIL | 1 | 1 | 0 | 0 | 3.2 s |" in text
    assert "| linux-busybox | lowmem | ✅ PASS | 1 | 0 | 0 | 1 |" in text
    # One row per failure, on one line, with the table's column marker escaped.
    assert "| FAIL | sis/default/basic/ls \\| wc | wanted 3 lines |" in text
    assert "ping" not in text  # a skip is counted, not listed


def test_the_exit_status_option_gives_the_runs_status(tmp_path: Path) -> None:
    out = _run_dir(tmp_path, [TestResult("sis", "default", "s", "t", "SKIP")], [])
    result = CliRunner().invoke(app, ["report", "summary", str(out), "--exit-status"])
    assert result.exit_code == 2  # nothing tested is not a pass
    assert "NOT TESTED" in result.output


def test_an_out_without_results_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "summary", str(tmp_path)])
    assert result.exit_code == 2
    assert "results.jsonl: no such file" in result.output


def test_a_cut_short_line_is_noted_not_fatal(tmp_path: Path) -> None:
    out = _run_dir(tmp_path, [TestResult("sis", "default", "s", "t", "PASS")], [])
    with (out / "results.jsonl").open("a") as f:
        f.write('{"target": "sis", "pre')
    result = CliRunner().invoke(app, ["report", "summary", str(out)])
    assert result.exit_code == 0
    assert "✅ PASS" in result.output and "unreadable line" in result.output


def test_text_from_a_guest_is_not_markup_in_the_summary() -> None:
    from sis.cli.report import _cell

    assert _cell("SIS panic: <img src=x> [click](http://x) **loud** a|b") == (
        "SIS panic: \\<img src=x\\> \\[click\\](http://x) \\*\\*loud\\*\\* a\\|b"
    )

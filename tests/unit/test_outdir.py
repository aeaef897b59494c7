"""OUT: locked for one run at a time, results appended whole, reports replaced whole."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from sis.harness.outdir import OutputDir, OutputError, write_atomic
from sis.harness.results import (
    NOT_TESTED,
    PASS,
    SKIP,
    ResultLog,
    TestResult,
    exit_code,
    overall_verdict,
    read_results,
)


def _result(n: int, verdict: str = PASS) -> TestResult:
    return TestResult(target="t", preset="p", suite="s", test=f"test {n}", verdict=verdict)


def test_a_second_holder_of_out_is_refused_with_the_first_ones_pid(tmp_path: Path):
    with OutputDir(tmp_path / "out"):
        with pytest.raises(OutputError, match=rf"in use by another run \(pid {os.getpid()}\)"):
            with OutputDir(tmp_path / "out"):
                pass
    with OutputDir(tmp_path / "out"):  # released at the end of the first run
        pass


def test_out_that_is_a_file_or_under_a_file_is_one_clear_error(tmp_path: Path):
    (tmp_path / "f").write_text("precious")
    with pytest.raises(OutputError, match="exists and is not a directory"):
        OutputDir(tmp_path / "f").__enter__()
    with pytest.raises(OutputError, match="not a directory"):
        OutputDir(tmp_path / "f" / "out").__enter__()
    assert (tmp_path / "f").read_text() == "precious"


def test_a_full_disk_leaves_results_jsonl_with_whole_lines_only(tmp_path, monkeypatch):
    log = ResultLog(tmp_path / "results.jsonl", fresh=True)
    log.add(_result(1))
    real_write = os.write

    def half_write(fd: int, data: bytes) -> int:  # the disk fills in the middle of a line
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_write)
    with pytest.raises(OutputError, match="results.jsonl: no space left on device"):
        log.add(_result(2))
    monkeypatch.undo()
    results, problems = read_results(tmp_path / "results.jsonl")
    assert [r.test for r in results] == ["test 1"] and not problems
    log.add(_result(3))  # space again: it goes on where it was
    assert [r.test for r in read_results(tmp_path / "results.jsonl")[0]] == ["test 1", "test 3"]


def test_a_report_that_cannot_be_written_leaves_the_old_one(tmp_path, monkeypatch):
    report = tmp_path / "junit.xml"
    write_atomic(report, "<old/>")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="junit.xml: no space left on device"):
        write_atomic(report, "<new/>" * 10000)
    assert report.read_text() == "<old/>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junit.xml"]  # no temporary left


def test_nothing_tested_is_not_a_pass():
    assert exit_code([]) == 2 and overall_verdict([]) == NOT_TESTED
    skipped = [_result(1, SKIP), _result(2, SKIP)]
    assert exit_code(skipped) == 2 and overall_verdict(skipped) == NOT_TESTED
    assert exit_code([*skipped, _result(3)]) == 0


def test_results_lines_are_json(tmp_path: Path):
    log = ResultLog(tmp_path / "r.jsonl", fresh=True)
    log.add(_result(1))
    log.close()
    assert json.loads((tmp_path / "r.jsonl").read_text())["test"] == "test 1"

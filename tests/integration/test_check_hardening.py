"""`sis check` as a careless or hostile user meets it: two runs into one OUT, an OUT that cannot
be written, runs that test nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SIS = [sys.executable, "-m", "sis"]


def sis_check(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SIS, "check", *args], capture_output=True, text=True, timeout=timeout)


def _suite(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_a_second_check_into_the_same_out_is_refused_and_the_first_keeps_its_results(tmp_path):
    slow = _suite(
        tmp_path,
        "slow",
        """\
        name: slow
        tests:
          - name: waits
            steps: [{run: sleep 3}]
          - name: then passes
            steps: [{run: echo ok, expect: ok}]
        """,
    )
    out = tmp_path / "out"
    first = subprocess.Popen(
        [*SIS, "check", "--suite", str(slow), "--phases", "suites", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not (out / "results.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = sis_check("--suite", str(slow), "--phases", "suites", "--out", str(out))
    assert second.returncode == 2
    assert f"in use by another run (pid {first.pid})" in second.stderr
    assert "Traceback" not in second.stderr
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    lines = (out / "results.jsonl").read_text().splitlines()
    assert [json.loads(x)["test"] for x in lines] == ["waits", "then passes"]


def test_an_out_that_is_a_file_is_one_line_and_exit_2(tmp_path):
    target = tmp_path / "report"
    target.write_text("precious")
    r = sis_check("--out", str(target))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "exists and is not a directory" in r.stderr
    assert target.read_text() == "precious"
    r = sis_check("--out", str(target / "sub"))
    assert r.returncode == 2 and "not a directory" in r.stderr and "Traceback" not in r.stderr


def test_an_empty_preset_list_is_refused(tmp_path):
    r = sis_check("--preset", ",", "--out", str(tmp_path))
    assert r.returncode == 2 and "names no preset" in r.stderr


def test_a_run_where_everything_is_skipped_is_not_a_pass(tmp_path):
    needs = _suite(
        tmp_path,
        "needs",
        """\
        name: needs
        requires: [teleportation]
        tests:
          - name: one
            steps: [{run: echo one}]
          - name: two
            steps: [{run: echo two}]
        """,
    )
    r = sis_check("--suite", str(needs), "--phases", "suites", "--out", str(tmp_path / "out"))
    assert r.returncode == 2, r.stderr
    assert "nothing was tested" in r.stderr
    html = (tmp_path / "out" / "report.html").read_text()
    assert "NOT TESTED" in html


def test_a_missing_command_is_an_error_not_a_satisfied_nonzero_status(tmp_path):
    suite = _suite(
        tmp_path,
        "missing",
        """\
        name: missing
        tests:
          - name: kill of a missing process fails
            steps: [{run: frobnicate 99999, status: nonzero}]
          - name: the unknown-command message itself
            steps: [{run: frobnicate, status: 127, expect: 'Unknown command: frobnicate'}]
        """,
    )
    r = sis_check("--suite", str(suite), "--phases", "suites", "--out", str(tmp_path / "out"))
    rs = {
        json.loads(x)["test"]: json.loads(x)
        for x in (tmp_path / "out/results.jsonl").read_text().splitlines()
    }
    first = rs["kill of a missing process fails"]
    assert first["verdict"] == "ERROR" and "no such command" in first["reason"]
    assert rs["the unknown-command message itself"]["verdict"] == "PASS"
    assert r.returncode == 2

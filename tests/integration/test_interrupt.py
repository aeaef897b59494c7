"""Ctrl-C and SIGTERM stop a run at once, whatever -j is: queued jobs never start, running ones
are stopped through their sessions, the results so far stay whole and the reports are built."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _started_run(out: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "sis", "check", "--preset", "all", "-j", "2", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    results = out / "results.jsonl"
    while time.monotonic() < deadline:
        if results.exists() and results.read_text().count("\n") >= 3:
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the run produced no results to interrupt")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_parallel_check_at_once_and_starts_nothing_after(
    tmp_path: Path, signum: int, status: int
) -> None:
    out = tmp_path / "out"
    proc = _started_run(out)
    sent = time.time()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("still running 5 s after the signal")
    assert proc.returncode == status, proc.stderr.read() if proc.stderr else ""
    # Four presets, two at once: the two queued jobs never booted.
    jobs = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
    boots = [b for j in jobs for b in j["boots"]]
    assert boots and all(b["started"] < sent for b in boots)
    assert len(jobs) <= 2 and all(j["interrupted"] for j in jobs)
    # What finished before the signal is whole, and the report was built from it.
    for line in (out / "results.jsonl").read_text().splitlines():
        json.loads(line)
    assert (out / "report.html").exists() and (out / "junit.xml").exists()
    # Nothing of the run is left behind.
    left = subprocess.run(["pgrep", "-f", f"sis.kernel.*{out}"], capture_output=True)
    assert left.returncode == 1, left.stdout

"""Soaks of real reference-kernel processes, in short form (seconds): the clean kernel is not
judged leaking, `leak_on_spawn` is, with an interval that holds the true rate (the placed bytes
per spawn x spawns per hour); a soak killed with SIGKILL and resumed is one series with a gap."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from scipy.stats import theilslopes

from sis.contract.bugs import placement
from sis.harness.session import Session
from sis.harness.soak.judge import judge, values
from sis.harness.soak.run import SoakConfig, run_soak
from sis.harness.soak.sampling import read_records

MIB_PER_H = 3600 / 2**20
# leak_on_spawn as placed without sis.bug_seed: its bytes per spawn, on average.
LEAK_BYTES_PER_SPAWN = placement().leak_bytes / placement().leak_period


def _soak(tmp_path: Path, append: str, seed: int) -> list[dict]:
    session = Session(
        "sim", workdir=tmp_path / "t", overrides={"append": append} if append else None
    )
    session.start()
    try:
        config = SoakConfig(interval=0.5, duration=12, seed=seed)
        return run_soak(session, config, tmp_path / "soak").records
    finally:
        session.poweroff()


def test_the_clean_kernel_is_not_judged_leaking(tmp_path: Path):
    records = _soak(tmp_path, "", seed=1)
    j = judge(records)
    assert j.verdict == "PASS", [r.says for r in j.rules]
    assert j.leaks[0].judged and not j.leaks[0].leaking
    last = [r for r in records if r["kind"] == "sample"][-1]
    assert last["counters"]["spawns"] > 50 and last["counters"]["errors"] == 0


def test_leak_on_spawn_is_judged_leaking_at_its_true_rate(tmp_path: Path):
    records = _soak(tmp_path, "sis.bug=leak_on_spawn", seed=2)
    j = judge(records)
    assert j.verdict == "FAIL"
    leak = j.leaks[0]
    assert leak.metric == "heap_current_bytes" and leak.leaking
    assert j.failed[0].says.startswith("leaking +")
    t, spawns, _ = values(records, "spawns")
    after = t >= leak.warmup_until
    true_rate = theilslopes(spawns[after], t[after]).slope * LEAK_BYTES_PER_SPAWN * MIB_PER_H
    assert leak.low <= true_rate <= leak.high, (leak.low, true_rate, leak.high)


def _cli(out: Path, *extra: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "sis", "soak", "--duration", "8s", "--interval", "0.5s",
            "--out", str(out), *extra]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_soak_killed_and_resumed_is_one_series_with_the_gap_marked(tmp_path: Path):
    out = tmp_path / "out"
    samples = out / "soak" / "sis-default" / "samples.jsonl"
    first = _cli(out)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if samples.exists() and samples.read_text().count('"kind":"sample"') >= 6:
            break
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    before = [r for r in read_records(samples) if r["kind"] == "sample"]
    resumed = _cli(out, "--resume")
    output, _ = resumed.communicate(timeout=90)
    assert resumed.returncode == 0, output
    records = read_records(samples)
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "start" and kinds.count("start") == 1 and kinds.count("gap") == 1
    gap = records[kinds.index("gap")]
    assert gap["since"] == pytest.approx(before[-1]["t"], abs=1.0)
    assert all(r["segment"] == 0 for r in records[1 : kinds.index("gap")])
    assert all(r["segment"] == 1 for r in records[kinds.index("gap") :])
    after = [r for r in records if r["kind"] == "sample"]
    assert after[: len(before)] == before  # the same file, continued
    assert after[-1]["counters"]["spawns"] > before[-1]["counters"]["spawns"]  # counters go on
    with open(samples.with_suffix(".csv")) as f:
        rows = list(csv.reader(f))
    assert len({len(r) for r in rows}) == 1 and [r[2] for r in rows].count("gap") == 1
    html = (out / "soak-report.html").read_text()
    assert "url(#hatch)" in html and "PASS" in html


def test_resume_without_a_run_is_one_line(tmp_path: Path):
    p = _cli(tmp_path / "empty", "--resume")
    output, _ = p.communicate(timeout=60)
    assert p.returncode == 2
    assert "nothing to resume in" in output and "Traceback" not in output


def test_a_bad_threshold_fails_before_anything_boots(tmp_path: Path):
    p = _cli(tmp_path / "o", "--threshold", "errors = 0")
    output, _ = p.communicate(timeout=30)
    assert p.returncode == 2 and output.startswith("sis soak: 'errors = 0' is not a threshold")
    assert not (tmp_path / "o").exists()

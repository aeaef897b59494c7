"""`sis fuzz` on real reference-kernel processes: both planted fuzz bugs are found, titled
and minimized to at most 3 calls that replay; a clean kernel yields a corpus and stats and no
crash; x-sis-kcov reports coverage per call. Runs are capped in time and stop at the first
reproducer, so they stay short."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sis.contract.bugs import NULL_DEREF_IOCTL_FUNCTION
from sis.harness.commands.fuzz import run_fuzz
from sis.harness.fuzz.fuzzer import FuzzConfig

CAP_S = 240


@pytest.mark.parametrize(
    "bug, syscalls, guilty",
    [
        ("null_deref_ioctl", None, NULL_DEREF_IOCTL_FUNCTION),
        # The descriptions of a file's calls only, as `--syscalls` does for a focused run.
        ("pwrite_overflow", ["openat", "pwrite64", "close"], "pwrite_store_end_unchecked"),
    ],
)
def test_a_planted_bug_is_found_and_minimized(tmp_path: Path, bug, syscalls, guilty):
    config = FuzzConfig(
        duration=CAP_S, seed=1, out=tmp_path / "fuzz", syscalls=syscalls,
        append=f"sis.bug={bug}", stop_on_crash=True,
    )  # fmt: skip
    run = run_fuzz(config)
    assert not run.errors
    [record] = run.crashes.values()
    assert guilty in record.title
    assert record.repro is not None and 1 <= len(record.repro) <= 3
    crash_dir = record.directory
    assert (crash_dir / "repro.txt").read_text().strip() == record.repro.listing()
    summary = json.loads((tmp_path / "fuzz" / "summary.json").read_text())
    assert summary["unique_crashes"] == 1 and summary["crashes"][0]["repro_calls"] <= 3
    again = subprocess.run(
        [sys.executable, "-m", "sis", "fuzz", "repro", str(crash_dir / "repro.json"),
         "--append", f"sis.bug={bug}", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 1, again.stderr
    assert record.title in again.stdout
    assert (tmp_path / "r" / "results.jsonl").exists() and (tmp_path / "r" / "report.html").exists()


def test_a_clean_kernel_run_writes_corpus_and_stats_and_finds_nothing(tmp_path: Path):
    out = tmp_path / "fuzz"
    r = subprocess.run(
        [sys.executable, "-m", "sis", "fuzz", "--duration", "8", "--seed", "4", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "no crash" in r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["calls"] > 0 and summary["crashes"] == []
    assert list((out / "corpus").glob("*.json"))
    assert "sis_fuzz_exec_total" in (out / "stats.prom").read_text()


def test_coverage_feedback_reaches_kernel_edges(tmp_path: Path):
    config = FuzzConfig(duration=6, seed=5, out=tmp_path / "fuzz", cover=True, batch=16)
    run = run_fuzz(config)
    assert not run.errors and not run.crashes
    assert run.stats.cover > 100  # edges in kernel code, not just (call, errno) pairs


def test_repro_of_a_bad_file_is_one_line(tmp_path: Path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = subprocess.run(
        [sys.executable, "-m", "sis", "fuzz", "repro", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.startswith("sis fuzz: not a fuzz program") and r.stderr.count("\n") == 1

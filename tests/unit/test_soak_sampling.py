"""A soak's samples: append-only JSONL and a CSV table; a torn last line (the write a SIGKILL
interrupted) is cut off on resume, and the run's time leaves the gap out."""

from __future__ import annotations

import csv
from pathlib import Path

from sis.harness.soak.sampling import (
    SampleLog,
    active_seconds,
    last_counters,
    read_records,
)


def _sample(t: float, segment: int = 0, heap: int = 100) -> dict:
    return {"kind": "sample", "t": t, "segment": segment,
            "metrics": {"heap_current_bytes": heap, "ctx_switch_bucket_le_256_ns": 1},
            "counters": {"errors": 0, "spawns": int(t)}}  # fmt: skip


def test_samples_go_to_both_files(tmp_path: Path):
    with SampleLog(tmp_path) as log:
        log.write({"kind": "start", "t": 0.0, "settings": {}})
        log.write(_sample(1.0))
        log.write(_sample(2.0, heap=200))
    rows = list(csv.DictReader(open(tmp_path / "samples.csv")))
    assert [r["heap_current_bytes"] for r in rows] == ["100", "200"]
    assert rows[1]["elapsed_s"] == "2.0" and rows[1]["spawns"] == "2"
    assert "ctx_switch_bucket_le_256_ns" not in rows[0]  # buckets stay in the JSONL
    assert len(read_records(tmp_path / "samples.jsonl")) == 3


def test_a_torn_line_is_cut_and_the_run_continues_with_a_gap(tmp_path: Path):
    with SampleLog(tmp_path) as log:
        log.write({"kind": "start", "t": 0.0, "settings": {}})
        log.write(_sample(1.0))
        log.write(_sample(11.0))
    for name in ("samples.jsonl", "samples.csv"):
        with open(tmp_path / name, "a") as f:
            f.write('{"kind": "sample", "t": 12')  # killed mid-write
    with SampleLog(tmp_path, resume=True) as log:
        assert [r["t"] for r in log.records] == [0.0, 1.0, 11.0]
        log.write({"kind": "gap", "t": 100.0, "segment": 1, "since": 11.0, "why": "resumed"})
        log.write(_sample(101.0, segment=1))
        log.write(_sample(111.0, segment=1))
    records = read_records(tmp_path / "samples.jsonl")
    assert [r["kind"] for r in records] == ["start", "sample", "sample", "gap", "sample", "sample"]
    rows = list(csv.reader(open(tmp_path / "samples.csv")))
    assert rows[0][0] == "t" and len({len(r) for r in rows}) == 1  # one header, whole rows
    assert [r[2] for r in rows[1:]] == ["sample", "sample", "gap", "sample", "sample"]
    assert active_seconds(records) == 10.0 + 11.0  # 1..11 and 100..111: the gap is left out
    assert last_counters(records)["spawns"] == 111


def test_a_fresh_run_starts_new_files(tmp_path: Path):
    with SampleLog(tmp_path) as log:
        log.write(_sample(1.0))
    with SampleLog(tmp_path) as log:
        log.write(_sample(5.0))
    assert [r["t"] for r in read_records(tmp_path / "samples.jsonl")] == [5.0]

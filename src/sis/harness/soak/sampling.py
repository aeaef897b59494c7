"""The soak's samples on disk: `samples.jsonl` (every record, append-only, flushed as written)
and `samples.csv` (the samples as a table), in one directory per target.

Records are JSON objects with a `kind`:

* `start`: the run's settings (the first record; `--resume` checks them);
* `sample`: `t`, `segment`, the target's `metrics` and the workload's cumulative `counters`;
* `error`: a sample that could not be taken, and why;
* `restart`: the target died (`panic` true when it panicked) and was restarted;
* `gap`: the run was interrupted and resumed; nothing was sampled from `since` to `t`.

A segment is a stretch of one boot: it ends at a restart or a gap. A run killed at any moment
loses at most the sample being written: a torn last line is cut off when it is resumed.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

JSONL = "samples.jsonl"
CSV = "samples.csv"
COUNTERS = ("cycles", "steps", "spawns", "errors", "panics", "restarts")
_FIXED = ("t", "elapsed_s", "kind", "segment", "note", *COUNTERS)


def derived(metrics: dict[str, int]) -> dict[str, int]:
    """Memory in use on a Linux guest, where /proc says what is available rather than used."""
    if "mem_total_bytes" in metrics and "mem_available_bytes" in metrics:
        return {"mem_used_bytes": metrics["mem_total_bytes"] - metrics["mem_available_bytes"]}
    return {}


def csv_metric(key: str) -> bool:
    """Histogram buckets stay in the JSONL; the table keeps one column per metric."""
    return "_bucket_" not in key


class SampleLog:
    """Appends records to both files of one target's soak."""

    def __init__(self, directory: Path, *, resume: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.directory / JSONL
        self.csv_path = self.directory / CSV
        if not resume:
            for p in (self.jsonl_path, self.csv_path):
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        for p in (self.jsonl_path, self.csv_path):
            _cut_torn_line(p)
        self.records = read_records(self.jsonl_path)
        self.columns: list[str] = []
        if self.csv_path.exists():
            with open(self.csv_path, encoding="utf-8", newline="") as f:
                self.columns = next(csv.reader(f), [])
        self._jsonl = open(self.jsonl_path, "a", encoding="utf-8")
        self._csv = open(self.csv_path, "a", encoding="utf-8", newline="")
        started = [r for r in self.records if r.get("kind") == "start"]
        self.t_start: float | None = started[0]["t"] if started else None

    def write(self, record: dict[str, Any]) -> None:
        if self.t_start is None:
            self.t_start = record["t"]
        self.records.append(record)
        self._jsonl.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._jsonl.flush()
        if record["kind"] == "start":
            return
        metrics = record.get("metrics", {})
        if not self.columns:
            self.columns = [*_FIXED, *sorted(k for k in metrics if csv_metric(k))]
            self._row(self.columns)
        counters = record.get("counters", {})
        note = record.get("error") or record.get("why") or ""
        row: dict[str, Any] = {
            "t": record["t"],
            "elapsed_s": round(record["t"] - self.t_start, 3),
            "kind": record["kind"],
            "segment": record.get("segment", 0),
            "note": note,
            **{k: counters.get(k, "") for k in COUNTERS},
            **metrics,
        }
        self._row([row.get(c, "") for c in self.columns])

    def _row(self, values: list[Any]) -> None:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        self._csv.write(buf.getvalue())
        self._csv.flush()

    def close(self) -> None:
        self._jsonl.close()
        self._csv.close()

    def __enter__(self) -> SampleLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _cut_torn_line(path: Path) -> None:
    """Drop a last line without its newline: the write a kill interrupted."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(max(0, size - (1 << 20)))
        tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        f.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
        f.flush()
        os.fsync(f.fileno())


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a samples.jsonl; lines that are not records are skipped."""
    out: list[dict[str, Any]] = []
    with contextlib.suppress(FileNotFoundError):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("kind"), str) and "t" in rec:
                    out.append(rec)
    return out


def active_seconds(records: list[dict[str, Any]]) -> float:
    """Time the soak has run, gaps left out: the sum of each segment's sampled span."""
    spans: dict[int, list[float]] = {}
    for r in records:
        if r["kind"] in ("sample", "error", "restart", "gap"):
            spans.setdefault(int(r.get("segment", 0)), []).append(float(r["t"]))
    return sum(max(ts) - min(ts) for ts in spans.values())


def last_counters(records: list[dict[str, Any]]) -> dict[str, int]:
    for r in reversed(records):
        if isinstance(r.get("counters"), dict):
            return {k: int(r["counters"].get(k, 0)) for k in COUNTERS}
    return dict.fromkeys(COUNTERS, 0)


def last_segment(records: list[dict[str, Any]]) -> int:
    return max((int(r.get("segment", 0)) for r in records), default=0)

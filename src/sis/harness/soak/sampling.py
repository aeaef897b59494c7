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

A file may also have been damaged (edited by hand, copied in part, written by something else):
a record whose fields do not have their types (a `t` that is not a finite number, a `segment`
that is not a small non-negative integer, metrics that are not numbers) is skipped and
counted, never trusted, so a resumed run goes on from the records that are sound.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.outdir import open_file, open_for_writing

JSONL = "samples.jsonl"
CSV = "samples.csv"
COUNTERS = ("cycles", "steps", "spawns", "errors", "panics", "restarts")
_FIXED = ("t", "elapsed_s", "kind", "segment", "note", *COUNTERS)
#: Segments a run can reach: one per restart or resume; a larger number is damage.
MAX_SEGMENT = 1_000_000


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
        loaded = load_records(self.jsonl_path)
        self.records = loaded.records
        #: Lines of the file that were not sound records, and were left out.
        self.skipped = loaded.skipped
        self.columns: list[str] = []
        if self.csv_path.exists():
            with open(self.csv_path, encoding="utf-8", newline="") as f:
                self.columns = next(csv.reader(f), [])
        self._jsonl = open_file(self.jsonl_path, "a", encoding="utf-8")
        self._csv = open_file(self.csv_path, "a", encoding="utf-8", newline="")
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
    # Never through a link: the file is opened (or made) as SampleLog would write it.
    with os.fdopen(open_for_writing(path, truncate=False, read=True), "rb+") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return
        f.seek(max(0, size - (1 << 20)))
        tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        f.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))
        f.flush()
        os.fsync(f.fileno())


@dataclass
class LoadedRecords:
    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0  # lines that were not sound records


def load_records(path: Path) -> LoadedRecords:
    """The sound records of a samples.jsonl, and how many lines were not (see `record_problem`)."""
    out = LoadedRecords()
    with contextlib.suppress(FileNotFoundError):
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except (ValueError, RecursionError):
                    out.skipped += 1
                    continue
                if record_problem(rec) is None:
                    out.records.append(rec)
                else:
                    out.skipped += 1
    return out


def read_records(path: Path) -> list[dict[str, Any]]:
    """The records of a samples.jsonl; lines that are not sound records are skipped."""
    return load_records(path).records


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def record_problem(rec: object) -> str | None:
    """Why `rec` is not a record the soak can build on, or None when it is sound."""
    if not isinstance(rec, dict):
        return "not an object"
    kind = rec.get("kind")
    if not isinstance(kind, str):
        return "no kind"
    if not _number(rec.get("t")):
        return "'t' is not a number"
    segment = rec.get("segment", 0)
    if not _count(segment) or segment > MAX_SEGMENT:
        return f"'segment' is not an integer in 0..{MAX_SEGMENT}"
    if "since" in rec and not _number(rec["since"]):
        return "'since' is not a number"
    metrics = rec.get("metrics", {})
    if not isinstance(metrics, dict) or not all(_number(v) for v in metrics.values()):
        return "'metrics' is not a mapping of numbers"
    if kind == "sample" and not isinstance(rec.get("counters"), dict):
        return "a sample without 'counters'"
    counters = rec.get("counters", {})
    if not isinstance(counters, dict) or not all(
        _count(counters[k]) for k in COUNTERS if k in counters
    ):
        return "'counters' is not a mapping of counts"
    for key in ("settings", "config"):
        if not isinstance(rec.get(key, {}), dict):
            return f"'{key}' is not a mapping"
    return None


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

"""One time axis per experiment: each injection and rollback, every activity, the kernel log
records and the metric samples taken during the run. Written as JSON lines, one event a line,
ordered by time; the HTML report draws it.

An event is `{"t": <unix seconds>, "kind": ..., "label": ..., ...}` with kind one of
`inject`, `clear` (a rollback of an injection), `rollback`, `activity`, `probe`, `state` (a
boot, a crash, a restart), `log` (a kernel log record: `level`, `subsystem`, `event`) and
`metric` (a sample: `values`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.outdir import write_atomic

KINDS = ("inject", "clear", "rollback", "activity", "probe", "state", "log", "metric")
#: The metrics drawn as lines (those a fault moves); others stay in the JSONL.
CHART_METRICS = (
    "heap_current_bytes",
    "heap_failures",
    "disk_write_ops",
    "disk_read_ops",
    "net_tx_packets",
    "net_rx_packets",
    "vfs_writes",
    "mem_available_bytes",
)
MAX_LOG_EVENTS = 2000


@dataclass
class Timeline:
    events: list[dict[str, Any]] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def mark(self, kind: str, label: str, t: float | None = None, **data: Any) -> None:
        self.events.append(
            {"t": time.time() if t is None else t, "kind": kind, "label": label, **data}
        )

    def metric(self, values: dict[str, int], t: float | None = None) -> None:
        self.mark("metric", "sample", t, values=values)

    def add_log(self, records: list[Any], boot_started: float) -> None:
        """Kernel log records of one boot, placed by their boot-relative timestamps."""
        for rec in records[-MAX_LOG_EVENTS:]:
            if rec.ts_us is None:
                continue
            t = boot_started + rec.ts_us / 1e6
            if t < self.started - 1:
                continue
            self.mark(
                "log",
                (rec.message or rec.event or rec.raw)[:200],
                t,
                level=(rec.level or "INFO").upper(),
                subsystem=rec.subsystem,
            )

    def sorted(self) -> list[dict[str, Any]]:
        return sorted(self.events, key=lambda e: e["t"])

    def write(self, path: Path) -> None:
        text = "".join(json.dumps(e, default=str) + "\n" for e in self.sorted())
        write_atomic(path, text)


def read_timeline(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if isinstance(e, dict) and isinstance(e.get("t"), (int, float)):
            events.append(e)
    return events

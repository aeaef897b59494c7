"""Sampling a target's metrics, and the JSONL time series `sis metrics collect` writes.

Where the numbers come from is decided by the target's profile capabilities:

* `metrics` (a SIS kernel, contract section 5): out of band through QMP `x-sis-metrics`, which
  costs the guest no console time; if QMP does not answer, the console command
  `metricsctl --format json`.
* `proc_metrics` with `shell` (a Linux guest, e.g. linux-busybox): one `cat` of /proc/meminfo,
  /proc/stat, /proc/net/dev, /proc/diskstats and /proc/uptime per sample through the console,
  mapped to the same metric names where the meaning is the same (see `parse_proc`).
* neither: the target cannot be sampled (`SampleError`).

Every sample is a flat {name: integer} dict. The series file has one JSON object per sample,
`{"t", "target", "preset", "source", "metrics"}` (plus `"error"` when the sample failed),
appended and flushed as it is taken, so an interrupted run keeps what it collected.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sis.contract.metrics import CONTRACT_KEYS  # noqa: F401 - re-exported for the harness
from sis.harness.metrics.parse import ParsedMetrics, Problem, parse_json_metrics
from sis.harness.outdir import open_file

if TYPE_CHECKING:
    from sis.harness.targets.base import Target

SOURCES = ("auto", "qmp", "console", "proc")
PROC_FILES = ("/proc/meminfo", "/proc/stat", "/proc/net/dev", "/proc/diskstats", "/proc/uptime")
PROC_COMMAND = "cat " + " ".join(PROC_FILES)
JSON_COMMAND = "metricsctl --format json"


class SampleError(Exception):
    """A sample could not be taken; the message is one line a user can act on."""


class MetricSource(Protocol):
    """Anything the exporter and the collector can sample."""

    name: str
    preset: str

    def sample(self) -> dict[str, int]: ...
    def alive(self) -> bool: ...


def choose_source(capabilities: set[str], has_qmp: bool = True) -> str:
    """`qmp`/`console` for a SIS kernel, `proc` for other shells (see the module docstring)."""
    if "metrics" in capabilities:
        return "qmp" if has_qmp else "console"
    if "proc_metrics" in capabilities and "shell" in capabilities:
        return "proc"
    raise SampleError(
        "the target has neither the 'metrics' nor the 'proc_metrics' capability: "
        "no way to read its metrics"
    )


class Sampler:
    """Takes samples of one running target. Thread-safe: the console is used by one caller
    at a time (the exporter may sample from several scrape threads)."""

    def __init__(
        self,
        target: Target,
        source: str = "auto",
        *,
        timeout: float = 10.0,
        label: str | None = None,
    ) -> None:
        if source not in SOURCES:
            raise SampleError(f"unknown metrics source {source!r} (one of {', '.join(SOURCES)})")
        self.target = target
        self.name = label or target.profile.name
        self.preset = target.preset
        self.timeout = timeout
        self.wanted = source
        self.last_source = ""
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        if self.wanted != "auto":
            return self.wanted
        return choose_source(set(self.target.capabilities), self.target.qmp is not None)

    def alive(self) -> bool:
        return self.target.alive()

    def sample(self) -> dict[str, int]:
        if not self.target.alive():
            why = self.target.death() or "the process is not running"
            raise SampleError(f"{self.name}: target is down ({why})")
        with self._lock:
            source = self.source
            if source == "qmp":
                try:
                    return self._from_qmp()
                except SampleError:
                    if not self.target.alive():
                        raise
                    source = "console"  # QMP trouble: the console may still answer
            if source == "console":
                return self._from_console()
            return self._from_proc()

    def _from_qmp(self) -> dict[str, int]:
        from sis.harness.qmp import QMPError

        qmp = self.target.qmp
        if qmp is None:
            raise SampleError(f"{self.name}: no QMP monitor")
        try:
            reply = qmp.execute("x-sis-metrics", timeout=self.timeout)
        except QMPError as e:
            raise SampleError(f"{self.name}: x-sis-metrics: {e}") from None
        parsed = ParsedMetrics()
        if not isinstance(reply, dict):
            raise SampleError(f"{self.name}: x-sis-metrics returned {type(reply).__name__}")
        for key, value in reply.items():
            if isinstance(value, int) and not isinstance(value, bool):
                parsed.values[str(key)] = value
        self.last_source = "qmp"
        return parsed.values

    def _run(self, command: str) -> str:
        from sis.harness.console import ConsoleError
        from sis.harness.session import TargetDied

        try:
            result = self.target.run(command, timeout=self.timeout)
        except (ConsoleError, TargetDied) as e:
            first = (str(e).strip().splitlines() or ["console error"])[0]
            raise SampleError(f"{self.name}: {command}: {first}") from None
        if result.status not in (0, None):
            first = result.output.strip().splitlines()[:1]
            raise SampleError(
                f"{self.name}: {command} exited {result.status}: {first[0] if first else ''}"
            )
        return result.output

    def _from_console(self) -> dict[str, int]:
        parsed = parse_json_metrics(self._run(JSON_COMMAND))
        if not parsed.values:
            raise SampleError(f"{self.name}: {JSON_COMMAND}: {parsed.summary()}")
        self.last_source = "console"
        return parsed.values

    def _from_proc(self) -> dict[str, int]:
        parsed = parse_proc(self._run(PROC_COMMAND))
        if not parsed.values:
            raise SampleError(f"{self.name}: {PROC_COMMAND}: {parsed.summary()}")
        self.last_source = "proc"
        return parsed.values


@dataclass
class StaticSource:
    """A fixed set of metrics posing as a target (benchmark baselines, tests)."""

    name: str
    preset: str = "default"
    metrics: dict[str, int] = field(default_factory=dict)
    up: bool = True
    last_source: str = "static"

    def sample(self) -> dict[str, int]:
        if not self.up:
            raise SampleError(f"{self.name}: target is down")
        return dict(self.metrics)

    def alive(self) -> bool:
        return self.up


# -- /proc mapping -----------------------------------------------------------------------------

_MEMINFO_RX = re.compile(r"^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?$")
_STAT_KEYS = {
    "ctxt": "ctx_switches",  # context switches since boot
    "processes": "forks",  # processes and threads created since boot
    "procs_running": "tasks_running",
    "procs_blocked": "tasks_blocked",
    "intr": "interrupts",  # the first number is the total
}
_MEMINFO_KEYS = {
    "MemTotal": "mem_total_bytes",
    "MemFree": "mem_free_bytes",
    "MemAvailable": "mem_available_bytes",
    "Slab": "mem_slab_bytes",
    "SUnreclaim": "mem_slab_unreclaimable_bytes",
}
_NETDEV_RX = re.compile(r"^\s*([^\s:]+):\s*((?:\d+\s+){15}\d+)\s*$")
_DISKSTATS_RX = re.compile(r"^\s*\d+\s+\d+\s+(\S+)((?:\s+\d+){10,})\s*$")
_UPTIME_RX = re.compile(r"^(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)$")
_NOT_A_DISK = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd")
SECTOR = 512


def parse_proc(text: str) -> ParsedMetrics:
    """The output of `PROC_COMMAND` (files concatenated by one `cat`) mapped to metric names.
    Lines are told apart by their shape, so the order of the files does not matter.

    Same meaning as the SIS keys: uptime_seconds, ctx_switches (/proc/stat ctxt),
    net_{rx,tx}_{packets,bytes}, net_errors, net_drops (all interfaces, loopback included, as
    SIS counts them), disk_{read,write}_{ops,bytes}, disk_flushes (whole disks only, so
    partitions are not counted twice). Linux-only: forks, tasks_running, tasks_blocked,
    interrupts, mem_{total,free,available,slab,slab_unreclaimable}_bytes. The SIS kernel-heap keys have no /proc
    equivalent with the same meaning and are left out, as are vfs_* and panic_count."""
    out = ParsedMetrics()
    net: dict[str, int] = {}
    disks: dict[str, list[int]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("Inter-|", "face |")):
            continue
        words = line.split()
        if words[0] in _STAT_KEYS or re.fullmatch(r"cpu\d*|btime|softirq", words[0]):
            key = _STAT_KEYS.get(words[0])
            if key is None:
                continue
            try:
                out.values[key] = int(words[1])
            except (IndexError, ValueError):
                out.problems.append(Problem(n, f"/proc/stat {words[0]}: expected a number", line))
            continue
        if m := _NETDEV_RX.match(line):
            f = [int(x) for x in m.group(2).split()]
            # receive: bytes packets errs drop ...; transmit from the 9th field on.
            for key, value in (
                ("net_rx_bytes", f[0]), ("net_rx_packets", f[1]),
                ("net_tx_bytes", f[8]), ("net_tx_packets", f[9]),
                ("net_errors", f[2] + f[10]), ("net_drops", f[3] + f[11]),
            ):  # fmt: skip
                net[key] = net.get(key, 0) + value
            continue
        if m := _DISKSTATS_RX.match(line):
            disks[m.group(1)] = [int(x) for x in m.group(2).split()]
            continue
        if m := _MEMINFO_RX.match(line):
            key = _MEMINFO_KEYS.get(m.group(1))
            if key is not None:
                out.values[key] = int(m.group(2)) * (1024 if line.endswith("kB") else 1)
            continue
        if m := _UPTIME_RX.match(line):
            out.values["uptime_seconds"] = int(float(m.group(1)))
            continue
        out.problems.append(Problem(n, "not a line of " + ", ".join(PROC_FILES), line))
    out.values.update(net)
    whole = [
        d
        for d in disks
        if not d.startswith(_NOT_A_DISK) and not any(d != o and d.startswith(o) for o in disks)
    ]
    if disks:
        totals = {"disk_read_ops": 0, "disk_write_ops": 0, "disk_read_bytes": 0}
        totals |= {"disk_write_bytes": 0, "disk_flushes": 0}
        for d in whole:
            f = disks[d]
            totals["disk_read_ops"] += f[0]
            totals["disk_read_bytes"] += f[2] * SECTOR
            totals["disk_write_ops"] += f[4]
            totals["disk_write_bytes"] += f[6] * SECTOR
            if len(f) >= 16:
                totals["disk_flushes"] += f[15]
        out.values.update(totals)
    return out


# -- the time series ---------------------------------------------------------------------------


@dataclass
class CollectSummary:
    out: Path
    samples: int = 0
    errors: int = 0
    stopped: str = "finished"  # finished, interrupted, target down
    last_error: str = ""
    restarts: int = 0


def collect_series(
    source: MetricSource,
    out: Path,
    *,
    interval: float = 1.0,
    duration: float = 10.0,
    stop: threading.Event | None = None,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
    recover: Callable[[], None] | None = None,
) -> CollectSummary:
    """Sample `source` every `interval` seconds for `duration` seconds (0 = until `stop` is
    set), appending one JSON line per sample to `out`. A failed sample is written with its
    error. When the target is down, `recover` (a Session's `ensure_shell`) brings it back and
    a record `{"restarted": why}` marks the gap; without it, or if that fails, the run ends."""
    if interval <= 0:
        raise ValueError("the interval must be positive")
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = CollectSummary(out)
    stop = stop or threading.Event()
    started = time.monotonic()
    tick = 0
    with open_file(out, "a", encoding="utf-8") as f:
        while not stop.is_set():
            record: dict[str, Any] = {
                "t": round(time.time(), 3),
                "target": source.name,
                "preset": source.preset,
            }
            try:
                metrics = source.sample()
                record |= {"source": getattr(source, "last_source", ""), "metrics": metrics}
            except SampleError as e:
                record |= {"metrics": {}, "error": str(e)}
                summary.errors += 1
                summary.last_error = str(e)
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
            f.flush()
            summary.samples += 1
            if on_sample is not None:
                on_sample(record)
            if "error" in record and not source.alive():
                if recover is None or not _recovered(recover, f, record, summary):
                    summary.stopped = "target down"
                    break
            tick += 1
            next_at = started + tick * interval  # a fixed rate: slow samples do not drift it
            if duration and tick * interval >= duration - 1e-9:
                break
            stop.wait(max(0.0, next_at - time.monotonic()))
        else:
            summary.stopped = "interrupted"
    return summary


def _recovered(
    recover: Callable[[], None], f: Any, failed: dict[str, Any], summary: CollectSummary
) -> bool:
    try:
        recover()
    except Exception as e:  # noqa: BLE001 - any failure to restart ends the series
        summary.last_error = f"restart failed: {e}"
        return False
    summary.restarts += 1
    mark = {k: failed[k] for k in ("target", "preset")} | {
        "t": round(time.time(), 3),
        "metrics": {},
        "restarted": failed.get("error", "target down"),
    }
    f.write(json.dumps(mark, separators=(",", ":")) + "\n")
    f.flush()
    return True


def read_series(path: Path) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The records of a series file and a problem per unreadable line (a run cut short)."""
    records: list[dict[str, Any]] = []
    problems: list[Problem] = []
    with contextlib.suppress(FileNotFoundError):
        text = path.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                problems.append(Problem(n, f"not JSON: {e}", line))
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("metrics"), dict):
                problems.append(Problem(n, "a sample is an object with a 'metrics' object", line))
                continue
            records.append(rec)
    return records, problems

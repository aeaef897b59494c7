"""Kernel metrics primitives.

Counters live where they are counted (the heap's stats, the block device's stats, the NIC's
stats); a `Registry` only knows how to *read* them: each metric is a name, a kind (counter,
gauge, histogram), help text, a base unit, label names and a reader called at snapshot time.
From one registry come both views of contract section 5: the flat JSON snapshot and the
Prometheus text exposition format 0.0.4.

Latency goes into `LatencyHistogram`, a log-linear histogram cheap enough to record every
context switch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

# Bucket upper bounds in ns: 4 sub-buckets per power of two from 64 ns to ~69 s.
_SUB = 4
BOUNDS_NS: tuple[int, ...] = tuple(
    int(2 ** (e + s / _SUB)) for e in range(6, 36) for s in range(1, _SUB + 1)
)
# The bounds a histogram is exported with: powers of two from 256 ns to ~268 ms. A fixed set
# (not "whatever is non-empty") keeps the series stable for histogram_quantile(); every one is
# also an internal bound, so the exported counts are exact.
EXPORT_BOUNDS_NS: tuple[int, ...] = tuple(2**e for e in range(8, 29))
QUANTILES = (50, 95, 99)


class LatencyHistogram:
    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_NS) + 1)
        self.count = 0
        self.sum_ns = 0
        self.max_ns = 0

    def record(self, ns: int) -> None:
        if ns <= 64:
            idx = 0
        else:
            # Index from the exponent: log2 is cheaper than a bisect over 120 bounds.
            idx = max(0, min(len(BOUNDS_NS), math.ceil((math.log2(ns) - 6) * _SUB) - 1))
            # Settle float rounding and the truncated bounds: the first bound >= ns, or the
            # overflow bucket past the last one.
            while idx < len(BOUNDS_NS) and BOUNDS_NS[idx] < ns:
                idx += 1
            while idx > 0 and BOUNDS_NS[idx - 1] >= ns:
                idx -= 1
        self.counts[idx] += 1
        self.count += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns

    def percentile(self, p: float) -> int:
        """Upper bound of the bucket holding the p-th percentile (0 if empty)."""
        if self.count == 0:
            return 0
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(BOUNDS_NS[i], self.max_ns) if i < len(BOUNDS_NS) else self.max_ns
        return self.max_ns

    def buckets(self) -> list[tuple[int, int]]:
        """Cumulative (upper bound ns, count) pairs for the non-empty range."""
        out, seen = [], 0
        last = max((i for i, c in enumerate(self.counts) if c), default=-1)
        for i in range(min(last + 1, len(BOUNDS_NS))):
            seen += self.counts[i]
            out.append((BOUNDS_NS[i], seen))
        return out

    def cumulative(self, bounds: Iterable[int] = EXPORT_BOUNDS_NS) -> list[tuple[int, int]]:
        """Cumulative (upper bound ns, count) at the given bounds, which must be internal
        bounds (`BOUNDS_NS`) for the counts to be exact."""
        out, seen, i = [], 0, 0
        for bound in sorted(bounds):
            while i < len(BOUNDS_NS) and BOUNDS_NS[i] <= bound:
                seen += self.counts[i]
                i += 1
            out.append((bound, seen))
        return out


# -- the registry ----------------------------------------------------------------------------

S = TypeVar("S")
Labels = tuple[str, ...]
COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"
BASE_UNITS = ("seconds", "bytes")
_NAME_RX = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RX = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Units promtool rejects (non-base units) and suffixes reserved for histograms and summaries.
_NON_BASE = (
    "_milliseconds",
    "_microseconds",
    "_nanoseconds",
    "_ms",
    "_us",
    "_ns",
    "_kilobytes",
    "_megabytes",
    "_kib",
    "_mib",
    "_minutes",
    "_hours",
)
_RESERVED = ("_count", "_sum", "_bucket")


class MetricError(ValueError):
    """A metric definition that would break the exposition format or its conventions."""


@dataclass(frozen=True)
class Metric(Generic[S]):
    """One metric family. `read(source)` returns a number for an unlabelled counter or gauge,
    a mapping {label values: number} for a labelled one, and a LatencyHistogram (in raw
    units, `scale` converts to the base unit) for a histogram. `json_key` names the metric in
    the flat JSON snapshot (values there are integers in the raw unit)."""

    name: str
    kind: str
    help: str
    read: Callable[[S], Any]
    unit: str = ""
    labels: Labels = ()
    json_key: str | None = None
    scale: float = 1.0


@dataclass
class Registry(Generic[S]):
    prefix: str
    metrics: list[Metric[S]] = field(default_factory=list)

    # -- definition ------------------------------------------------------------------------
    def add(self, metric: Metric[S]) -> Metric[S]:
        self._validate(metric)
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help: str, read: Callable[[S], Any], **kw: Any) -> Metric[S]:
        return self.add(Metric(name, COUNTER, help, read, **kw))

    def gauge(self, name: str, help: str, read: Callable[[S], Any], **kw: Any) -> Metric[S]:
        return self.add(Metric(name, GAUGE, help, read, **kw))

    def histogram(self, name: str, help: str, read: Callable[[S], Any], **kw: Any) -> Metric[S]:
        return self.add(Metric(name, HISTOGRAM, help, read, **kw))

    def _validate(self, m: Metric[S]) -> None:
        def bad(why: str) -> MetricError:
            return MetricError(f"metric {m.name!r}: {why}")

        if m.kind not in (COUNTER, GAUGE, HISTOGRAM):
            raise bad(f"unknown kind {m.kind!r}")
        if not _NAME_RX.match(m.name) or not m.name.startswith(self.prefix):
            raise bad(f"names are [a-zA-Z0-9_:] and start with {self.prefix!r}")
        if any(x.name == m.name for x in self.metrics):
            raise bad("defined twice")
        if m.json_key and any(x.json_key == m.json_key for x in self.metrics):
            raise bad(f"JSON key {m.json_key!r} is already taken")
        stem = m.name.removesuffix("_total")
        if (m.kind == COUNTER) != m.name.endswith("_total"):
            raise bad("counters, and only counters, end in _total")
        if m.unit and m.unit not in BASE_UNITS:
            raise bad(f"unit {m.unit!r} is not a base unit ({', '.join(BASE_UNITS)})")
        if m.unit and not stem.endswith("_" + m.unit):
            raise bad(f"the name must end in _{m.unit}{'_total' if m.kind == COUNTER else ''}")
        if stem.endswith(_NON_BASE) or stem.endswith(_RESERVED):
            raise bad("non-base unit or reserved suffix in the name")
        for label in m.labels:
            if not _LABEL_RX.match(label) or label.startswith("__") or label == "le":
                raise bad(f"bad label name {label!r}")
        if m.kind == HISTOGRAM and m.labels:
            raise bad("labelled histograms are not supported")

    # -- reading ---------------------------------------------------------------------------
    def snapshot(self, source: S) -> dict[str, int]:
        """The flat JSON view: every metric with a JSON key, as integers in its raw unit.
        A histogram `h` gives h_p50_ns h_p95_ns h_p99_ns h_count h_sum_ns h_max_ns and its
        cumulative buckets h_bucket_le_<bound>_ns, so an outside collector can rebuild it."""
        out: dict[str, int] = {}
        buckets: dict[str, int] = {}  # at the end: the headline keys stay first for a reader
        for m in self.metrics:
            if not m.json_key:
                continue
            value = m.read(source)
            if m.kind == HISTOGRAM:
                h: LatencyHistogram = value
                key = m.json_key
                for q in QUANTILES:
                    out[f"{key}_p{q}_ns"] = int(h.percentile(q))
                out[f"{key}_count"] = h.count
                out[f"{key}_sum_ns"] = int(h.sum_ns)
                out[f"{key}_max_ns"] = int(h.max_ns)
                for bound, seen in h.cumulative():
                    buckets[f"{key}_bucket_le_{bound}_ns"] = seen
            elif m.labels:
                out[m.json_key] = int(sum(value.values()))
            else:
                out[m.json_key] = int(value)
        return out | buckets

    def exposition(self, source: S) -> str:
        """Text exposition format 0.0.4."""
        lines: list[str] = []
        for m in self.metrics:
            value = m.read(source)
            if m.labels and not value:
                continue  # a labelled family with no series (e.g. chaos off) is left out
            lines.append(f"# HELP {m.name} {escape_help(m.help)}")
            lines.append(f"# TYPE {m.name} {m.kind}")
            if m.kind == HISTOGRAM:
                h = value
                for bound, seen in h.cumulative():
                    lines.append(f'{m.name}_bucket{{le="{format_value(bound * m.scale)}"}} {seen}')
                lines.append(f'{m.name}_bucket{{le="+Inf"}} {h.count}')
                lines.append(f"{m.name}_sum {format_value(h.sum_ns * m.scale)}")
                lines.append(f"{m.name}_count {h.count}")
            elif m.labels:
                for values, v in value.items():
                    pairs = ",".join(
                        f'{k}="{escape_label(str(x))}"'
                        for k, x in zip(m.labels, values, strict=True)
                    )
                    lines.append(f"{m.name}{{{pairs}}} {format_value(v * m.scale)}")
            else:
                lines.append(f"{m.name} {format_value(value * m.scale)}")
        return "\n".join(lines) + "\n"

    def find(self, name: str) -> Metric[S]:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)


def format_value(v: float | int) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v.is_integer() and abs(v) < 2**53:
        return str(int(v))
    return repr(float(f"{v:.15g}"))  # 15 digits drop the noise of unit scaling (ns * 1e-9)


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

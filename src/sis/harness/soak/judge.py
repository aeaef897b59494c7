"""The verdict of one target's soak, from its samples: per metric min/max/mean/stddev and
percentiles, a leak analysis of each memory series (statistics.analyse_leak), and the
thresholds (the workload's, the command line's, and `errors == 0`, `panics == 0`).

A restart or a resumed run starts a new segment, and memory starts over with the new boot, so
a leak is judged within one boot: the longest segment. The verdict says which rule failed and
by how much."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sis.harness.soak.sampling import COUNTERS, csv_metric
from sis.harness.soak.statistics import (
    LeakAnalysis,
    Summary,
    ThresholdOutcome,
    analyse_leak,
    check_threshold,
    describe,
    parse_threshold,
)

PASS, FAIL, SKIP, ERROR = "PASS", "FAIL", "SKIP", "ERROR"
#: Memory series judged for leaks, with the metric that says how much there is in all.
MEMORY = (
    ("heap_current_bytes", "heap_size_bytes"),  # a SIS kernel's heap
    ("mem_used_bytes", "mem_total_bytes"),  # Linux: MemTotal - MemAvailable
    # Linux: slab the kernel cannot reclaim. Not all of Slab: dentry and inode caches grow
    # as files are looked up and are given back under pressure, which a leak never is.
    ("mem_slab_unreclaimable_bytes", "mem_total_bytes"),
)
DEFAULT_THRESHOLDS = ("errors == 0", "panics == 0")
#: Counters (cumulative) are described by their rate per second, gauges by their values.
_COUNTER_PREFIXES = ("net_", "disk_", "vfs_", "heap_allocs", "heap_deallocs", "heap_failures")
_COUNTER_NAMES = {
    "syscalls_total", "syscall_rejections", "ctx_switches", "ctx_switch_count", "ctx_switch_sum_ns",
    "forks", "interrupts", "panic_count", "host_cpu_ms", *COUNTERS,
}  # fmt: skip


def is_counter(name: str) -> bool:
    return name in _COUNTER_NAMES or name.startswith(_COUNTER_PREFIXES)


@dataclass
class Rule:
    name: str
    verdict: str  # PASS, FAIL, SKIP
    says: str


@dataclass
class Judgement:
    verdict: str
    rules: list[Rule] = field(default_factory=list)
    leaks: list[LeakAnalysis] = field(default_factory=list)
    thresholds: list[ThresholdOutcome] = field(default_factory=list)
    stats: dict[str, tuple[str, Summary]] = field(default_factory=dict)  # name: (unit, summary)
    samples: int = 0
    segments: int = 0
    judged_segment: int = 0
    active_s: float = 0.0

    @property
    def failed(self) -> list[Rule]:
        return [r for r in self.rules if r.verdict == FAIL]


def values(records: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, value, segment) of every sample that has `key` (a metric or a counter)."""
    t, v, s = [], [], []
    for r in records:
        if r.get("kind") != "sample":
            continue
        x = r.get("metrics", {}).get(key, r.get("counters", {}).get(key))
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            t.append(float(r["t"]))
            v.append(float(x))
            s.append(int(r.get("segment", 0)))
    return np.array(t), np.array(v), np.array(s, dtype=int)


def rates(
    t: np.ndarray, v: np.ndarray, seg: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-second rate between consecutive samples of the same segment (at the later time)."""
    keep = (seg[1:] == seg[:-1]) & (np.diff(t) > 0)
    dv = np.diff(v)[keep]
    dt = np.diff(t)[keep]
    return t[1:][keep], np.where(dv >= 0, dv, 0.0) / dt, seg[1:][keep]


def judge(
    records: list[dict[str, Any]],
    *,
    thresholds: tuple[str, ...] | list[str] = (),
    leak_min: float = 1.0,
    warmup: float = 0.0,
) -> Judgement:
    """`warmup`: a share of each boot never judged for leaks, on top of the warm-up found in
    the data (0: only what the data show)."""
    samples = [r for r in records if r.get("kind") == "sample"]
    j = Judgement(ERROR, samples=len(samples))
    if not samples:
        j.rules.append(Rule("samples", ERROR, "no sample was taken"))
        return j
    segs: dict[int, list[float]] = {}
    for r in samples:
        segs.setdefault(int(r.get("segment", 0)), []).append(float(r["t"]))
    j.segments = len(segs)
    j.active_s = sum(max(ts) - min(ts) for ts in segs.values())
    j.judged_segment = max(segs, key=lambda k: (len(segs[k]), -k))
    # Statistics of every metric.
    keys = sorted({k for r in samples for k in r.get("metrics", {}) if csv_metric(k)})
    for key in [*keys, *COUNTERS]:
        t, v, seg = values(samples, key)
        if is_counter(key):
            summary = describe(rates(t, v, seg)[1])
            unit = "/s"
        else:
            summary, unit = describe(v), ""
        if summary is not None:
            j.stats[key] = (unit, summary)
    # Leaks, on the longest boot.
    for metric, capacity_key in MEMORY:
        t, v, seg = values(samples, metric)
        if t.size == 0:
            continue
        mask = seg == j.judged_segment
        cap_t, cap_v, _ = values(samples, capacity_key)
        a = analyse_leak(
            metric,
            t[mask],
            v[mask],
            min_rate=leak_min,
            warmup=warmup,
            capacity=float(cap_v[-1]) if cap_v.size else None,
        )
        j.leaks.append(a)
        verdict = SKIP if a.undecided or not a.judged else FAIL if a.leaking else PASS
        j.rules.append(Rule(f"no leak in {metric}", verdict, a.says))
    # Thresholds.
    rules = list(dict.fromkeys([*DEFAULT_THRESHOLDS, *thresholds]))
    for text in rules:
        rule = parse_threshold(text)
        t, v, _ = values(samples, rule.metric)
        outcome = check_threshold(rule, list(t), list(v))
        j.thresholds.append(outcome)
        verdict = SKIP if outcome.ok is None else (PASS if outcome.ok else FAIL)
        j.rules.append(Rule(rule.text, verdict, outcome.says))
    verdicts = {r.verdict for r in j.rules}
    j.verdict = FAIL if FAIL in verdicts else PASS if PASS in verdicts else SKIP
    return j


def headline(j: Judgement) -> str:
    """One line: the verdict and, when it failed, which rules and by how much."""
    if j.verdict == FAIL:
        return "FAIL: " + "; ".join(
            f"{r.name.removeprefix('no leak in ')} {r.says}"
            if r.name.startswith("no leak")
            else r.says
            for r in j.failed
        )
    decided = [a for a in j.leaks if a.judged and not a.undecided]
    undecided = [a for a in j.leaks if a.undecided or not a.judged]
    if j.verdict == PASS:
        leak = ", ".join(f"{a.metric} {a.slope:+.2f} MiB/h" for a in decided)
        line = (
            f"PASS: no leak ({leak}), every threshold held"
            if leak
            else "PASS: every threshold held"
        )
        if undecided:
            line += "; leaks not judged: " + "; ".join(
                f"{a.metric} {a.undecided or a.says}" for a in undecided
            )
        elif not j.leaks:
            line += "; no memory series to judge for leaks"
        return line
    return f"{j.verdict}: " + "; ".join(r.says for r in j.rules)

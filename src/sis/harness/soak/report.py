"""The soak report: one self-contained HTML file (OUT/soak-report.html) that works offline.

Charts are inline SVG drawn here, on the server side: a line per boot segment, the warm-up
found in the data shaded, gaps hatched, panics and restarts as markers, and on memory the
Theil–Sen trend with its 95% band and the lower envelope. The page runs no script and loads
nothing: a strict Content-Security-Policy (as in sis.harness.report.html) allows only its own
style sheet, by hash, and every value that came from a target is HTML-escaped."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from sis.harness.outdir import write_atomic
from sis.harness.report.html import content_security_policy
from sis.harness.soak.judge import Judgement, headline, is_counter, rates, values
from sis.harness.soak.sampling import CSV, JSONL
from sis.harness.soak.statistics import LeakAnalysis

REPORT = "soak-report.html"
_STYLE = (files("sis.harness.soak") / "templates" / "soak.css").read_text(encoding="utf-8")
W, H = 1180, 230
LEFT, RIGHT, TOP, BOTTOM = 84, 16, 12, 30
COLOURS = ("#1f5fa8", "#c0561b", "#2b8a3e", "#7b3fa0")

#: Charts in the order shown: (title, metrics, note). Counters are drawn as rates.
CHARTS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Kernel heap", ("heap_current_bytes", "heap_peak_bytes"), "current and peak"),
    ("Memory in use", ("mem_used_bytes",), "MemTotal − MemAvailable"),
    ("Memory available", ("mem_available_bytes",), "MemAvailable"),
    ("Slab", ("mem_slab_unreclaimable_bytes", "mem_slab_bytes"), "unreclaimable, and all"),
    ("Heap fragmentation", ("heap_fragmentation_permille",), "per mille, from memstats"),
    ("Context-switch latency", ("ctx_switch_p50_ns", "ctx_switch_p99_ns"), "p50 and p99"),
    ("Context switches", ("ctx_switches",), "per second"),
    ("CPU time of the target process", ("host_cpu_ms",), "ms per second (the host's view)"),
    ("Network bytes", ("net_tx_bytes", "net_rx_bytes"), "per second"),
    ("Network packets", ("net_tx_packets", "net_rx_packets"), "per second"),
    ("Syscalls", ("syscalls_total",), "per second"),
    ("Disk writes", ("disk_write_ops",), "per second"),
    ("Processes spawned", ("spawns", "forks"), "per second"),
    ("Workload errors", ("errors",), "cumulative"),
)


@dataclass
class TargetSoak:
    """One target's soak as the report shows it."""

    label: str
    directory: Path
    records: list[dict[str, Any]]
    judgement: Judgement
    config: dict[str, Any] = field(default_factory=dict)


def write_report(path: Path, soaks: list[TargetSoak], *, title: str = "SIS soak") -> None:
    env = Environment(loader=PackageLoader("sis.harness.soak", "templates"), autoescape=True)
    env.filters["hours"] = lambda h: _seconds(float(h) * 3600)
    html = env.get_template("soak-report.html.j2").render(
        title=title,
        generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        targets=[_view(s, path.parent) for s in soaks],
        fmt=_num,
        style=Markup(_STYLE),  # the package's own file, not input
        csp=content_security_policy(_STYLE),
    )
    write_atomic(path, html)


def _view(s: TargetSoak, base: Path) -> dict[str, Any]:
    j = s.judgement
    recs = s.records
    samples = [r for r in recs if r["kind"] == "sample"]
    t0 = float(recs[0]["t"]) if recs else 0.0
    cfg = s.config
    last = samples[-1]["counters"] if samples else {}
    charts = [c for c in (_chart(spec, recs, j, t0) for spec in CHARTS) if c]
    failed = [
        {
            "at": f"+{float(r['t']) - t0:.0f} s",
            **{k: r.get(k, "") for k in ("command", "why", "output")},
        }
        for r in recs
        if r["kind"] == "failed_step"
    ]
    return {
        "label": s.label,
        "anchor": re.sub(r"[^A-Za-z0-9_-]", "-", s.label),
        "j": j,
        "headline": headline(j),
        "leaks": [a for a in j.leaks if a.judged],
        "workload": cfg.get("workload") or "none",
        "seed": cfg.get("seed", 0),
        "interval": _seconds(float(cfg.get("interval", 0))),
        "append": cfg.get("append", ""),
        "soaked": _seconds(j.active_s),
        "restarts": last.get("restarts", 0),
        "csv": _rel(s.directory / CSV, base),
        "jsonl": _rel(s.directory / JSONL, base),
        "charts": charts,
        "failed_steps": failed,
        "oom_kills": [
            {"at": f"+{float(r['t']) - t0:.0f} s", "what": r.get("why", "")}
            for r in recs
            if r["kind"] == "event" and "oom_kill" in r
        ],
        "stats": [(k, unit, summary) for k, (unit, summary) in j.stats.items()],
    }


def _chart(
    spec: tuple[str, tuple[str, ...], str], recs: list[dict[str, Any]], j: Judgement, t0: float
) -> dict[str, Any] | None:
    title, metrics, note = spec
    lines = []
    for m in metrics:
        t, v, seg = values(recs, m)
        if t.size == 0:
            continue
        if is_counter(m) and m != "errors":
            t, v, seg = rates(t, v, seg)
        if t.size:
            lines.append((m, t, v, seg))
    if not lines:
        return None
    leak = next((a for a in j.leaks if a.judged and a.metric == metrics[0]), None)
    return {"title": title, "note": note, "svg": Markup(_svg(lines, recs, t0, leak))}


def _svg(
    lines: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    recs: list[dict[str, Any]],
    t0: float,
    leak: LeakAnalysis | None,
) -> str:
    t_end = max(float(r["t"]) for r in recs)
    span = max(t_end - t0, 1e-6)
    lo = min(float(v.min()) for _, _, v, _ in lines)
    hi = max(float(v.max()) for _, _, v, _ in lines)
    if leak is not None:
        for t in (leak.warmup_until, t_end):
            lo, hi = min(lo, *leak.band(t)), max(hi, *leak.band(t))
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    gauges = [m for m, *_ in lines if not is_counter(m)]  # rates are plain numbers per second
    unit = "bytes" if any(m.endswith("_bytes") for m in gauges) else ""
    unit = "ns" if any(m.endswith("_ns") for m in gauges) else unit

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * (W - LEFT - RIGHT)

    def y(v: float) -> float:
        return TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        f'viewBox="0 0 {W} {H}" role="img">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f1f1f1"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#bbb" stroke-width="2"/></pattern></defs>',
    ]
    # Warm-up of the judged segment, and gaps.
    if leak is not None:
        seg_t = [float(r["t"]) for r in recs if r["kind"] == "sample"
                 and int(r.get("segment", 0)) == _segment_of(recs, leak.warmup_until)]  # fmt: skip
        start = min(seg_t) if seg_t else t0
        out.append(
            _rect(
                x(start),
                x(leak.warmup_until),
                "#e9e9e9",
                "warm-up found in the data: not judged for leaks",
            )
        )
    for r in recs:
        if r["kind"] == "gap":
            since = float(r.get("since", r["t"]))
            out.append(_rect(x(since), x(float(r["t"])), "url(#hatch)",
                             f"gap: no samples for {float(r['t']) - since:.0f} s ({r.get('why', '')})"))  # fmt: skip
    # Axes and grid.
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        yy = y(v)
        out.append(
            f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{W - RIGHT}" y2="{yy:.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" font-size="11" '
                   f'fill="#555">{escape(_axis(v, unit))}</text>')  # fmt: skip
    for i in range(7):
        t = t0 + span * i / 6
        out.append(f'<text x="{x(t):.1f}" y="{H - 10}" text-anchor="middle" font-size="11" '
                   f'fill="#555">{escape(_seconds(t - t0))}</text>')  # fmt: skip
    out.append(
        f'<line x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}" stroke="#999"/>'
    )
    # The trend and its band over the judged stretch.
    if leak is not None:
        a, b = leak.warmup_until, max(float(tt) for _, ts, _, _ in lines for tt in ts[-1:])
        (l1, h1), (l2, h2) = leak.band(a), leak.band(b)
        out.append(
            f'<polygon points="{x(a):.1f},{y(l1):.1f} {x(b):.1f},{y(l2):.1f} {x(b):.1f},{y(h2):.1f} '
            f'{x(a):.1f},{y(h1):.1f}" fill="#1f5fa8" fill-opacity="0.15" stroke="none"><title>'
            f"95% interval {leak.low:+.2f} .. {leak.high:+.2f} MiB/h</title></polygon>"
        )
        out.append(
            f'<line x1="{x(a):.1f}" y1="{y(leak.fitted(a)):.1f}" x2="{x(b):.1f}" '
            f'y2="{y(leak.fitted(b)):.1f}" stroke="#0b3d91" stroke-width="2" stroke-dasharray="6 3">'
            f"<title>Theil–Sen {leak.slope:+.2f} MiB/h</title></line>"
        )
    # The series, one polyline per segment.
    for n, (metric, t, v, seg) in enumerate(lines):
        colour = COLOURS[n % len(COLOURS)]
        for s in sorted(set(seg.tolist())):
            mask = seg == s
            pts = " ".join(
                f"{x(tt):.1f},{y(vv):.1f}" for tt, vv in zip(t[mask], v[mask], strict=True)
            )
            out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="1.5">'
                       f"<title>{escape(metric)}</title></polyline>")  # fmt: skip
        out.append(f'<text x="{LEFT + 8 + 220 * n}" y="{TOP + 12}" font-size="12" fill="{colour}">'
                   f"{escape(metric)}</text>")  # fmt: skip
    if leak is not None:
        for tt, vv in leak.envelope:
            out.append(f'<circle cx="{x(tt):.1f}" cy="{y(vv):.1f}" r="3" fill="#0b3d91">'
                       f"<title>window minimum {escape(_axis(vv, unit))}</title></circle>")  # fmt: skip
    # Panics and restarts.
    for r in recs:
        if r["kind"] == "restart":
            colour = "#c0141b" if r.get("panic") else "#e08a00"
            what = "panic, restarted" if r.get("panic") else "restarted"
            xx = x(float(r["t"]))
            out.append(f'<line x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{H - BOTTOM}" stroke="{colour}" '
                       f'stroke-width="2"><title>{escape(what)}: {escape(str(r.get("why", "")))}</title></line>')  # fmt: skip
    # OOM kills: the kernel working as designed, shown where they happened.
    for r in recs:
        if r["kind"] == "event" and "oom_kill" in r:
            xx = x(float(r["t"]))
            out.append(f'<line x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{H - BOTTOM}" stroke="#7b3fa0" '
                       f'stroke-width="1.5" stroke-dasharray="3 2"><title>{escape(str(r.get("why", "")))}'
                       "</title></line>")  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def _segment_of(recs: list[dict[str, Any]], t: float) -> int:
    best = min((r for r in recs if r["kind"] == "sample"), key=lambda r: abs(float(r["t"]) - t))
    return int(best.get("segment", 0))


def _rect(x1: float, x2: float, fill: str, title: str) -> str:
    return (f'<rect x="{x1:.1f}" y="{TOP}" width="{max(0.0, x2 - x1):.1f}" height="{H - TOP - BOTTOM}" '
            f'fill="{fill}"><title>{escape(title)}</title></rect>')  # fmt: skip


def _axis(v: float, unit: str) -> str:
    if unit == "bytes":
        return f"{v / 1048576:.2f} MiB"
    if unit == "ns":
        return f"{v / 1000:.1f} µs"
    return _num(v)


def _num(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v:,.0f}"
    if a >= 100 or float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.3g}"


def _seconds(s: float) -> str:
    s = float(s)
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"


def _rel(p: Path, base: Path) -> str:
    try:
        return os.path.relpath(p, base)
    except ValueError:
        return str(p)

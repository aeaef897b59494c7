"""The chaos report: one HTML page per run, an experiment a section, each with its timeline
drawn as inline SVG built here (faults as bands and markers over the metric lines, kernel log
records as ticks, crashes and restarts on top). No script: the page carries the same strict
Content-Security-Policy as the check report, and every value from outside is escaped."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from sis.harness.chaos.timeline import CHART_METRICS, read_timeline
from sis.harness.outdir import write_atomic
from sis.harness.report.html import content_security_policy
from sis.harness.results import TestResult, summarize

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, PLOT_H = 50, 20, 28, 160
LOG_Y = TOP + PLOT_H + 22
COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
LEVEL_COLOURS = {"FATAL": "#b3141b", "ERROR": "#b3141b", "WARN": "#d98200", "WARNING": "#d98200"}

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }
.PASS { color: #17702f; } .FAIL { color: #b3141b; } .ERROR { color: #a05a00; } .SKIP { color: #777; }
section { border-top: 1px solid #ddd; padding-top: .6em; margin-top: 1.2em; }
table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .2em .5em;
  border-bottom: 1px solid #eee; vertical-align: top; font-size: 13px; }
.legend span { margin-right: 1em; font-size: 12px; } .why { color: #b3141b; }
"""


def chart(events: list[dict[str, Any]]) -> str:
    """The timeline of one experiment as an SVG element (a string of markup)."""
    if not events:
        return "<p>(no timeline)</p>"
    t0 = min(e["t"] for e in events)
    t1 = max(max(e["t"] for e in events), t0 + 1e-3)
    span = t1 - t0
    plot_w = WIDTH - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{PLOT_H}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    # Fault bands: from each injection to its clear (or the end).
    for e in events:
        if e["kind"] != "inject":
            continue
        fault = e.get("fault", "")
        end = next(
            (
                c["t"]
                for c in events
                if c["t"] >= e["t"] and c["kind"] == "clear" and fault and fault in c["label"]
            ),
            t1,
        )
        parts.append(
            f'<rect x="{x(e["t"]):.1f}" y="{TOP}" width="{max(1.0, x(end) - x(e["t"])):.1f}" '
            f'height="{PLOT_H}" fill="#e4572e" fill-opacity="0.12"><title>'
            f"{escape(e['label'])}</title></rect>"
        )
    # Metric lines, each scaled to its own range.
    legend = []
    samples = [e for e in events if e["kind"] == "metric" and isinstance(e.get("values"), dict)]
    drawn = 0
    for name in CHART_METRICS:
        points = [(e["t"], e["values"][name]) for e in samples if name in e["values"]]
        values = [v for _, v in points]
        if len(points) < 2 or min(values) == max(values):
            continue
        lo, hi = min(values), max(values)
        colour = COLOURS[drawn % len(COLOURS)]
        coords = " ".join(
            f"{x(t):.1f},{TOP + PLOT_H - (v - lo) / (hi - lo) * (PLOT_H - 8) - 4:.1f}"
            for t, v in points
        )
        parts.append(
            f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.5">'
            f"<title>{escape(name)}: {lo}..{hi}</title></polyline>"
        )
        legend.append((colour, f"{name} ({lo}..{hi})"))
        drawn += 1
    # Markers: injections and clears; crashes, restarts and boots on top.
    for e in events:
        kind = e["kind"]
        if kind in ("inject", "clear", "rollback"):
            colour = "#b3141b" if kind == "inject" else "#17702f"
            parts.append(
                f'<line x1="{x(e["t"]):.1f}" y1="{TOP}" x2="{x(e["t"]):.1f}" '
                f'y2="{TOP + PLOT_H}" stroke="{colour}" stroke-width="2">'
                f"<title>{escape(kind)}: {escape(e['label'])}</title></line>"
            )
        elif kind == "state":
            parts.append(
                f'<circle cx="{x(e["t"]):.1f}" cy="{TOP - 8}" r="4" fill="#6a3d9a">'
                f"<title>{escape(e['label'])}</title></circle>"
            )
        elif kind == "event":  # the kernel working as designed (an OOM kill)
            parts.append(
                f'<rect x="{x(e["t"]) - 4:.1f}" y="{TOP - 12}" width="8" height="8" '
                f'fill="#d98200"><title>{escape(e["label"])}</title></rect>'
            )
        elif kind in ("probe", "activity"):
            parts.append(
                f'<rect x="{x(e["t"]) - 1:.1f}" y="{TOP + PLOT_H + 2}" width="2" height="6" '
                f'fill="#555"><title>{escape(e["label"])}</title></rect>'
            )
        elif kind == "log":
            colour = LEVEL_COLOURS.get(str(e.get("level", "")).upper(), "#999")
            parts.append(
                f'<line x1="{x(e["t"]):.1f}" y1="{LOG_Y}" x2="{x(e["t"]):.1f}" y2="{LOG_Y + 14}" '
                f'stroke="{colour}" stroke-width="1"><title>{escape(str(e.get("level", "")))} '
                f"{escape(str(e.get('subsystem', '')))}: {escape(e['label'])}</title></line>"
            )
    parts.append(
        f'<text x="{LEFT - 4}" y="{LOG_Y + 11}" font-size="10" text-anchor="end">log</text>'
    )
    for i in range(6):
        t = span * i / 5
        parts.append(
            f'<text x="{x(t0 + t):.1f}" y="{HEIGHT - 4}" font-size="10" text-anchor="middle">'
            f"{t:.1f} s</text>"
        )
    parts.append("</svg>")
    keys = "".join(
        f'<span><svg width="12" height="4"><rect width="12" height="4" fill="{c}"/></svg> '
        f"{escape(label)}</span>"
        for c, label in legend
    )
    keys += (
        '<span><svg width="12" height="8"><rect width="12" height="8" fill="#e4572e" '
        'fill-opacity="0.3"/></svg> fault active</span>'
    )
    return "".join(parts) + f'<div class="legend">{keys}</div>'


def _events_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return ""
    t0 = min(e["t"] for e in events)
    rows = "".join(
        f"<tr><td>{e['t'] - t0:7.3f}</td><td>{escape(e['kind'])}</td>"
        f"<td>{escape(str(e['label']))}</td></tr>"
        for e in events
        if e["kind"] in ("inject", "clear", "rollback", "state", "probe", "event")
    )
    return f"<details><summary>events</summary><table>{rows}</table></details>"


def write_chaos_report(results: list[TestResult], path: Path, *, title: str = "SIS chaos") -> None:
    sections = []
    for r in results:
        events: list[dict[str, Any]] = []
        timeline = r.artifacts.get("timeline")
        if timeline and Path(timeline).exists():
            events = sorted(read_timeline(Path(timeline)), key=lambda e: e["t"])
        links = " · ".join(
            f'<a href="{escape(_rel(p, path))}">{escape(k)}</a>'
            for k, p in sorted(r.artifacts.items())
        )
        notes = ""
        journal = r.artifacts.get("journal")
        if journal and Path(journal).exists():
            try:
                j = json.loads(Path(journal).read_text(encoding="utf-8"))
                notes = "".join(f"<li>{escape(str(n))}</li>" for n in j.get("notes", []))
            except (OSError, ValueError):
                pass
        sections.append(
            f'<section><h2><span class="{escape(r.verdict)}">{escape(r.verdict)}</span> '
            f"{escape(r.test)} <small>{escape(r.target)} / {escape(r.preset)} · "
            f"{r.duration_s:.1f} s</small></h2>"
            + (f'<p class="why">{escape(r.reason)}</p>' if r.reason else "")
            + (f"<ul>{notes}</ul>" if notes else "")
            + (chart(events) if events else "")
            + _events_table(events)
            + f"<p>{links}</p></section>"
        )
    c = summarize(results)
    counts = ", ".join(f"{n} {v.lower()}" for v, n in c.items() if n)
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{content_security_policy(STYLE)}">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1><p>{escape(counts or 'no experiments')}</p>"
        + "".join(sections)
        + "</body></html>\n"
    )
    write_atomic(path, html)


def _rel(p: str, page: Path) -> str:
    try:
        return os.path.relpath(p, page.parent)
    except ValueError:
        return p

"""The HTML report: a scorecard to read at a glance, then each test with its commands, output,
verdict and links to the console captures.

Everything in the report but the template comes from outside the lab: suite and test names,
commands, and above all console output, which a misbehaving kernel fills with whatever it
likes. So every value is HTML-escaped, and a Content-Security-Policy lets the page run no
script at all and apply only its own style sheet (allowed by its hash), in case something
escaped the escaping."""

from __future__ import annotations

import base64
import hashlib
import os
from collections import defaultdict
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from sis.harness.outdir import write_atomic
from sis.harness.results import JobSummary, TestResult, overall_verdict, summarize

_STYLE = (files("sis.harness.report") / "templates" / "report.css").read_text(encoding="utf-8")


def content_security_policy(style: str) -> str:
    """No scripts, plugins, frames, forms or fetches; only the report's own inline style."""
    digest = base64.b64encode(hashlib.sha256(style.encode("utf-8")).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
        "base-uri 'none'; form-action 'none'"
    )


def write_html(
    results: list[TestResult],
    path: Path,
    *,
    title: str = "SIS check",
    notes: list[str] | None = None,
    meta: dict[str, str] | None = None,
    jobs: list[JobSummary] | None = None,
    pages: dict[str, str] | None = None,
) -> None:
    """The report of a run: a scorecard, then per target what ran it (kernel, command line,
    boot and phase times, a timeline of boots and crashes, captures per boot) and each test."""
    env = Environment(
        loader=PackageLoader("sis.harness.report", "templates"),
        autoescape=True,  # the template is .html.j2: select_autoescape(["html"]) missed it
    )
    targets: dict[str, list[TestResult]] = defaultdict(list)
    for r in results:
        targets[f"{r.target} / {r.preset}"].append(r)
    summaries = {j.key: j for j in jobs or []}
    for key in summaries:
        targets.setdefault(key, [])
    # A job's wall time includes boot and teardown; without a summary, the tests' own time.
    scorecard = [
        (
            name,
            summarize(items),
            summaries[name].wall_s if name in summaries else sum(r.duration_s for r in items),
        )
        for name, items in targets.items()
    ]

    def link(p: str) -> str:
        try:
            return os.path.relpath(p, path.parent)
        except ValueError:
            return p

    html = env.get_template("report.html.j2").render(
        title=title,
        total=summarize(results),
        scorecard=scorecard,
        verdicts={name: overall_verdict(items) for name, items in targets.items()},
        targets=targets,
        summaries={k: _view(j) for k, j in summaries.items()},
        crashes=_crash_groups(results),
        link=link,
        notes=notes or [],
        meta=meta or {},
        pages=pages or {},  # the command's own pages (chaos timelines, soak charts), by file
        style=Markup(_STYLE),  # the package's own file, not input
        csp=content_security_policy(_STYLE),
    )
    write_atomic(path, html)


def _view(job: JobSummary) -> dict[str, Any]:
    """A job summary as the template shows it: boots that crashed first, times rounded, the
    state changes as a readable timeline."""
    t0 = job.history[0]["t"] if job.history else 0.0
    boots = sorted(job.boots, key=lambda b: (b.get("ended") not in ("crashed", "hung", "gone"),
                                             b["number"]))  # fmt: skip
    return {
        "job": job,
        "boot_s": next((p["seconds"] for p in job.phases if p["name"] == "boot"), None),
        "boots": boots,
        "timeline": [
            {"at": f"+{h['t'] - t0:.2f} s", "state": h["state"], "why": h["why"]}
            for h in job.history
        ],
    }


def _crash_groups(results: list[TestResult]) -> list[dict[str, Any]]:
    """The run's crashes, one row per title (the same bug hit twice shows once, counted)."""
    groups: dict[str, dict[str, Any]] = {}
    for r in results:
        if not r.crash.get("title"):
            continue
        g = groups.setdefault(
            r.crash["title"],
            {"title": r.crash["title"], "type": r.crash.get("type", ""),
             "frame": r.crash.get("frame", ""), "count": 0, "where": []},
        )  # fmt: skip
        g["count"] += 1
        g["where"].append(f"{r.target} / {r.preset} :: {r.suite} :: {r.test}")
    return sorted(groups.values(), key=lambda g: -g["count"])

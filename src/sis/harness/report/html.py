"""The HTML report: a scorecard to read at a glance, then each test with its commands, output,
verdict and links to the console captures."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from sis.harness.results import TestResult, summarize


def write_html(
    results: list[TestResult],
    path: Path,
    *,
    title: str = "SIS check",
    notes: list[str] | None = None,
    meta: dict[str, str] | None = None,
) -> None:
    env = Environment(
        loader=PackageLoader("sis.harness.report", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    targets: dict[str, list[TestResult]] = defaultdict(list)
    for r in results:
        targets[f"{r.target} / {r.preset}"].append(r)
    scorecard = [
        (name, summarize(items), sum(r.duration_s for r in items))
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
        targets=targets,
        link=link,
        notes=notes or [],
        meta=meta or {},
    )
    path.write_text(html, encoding="utf-8")

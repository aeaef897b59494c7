"""The soak report: one offline HTML file, no script, a strict CSP, charts as inline SVG, the
verdict with its evidence, and values from the target escaped."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np

from sis.harness.soak.judge import judge
from sis.harness.soak.report import TargetSoak, write_report
from sis.harness.soak.sampling import SampleLog, read_records


def _soak(tmp_path: Path, leak: float) -> list[dict]:
    rng = np.random.default_rng(0)
    with SampleLog(tmp_path) as log:
        log.write({"kind": "start", "t": 0.0, "settings": {}, "config": {"workload": "churn"}})
        for i in range(60):
            t = 10.0 * i + (50 if i >= 30 else 0)
            if i == 30:
                log.write({"kind": "gap", "t": t, "segment": 1, "since": t - 60, "why": "resumed"})
            heap = (1 << 20) + int(rng.integers(0, 3)) * 16384 + int(leak * t)
            log.write({"kind": "sample", "t": t, "segment": int(i >= 30),
                       "metrics": {"heap_current_bytes": heap, "heap_size_bytes": 1 << 27},
                       "counters": {"errors": 0, "panics": 0}})  # fmt: skip
        log.write({"kind": "failed_step", "t": 100.0, "segment": 0,
                   "command": "cat /x", "why": "exited 1", "output": "<script>alert(1)</script>"})  # fmt: skip
    return read_records(tmp_path / "samples.jsonl")


def test_the_report_is_self_contained_and_says_why(tmp_path: Path):
    records = _soak(tmp_path / "a", leak=4096.0)
    j = judge(records)
    assert j.verdict == "FAIL" and j.failed[0].says.startswith("leaking +")
    out = tmp_path / "soak-report.html"
    write_report(out, [TargetSoak("sis/<b>default</b>", tmp_path / "a", records, j, {})])
    html = out.read_text()
    csp = unescape(re.search(r'Content-Security-Policy" content="([^"]*)"', html).group(1))
    assert "default-src 'none'" in csp and "style-src 'sha256-" in csp
    assert "<script" not in html and "<b>default" not in html
    assert "&lt;script&gt;alert(1)" in html
    assert html.count("<svg") >= 1 and "url(#hatch)" in html  # the gap, hatched
    assert "leaking +" in html and "Theil–Sen" in html
    assert 'href="a/samples.csv"' in html
    assert not re.search(r'\bstyle="', html)  # inline style attributes would break the CSP

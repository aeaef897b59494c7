"""Soak runs: hours of workload on a target, sampled, resumable, judged by statistics that do
not cry wolf, in one self-contained HTML report.

    workload.py    strict YAML workloads (workloads/*.yaml are built in) and their runner
    run.py         one target's soak: workload and samples in one loop, restarts, resume
    sampling.py    samples.jsonl (append-only) and samples.csv, segments and gaps
    statistics.py  Hamed–Rao Mann–Kendall, Theil–Sen with its interval, lower envelope,
                   time to OOM, windowed thresholds
    judge.py       the verdict of a soak from its samples
    report.py      OUT/soak-report.html, charts as inline SVG
"""

from __future__ import annotations

from pathlib import Path


def soak_dir(out: Path, target: str, preset: str) -> Path:
    """Where one target's samples go: OUT/soak/<target>-<preset>/."""
    return Path(out) / "soak" / f"{target}-{preset}"

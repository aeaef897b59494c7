"""Wall time of `sis check --preset all` on the reference kernel at -j 1, -j 2 and the default
-j (twice the CPUs, bounded by memory), interleaved, medians of `--rounds`.

Prints one JSON object; the goal is under 4 s with the default -j on a 2-CPU machine. The
1-minute load average is reported: other work on the machine slows every figure alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _sis() -> str:
    return str(Path(sys.executable).with_name("sis"))


def run_once(jobs: int | None, out: str) -> float:
    argv = [_sis(), "check", "--preset", "all", "--out", out]
    if jobs is not None:
        argv += ["-j", str(jobs)]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"check_wall: {' '.join(argv)} exited {proc.returncode}: {proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    cases: dict[str, int | None] = {"j1": 1, "j2": 2, "default": None}
    times: dict[str, list[float]] = {name: [] for name in cases}
    loads = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, jobs in cases.items():
                loads.append(os.getloadavg()[0])
                times[name].append(run_once(jobs, os.path.join(tmp, f"{name}-{r}")))
    med = {name: statistics.median(t) for name, t in times.items()}
    print(
        json.dumps(
            {
                "benchmark": "check_wall",
                "command": "sis check --preset all",
                "rounds": args.rounds,
                **{f"{name}_median_s": round(m, 2) for name, m in med.items()},
                **{f"{name}_runs_s": [round(t, 2) for t in ts] for name, ts in times.items()},
                "speedup_default_vs_j1": round(med["j1"] / med["default"], 2),
                "goal_default_s": 4.0,
                "meets_goal": med["default"] < 4.0,
                "load_average_1min_max": round(max(loads), 2),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

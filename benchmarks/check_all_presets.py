"""Wall time of `sis check --preset all -j 2` on the reference kernel (goal: under 60 s), with
`-j 1` as the baseline measured in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time


def run(jobs: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "sis.cli",
                "check",
                "--preset",
                "all",
                "-j",
                str(jobs),
                "--out",
                out,
            ],
            capture_output=True,
            text=True,
        )
        return time.perf_counter() - started, r.returncode


def main() -> None:
    parallel, rc2 = run(2)
    serial, rc1 = run(1)
    print(
        json.dumps(
            {
                "benchmark": "sis_check_all_presets",
                "wall_s_j2": round(parallel, 2),
                "exit_j2": rc2,
                "baseline": "same run with -j 1",
                "wall_s_j1": round(serial, 2),
                "speedup": round(serial / parallel, 2),
                "goal_s": 60,
                "meets_goal": parallel < 60 and rc2 == 0,
            }
        )
    )


if __name__ == "__main__":
    main()

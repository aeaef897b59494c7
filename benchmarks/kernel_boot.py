"""Boot time of the reference kernel: process start to the first `sis> ` prompt on a
unix-socket console, median of 10, as a ratio to a bare `python3 -c pass` in the same run."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time

from cli_startup import boot_once as boot_to_prompt

RUNS = 10


def boot_once(tmp: str) -> float:
    # The same measurement `sis kernel` is compared with in cli_startup.py.
    return boot_to_prompt([sys.executable, "-m", "sis.kernel"], tmp)


def python_once() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        boots = [boot_once(tmp) for _ in range(RUNS)]
    bare = [python_once() for _ in range(RUNS)]
    boot, base = statistics.median(boots), statistics.median(bare)
    print(
        json.dumps(
            {
                "benchmark": "kernel_boot_to_prompt",
                "runs": RUNS,
                "boot_median_s": round(boot, 4),
                "boot_min_s": round(min(boots), 4),
                "baseline": "python3 -c pass",
                "baseline_median_s": round(base, 4),
                "ratio_to_baseline": round(boot / base, 2),
                "goal_s": 0.3,
                "meets_goal": boot < 0.3,
            }
        )
    )


if __name__ == "__main__":
    main()

"""Boot time of the reference kernel: process start to the first `sis> ` prompt on a
unix-socket console, median of 10, as a ratio to a bare `python3 -c pass` in the same run."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = 10


def boot_once(tmp: str) -> float:
    path = os.path.join(tmp, "con.sock")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sis.kernel", "-serial", f"unix:{path}", "-nic", "none"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(path)
                break
            except OSError:
                s.close()
                time.sleep(0.001)
        buf = b""
        while not buf.endswith(b"sis> "):
            data = s.recv(65536)
            if not data:
                raise RuntimeError("kernel closed the console before the prompt")
            buf += data
        elapsed = time.perf_counter() - started
        s.close()
        return elapsed
    finally:
        proc.kill()
        proc.wait()


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

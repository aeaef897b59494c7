"""Start-up of the `sis` command: what a user waits for before anything happens.

Prints one JSON object. Measured interleaved (one run of each in turn, N rounds), medians:

* `sis kernel` from process start to the first `sis> ` prompt on a unix-socket console,
  against `python -m sis.kernel` with the same options (the baseline: the kernel without the
  CLI); the goal is within 10%.
* `sis --version` and `sis --help`, against `python -c pass` (the interpreter alone); the goal
  for `--version` is under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KERNEL_ARGS = ["-nic", "none"]


def _sis() -> list[str]:
    """The installed `sis` script beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("sis")
    if script.exists():
        return [str(script)]
    found = shutil.which("sis")
    if found is None:
        raise SystemExit("cli_startup: no `sis` command installed beside this Python")
    return [found]


def boot_once(command: list[str], tmp: str) -> float:
    path = os.path.join(tmp, "con.sock")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*command, "-serial", f"unix:{path}", *KERNEL_ARGS],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
                break
            except OSError:
                s.close()
                if proc.poll() is not None:
                    raise RuntimeError(f"{command} exited with {proc.returncode}") from None
                time.sleep(0.001)
        buf = b""
        while not buf.endswith(b"sis> "):
            data = s.recv(65536)
            if not data:
                raise RuntimeError("the kernel closed the console before the prompt")
            buf += data
        elapsed = time.perf_counter() - started
        s.close()
        return elapsed
    finally:
        proc.kill()
        proc.wait()
        if os.path.exists(path):
            os.unlink(path)


def run_once(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    sis = _sis()
    cases = {
        "sis_kernel": lambda tmp: boot_once([*sis, "kernel"], tmp),
        "python_m_sis_kernel": lambda tmp: boot_once([sys.executable, "-m", "sis.kernel"], tmp),
        "sis_version": lambda tmp: run_once([*sis, "--version"]),
        "sis_help": lambda tmp: run_once([*sis, "--help"]),
        "python_pass": lambda tmp: run_once([sys.executable, "-c", "pass"]),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases.values():  # one warm-up each: page cache, .pyc files
            case(tmp)
        for _ in range(args.rounds):
            for name, case in cases.items():
                times[name].append(case(tmp))
    med = {name: statistics.median(t) for name, t in times.items()}
    ratio = med["sis_kernel"] / med["python_m_sis_kernel"]
    load = os.getloadavg()[0]
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "rounds": args.rounds,
                **{f"{name}_median_ms": round(m * 1000, 1) for name, m in med.items()},
                "sis_kernel_vs_python_m": round(ratio, 3),
                "goal_kernel_within": 1.10,
                "meets_kernel_goal": ratio <= 1.10,
                "goal_version_ms": 100,
                "meets_version_goal": med["sis_version"] < 0.1,
                "load_average_1min": round(load, 2),
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()

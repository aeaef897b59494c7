"""Command round trip on the reference kernel: `echo hi` to the next prompt over the
unix-socket console, median and p99 of 1,000; baseline: a raw socket echo server (a Python
process answering each line) measured the same way in the same run."""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

N = 1000
WARMUP = 50
ECHO_SERVER = """
import os, socket, sys
path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(1)
conn, _ = srv.accept()
while True:
    data = conn.recv(65536)
    if not data:
        break
    conn.sendall(data + b"sis> ")
"""


def connect(path: str) -> socket.socket:
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            time.sleep(0.005)


def read_prompt(s: socket.socket, buf: bytearray) -> None:
    while not buf.endswith(b"sis> "):
        data = s.recv(65536)
        if not data:
            raise RuntimeError("connection closed")
        buf += data
    buf.clear()


def measure(s: socket.socket) -> list[float]:
    buf = bytearray()
    out = []
    for i in range(N + WARMUP):
        started = time.perf_counter()
        s.sendall(b"echo hi\n")
        read_prompt(s, buf)
        if i >= WARMUP:
            out.append(time.perf_counter() - started)
    return out


def stats(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "median_ms": round(statistics.median(samples) * 1000, 4),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1] * 1000, 4),
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kpath, epath = os.path.join(tmp, "con.sock"), os.path.join(tmp, "echo.sock")
        kernel = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sis.kernel",
                "-serial",
                f"unix:{kpath}",
                "-nic",
                "none",
                "-append",
                "quiet",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        echo = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, epath])
        try:
            ks = connect(kpath)
            read_prompt(ks, bytearray())
            kernel_stats = stats(measure(ks))
            es = connect(epath)
            echo_stats = stats(measure(es))
        finally:
            kernel.kill()
            echo.kill()
    print(
        json.dumps(
            {
                "benchmark": "kernel_command_roundtrip",
                "command": "echo hi",
                "samples": N,
                "kernel": kernel_stats,
                "baseline": "raw unix-socket echo server",
                "baseline_stats": echo_stats,
                "median_ratio_to_baseline": round(
                    kernel_stats["median_ms"] / echo_stats["median_ms"], 1
                ),
                "goal_median_ms": 1.0,
                "meets_goal": kernel_stats["median_ms"] < 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()

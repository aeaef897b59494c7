"""ICMP echo round trip between two reference kernels on one local hub port: median and p99
of `ping` times (50 echoes, after 5 of warm-up) as the ping program inside one kernel reports
them; baseline: a raw unix-datagram echo between two Python processes (an 84-byte datagram,
the size of the ping's IP packet), measured the same way in the same run.

    python benchmarks/net_ping.py [--count 50]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

WARMUP = 5
ECHO_SERVER = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    data, peer = s.recvfrom(65536)
    s.sendto(data, peer)
"""
TIME = re.compile(rb"icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms")
ETH0 = re.compile(rb"Interface eth0 UP  addr (\S+)/24 mac")


def connect(path: str) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def command(s: socket.socket, line: str, timeout: float = 60) -> bytes:
    """Send a command line, return everything up to the next prompt."""
    s.sendall(line.encode() + b"\r")
    buf = bytearray()
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\r\nsis> "):
        s.settimeout(max(0.01, deadline - time.monotonic()))
        data = s.recv(65536)
        if not data:
            raise RuntimeError(f"console closed after {bytes(buf)!r}")
        buf += data
    return bytes(buf)


def wait_prompt(s: socket.socket) -> None:
    buf = bytearray()
    while not buf.endswith(b"sis> "):
        buf += s.recv(65536)


def address(s: socket.socket) -> str:
    deadline = time.monotonic() + 10
    while True:
        m = ETH0.search(command(s, "netstat"))
        if m:
            return m.group(1).decode()
        if time.monotonic() > deadline:
            raise RuntimeError("eth0 got no address")
        time.sleep(0.1)


def stats(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 4),
        "min_ms": round(ordered[0], 4),
    }


def kernel_ping(tmp: str, count: int) -> list[float]:
    hub = os.path.join(tmp, "hub")
    os.mkdir(hub, 0o700)
    env = {**os.environ, "SIS_HUB_DIR": hub}
    port = random.randrange(1000, 60000)
    procs, consoles = [], []
    try:
        for name in ("a", "b"):
            path = os.path.join(tmp, f"{name}.sock")
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "sis.kernel",
                        "-nic",
                        f"hub,port={port}",
                        "-serial",
                        f"unix:{path}",
                        "-append",
                        "quiet",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
            consoles.append(connect(path))
        for s in consoles:
            wait_prompt(s)
        address(consoles[0])
        target = address(consoles[1])
        out = command(consoles[0], f"ping -c {count + WARMUP} -i 0.02 {target}")
        times = {int(seq): float(ms) for seq, ms in TIME.findall(out)}
        return [times[seq] for seq in sorted(times) if seq > WARMUP]
    finally:
        for p in procs:
            p.kill()
            p.wait()


def unix_echo(tmp: str, count: int) -> list[float]:
    server_path, client_path = os.path.join(tmp, "echo.sock"), os.path.join(tmp, "client.sock")
    server = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, server_path])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(client_path)
    s.settimeout(5)
    try:
        while not os.path.exists(server_path):
            time.sleep(0.005)
        payload = bytes(84)
        out = []
        for i in range(count + WARMUP):
            started = time.perf_counter()
            s.sendto(payload, server_path)
            s.recv(65536)
            if i >= WARMUP:
                out.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)  # same pacing as the ping
        return out
    finally:
        server.kill()
        server.wait()
        s.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sis-bench-") as tmp:
        kernel = kernel_ping(tmp, args.count)
        baseline = unix_echo(tmp, args.count)
    if len(kernel) < args.count:
        raise SystemExit(f"only {len(kernel)} of {args.count} echoes were answered")
    k, b = stats(kernel), stats(baseline)
    print(
        json.dumps(
            {
                "benchmark": "net_ping_hub_rtt",
                "samples": args.count,
                "kernel": k,
                "what": "ping between two sis kernels on one hub port, time reported by ping",
                "baseline": "raw unix-datagram echo between two Python processes, 84 bytes",
                "baseline_stats": b,
                "median_ratio_to_baseline": round(k["median_ms"] / b["median_ms"], 1),
            }
        )
    )


if __name__ == "__main__":
    main()

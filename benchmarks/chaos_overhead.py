"""What the in-kernel chaos feature costs when it injects nothing: `echo hi` console round trip
and a 1,000-syscall `x-sis-syscall` batch, on a kernel started without `-features chaos`, with
it in mode `none`, and with an active mode at rate 0 (every check runs, no fault is injected).

Prints one JSON object. The kernels run side by side and are timed in alternating blocks, so
drift in the machine's load hits every configuration alike. Reports the median of each, and its
ratio to the kernel without the feature.

    python benchmarks/chaos_overhead.py [--echo 300] [--batches 30] [--blocks 6]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qemu.qmp import QMPClient

from sis.contract.syscalls import NR
from sis.harness.console import SIS_LOG_LINE, Console, connect_unix

COMMAND = "echo hi"
BATCH = [{"nr": NR["getpid"]}] * 1000  # syscall entry, where chaos checks every call
# name -> (extra kernel arguments, chaos commands typed after boot)
CONFIGS: dict[str, tuple[list[str], list[str]]] = {
    "no_feature": ([], []),
    "chaos_none": (["-features", "chaos"], ["chaos mode none"]),
    "random_panic_rate0": (["-features", "chaos"], ["chaos rate 0", "chaos mode random_panic"]),
    "memory_pressure_rate0": (
        ["-features", "chaos"],
        ["chaos rate 0", "chaos mode memory_pressure"],
    ),
}


class Target:
    def __init__(self, workdir: Path, name: str, args: list[str]) -> None:
        con, self.qmp_path = workdir / f"{name}-con.sock", workdir / f"{name}-qmp.sock"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sis.kernel", "-nic", "none", "-append", "quiet",
             "-serial", f"unix:{con}", "-qmp", f"unix:{self.qmp_path}", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.console = Console(connect_unix(str(con), 20))
        self.console.log_filter = SIS_LOG_LINE
        self.console.echo = True
        self.console.wait_prompt(timeout=30)
        self.qmp = QMPClient(name)

    def run(self, command: str) -> None:
        r = self.console.run(command, 30)
        if r.status != 0:
            raise SystemExit(f"{command!r} exited {r.status}: {r.output}")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self.console.close()


def echo_block(t: Target, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        t.run(COMMAND)
        out.append(time.perf_counter() - t0)
    return out


async def batch_block(t: Target, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        reply = await t.qmp.execute("x-sis-syscall", {"calls": BATCH, "timeout": 60})
        out.append(time.perf_counter() - t0)
        if len(reply["results"]) != len(BATCH) or reply["status"] != "running":
            raise SystemExit(f"batch failed: {reply['status']}")
    return out


async def measure(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="sis-bench-chaos-"))
    targets = {name: Target(workdir, name, extra) for name, (extra, _) in CONFIGS.items()}
    echo: dict[str, list[float]] = {name: [] for name in CONFIGS}
    batch: dict[str, list[float]] = {name: [] for name in CONFIGS}
    try:
        for name, t in targets.items():
            for command in CONFIGS[name][1]:
                t.run(command)
            await t.qmp.connect(str(t.qmp_path))
            echo_block(t, args.warmup)
            await batch_block(t, 2)
        for i in range(args.blocks):
            # Rotate the order of the configurations from block to block.
            names = list(CONFIGS)[i % len(CONFIGS) :] + list(CONFIGS)[: i % len(CONFIGS)]
            for name in names:
                echo[name] += echo_block(targets[name], max(1, args.echo // args.blocks))
                batch[name] += await batch_block(targets[name], max(1, args.batches // args.blocks))
        for t in targets.values():
            await t.qmp.disconnect()
    finally:
        for t in targets.values():
            t.close()

    def summary(samples: dict[str, list[float]]) -> dict:
        base = statistics.median(samples["no_feature"])
        return {
            name: {
                "median_ms": round(statistics.median(s) * 1000, 4),
                "p90_ms": round(sorted(s)[int(0.9 * len(s))] * 1000, 4),
                "ratio_to_no_feature": round(statistics.median(s) / base, 4),
                "samples": len(s),
            }
            for name, s in samples.items()
        }

    return {
        "benchmark": "chaos_overhead",
        "target": "sim (reference kernel process, -nic none, quiet)",
        "echo_round_trip": {"command": COMMAND, **summary(echo)},
        "syscall_batch": {"calls": len(BATCH), "syscall": "getpid", **summary(batch)},
        "blocks": args.blocks,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--echo", type=int, default=300, help="echo round trips per configuration")
    ap.add_argument("--batches", type=int, default=30, help="1,000-call batches per configuration")
    ap.add_argument("--blocks", type=int, default=6, help="alternations of the configurations")
    ap.add_argument("--warmup", type=int, default=20)
    args = ap.parse_args(argv)
    json.dump(asyncio.run(measure(args)), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""What metrics cost a running kernel: console round trip of `echo hi` with metrics on vs off.

Prints one JSON object. Boots one reference kernel and times `target.run("echo hi")` (the
console engine, status marker included) in alternating blocks with `metricsctl on` and
`metricsctl off` (context-switch timing is what `off` stops), so drift in the machine's load
hits both sides alike. Reports the median of each side and their ratio (on / off).
`--scrape` also keeps an exporter scraping the kernel over QMP during the `on` blocks, to show
what being watched costs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from sis.harness.metrics import MetricsExporter, Sampler
from sis.harness.session import Session

COMMAND = "echo hi"


def block(target, n: int) -> list[float]:  # noqa: ANN001 - a started target
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = target.run(COMMAND)
        out.append(time.perf_counter() - t0)
        if r.status != 0:
            raise SystemExit(f"{COMMAND!r} exited {r.status}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iterations", type=int, default=600, help="commands per side")
    ap.add_argument("--blocks", type=int, default=6, help="alternations of on and off")
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--scrape", action="store_true", help="scrape every 50 ms while on")
    args = ap.parse_args(argv)

    target = Session("sim", workdir=Path(tempfile.mkdtemp(prefix="sis-bench-overhead-")))
    exporter = None
    stop = threading.Event()
    try:
        target.start()
        block(target, args.warmup)
        if args.scrape:
            exporter = MetricsExporter([Sampler(target)], cache_seconds=0)
            exporter.start("127.0.0.1", 0)
        on: list[float] = []
        off: list[float] = []
        per_block = max(1, args.iterations // args.blocks)
        scrapes = 0

        def scraper() -> None:
            nonlocal scrapes
            assert exporter is not None
            while not stop.wait(0.05):
                with urllib.request.urlopen(exporter.url, timeout=10) as r:
                    r.read()
                scrapes += 1

        for _ in range(args.blocks):
            target.run("metricsctl on")
            thread = None
            if exporter is not None:
                stop.clear()
                thread = threading.Thread(target=scraper, daemon=True)
                thread.start()
            on += block(target, per_block)
            if thread is not None:
                stop.set()
                thread.join()
            target.run("metricsctl off")
            off += block(target, per_block)
        target.run("metricsctl on")
        timed_switches = Sampler(target).sample()["ctx_switch_count"]
    finally:
        stop.set()
        if exporter is not None:
            exporter.stop()
        target.kill()
    on_ms = statistics.median(on) * 1000
    off_ms = statistics.median(off) * 1000
    out = {
        "benchmark": "metrics_overhead",
        "command": COMMAND,
        "target": "sim (reference kernel process, default preset)",
        "iterations_per_side": len(on),
        "blocks": args.blocks,
        "median_on_ms": round(on_ms, 4),
        "median_off_ms": round(off_ms, 4),
        "ratio_on_over_off": round(on_ms / off_ms, 4),
        "p90_on_ms": round(sorted(on)[int(0.9 * len(on))] * 1000, 4),
        "p90_off_ms": round(sorted(off)[int(0.9 * len(off))] * 1000, 4),
        "scraping_while_on": bool(args.scrape),
        "scrapes": scrapes,
        "context_switches_timed": timed_switches,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

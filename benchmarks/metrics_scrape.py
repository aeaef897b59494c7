"""Exporter scrape latency with N reference-kernel targets, against baselines from the same run.

Prints one JSON object. Boots `--targets` reference kernels (default 10), serves them with
`MetricsExporter` on a loopback port with the cache off (every scrape samples every kernel
through QMP `x-sis-metrics`), and times `--scrapes` HTTP GETs of /metrics: p50 and p99.

Baselines, measured in the same run:
* `static_exporter`: the same exporter and HTTP path with N static fake targets holding a real
  snapshot — what rendering and HTTP cost without asking any kernel;
* `qmp_round_trip`: one direct QMP `x-sis-metrics` call to one kernel — what a single sample
  costs at the least;
* `cached_exporter`: the real targets with the default 0.5 s cache, as Prometheus would see it
  when several scrapers share one exporter.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sis.harness.metrics import MetricsExporter, Sampler, StaticSource
from sis.harness.session import Session


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    p99 = ms[min(len(ms) - 1, max(0, int(round(0.99 * len(ms))) - 1))]
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p99_ms": round(p99, 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "n": len(ms),
    }


def timed(fn: Callable[[], object], n: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return percentiles(out)


def scrape_figures(exporter: MetricsExporter, n: int, warmup: int) -> dict[str, float]:
    exporter.start("127.0.0.1", 0)
    url = exporter.url
    try:
        size = len(urllib.request.urlopen(url, timeout=30).read())

        def get() -> None:
            with urllib.request.urlopen(url, timeout=30) as r:
                r.read()

        return timed(get, n, warmup) | {"bytes": size}
    finally:
        exporter.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--scrapes", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--preset", default="lowmem", help="preset of the kernels (less memory)")
    args = ap.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="sis-bench-scrape-"))
    targets = [
        Session("sim", preset=args.preset, workdir=workdir, name=f"sis-{i}")
        for i in range(args.targets)
    ]
    try:
        booted = time.perf_counter()
        for t in targets:  # from this thread: a target dies with the thread that started it
            t.start()
        boot_s = time.perf_counter() - booted
        samplers = [Sampler(t, label=t.name) for t in targets]
        snapshot = samplers[0].sample()

        qmp = targets[0].qmp
        assert qmp is not None
        qmp_rt = timed(lambda: qmp.execute("x-sis-metrics"), args.scrapes, args.warmup)
        static = scrape_figures(
            MetricsExporter(
                [StaticSource(f"fake-{i}", args.preset, snapshot) for i in range(args.targets)],
                cache_seconds=0,
            ),
            args.scrapes,
            args.warmup,
        )
        live = scrape_figures(MetricsExporter(samplers, cache_seconds=0), args.scrapes, args.warmup)
        cached = scrape_figures(
            MetricsExporter([Sampler(t, label=t.name) for t in targets], cache_seconds=0.5),
            args.scrapes,
            args.warmup,
        )
        up = all(t.alive() for t in targets)
    finally:
        for t in targets:
            t.kill()
    out = {
        "benchmark": "metrics_scrape",
        "targets": args.targets,
        "preset": args.preset,
        "scrapes": args.scrapes,
        "source": "qmp x-sis-metrics",
        "exporter": live,
        "baseline_static_exporter": static,
        "baseline_qmp_round_trip": qmp_rt,
        "cached_exporter": cached,
        "exporter_over_static_p50": round(live["p50_ms"] / static["p50_ms"], 2),
        "all_targets_alive": up,
        "boot_all_s": round(boot_s, 2),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

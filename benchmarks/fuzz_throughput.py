"""Fuzzing figures on the reference kernel: syscalls per second of the fuzz loop with coverage
off and on (x-sis-kcov), against the baseline of one call per QMP round trip measured in the
same run; and, with --find, the time to find each planted fuzz bug (median of 5 seeds)."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sis.harness.commands.fuzz import run_fuzz
from sis.harness.fuzz.fuzzer import FuzzConfig
from sis.harness.session import open_session

SECONDS = 30.0
SEEDS = 5
FIND_CAP_S = 300.0


def loop_rate(tmp: Path, cover: bool) -> tuple[float, float]:
    run = run_fuzz(FuzzConfig(duration=SECONDS, seed=1, out=tmp / f"cover-{cover}", cover=cover))
    return run.stats.calls / max(run.stats.exec_seconds, 1e-9), run.stats.rate()


def round_trip_rate(tmp: Path) -> float:
    with open_session("sis", workdir=tmp / "rtt", name="rtt") as s:
        assert s.qmp is not None
        started, n = time.perf_counter(), 300
        for _ in range(n):
            s.qmp.execute("x-sis-syscall", {"calls": [{"nr": 172}]})
        return n / (time.perf_counter() - started)


def time_to_find(tmp: Path, bug: str) -> list[float | None]:
    found = []
    for seed in range(SEEDS):
        cfg = FuzzConfig(duration=FIND_CAP_S, seed=seed, out=tmp / f"{bug}-{seed}",
                         append=f"sis.bug={bug}", stop_on_crash=True)  # fmt: skip
        run = run_fuzz(cfg)
        rec = next(iter(run.crashes.values()), None)
        found.append(round(rec.found_after, 1) if rec else None)
    return found


def main() -> None:
    out: dict = {"benchmark": "fuzz_throughput", "seconds_per_run": SECONDS}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        off_exec, off_wall = loop_rate(tmp, False)
        on_exec, on_wall = loop_rate(tmp, True)
        out |= {
            "calls_per_s_cover_off": round(off_wall),
            "calls_per_s_cover_on": round(on_wall),
            "executor_calls_per_s_cover_off": round(off_exec),
            "executor_calls_per_s_cover_on": round(on_exec),
            "cover_cost_ratio": round(off_wall / max(on_wall, 1e-9), 2),
            "baseline": "one syscall per QMP round trip",
            "baseline_calls_per_s": round(round_trip_rate(tmp)),
        }
        if "--find" in sys.argv:
            for bug in ("null_deref_ioctl", "pwrite_overflow"):
                times = time_to_find(tmp, bug)
                hits = [t for t in times if t is not None]
                out[f"{bug}_seconds_to_find"] = times
                out[f"{bug}_median_s"] = statistics.median(hits) if hits else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()

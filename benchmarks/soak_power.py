"""Soak leak verdicts on windows of long recorded soaks: how often a clean kernel is called
leaking (false alarms), how often a leaking one is caught (power), and how often the judge
says it cannot tell (SKIP), for 60-second and 10-minute windows.

Prints one JSON object. The recordings are the memory series of whole soaks (`sis soak`
samples, reduced to the memory metrics and counters the judge reads), kept gzipped in
benchmarks/data/soak/ with how they were made; `--record` makes new ones (QEMU under TCG for
linux-busybox, minutes each). Clean recordings: the `churn` workload on sis and on
linux-busybox. Positive controls: sis with `sis.bug=leak_on_spawn` and linux-busybox with the
`tmpfs-grow` workload.

From each recording, windows of each length are cut at every `--step` of their length
(overlapping, so neighbours are not independent trials: the counts say how much of a run a
short soak can land in, not independent evidence), plus the one window that starts where
the soak started (where the warm-up is). Each window is judged as a soak of that length
(`sis.harness.soak.judge.judge`, default settings) and counted by its leak verdict: FAIL
(some memory series judged leaking), SKIP (some series could not be told from warm-up or
noise, none leaking) or PASS.

Power against leaks of known size: every clean window is judged again with a steady leak of
each `--inject` rate (MiB/h) added to the series the target leaks into (the kernel heap on sis,
memory in use on Linux), so the leak sits in real noise and a real warm-up; `injected_leaks`
gives the share of windows caught at each rate.

Baseline, in the same run: the judge as it was before the warm-up was found in the data (a
fixed 10% of each window discarded, at least two samples, no SKIP for a growth that cannot
be told from warm-up, Sen's interval without the autocorrelation correction), on the same
windows.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sis.harness.soak.judge import FAIL, MEMORY, SKIP, judge, values

DATA = Path(__file__).resolve().parent / "data" / "soak"
LENGTHS = (60.0, 600.0)
#: What a recording keeps of each sample: the memory series, their capacities, the counters.
KEEP = tuple(sorted({k for pair in MEMORY for k in pair}))
#: The recordings --record makes: (name, target, workload, append, minutes, interval).
RECORDINGS = (
    ("sis-clean-25min", "sim", "churn", "", 25, 2.0),
    ("sis-clean-10min-1s", "sim", "churn", "", 10, 1.0),
    ("sis-leak_on_spawn-10min-1s", "sim", "churn", "sis.bug=leak_on_spawn", 10, 1.0),
    ("linux-busybox-clean-25min", "linux-busybox", "churn", "", 25, 2.0),
    ("linux-busybox-clean-10min", "linux-busybox", "churn", "", 10, 2.0),
    ("linux-busybox-tmpfs-grow-10min", "linux-busybox", "tmpfs-grow", "", 10, 2.0),
)


def reduce(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples of a soak with only what the leak judge reads."""
    out = []
    for r in records:
        if r.get("kind") != "sample":
            continue
        metrics = {k: v for k, v in r.get("metrics", {}).items() if k in KEEP}
        counters = {k: r.get("counters", {}).get(k, 0) for k in ("errors", "panics")}
        out.append({"kind": "sample", "t": r["t"], "segment": r.get("segment", 0),
                    "metrics": metrics, "counters": counters})  # fmt: skip
    return out


def record(name: str, target: str, workload: str, append: str, minutes: float, interval: float,
           out: Path) -> Path:  # fmt: skip
    """Soak one target and keep its reduced samples as DATA/NAME.jsonl.gz."""
    from sis.harness.session import Session
    from sis.harness.soak.run import SoakConfig, run_soak

    with tempfile.TemporaryDirectory() as tmp:
        session = Session(target, workdir=Path(tmp) / "t",
                          overrides={"append": append} if append else None)  # fmt: skip
        session.start()
        try:
            config = SoakConfig(workload=workload, interval=interval, duration=minutes * 60)
            records = run_soak(session, config, Path(tmp) / "soak").records
        finally:
            session.poweroff()
    return save(out / f"{name}.jsonl.gz", records, target=target, workload=workload,
                append=append, interval=interval, positive=_positive(workload, append))  # fmt: skip


def keep(name: str, samples_jsonl: Path, out: Path) -> Path:
    """Keep a soak already run (`sis soak`'s samples.jsonl) as a recording."""
    from sis.harness.soak.sampling import read_records

    records = read_records(samples_jsonl)
    start = next((r for r in records if r["kind"] == "start"), {})
    config = start.get("config", {})
    workload, append = config.get("workload", ""), config.get("append", "")
    return save(out / f"{name}.jsonl.gz", records, target=start.get("target", ""),
                workload=workload, append=append, interval=config.get("interval"),
                positive=_positive(workload, append))  # fmt: skip


def _positive(workload: str, append: str) -> bool:
    """Whether a recording is a positive control: a workload or a kernel that leaks."""
    return workload == "tmpfs-grow" or "leak" in append


def save(path: Path, records: list[dict[str, Any]], **about: Any) -> Path:
    samples = reduce(records)
    head = {"kind": "recording", "samples": len(samples),
            "seconds": round(samples[-1]["t"] - samples[0]["t"], 1) if samples else 0,
            "recorded": time.strftime("%Y-%m-%d"), **about}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for r in (head, *samples):
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    return path


def load(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[0], rows[1:]


def windows(samples: list[dict[str, Any]], length: float, step: float) -> list[list[dict]]:
    """The samples of every window of `length` seconds starting at each `step` (the first at
    the soak's start), within one segment (a boot)."""
    t = np.array([s["t"] for s in samples])
    out = []
    start = t[0]
    while start + length <= t[-1] + 1e-6:
        idx = np.nonzero((t >= start) & (t <= start + length + 1e-6))[0]
        chosen = [samples[i] for i in idx]
        if len({s["segment"] for s in chosen}) == 1:
            out.append(chosen)
        start += step
    return out


def verdict(samples: list[dict[str, Any]]) -> str:
    """The leak verdict of a window judged as a soak: FAIL, SKIP or PASS."""
    rules = [r for r in judge(samples).rules if r.name.startswith("no leak in ")]
    got = {r.verdict for r in rules}
    return FAIL if FAIL in got else SKIP if SKIP in got else "PASS"


def baseline_verdict(samples: list[dict[str, Any]]) -> str:
    """The judge before: a fixed 10% discard, plain Sen interval, no SKIP for warm-up."""
    import pymannkendall
    from scipy.stats import theilslopes

    leaking = False
    for metric, _ in MEMORY:
        t, y, _ = values(samples, metric)
        if t.size == 0:
            continue
        cut = t[0] + 0.1 * (t[-1] - t[0])
        start = max(min(2, t.size), int(np.searchsorted(t, cut, side="left")))
        ts, ys = t[start:], y[start:]
        if ts.size < 8 or ts[-1] <= ts[0]:
            continue
        hours = (ts - ts.mean()) / 3600
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            mk = pymannkendall.hamed_rao_modification_test(ys, alpha=0.05)
            fit = theilslopes(ys / 2**20, hours, alpha=0.95)
            windows_n = min(10, ts.size // 4)
            env = 0.0
            if windows_n >= 3:
                parts = np.array_split(np.arange(ts.size), windows_n)
                mins = [p[int(np.argmin(ys[p]))] for p in parts]
                env = float(theilslopes(ys[mins] / 2**20, (ts[mins] - ts.mean()) / 3600).slope)
        trend = mk.trend == "increasing" and mk.p < 0.05
        leaking |= bool(trend and fit.low_slope > 1.0 and windows_n >= 3 and env >= 1.0)
    return FAIL if leaking else "PASS"


def inject(window: list[dict[str, Any]], rate: float) -> list[dict[str, Any]]:
    """The window with a leak of `rate` MiB/h added, from its first sample on, to the memory
    series the target leaks into: the kernel heap on sis, memory in use on Linux (its slab
    and scatter stay as recorded)."""
    t0 = window[0]["t"]
    out = []
    for r in window:
        metrics = dict(r["metrics"])
        key = "heap_current_bytes" if "heap_current_bytes" in metrics else "mem_used_bytes"
        if key in metrics:
            metrics[key] = metrics[key] + rate * 2**20 / 3600 * (r["t"] - t0)
        out.append({**r, "metrics": metrics})
    return out


def tally(verdicts: list[str]) -> dict[str, Any]:
    n = len(verdicts)
    out: dict[str, Any] = {"windows": n}
    for v in (FAIL, SKIP, "PASS"):
        out[v.lower()] = verdicts.count(v)
    out["fail_rate"] = round(verdicts.count(FAIL) / n, 3) if n else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="directory of *.jsonl.gz recordings")
    ap.add_argument("--record", action="store_true", help="record new soaks into --data first")
    ap.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="NAME=SAMPLES_JSONL",
        help="keep a soak already run (its samples.jsonl) as recording NAME in --data",
    )
    ap.add_argument(
        "--inject",
        type=float,
        nargs="*",
        default=[2.0, 8.0, 30.0, 120.0],
        help="leak rates (MiB/h) added to clean windows to measure power",
    )
    ap.add_argument("--step", type=float, default=1 / 3, help="window step, a share of its length")
    args = ap.parse_args()
    if args.record:
        for spec in RECORDINGS:
            record(*spec, out=args.data)
    for spec in args.keep:
        name, _, src = spec.partition("=")
        keep(name, Path(src), args.data)
    paths = sorted(args.data.glob("*.jsonl.gz"))
    result: dict[str, Any] = {"benchmark": "soak_power", "data": str(args.data),
                              "window_step_share": round(args.step, 3), "recordings": {}}  # fmt: skip
    if not paths:
        result["skipped"] = f"no recordings in {args.data} (make them with --record)"
        print(json.dumps(result))
        return
    totals: dict[str, dict[str, list[str]]] = {}
    started = time.perf_counter()
    for path in paths:
        about, samples = load(path)
        name = path.name.removesuffix(".jsonl.gz")
        kind = "positive" if about.get("positive") else "clean"
        entry: dict[str, Any] = {"kind": kind, **{k: about.get(k) for k in (
            "target", "workload", "append", "interval", "samples", "seconds", "recorded")}}  # fmt: skip
        for length in LENGTHS:
            cut = windows(samples, length, max(length * args.step, 1.0))
            if not cut:
                continue
            now = [verdict(w) for w in cut]
            before = [baseline_verdict(w) for w in cut]
            label = f"{length:.0f}s"
            entry[label] = {"judge": tally(now), "baseline": tally(before),
                            "from_the_start": {"judge": now[0], "baseline": before[0]}}  # fmt: skip
            for who, vs in (("judge", now), ("baseline", before)):
                totals.setdefault(f"{kind}/{label}/{who}", {}).setdefault("v", []).extend(vs)
        result["recordings"][name] = entry
    summary: dict[str, Any] = {}
    for key, got in sorted(totals.items()):
        kind, label, who = key.split("/")
        t = tally(got["v"])
        rate = "false_alarm_rate" if kind == "clean" else "detection_rate"
        summary.setdefault(f"{kind}_{label}", {})[who] = {
            rate: t["fail_rate"], "skip_rate": round(t["skip"] / t["windows"], 3),
            "windows": t["windows"],
        }  # fmt: skip
    result["summary"] = summary
    # Power against leaks of known rates added to every clean window (real noise, real warm-up).
    injected: dict[str, Any] = {}
    for path in paths:
        about, samples = load(path)
        if about.get("positive"):
            continue
        target = "sis" if "heap_current_bytes" in samples[0]["metrics"] else "linux"
        for length in LENGTHS:
            cut = windows(samples, length, max(length * args.step, 1.0))
            for rate in args.inject:
                got = [verdict(inject(w, rate)) for w in cut]
                key = f"{target}_{length:.0f}s"
                injected.setdefault(key, {}).setdefault(f"{rate:g}", []).extend(got)
    result["injected_leaks"] = {
        key: {rate: {"detection_rate": tally(v)["fail_rate"],
                     "skip_rate": round(v.count(SKIP) / len(v), 3), "windows": len(v)}
              for rate, v in by_rate.items()}
        for key, by_rate in injected.items()
    }  # fmt: skip
    result["judging_s"] = round(time.perf_counter() - started, 1)
    result["load_average_1min"] = round(os.getloadavg()[0], 2)
    result["python"] = platform.python_version()
    print(json.dumps(result))


if __name__ == "__main__":
    np.seterr(all="ignore")  # degenerate (flat) windows are expected, not news
    main()

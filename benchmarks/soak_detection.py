"""Leak detection power and false-alarm rate of the soak judge on real kernel processes:
N short soaks of the clean reference kernel and N of `leak_on_spawn`, each with its own seed.

Prints one JSON object: how often each kernel was judged leaking, and how often the 95%
interval of the leaking kernel's slope held the true rate (the placed bytes per spawn x the spawn rate
the lab counted in the same run)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from scipy.stats import theilslopes

from sis.contract.bugs import placement
from sis.harness.session import Session
from sis.harness.soak.judge import judge, values
from sis.harness.soak.run import SoakConfig, run_soak

MIB_PER_H = 3600 / 2**20
# leak_on_spawn as placed without sis.bug_seed: its bytes per spawn, on average.
LEAK_BYTES_PER_SPAWN = placement().leak_bytes / placement().leak_period


def one(tmp: Path, append: str, seed: int, seconds: float, interval: float) -> dict:
    session = Session(
        "sim",
        workdir=tmp / "t",
        name=f"sim-{seed}",
        overrides={"append": append} if append else None,
    )
    session.start()
    try:
        config = SoakConfig(interval=interval, duration=seconds, seed=seed)
        records = run_soak(session, config, tmp / f"soak-{append or 'clean'}-{seed}").records
    finally:
        session.poweroff()
    leak = judge(records).leaks[0]
    t, spawns, _ = values(records, "spawns")
    after = t >= leak.warmup_until
    true = theilslopes(spawns[after], t[after]).slope * LEAK_BYTES_PER_SPAWN * MIB_PER_H
    return {"leaking": bool(leak.leaking), "slope": leak.slope, "low": leak.low,
            "high": leak.high, "true": float(true) if append else 0.0}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--interval", type=float, default=0.5)
    args = ap.parse_args()
    out: dict = {"benchmark": "soak_detection", "runs": args.runs, "seconds": args.seconds,
                 "interval": args.interval}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for label, append in (("clean", ""), ("leak_on_spawn", "sis.bug=leak_on_spawn")):
            runs = [one(Path(tmp), append, seed, args.seconds, args.interval)
                    for seed in range(1, args.runs + 1)]  # fmt: skip
            judged = int(sum(bool(r["leaking"]) for r in runs))
            out[label] = {"judged_leaking": judged, "rate": round(judged / args.runs, 3)}
            if append:
                held = int(sum(bool(r["low"] <= r["true"] <= r["high"]) for r in runs))
                out[label]["interval_holds_true_rate"] = held
                out[label]["median_slope_mib_h"] = round(
                    sorted(r["slope"] for r in runs)[len(runs) // 2], 1
                )
                out[label]["median_true_mib_h"] = round(
                    sorted(r["true"] for r in runs)[len(runs) // 2], 1
                )
    out["false_alarm_rate"] = out["clean"]["rate"]
    out["power"] = out["leak_on_spawn"]["rate"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""What sampling costs a soak: workload throughput (steps per second of the `churn` workload,
pace removed) with a sample every second vs no sampling, on one reference kernel.

Prints one JSON object. Blocks of each side alternate, so drift in the machine's load hits
both alike; the ratio is sampled / unsampled (1.0 = free)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
from pathlib import Path
from unittest import mock

from sis.harness.session import Session
from sis.harness.soak import workload as workload_module
from sis.harness.soak.run import SoakConfig, run_soak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    unpaced = dataclasses.replace(workload_module.load_workload("churn"), pace=0.0)
    rates: dict[str, list[float]] = {"sampled_1s": [], "unsampled": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch("sis.harness.soak.run.load_workload", lambda name: unpaced),
    ):
        session = Session("sim", workdir=Path(tmp) / "t")
        session.start()
        try:
            for b in range(args.blocks):
                for side, sample in (("sampled_1s", True), ("unsampled", False)):
                    config = SoakConfig(interval=1.0, duration=args.seconds, seed=b)
                    out = run_soak(session, config, Path(tmp) / f"{side}{b}", sample=sample)
                    rates[side].append(out.counters["steps"] / args.seconds)
        finally:
            session.poweroff()
    sampled, unsampled = (statistics.median(rates[k]) for k in ("sampled_1s", "unsampled"))
    print(
        json.dumps(
            {
                "benchmark": "soak_overhead",
                "workload": "churn (no pace)",
                "steps_per_s_sampled_1s": round(sampled, 1),
                "steps_per_s_unsampled": round(unsampled, 1),
                "ratio": round(sampled / unsampled, 3) if unsampled else None,
                "blocks": rates,
            }
        )
    )


if __name__ == "__main__":
    main()

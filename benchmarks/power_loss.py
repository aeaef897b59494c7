"""What the chaos disk's volatile write cache costs a QEMU guest's chaos run: the time spent
keeping the disk at each boot's start (a sparse copy) and rebuilding it at each power loss
(read the log, check it accounts for every write, replay up to the last flush), against the
baseline measured in the same run: the boots those power losses were followed by (seconds to
the shell prompt).

Runs `power_cut`, `disk_fail` and `slow_io` on linux-busybox through the one door, timing the
cache's two hooks. Prints one JSON object.   python benchmarks/power_loss.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from sis.harness.chaos import volatile
from sis.harness.jobs import Job
from sis.harness.plan import Plan, run_plan

EXPERIMENTS = ["power_cut", "disk_fail", "slow_io"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    timings: dict[str, list[float]] = {"booting": [], "power_lost": [], "kept": []}
    original_booting = volatile.CachedDisk.booting
    original_stopped = volatile.CachedDisk.stopped

    def booting(self: volatile.CachedDisk) -> None:
        t = time.perf_counter()
        original_booting(self)
        timings["booting"].append(time.perf_counter() - t)

    def stopped(self: volatile.CachedDisk, power_lost: bool) -> str:
        t = time.perf_counter()
        what = original_stopped(self, power_lost)
        timings["power_lost" if power_lost and what else "kept"].append(time.perf_counter() - t)
        return what

    volatile.CachedDisk.booting = booting  # type: ignore[method-assign]
    volatile.CachedDisk.stopped = stopped  # type: ignore[method-assign]
    boots: list[float] = []
    verdicts: list[str] = []
    dropped = 0
    with tempfile.TemporaryDirectory(prefix="sis-bench-") as tmp:
        for r in range(args.rounds):
            out = Path(tmp) / f"round{r}"
            job = Job(
                target="linux-busybox", preset="default", target_name="linux-busybox",
                phases=("chaos",), workdir=str(out / "targets"),
                options={"chaos": {"experiments": EXPERIMENTS, "seed": r}},
            )  # fmt: skip
            verdicts += [f"{x.test}: {x.verdict}" for x in run_plan(Plan("bench", [[job]], out, 1))]
            summary = json.loads((out / "jobs.jsonl").read_text().splitlines()[-1])
            boots += [b["seconds_to_shell"] for b in summary["boots"] if b["seconds_to_shell"]]
            for journal in (out / "chaos").glob("*.journal.json"):
                for note in json.loads(journal.read_text())["notes"]:
                    if "volatile write cache lost" in note:
                        dropped += int(note.split("lost ")[1].split(" of ")[0])

    def median_ms(xs: list[float]) -> float | None:
        return round(statistics.median(xs) * 1000, 1) if xs else None

    boot_ms = median_ms(boots)
    loss_ms = median_ms(timings["power_lost"])
    print(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "accel": "tcg (QEMU)",
                "experiments": EXPERIMENTS,
                "rounds": args.rounds,
                "verdicts": verdicts,
                "power_losses": len(timings["power_lost"]),
                "writes_dropped": dropped,
                "median_ms": {
                    "keep_disk_at_boot": median_ms(timings["booting"]),
                    "rebuild_at_power_loss": loss_ms,
                    "baseline_boot_to_shell": boot_ms,
                },
                "power_loss_to_boot_ratio": round(loss_ms / boot_ms, 3)
                if loss_ms and boot_ms
                else None,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

"""Wall time of `sis check --target linux-busybox-arm64 --preset all` and the share of it spent
in teardown (goal: under 5%).

Prints one JSON object. Teardown per job is the time from the end of the last command the job
ran on the guest (`results.jsonl`: started + duration) to the Session's `off` state
(`OUT/targets/<name>.session.jsonl`), i.e. powering the guest off until QEMU is gone. The
baseline, measured in the same run, is the boot time of the same jobs (from the same journals):
the fixed cost every job pays anyway.

    python benchmarks/check_arm64_all_presets.py [--target linux-busybox-arm64] [-j 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", default="linux-busybox-arm64")
    parser.add_argument("-j", "--jobs", type=int, default=1)
    args = parser.parse_args()

    build = subprocess.run(
        [sys.executable, "-m", "sis.cli", "image", "build", "linux-busybox", "--arch",
         "riscv64" if "riscv64" in args.target else "arm64" if "arm64" in args.target else "amd64"],
        capture_output=True, text=True,
    )  # fmt: skip
    if build.returncode != 0:
        print(json.dumps({"benchmark": "check_all_presets_arch", "error": build.stderr.strip()}))
        sys.exit(1)

    with tempfile.TemporaryDirectory(prefix="sis-bench-") as tmp:
        out = Path(tmp)
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "sis.cli", "check", "--target", args.target,
             "--preset", "all", "-j", str(args.jobs), "--out", str(out)],
            capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - started

        results = _jsonl(out / "results.jsonl")
        per_job = []
        for journal in sorted((out / "targets").glob("*.session.jsonl")):
            events = _jsonl(journal)
            off = [float(e["t"]) for e in events if e.get("state") == "off"]  # type: ignore[arg-type]
            boot = [float(e["t"]) for e in events if e.get("state") == "booting"]  # type: ignore[arg-type]
            shell = [float(e["t"]) for e in events if e.get("state") == "shell"]  # type: ignore[arg-type]
            if not off or not boot or not shell:
                continue
            prefix = journal.name.removesuffix(".session.jsonl")
            # Clamped at `off`: a result's `started` is not always exact to the ms.
            mine = [
                min(float(r["started"]) + float(r["duration_s"]), off[-1])  # type: ignore[arg-type]
                for r in results
                if f"{r['target']}-{r['preset']}" == prefix
                and r.get("steps")
                and float(r["started"]) < off[-1]  # type: ignore[arg-type]
            ]
            last_command = max(mine, default=shell[-1])
            per_job.append(
                {
                    "job": prefix,
                    "boot_s": round(shell[0] - boot[0], 3),
                    "teardown_s": round(off[-1] - last_command, 3),
                }
            )

    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[str(r["verdict"])] = verdicts.get(str(r["verdict"]), 0) + 1
    teardown = sum(j["teardown_s"] for j in per_job)  # type: ignore[misc]
    boot = sum(j["boot_s"] for j in per_job)  # type: ignore[misc]
    share = teardown / wall
    print(
        json.dumps(
            {
                "benchmark": "check_all_presets_arch",
                "target": args.target,
                "jobs": args.jobs,
                "exit": run.returncode,
                "verdicts": verdicts,
                "wall_s": round(wall, 2),
                "teardown_s": round(teardown, 3),
                "teardown_share": round(share, 4),
                "baseline": "boot to prompt of the same jobs (same run)",
                "boot_s": round(boot, 3),
                "per_job": per_job,
                "goal_teardown_share": 0.05,
                "meets_goal": share < 0.05 and run.returncode == 0,
            }
        )
    )


if __name__ == "__main__":
    main()

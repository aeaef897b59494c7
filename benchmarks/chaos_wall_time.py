"""Wall time of the full built-in chaos set (`sis chaos run`) on the reference kernel and, when
QEMU and the image are there, on linux-busybox; against a baseline measured in the same run:
one plain boot-to-prompt and power-off of the same target through a Session."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from sis.harness.commands.chaos import plan_chaos
from sis.harness.plan import run_plan
from sis.harness.session import Session


def boot_once(target: str, workdir: Path) -> float:
    t = time.monotonic()
    s = Session(target, workdir=workdir)
    s.start()
    s.poweroff()
    return time.monotonic() - t


def chaos_set(target: str, out: Path) -> tuple[float, dict[str, int]]:
    t = time.monotonic()
    results = run_plan(plan_chaos([], [target], "default", 0, out))
    verdicts: dict[str, int] = {}
    for r in results:
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
    return time.monotonic() - t, verdicts


def main() -> None:
    figures = {}
    targets = ["sis"]
    if shutil.which("qemu-system-x86_64") and "--sis-only" not in sys.argv:
        targets.append("linux-busybox")
    with tempfile.TemporaryDirectory(prefix="sis-bench-chaos-") as tmp:
        for target in targets:
            boot = boot_once(target, Path(tmp) / f"boot-{target}")
            wall, verdicts = chaos_set(target, Path(tmp) / f"chaos-{target}")
            figures[target] = {
                "chaos_set_wall_s": round(wall, 2),
                "baseline_boot_and_poweroff_s": round(boot, 2),
                "ratio_to_one_boot": round(wall / boot, 1),
                "verdicts": verdicts,
            }
    print(json.dumps({"benchmark": "chaos_wall_time", **figures}))


if __name__ == "__main__":
    main()

"""Bringing a crashed linux-busybox guest back: resume the just-booted snapshot vs reboot.

Prints one JSON object. Both ways run in the same session, interleaved, after a real panic
(`echo c > /proc/sysrq-trigger`), timed from the crash to a shell that answers `echo`, the way
`sis check` recovers. The goal is a reset at least 10x faster than a cold reboot.

    python benchmarks/reset_snapshot.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sis.harness.session import Session, TargetDied


def crash_and_recover(session: Session, *, snapshot: bool) -> float:
    try:
        session.run("echo c > /proc/sysrq-trigger")
    except TargetDied:
        pass
    # Without the snapshot the Session reboots, as a profile with `reset: reboot` does (and
    # takes no new snapshot on the way, which would bill the reboot for it).
    session.snapshot = snapshot
    session.profile.reset = "snapshot" if snapshot else "reboot"
    started = time.monotonic()
    session.ensure_shell()
    assert session.run("echo back").output == "back"
    elapsed = time.monotonic() - started
    session.profile.reset = "snapshot"
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if shutil.which("qemu-system-x86_64") is None:
        print(json.dumps({"skipped": "qemu-system-x86_64 not installed"}))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="sis-bench-reset-"))
    session = Session("linux-busybox", workdir=workdir)
    session.start()
    try:
        snapshot, reboot = [], []
        for _ in range(args.runs):
            snapshot.append(crash_and_recover(session, snapshot=True))
            reboot.append(crash_and_recover(session, snapshot=False))
    finally:
        session.poweroff()
        shutil.rmtree(workdir, ignore_errors=True)
    med_snap, med_boot = statistics.median(snapshot), statistics.median(reboot)
    print(
        json.dumps(
            {
                "benchmark": "reset_snapshot",
                "target": "linux-busybox",
                "runs": args.runs,
                "snapshot_reset_s_median": round(med_snap, 3),
                "cold_reboot_s_median": round(med_boot, 3),
                "speedup": round(med_boot / med_snap, 1),
                "goal_speedup": 10,
                "snapshot_reset_s": [round(x, 3) for x in snapshot],
                "cold_reboot_s": [round(x, 3) for x in reboot],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

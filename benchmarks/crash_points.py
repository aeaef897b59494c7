"""Crash points checked per minute, and what logging the disk costs the guest's writes.

1. `crash_points` on linux-busybox (TCG) and on the reference kernel, at the experiment's
   built-in bounds: points checked per minute of host checking (replay onto a copy, journal
   replay, fsck, contents). Baseline, same run: the same checker on the unreplayed disk as
   booted, as many times (the floor a point costs when nothing is replayed).
2. The linux-busybox guest's write throughput on its ext4 disk (`dd ... conv=fsync` of 8 MiB,
   and the chaos workload's acknowledged files per second), with the disk attached plainly
   (the baseline) and through QEMU's blklogwrites, both machines up at once and measured in
   alternating rounds so the host's load hits both alike.

Prints one JSON object.   python benchmarks/crash_points.py [--rounds 6] [--skip-linux]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from sis.harness.chaos.crashpoints import sparse_copy
from sis.harness.chaos.crashrun import CrashPointOptions, logged_disk
from sis.harness.chaos.experiment import load_experiment
from sis.harness.chaos.hostcheck import Ext4Checker, SisDiskChecker
from sis.harness.chaos.workload import Ext4Files
from sis.harness.commands.chaos import crash_points_of
from sis.harness.session import Session

DD_MIB = 8


def crash_point_rate(target: str, out: Path) -> dict[str, object]:
    bounds = load_experiment("crash_points").crash_points or {}
    options = CrashPointOptions(
        files=4, max_prefixes=bounds.get("max_prefixes"), reorders=bounds.get("reorders") or 0
    )
    t = time.monotonic()
    r = crash_points_of(target, seed=1, out=out, options=options)
    wall = time.monotonic() - t
    report = json.loads(Path(r.artifacts["crash_points"]).read_text())
    points = len(report["points"])
    if not points or not report["check_seconds"]:
        return {"verdict": r.verdict, "reason": r.reason}
    checker = SisDiskChecker() if target == "sis" else Ext4Checker("/mnt")
    base = next(out.rglob("*.crash_points.d")) / "base.img"  # under OUT/chaos
    t = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(points):
            copy = Path(tmp) / "x.img"
            sparse_copy(base, copy)
            checker.check(copy, ["/mnt/chaos/f0" if target != "sis" else "/chaos/f0"])
    baseline = time.monotonic() - t
    if isinstance(checker, SisDiskChecker):
        checker.close()
    return {
        "verdict": r.verdict,
        "points": points,
        "flush_points": report["flushes"] + 1,
        "log_entries": report["log_entries"],
        "check_seconds": round(report["check_seconds"], 2),
        "points_per_minute": round(points * 60 / report["check_seconds"], 1),
        "baseline_unreplayed_checks_per_minute": round(points * 60 / baseline, 1),
        "workload_seconds": round(report["workload_seconds"], 2),
        "wall_seconds": round(wall, 1),
    }


def write_throughput(rounds: int, out: Path) -> dict[str, object]:
    sessions: dict[str, Session] = {}
    out.mkdir(parents=True, exist_ok=True)
    log = out / "bench-write.log"
    log.touch()
    plain = Session("linux-busybox", workdir=out / "plain", name="plain")
    overrides = logged_disk(plain.profile, "default", log) or {}
    sessions["plain"] = plain
    sessions["blklogwrites"] = Session(
        "linux-busybox", workdir=out / "logged", name="logged", overrides=overrides
    )
    dd: dict[str, list[float]] = {k: [] for k in sessions}
    files: dict[str, list[float]] = {k: [] for k in sessions}
    try:
        workloads = {}
        for name, s in sessions.items():
            s.start()
            workloads[name] = Ext4Files(s)
            workloads[name].prepare()
        for i in range(rounds + 1):  # round 0 warms both guests up and is not counted
            order = list(sessions) if i % 2 == 0 else list(reversed(sessions))
            for name in order:
                s = sessions[name]
                t = time.monotonic()
                r = s.run(
                    f"dd if=/dev/zero of=/mnt/bench bs=4096 count={DD_MIB * 256} conv=fsync "
                    "2>/dev/null && rm /mnt/bench && sync /mnt",
                    timeout=300,
                )
                if r.status != 0:
                    raise RuntimeError(f"dd failed on {name}: {r.output}")
                if i:
                    dd[name].append(DD_MIB / (time.monotonic() - t))
                t = time.monotonic()
                writes = workloads[name].write(f"bench {i}", 8)
                acked = sum(1 for w in writes if w.acked)
                if i:
                    files[name].append(acked / (time.monotonic() - t))
    finally:
        for s in sessions.values():
            s.kill()
    med = {k: statistics.median(v) for k, v in dd.items()}
    fmed = {k: statistics.median(v) for k, v in files.items()}
    return {
        "dd_conv_fsync_mib_per_s": {k: round(v, 2) for k, v in med.items()},
        "workload_files_per_s": {k: round(v, 2) for k, v in fmed.items()},
        "dd_ratio_logged_to_plain": round(med["blklogwrites"] / med["plain"], 3),
        "files_ratio_logged_to_plain": round(fmed["blklogwrites"] / fmed["plain"], 3),
        # The best round of each: the least disturbed by the host's other load.
        "dd_best_ratio_logged_to_plain": round(max(dd["blklogwrites"]) / max(dd["plain"]), 3),
        "rounds": rounds,
        "spread_dd_mib_per_s": {k: [round(min(v), 2), round(max(v), 2)] for k, v in dd.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--skip-linux", action="store_true")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="sis-bench-crash-"))
    result: dict[str, object] = {
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "accel": "tcg (QEMU)",
    }
    try:
        result["sis"] = crash_point_rate("sis", out / "sis")
        if not args.skip_linux:
            result["linux_busybox"] = crash_point_rate("linux-busybox", out / "linux")
            result["write_log_overhead"] = write_throughput(args.rounds, out / "tp")
    finally:
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

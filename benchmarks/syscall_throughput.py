"""Syscalls per second through QMP `x-sis-syscall` batches: the null syscall (getpid) and a
4 KiB write to a file, each as a batch of 1,000 calls, median of 5 batches. Baseline in the same
run: the same batch size of empty QMP round trips (`query-status`), so the figure says what the
kernel adds beyond the monitor."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from sis.harness.qmp import QMPMonitor

BATCH = 1000
ROUNDS = 5
AT_FDCWD = -100


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        qmp_path = os.path.join(tmp, "qmp.sock")
        kernel = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sis.kernel",
                "-serial",
                "null",
                "-nic",
                "none",
                "-qmp",
                f"unix:{qmp_path}",
                "-append",
                "quiet",
            ]
        )
        mon = QMPMonitor("bench")
        try:
            mon.connect(qmp_path, 10)
            time.sleep(0.3)

            def rate(calls: list[dict]) -> float:
                times = []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    out = mon.execute("x-sis-syscall", {"calls": calls, "timeout": 60}, timeout=90)
                    times.append(time.perf_counter() - started)
                    assert all(r["ret"] >= 0 for r in out["results"]), out["results"][:3]
                return len(calls) / statistics.median(times)

            getpid = rate([{"nr": 172}] * BATCH)
            path = b"/bench.dat\0".hex()
            # openat(AT_FDCWD, "/bench.dat", O_WRONLY|O_CREAT|O_TRUNC) is fd 3 in the executor.
            open_call = {"nr": 56, "args": [AT_FDCWD, "@data", 0o1101, 0o644], "data": path}
            writes = [open_call] + [{"nr": 64, "args": [3, "@scratch", 4096]}] * (BATCH - 1)
            write_rate = rate(writes)
            rtt = []
            for _ in range(200):
                started = time.perf_counter()
                mon.execute("query-status")
                rtt.append(time.perf_counter() - started)
            qmp_rate = 1 / statistics.median(rtt)
        finally:
            mon.close()
            kernel.kill()
            kernel.wait()
    print(
        json.dumps(
            {
                "benchmark": "syscall_throughput",
                "batch": BATCH,
                "getpid_calls_per_s": round(getpid),
                "write_4k_calls_per_s": round(write_rate),
                "write_4k_mb_per_s": round(write_rate * 4096 / 1e6, 1),
                "baseline": "one QMP round trip (query-status) per call",
                "baseline_calls_per_s": round(qmp_rate),
                "getpid_ratio_to_baseline": round(getpid / qmp_rate, 1),
            }
        )
    )


if __name__ == "__main__":
    main()

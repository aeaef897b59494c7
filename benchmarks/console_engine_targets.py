"""Command round trip through the lab's console engine on real targets — the reference kernel
and, where QEMU is installed, linux-busybox — against a raw socket + regex baseline doing the
same exchange (command, exit-status marker, prompt) on the same target in the same run.
Goal on the reference kernel: overhead ratio <= 1.3."""

from __future__ import annotations

import json
import re
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path

from sis.harness.session import Session

N = {"sis": 300, "linux-busybox": 100}


def raw_roundtrips(sock: socket.socket, prompt: str, n: int) -> list[float]:
    out = []
    buf = b""
    for i in range(n):
        rx = re.compile(rf"__SIS_raw{i}_(\d+)\r?\n(?:.*\n)*?{prompt}".encode())
        started = time.perf_counter()
        sock.sendall(f'echo hi; echo "__SIS""_raw{i}_$?"\n'.encode())
        while not rx.search(buf):
            buf += sock.recv(65536)
        out.append(time.perf_counter() - started)
        buf = b""
    return out


def measure(spec: str, workdir: Path) -> dict:
    target = Session(spec, workdir=workdir)
    target.start()
    try:
        for _ in range(20):
            target.run("echo warm")
        engine = []
        for _ in range(N[target.profile.name]):
            started = time.perf_counter()
            r = target.run("echo hi")
            engine.append(time.perf_counter() - started)
            assert r.output == "hi" and r.status == 0, r
        # The same exchange on a raw socket: the console line accepts a new client.
        target.console.close()
        raw = socket.socket(socket.AF_UNIX)
        raw.connect(str(target._sockdir / "console.sock"))
        prompt = re.escape("sis> ") if target.profile.name == "sis" else re.escape("/ # ")
        raw.sendall(b"\n")
        time.sleep(0.3)
        raw.setblocking(False)
        try:
            raw.recv(1 << 20)
        except BlockingIOError:
            pass
        raw.setblocking(True)
        baseline = raw_roundtrips(raw, prompt, N[target.profile.name])
        raw.close()
    finally:
        target.kill()
    e, b = statistics.median(engine), statistics.median(baseline)
    return {
        "engine_median_ms": round(e * 1000, 3),
        "engine_p99_ms": round(sorted(engine)[int(len(engine) * 0.99) - 1] * 1000, 3),
        "raw_median_ms": round(b * 1000, 3),
        "overhead_ratio": round(e / b, 2),
        "boot_s": round(target.boot_seconds or 0, 2),
    }


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sis"] = measure("sim", Path(tmp) / "sim")
        if shutil.which("qemu-system-x86_64"):
            try:
                results["linux-busybox"] = measure("linux-busybox", Path(tmp) / "lb")
            except Exception as e:  # no image or kernel here: say so instead of failing
                results["linux-busybox"] = {"skipped": str(e)}
    print(
        json.dumps(
            {
                "benchmark": "console_engine_on_targets",
                "command": "echo hi",
                "baseline": "raw socket + regex, same marker protocol, same target",
                "targets": results,
                "goal_ratio_sis": 1.3,
                "meets_goal": results["sis"]["overhead_ratio"] <= 1.3,
            }
        )
    )


if __name__ == "__main__":
    main()

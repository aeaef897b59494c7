"""Fuzzing real Linux (linux-busybox under TCG) through the guest executor: syscalls per second
of the fuzz loop, and of the executor alone on a fixed batch, against the baseline of one
syscall per console round trip (the shell builtin `cd /`: one chdir, no process) measured in
the same run; plus the validation suite's wall time on the same target."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from sis.harness.commands.fuzz import run_fuzz
from sis.harness.fuzz.fuzzer import FuzzConfig, fuzz_overrides, make_channel
from sis.harness.fuzz.program import Call, Program
from sis.harness.fuzz.validate import run_cases
from sis.harness.session import Session
from sis.harness.targets.profile import load_profile

TARGET = "linux-busybox"
SECONDS = 30.0
ROUND_TRIPS = 100


def main() -> None:
    out: dict = {"benchmark": "fuzz_linux", "target": TARGET, "seconds_per_run": SECONDS}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        run = run_fuzz(FuzzConfig(target=TARGET, duration=SECONDS, seed=1, out=tmp / "loop"))
        out["fuzz_loop_calls_per_s"] = round(run.stats.rate())
        out["fuzz_loop_executor_calls_per_s"] = round(
            run.stats.calls / max(run.stats.exec_seconds, 1e-9)
        )
        out["fuzz_errors"] = run.errors

        session = Session(
            TARGET, workdir=tmp / "t", name="bench",
            overrides=fuzz_overrides(load_profile(TARGET)),
        )  # fmt: skip
        try:
            channel = make_channel(session, cover=False)
            channel.start()
            program = Program(
                [Call("getpid"), Call("uname", ["@scratch"]), Call("close", [-1])] * 4
            )
            started, calls = time.perf_counter(), 0
            while time.perf_counter() - started < 10:
                res = channel.run([program] * 64)
                calls += sum(len(r) for r in res.results)
            out["executor_fixed_batch_calls_per_s"] = round(calls / (time.perf_counter() - started))

            started = time.perf_counter()
            answered = len(run_cases(channel, TARGET).answers)
            out["validation_cases"] = answered
            out["validation_seconds"] = round(time.perf_counter() - started, 2)

            started = time.perf_counter()
            for _ in range(ROUND_TRIPS):
                session.run("cd /")
            rtt = ROUND_TRIPS / (time.perf_counter() - started)
            out["baseline"] = "one syscall per console round trip (`cd /`)"
            out["baseline_calls_per_s"] = round(rtt, 1)
            out["speedup_fuzz_loop_vs_console"] = round(out["fuzz_loop_calls_per_s"] / rtt, 1)
        finally:
            session.poweroff()
    print(json.dumps(out))


if __name__ == "__main__":
    main()

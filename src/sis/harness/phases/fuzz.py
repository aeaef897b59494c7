"""The fuzz phase: the target's syscalls fuzzed for a while (`job.options["fuzz"]`: duration,
seed, cover, syscalls), one FAIL per unique crash (its title, with the minimized reproducer
as an artifact), else one PASS that says how much was run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job

#: Inside `sis check` a fuzz run is short unless the options say otherwise.
CHECK_DURATION_S = 60.0


class FuzzPhase:
    name = "fuzz"
    requires = frozenset({"shell", "sis_contract"})
    after_poweroff = False

    def planned(self, job: Job) -> list[tuple[str, str]]:
        return []  # one result per crash found, known only by running

    def run(self, session: Session, job: Job) -> Iterator[TestResult]:
        from sis.harness.fuzz.fuzzer import FuzzConfig, fuzz_session

        options = dict(job.options.get("fuzz", {}))
        out = (
            Path(options.get("out") or Path(job.workdir).parent)
            / "fuzz"
            / job.key.replace("/", "-")
        )
        config = FuzzConfig(
            target=job.target,
            duration=float(options.get("duration", CHECK_DURATION_S)),
            seed=int(options.get("seed", 0)),
            out=out,
            syscalls=options.get("syscalls"),
            cover=bool(options.get("cover", False)),
        )
        started = time.monotonic()

        def result(test: str, verdict: str, reason: str, artifacts: dict[str, str]) -> TestResult:
            return TestResult(
                target=job.target_name, preset=job.preset, suite="fuzz", test=test,
                verdict=verdict, reason=reason, duration_s=time.monotonic() - started,
                artifacts=artifacts,
            )  # fmt: skip

        try:
            run = fuzz_session(session, config)
        except ValueError as e:
            yield result("fuzz", ERROR, str(e), {})
            return
        stats = {"stats": str(out / "stats.prom"), "summary": str(out / "summary.json")}
        if run.errors and not run.stats.calls:
            yield result("fuzz", ERROR, run.errors[0], stats)
            return
        for rec in run.crashes.values():
            repro = rec.directory / "repro.json"
            how = f"reproducer: {len(rec.repro)} call(s)" if rec.repro else "no reproducer"
            yield result(
                f"crash: {rec.title}"[:200], FAIL,
                f"kernel crashed under fuzzing ({rec.kind}, x{rec.count}): {rec.title}; {how}",
                {**stats, "crash": str(rec.directory), **({"repro": str(repro)} if rec.repro else {})},
            )  # fmt: skip
        if not run.crashes:
            s = run.stats
            yield result(
                "fuzz", PASS,
                f"no crash in {s.calls:,} calls ({s.programs:,} programs, {s.elapsed:.0f} s)",
                stats,
            )  # fmt: skip


#: `sis selftest`: long enough to find each planted fuzz bug; a crash ends the run.
SELFTEST_DURATION_S = 180.0


def selftest_fuzz(session: Session, seed: int, out: Path) -> TestResult:
    """One verdict for the self-test matrix: FAIL naming the first crash's title, else PASS."""
    from sis.harness.fuzz.fuzzer import FuzzConfig, fuzz_session

    started = time.monotonic()
    config = FuzzConfig(
        duration=SELFTEST_DURATION_S, seed=seed, out=out / "fuzz", stop_on_crash=True
    )
    try:
        run = fuzz_session(session, config)
    except ValueError as e:
        verdict, reason = ERROR, str(e)
    else:
        if run.crashes:
            rec = next(iter(run.crashes.values()))
            how = f"reproducer: {len(rec.repro)} call(s)" if rec.repro else "no reproducer"
            verdict, reason = FAIL, f"kernel crashed under fuzzing: {rec.title}; {how}"
        elif run.errors and not run.stats.calls:
            verdict, reason = ERROR, run.errors[0]
        else:
            verdict, reason = PASS, f"no crash in {run.stats.calls:,} calls"
    return TestResult(
        target=session.name, preset=session.preset, suite="selftest", test="fuzz/syscalls",
        verdict=verdict, reason=reason, duration_s=time.monotonic() - started,
        artifacts={"fuzz": str(out / "fuzz")},
    )  # fmt: skip

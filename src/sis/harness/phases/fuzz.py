"""The fuzz phase: the target's syscalls fuzzed for a while, one FAIL per unique crash (its
title, with the minimized reproducer as an artifact), else one PASS that says how much was
run. A campaign (`sis fuzz -j N`) is rounds of such jobs (`sis.harness.fuzz.campaign`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job

#: Inside `sis check` a fuzz run is short unless the options say otherwise.
CHECK_DURATION_S = 60.0


@dataclass(frozen=True)
class FuzzOptions:
    duration: float = CHECK_DURATION_S  # seconds
    seed: int = 0  # same seed, same programs
    worker: int = 0  # which worker of a campaign (part of the seed)
    cover: bool = False  # coverage feedback (x-sis-kcov, the reference kernel only)
    syscalls: tuple[str, ...] | None = None  # the calls to fuzz (default: all safe ones)
    batch: int = 128  # programs per executor round trip
    stop_on_crash: bool = False  # end after the first reproducer
    #: Where this job's corpus, crashes and stats go (default OUT/fuzz/KEY) and a campaign's
    #: merged corpus to start from; relative paths are under OUT (where the job runs).
    out: str = ""
    corpus_from: str = ""


class FuzzPhase:
    name = "fuzz"
    # The reference kernel is fuzzed through QMP; a QEMU guest through its executor's port
    # (the channel says which, and why not when a profile has neither).
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = FuzzOptions

    def planned(self, job: Job, options: FuzzOptions) -> list[tuple[str, str]]:
        return []  # one result per crash found, known only by running

    def overrides(self, job: Job, options: FuzzOptions) -> dict[str, str]:
        from sis.harness.fuzz.fuzzer import fuzz_overrides
        from sis.harness.targets.profile import load_profile

        return fuzz_overrides(load_profile(job.target))

    def run(self, session: Session, job: Job, options: FuzzOptions) -> Iterator[TestResult]:
        from sis.harness.fuzz.fuzzer import FuzzConfig, fuzz_session

        home = Path(job.workdir).parent  # OUT, wherever the job runs
        out = home / options.out if options.out else fuzz_dir(job)
        config = FuzzConfig(
            target=job.target, duration=options.duration, seed=options.seed, out=out,
            syscalls=list(options.syscalls) if options.syscalls else None,
            cover=options.cover, append=job.overrides.get("append", ""), batch=options.batch,
            stop_on_crash=options.stop_on_crash, worker=options.worker,
            corpus_from=home / options.corpus_from if options.corpus_from else None,
        )  # fmt: skip
        started = time.monotonic()

        def result(test: str, verdict: str, reason: str, artifacts: dict[str, str]) -> TestResult:
            return TestResult(
                target=job.name, preset=job.preset, suite="fuzz", test=test,
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
            if rec.cut_short:  # the crash's log.json is kept for `sis fuzz repro`
                how += " (the run ended before the search for it did)"
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


def fuzz_dir(job: Job) -> Path:
    return Path(job.workdir).parent / "fuzz" / job.key.replace("/", "-")

"""The soak phase: the workload played for a while with samples taken all along, then judged
(leaks, thresholds). One result per rule: a leak or a broken threshold FAILs. Samples go to
OUT/soak/<target>-<preset>/ (`sis soak` writes its report from them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.results import ERROR, TestResult
from sis.harness.session import Session
from sis.harness.soak import soak_dir
from sis.harness.soak.judge import judge
from sis.harness.soak.run import SoakConfig, SoakError, run_soak

if TYPE_CHECKING:
    from sis.harness.jobs import Job

#: Inside `sis check` a soak is short unless the options say otherwise.
CHECK_DURATION_S = 60.0
CHECK_INTERVAL_S = 2.0


@dataclass(frozen=True)
class SoakOptions:
    workload: str = "churn"  # a built-in workload or a workload file; "" samples only
    duration: float = CHECK_DURATION_S  # seconds
    interval: float = CHECK_INTERVAL_S  # seconds between samples
    seed: int = 0  # seed of the workload's random choices
    thresholds: tuple[str, ...] = ()  # rules such as 'p99(ctx_switch_p99_ns) < 5ms over 5m'
    leak_min: float = 1.0  # the smallest growth, in MiB/h, that counts as a leak
    warmup: float = 0.0  # a share of each boot never judged, beyond the warm-up the data show
    resume: bool = False  # continue the series recorded in OUT/soak


class SoakPhase:
    name = "soak"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = SoakOptions

    def planned(self, job: Job, options: SoakOptions) -> list[tuple[str, str]]:
        return []  # the rules depend on the metrics the target offers

    def run(self, session: Session, job: Job, options: SoakOptions) -> Iterator[TestResult]:
        config = SoakConfig(
            workload=options.workload, interval=options.interval, duration=options.duration,
            seed=options.seed, thresholds=options.thresholds, leak_min=options.leak_min,
            warmup=options.warmup, append=session.overrides.get("append", ""),
        )  # fmt: skip
        directory = soak_dir(Path(job.workdir).parent, job.name, job.preset)
        started = time.monotonic()

        def result(test: str, verdict: str, reason: str) -> TestResult:
            return TestResult(
                target=job.name, preset=job.preset, suite="soak", test=test,
                verdict=verdict, reason=reason, duration_s=time.monotonic() - started,
                artifacts={"samples": str(directory / "samples.csv")},
            )  # fmt: skip

        try:
            outcome = run_soak(session, config, directory, resume=options.resume, stop=session.stop)
        except SoakError as e:
            yield result("soak", ERROR, str(e))
            return
        j = judge(
            outcome.records,
            thresholds=tuple(config.thresholds) + workload_rules(config.workload),
            leak_min=config.leak_min,
            warmup=config.warmup,
        )
        for rule in j.rules:
            yield result(rule.name, rule.verdict, rule.says)


def workload_rules(workload: str) -> tuple[str, ...]:
    from sis.harness.soak.workload import load_workload

    return load_workload(workload).thresholds if workload else ()

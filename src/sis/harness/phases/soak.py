"""The soak phase: the workload played for a while with samples taken all along, then judged
(leaks, thresholds). Options come from `job.options["soak"]` (see `SoakConfig`), plus `out`
(where the samples go) and `resume`. One result per rule: a leak or a broken threshold FAILs."""

from __future__ import annotations

import time
from collections.abc import Iterator
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


def config_from(options: dict) -> SoakConfig:
    keys = SoakConfig.__dataclass_fields__
    given = {k: v for k, v in options.items() if k in keys}
    given.setdefault("duration", CHECK_DURATION_S)
    given.setdefault("interval", CHECK_INTERVAL_S)
    if "thresholds" in given:
        given["thresholds"] = tuple(given["thresholds"])
    return SoakConfig(**given)


class SoakPhase:
    name = "soak"
    requires = frozenset({"shell"})
    after_poweroff = False

    def planned(self, job: Job) -> list[tuple[str, str]]:
        return []  # the rules depend on the metrics the target offers

    def run(self, session: Session, job: Job) -> Iterator[TestResult]:
        options = dict(job.options.get("soak", {}))
        config = config_from(options)
        out = Path(options.get("out") or Path(job.workdir).parent)
        directory = soak_dir(out, job.target_name, job.preset)
        started = time.monotonic()

        def result(test: str, verdict: str, reason: str) -> TestResult:
            return TestResult(
                target=job.target_name, preset=job.preset, suite="soak", test=test,
                verdict=verdict, reason=reason, duration_s=time.monotonic() - started,
                artifacts={"samples": str(directory / "samples.csv")},
            )  # fmt: skip

        try:
            outcome = run_soak(session, config, directory, resume=bool(options.get("resume")))
        except SoakError as e:
            yield result("soak", ERROR, str(e))
            return
        j = judge(
            outcome.records,
            thresholds=tuple(config.thresholds) + _workload_rules(config),
            leak_min=config.leak_min,
            warmup=config.warmup,
        )
        for rule in j.rules:
            yield result(rule.name, rule.verdict, rule.says)


def _workload_rules(config: SoakConfig) -> tuple[str, ...]:
    from sis.harness.soak.workload import load_workload

    return load_workload(config.workload).thresholds if config.workload else ()


#: The self-test's soak: long enough for the leak analysis, short enough for a matrix cell.
SELFTEST_DURATION_S = 30.0
SELFTEST_INTERVAL_S = 1.0


def selftest_soak(session: Session, seed: int, out: Path) -> TestResult:
    """`sis selftest`'s soak row: a short churn soak judged as a whole (FAIL, with the failed
    rules' evidence first, e.g. `leaking +350.12 MiB/h (95% interval ...)`)."""
    from sis.harness.results import FAIL

    session.ensure_shell()
    config = SoakConfig(duration=SELFTEST_DURATION_S, interval=SELFTEST_INTERVAL_S, seed=seed)
    directory = soak_dir(out, session.name, session.preset)
    started = time.monotonic()
    try:
        outcome = run_soak(session, config, directory)
        j = judge(outcome.records, thresholds=_workload_rules(config))
        verdict = j.verdict
        reason = "; ".join(r.says for r in (j.failed or j.rules))
    except SoakError as e:
        verdict, reason = ERROR, str(e)
    return TestResult(
        target=session.name, preset=session.preset, suite="soak", test="soak",
        verdict=FAIL if verdict == FAIL else verdict, reason=reason,
        duration_s=time.monotonic() - started,
        artifacts={"samples": str(directory / "samples.csv")},
    )  # fmt: skip

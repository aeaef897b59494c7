"""`sis metrics collect`: the target's metrics sampled every INTERVAL for DURATION into a JSONL
time series (one object a line, appended as it goes). The target is restarted if it goes down
(a record marks the gap). PASS with the count of samples; FAIL when the target stayed down;
ERROR when it cannot be sampled at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.metrics.collect import SampleError, Sampler, collect_series
from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class MetricsCollectOptions:
    out: str  # the JSONL file samples are appended to
    interval: float = 1.0  # seconds between samples
    duration: float = 10.0  # seconds to collect for (0: until the run is interrupted)
    source: str = "auto"  # qmp, console, proc or auto


class MetricsCollectPhase:
    name = "metrics_collect"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = MetricsCollectOptions

    def planned(self, job: Job, options: MetricsCollectOptions) -> list[tuple[str, str]]:
        return [("metrics", "collect")]

    def run(
        self, session: Session, job: Job, options: MetricsCollectOptions
    ) -> Iterator[TestResult]:
        started = time.monotonic()
        out = Path(options.out)

        def result(verdict: str, reason: str) -> TestResult:
            return TestResult(
                target=job.name, preset=job.preset, suite="metrics", test="collect",
                verdict=verdict, reason=reason, duration_s=time.monotonic() - started,
                artifacts={"samples": str(out)},
            )  # fmt: skip

        try:
            sampler = Sampler(session, options.source, label=job.name)
            summary = collect_series(
                sampler, out, interval=options.interval, duration=options.duration,
                stop=session.stop, recover=session.ensure_shell,
            )  # fmt: skip
        except SampleError as e:
            yield result(ERROR, str(e))
            return
        note = f", {summary.errors} failed (last: {summary.last_error})" if summary.errors else ""
        if summary.restarts:
            note += f", target restarted {summary.restarts} time(s)"
        verdict = FAIL if summary.stopped == "target down" else PASS
        yield result(verdict, f"{summary.samples} samples via {sampler.source} in {out}{note}")

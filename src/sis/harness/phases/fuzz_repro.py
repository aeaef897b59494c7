"""`sis fuzz repro`: a reproducer replayed on a fresh boot, as many times as asked. FAIL when
the kernel dies (its crash title is the reason), PASS when it survives every run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session

if TYPE_CHECKING:
    from sis.harness.jobs import Job


@dataclass(frozen=True)
class FuzzReproOptions:
    program: dict[str, Any] = field(default_factory=dict)  # the reproducer, as repro.json holds it
    repeat: int = 1  # runs at most


class FuzzReproPhase:
    name = "fuzz_repro"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = FuzzReproOptions

    def planned(self, job: Job, options: FuzzReproOptions) -> list[tuple[str, str]]:
        return [("fuzz", "repro")]

    def overrides(self, job: Job, options: FuzzReproOptions) -> dict[str, str]:
        from sis.harness.fuzz.fuzzer import fuzz_overrides
        from sis.harness.targets.profile import load_profile

        return fuzz_overrides(load_profile(job.target))

    def run(self, session: Session, job: Job, options: FuzzReproOptions) -> Iterator[TestResult]:
        from sis.harness.fuzz.fuzzer import make_channel
        from sis.harness.fuzz.program import Program

        started = time.monotonic()
        program = Program.from_json(json.dumps(options.program))

        def result(verdict: str, reason: str, data: dict[str, Any]) -> TestResult:
            return TestResult(
                target=job.name, preset=job.preset, suite="fuzz", test="repro", verdict=verdict,
                reason=reason, duration_s=time.monotonic() - started, crash=data,
            )  # fmt: skip

        try:
            channel = make_channel(session, cover=False)
        except ValueError as e:
            yield result(ERROR, str(e), {})
            return
        channel.start()
        try:
            results: list[dict] = []
            for n in range(1, max(1, options.repeat) + 1):
                res = channel.run([program])
                results = res.results[0] if res.results else []
                if res.crash is not None:
                    c = res.crash
                    yield result(FAIL, f"kernel crashed ({c.kind}) on run {n}: {c.title}",
                                 {"type": c.kind, "title": c.title, "text": c.report})  # fmt: skip
                    return
            yield result(
                PASS, f"no crash in {max(1, options.repeat)} run(s); results: {results}", {}
            )
        finally:
            channel.stop()

"""`sis fuzz`: a campaign as rounds of jobs, each job one booted target running the `fuzz`
phase for the round's length; between rounds the corpus and crashes are merged
(`sis.harness.fuzz.campaign`), so a round's jobs may run anywhere the executor sends them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from sis.harness.fuzz.campaign import job_dir, merge, write_summary
from sis.harness.fuzz.fuzzer import FuzzConfig, FuzzRun, check_config
from sis.harness.jobs import Job
from sis.harness.plan import OnResult, OnStatus, Plan, run_plan
from sis.harness.results import ERROR, TestResult
from sis.harness.targets.profile import load_profile

#: A long campaign is cut into rounds this long, so the corpus is merged along the way.
ROUND_S = 300.0


@dataclass(frozen=True)
class Campaign:
    config: FuzzConfig
    round_s: float = ROUND_S

    @property
    def rounds(self) -> int:
        return max(1, math.ceil(self.config.duration / self.round_s))


def plan_fuzz(config: FuzzConfig, *, round_s: float = ROUND_S, executor: str = "local") -> Plan:
    """Validate (ValueError, DataFileError, one line) and plan: `jobs` workers per round."""
    check_config(config)
    profile = load_profile(config.target)
    profile.variables("default")
    campaign = Campaign(config, round_s)
    workers = max(1, config.jobs)
    out = config.out
    rounds: list[list[Job]] = []
    left = config.duration
    for r in range(campaign.rounds):
        length = min(round_s, left)
        left -= length
        rounds.append(
            [
                Job(
                    target=config.target,
                    preset="default",
                    target_name=profile.name,
                    phases=("fuzz",),
                    workdir=str(out / "targets"),
                    label=profile.name if workers == 1 else f"{profile.name}-{w + 1}",
                    overrides={"append": config.append} if config.append else {},
                    options={
                        "fuzz": {
                            "duration": length,
                            "seed": config.seed,
                            "worker": r * workers + w,
                            "cover": config.cover,
                            "syscalls": config.syscalls,
                            "batch": config.batch,
                            "stop_on_crash": config.stop_on_crash,
                            "out": str(job_dir(Path(), r, w)),  # under OUT
                            "corpus_from": "corpus",
                        }
                    },
                )  # fmt: skip
                for w in range(workers)
            ]
        )

    def between(out_dir: Path, done: int) -> None:
        merge(out_dir)

    def page(out_dir: Path, results: list[TestResult]) -> str:
        run = merge(out_dir)
        write_summary(out_dir, run, config)
        return "fuzz.html"

    return Plan(
        "SIS fuzz", rounds, out, parallel=workers, executor=executor, pages=[page],
        between_rounds=between,
    )  # fmt: skip


def run_fuzz(
    config: FuzzConfig,
    *,
    round_s: float = ROUND_S,
    executor: str = "local",
    on_result: OnResult | None = None,
    on_status: OnStatus | None = None,
) -> FuzzRun:
    """Plan and run a campaign through the one door; what it found, merged."""
    started = time.monotonic()
    results = run_plan(plan_fuzz(config, round_s=round_s, executor=executor), on_result, on_status)
    run = merge(config.out)
    run.config = config
    run.stats.started = started
    run.errors = [r.reason for r in results if r.verdict == ERROR]
    return run

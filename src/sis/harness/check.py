"""`sis check`, the main job: plan the jobs (target x preset x phases), hand them to an executor,
and write results.jsonl (each result as it happens), jobs.jsonl (what each job did with its
target), junit.xml and report.html into OUT.

Everything is validated before anything boots; OUT is locked for the run, so two runs cannot
mix their results; reports are rebuilt from results.jsonl, also after an interrupted run."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.capacity import default_parallel, target_bytes
from sis.harness.executors import make_executor
from sis.harness.jobs import Job
from sis.harness.outdir import OutputDir
from sis.harness.phases import DEFAULT_PHASES, PHASE_ORDER, phases_by_name
from sis.harness.phases.suites import DEFAULT_SUITES
from sis.harness.report import write_html, write_junit
from sis.harness.results import (
    JobSummary,
    ResultLog,
    TestResult,
    last_attempts,
    read_jobs,
    read_results,
)
from sis.harness.suites import Suite, load_suite
from sis.harness.targets.profile import load_profile


class PlanError(ValueError):
    """The command line asks for something that cannot be run (no preset, unknown phase)."""


@dataclass
class CheckPlan:
    jobs: list[Job]
    suites: list[Suite]  # loaded once here, so a bad suite fails before anything boots
    out: Path
    parallel: int = 1
    executor: str = "local"
    executor_options: dict[str, Any] = field(default_factory=dict)  # e.g. dask's scheduler

    @property
    def keys(self) -> list[str]:
        return [j.key for j in self.jobs]


def plan(
    targets: list[str],
    presets: str,
    suite_names: list[str],
    out: Path,
    jobs: int | None = 1,
    phases: list[str] | None = None,
    baselines: Path = Path("baselines"),
    executor: str = "local",
) -> CheckPlan:
    """Validate everything up front: a bad profile, preset, phase or suite fails before any
    boot (DataFileError with FILE:LINE, or PlanError). `jobs=None`: as many at once as this
    machine fits (`sis.harness.capacity`)."""
    wanted_phases = list(phases) if phases is not None else list(DEFAULT_PHASES)
    known = phases_by_name()
    unknown = [p for p in wanted_phases if p not in known]
    if unknown:
        raise PlanError(f"unknown phase {unknown[0]!r} (known: {', '.join(PHASE_ORDER)})")
    if not wanted_phases:
        raise PlanError("no phase to run")
    ordered = tuple(p for p in PHASE_ORDER if p in wanted_phases)
    suites = [load_suite(s) for s in (suite_names or DEFAULT_SUITES)]
    job_list = []
    sizes: list[int] = []  # memory each job's target takes, for the default -j
    for spec in targets:
        profile = load_profile(spec)
        # `all` means the presets this profile defines, not a fixed list.
        wanted = (
            profile.preset_names()
            if presets == "all"
            else [p.strip() for p in presets.split(",") if p.strip()]
        )
        if not wanted:
            raise PlanError(f"--preset {presets!r} names no preset")
        for preset in wanted:
            values = profile.variables(preset)  # an unknown preset fails here
            sizes.append(target_bytes(profile.kind, values.get("memory")))
            job_list.append(
                Job(
                    target=spec,
                    preset=preset,
                    target_name=profile.name,
                    phases=ordered,
                    workdir=str(out / "targets"),
                    options={
                        "suites": [str(s.path or s.name) for s in suites],
                        "baselines": str(baselines),
                    },
                )
            )
    if not job_list:
        raise PlanError("no target to run")
    parallel = default_parallel(sizes) if jobs is None else max(1, jobs)
    return CheckPlan(job_list, suites, out, parallel, executor)


def run_check(
    p: CheckPlan,
    on_result: Callable[[TestResult], None] | None = None,
    on_status: Callable[[str, str], None] | None = None,
) -> list[TestResult]:
    """Run the plan; OutputError if OUT cannot be locked or written (results so far stay)."""
    with OutputDir(p.out) as out:
        log = ResultLog(out.path / "results.jsonl", fresh=True)
        jobs = ResultLog(out.path / "jobs.jsonl", fresh=True)

        def report(r: TestResult | JobSummary) -> None:
            if isinstance(r, JobSummary):
                jobs.add(r)
                return
            log.add(r)
            if on_result is not None:
                on_result(r)

        try:
            make_executor(p.executor, p.parallel, **p.executor_options).run(
                p.jobs, report, on_status
            )
        finally:
            log.close()
            jobs.close()
            write_reports(out.path)
        return last_attempts(log.results, [])[0]  # a job a cluster ran again: its last attempt


def write_reports(out: Path) -> list[TestResult]:
    """(Re)build junit.xml and report.html from results.jsonl (also after an interrupted run).
    Each report is written whole or not at all."""
    results, problems = read_results(out / "results.jsonl")
    jobs, more = read_jobs(out / "jobs.jsonl")
    write_junit(results, out / "junit.xml")
    write_html(
        results,
        out / "report.html",
        notes=problems + more,
        meta={"results": "results.jsonl", "generated": time.strftime("%Y-%m-%d %H:%M:%S")},
        jobs=jobs,
    )
    return results

"""`sis soak`: one job per target (the `soak` phase), through the one door; the
soak report (soak-report.html, charts from every target's samples) is its own page, linked
from report.html. `--resume` plans jobs that continue the series recorded in OUT."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from sis.harness.jobs import target_jobs
from sis.harness.phases import PlanError
from sis.harness.phases.soak import SoakOptions, workload_rules
from sis.harness.plan import Plan
from sis.harness.results import TestResult
from sis.harness.soak import soak_dir
from sis.harness.soak.judge import judge
from sis.harness.soak.report import REPORT, TargetSoak, write_report
from sis.harness.soak.sampling import read_records
from sis.harness.soak.statistics import parse_threshold


def plan_soak(
    targets: list[str],
    preset: str,
    options: SoakOptions,
    out: Path,
    *,
    append: str = "",
    jobs: int = 1,
    executor: str = "local",
) -> Plan:
    """Validate before anything boots: profiles, preset, rules, workload, and for --resume that
    each target has a series to continue (PlanError, DataFileError or ValueError: one line)."""
    if options.duration <= 0 or options.interval <= 0:
        raise PlanError("--duration and --interval must be positive")
    if not 0 <= options.warmup < 0.9:
        raise PlanError("--warmup is a fraction of the samples, 0 .. 0.9")
    for rule in options.thresholds:
        parse_threshold(rule)
    rules = tuple(options.thresholds) + workload_rules(options.workload)
    data = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(options).items()}
    job_list, _ = target_jobs(
        targets, preset, ("soak",), {"soak": data}, out / "targets",
        overrides={"append": append} if append else None,
    )  # fmt: skip
    if options.resume:
        for job in job_list:
            directory = soak_dir(out, job.name, job.preset)
            if not (directory / "samples.jsonl").exists():
                raise PlanError(f"{job.key}: nothing to resume in {directory}")

    def page(out_dir: Path, results: list[TestResult]) -> str | None:
        soaks = []
        for job in job_list:
            directory = soak_dir(out_dir, job.name, job.preset)
            records = read_records(directory / "samples.jsonl")
            if not records:
                continue
            start = next((r for r in records if r["kind"] == "start"), {})
            j = judge(records, thresholds=rules, leak_min=options.leak_min, warmup=options.warmup)
            soaks.append(TargetSoak(job.key, directory, records, j, start.get("config", {})))
        if not soaks:
            return None
        write_report(out_dir / REPORT, soaks)
        return REPORT

    return Plan("SIS soak", [job_list], out, jobs, executor, pages=[page])

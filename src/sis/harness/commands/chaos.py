"""`sis chaos run`: one job per target and preset, running the experiments one
after another on its booted target (the `chaos` phase), through the one door; chaos.html (the
timelines) is its own page, linked from report.html."""

from __future__ import annotations

from pathlib import Path

from sis.harness.chaos.experiment import load_experiments
from sis.harness.chaos.report import write_chaos_report
from sis.harness.jobs import target_jobs
from sis.harness.plan import Plan
from sis.harness.results import TestResult

CHAOS_PAGE = "chaos.html"


def plan_chaos(
    names: list[str],
    targets: list[str],
    presets: str,
    seed: int,
    out: Path,
    *,
    jobs: int = 1,
    executor: str = "local",
) -> Plan:
    """Validate the experiments, profiles and presets before anything boots."""
    load_experiments(names)
    options = {"chaos": {"experiments": list(names), "seed": seed}}
    job_list, _ = target_jobs(targets, presets, ("chaos",), options, out / "targets")
    return Plan("SIS chaos", [job_list], out, jobs, executor, pages=[chaos_page])


def chaos_page(out: Path, results: list[TestResult]) -> str:
    write_chaos_report(results, out / CHAOS_PAGE)
    return CHAOS_PAGE

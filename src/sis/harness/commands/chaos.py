"""`sis chaos run`: one job per target and preset, running the experiments one after another
on its booted target (the `chaos` phase), and one job per crash-point experiment, which boots
on a logged disk of its own (the `crash_points` phase); chaos.html (the timelines) is the
command's own page, linked from report.html."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from sis.harness.chaos.crashrun import CrashPointOptions
from sis.harness.chaos.experiment import Experiment, load_experiments
from sis.harness.chaos.report import write_chaos_report
from sis.harness.jobs import target_jobs
from sis.harness.plan import Plan, run_plan
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
    experiments = load_experiments(names)
    regular = [e for e in experiments if e.crash_points is None]
    job_list = []
    if regular:
        # Named by what the user gave (a file stays a file), or all built-ins.
        given = [n for n, e in zip(names, experiments, strict=False) if e.crash_points is None]
        options = {"chaos": {"experiments": given, "seed": seed}}
        job_list, _ = target_jobs(targets, presets, ("chaos",), options, out / "targets")
    for exp in experiments:
        if exp.crash_points is not None:
            options = {"crash_points": crash_point_options(exp, seed)}
            more, _ = target_jobs(targets, presets, ("crash_points",), options, out / "targets")
            job_list += [dataclasses.replace(j, label=f"{j.name}-{exp.name}") for j in more]
    return Plan("SIS chaos", [job_list], out, jobs, executor, pages=[chaos_page])


def crash_point_options(exp: Experiment, seed: int) -> dict:
    """The `crash_points` phase's options from a crash-point experiment."""
    bounds = exp.crash_points or {}
    files = next((a.files for a in exp.method if a.kind == "workload"), 4)
    return {
        "seed": seed, "test": exp.name, "files": files,
        "max_prefixes": bounds.get("max_prefixes", 8), "reorders": bounds.get("reorders") or 0,
    }  # fmt: skip


def crash_points_of(
    target: str,
    *,
    preset: str = "default",
    seed: int = 0,
    out: Path,
    options: CrashPointOptions | None = None,
    overrides: dict[str, str] | None = None,
) -> TestResult:
    """The crash-point experiment on one target, as `sis chaos crash-points` runs it (planted
    bugs through `options` or `overrides`): one job through the one door, its result."""
    data = {"seed": seed, **dataclasses.asdict(options or CrashPointOptions())}
    job_list, _ = target_jobs(
        [target], preset, ("crash_points",), {"crash_points": data}, out / "targets", overrides
    )
    results = run_plan(Plan("SIS crash points", [job_list], out, pages=[chaos_page]))
    return next(r for r in results if r.suite == "chaos")


def chaos_page(out: Path, results: list[TestResult]) -> str:
    write_chaos_report(results, out / CHAOS_PAGE)
    return CHAOS_PAGE

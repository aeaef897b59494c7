"""`sis check`, the main job: a plan of jobs (target x preset, each running the phases asked
for) through the one door (`sis.harness.plan`). Everything is validated before anything boots."""

from __future__ import annotations

from pathlib import Path

from sis.harness.capacity import default_parallel
from sis.harness.jobs import target_jobs
from sis.harness.phases import CHECK_PHASES, DEFAULT_PHASES, PlanError, ordered
from sis.harness.phases.suites import DEFAULT_SUITES
from sis.harness.plan import Plan
from sis.harness.suites import load_suite

__all__ = ["PlanError", "plan"]


def plan(
    targets: list[str],
    presets: str,
    suite_names: list[str],
    out: Path,
    jobs: int | None = 1,
    phases: list[str] | None = None,
    baselines: Path = Path("baselines"),
    executor: str = "local",
    phase_options: dict[str, dict] | None = None,
) -> Plan:
    """Validate everything up front: a bad profile, preset, phase, option or suite fails before
    any boot (DataFileError with FILE:LINE, or PlanError). `jobs=None`: as many at once as this
    machine fits (`sis.harness.capacity`)."""
    wanted = list(phases) if phases is not None else list(DEFAULT_PHASES)
    if not wanted:
        raise PlanError("no phase to run")
    for name in wanted:
        if name not in CHECK_PHASES:
            raise PlanError(f"unknown phase {name!r} (known: {', '.join(CHECK_PHASES)})")
    chosen = ordered(wanted)
    suites = [load_suite(s) for s in (suite_names or DEFAULT_SUITES)]
    options: dict[str, dict] = {name: {} for name in chosen}
    if "suites" in chosen:
        options["suites"] = {"suites": [str(s.path or s.name) for s in suites]}
    if "log_regression" in chosen:
        options["log_regression"] = {"baselines": str(baselines)}
    for name, given in (phase_options or {}).items():
        options.setdefault(name, {}).update(given)
    options = {k: v for k, v in options.items() if v or k in chosen}
    job_list, sizes = target_jobs(targets, presets, chosen, options, out / "targets")
    parallel = default_parallel(sizes) if jobs is None else max(1, jobs)
    return Plan("SIS check", [job_list], out, parallel, executor)

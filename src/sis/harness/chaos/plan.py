"""A chaos run: experiments (built-in names or files) on one target and preset, validated
before anything boots, run one after another in one Session; results appended to
OUT/results.jsonl as they come, then junit.xml, report.html and chaos.html (the timelines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sis.harness.chaos.experiment import Experiment, builtin_experiments, load_experiment
from sis.harness.chaos.report import write_chaos_report
from sis.harness.chaos.runner import run_experiment
from sis.harness.outdir import OutputDir
from sis.harness.report import write_html, write_junit
from sis.harness.results import ERROR, ResultLog, TestResult, read_results
from sis.harness.session import Session, State
from sis.harness.targets.base import TargetError
from sis.harness.targets.process import ProcessTarget
from sis.harness.targets.profile import load_profile

OnResult = Callable[[TestResult], None]


@dataclass
class ChaosPlan:
    target: str | ProcessTarget
    preset: str
    experiments: list[Experiment]
    seed: int
    out: Path


def load_experiments(names: list[str]) -> list[Experiment]:
    """The experiments named (all built-ins when none): DataFileError with FILE:LINE on a bad one."""
    return [load_experiment(n) for n in (names or builtin_experiments())]


def plan_chaos(names: list[str], target: str, preset: str, seed: int, out: Path) -> ChaosPlan:
    load_profile(target).variables(preset)  # a bad profile or preset fails before any boot
    return ChaosPlan(target, preset, load_experiments(names), seed, out)


def run_in_session(
    session: Session, experiments: list[Experiment], seed: int, out: Path, report: OnResult
) -> None:
    """Each experiment in turn on `session`. A target that cannot be started makes every
    remaining experiment an ERROR with the reason (run_experiment reports it)."""
    for exp in experiments:
        report(run_experiment(session, exp, seed=seed, out=out))


def run_chaos(plan: ChaosPlan, on_result: OnResult | None = None) -> list[TestResult]:
    """Run the plan; OutputError if OUT cannot be locked or written (results so far stay)."""
    with OutputDir(plan.out) as out:
        log = ResultLog(out.path / "results.jsonl", fresh=True)

        def report(r: TestResult) -> None:
            log.add(r)
            if on_result is not None:
                on_result(r)

        session: Session | None = None
        try:
            try:
                session = Session(plan.target, preset=plan.preset, workdir=out.path / "targets")
            except (TargetError, OSError) as e:
                for exp in plan.experiments:
                    report(_error(plan, exp, f"target could not be set up: {e}"))
                return log.results
            run_in_session(session, plan.experiments, plan.seed, out.path / "chaos", report)
        finally:
            if session is not None and session.state is not State.OFF:
                session.poweroff()
            log.close()
            write_chaos_reports(out.path)
        return log.results


def write_chaos_reports(out: Path) -> list[TestResult]:
    """(Re)build junit.xml, report.html and chaos.html from results.jsonl (also after an
    interrupted run); each written whole or not at all."""
    results, problems = read_results(out / "results.jsonl")
    write_junit(results, out / "junit.xml")
    write_html(
        results,
        out / "report.html",
        title="SIS chaos",
        notes=problems,
        meta={"results": "results.jsonl", "timelines": "chaos.html"},
    )
    write_chaos_report(results, out / "chaos.html")
    return results


def _error(plan: ChaosPlan, exp: Experiment, reason: str) -> TestResult:
    name = plan.target if isinstance(plan.target, str) else plan.target.profile.name
    return TestResult(
        target=name, preset=plan.preset, suite="chaos", test=exp.name, verdict=ERROR, reason=reason
    )

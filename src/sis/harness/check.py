"""`sis check`, the main job: boot each target in each preset, run the suites, and write
results.jsonl (as it happens), junit.xml and report.html."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sis.harness.datafile import DataFileError
from sis.harness.logs import log_regression_result
from sis.harness.metrics import metrics_checks
from sis.harness.report import write_html, write_junit
from sis.harness.results import ERROR, ResultLog, TestResult, read_results
from sis.harness.runner import run_suite
from sis.harness.suites import Suite, load_suite
from sis.harness.targets import TargetError, make_target
from sis.harness.targets.profile import PRESETS, load_profile

DEFAULT_SUITES = ("basic_commands", "process_ops", "networking", "system_info")


@dataclass
class CheckPlan:
    targets: list[str]
    presets: list[str]
    suites: list[Suite]
    out: Path
    jobs: int = 1
    readiness: bool = True  # the checks beyond the shell suites (metrics, log regression)
    baselines: Path = Path("baselines")  # where `sis logs baseline` put the known-good logs
    combos: list[tuple[str, str, str]] = field(
        default_factory=list
    )  # (target spec, preset, profile name)


def plan(
    targets: list[str],
    presets: str,
    suite_names: list[str],
    out: Path,
    jobs: int,
    readiness: bool = True,
    baselines: Path = Path("baselines"),
) -> CheckPlan:
    """Validate everything up front: a bad profile, preset or suite fails before any boot."""
    wanted = (
        list(PRESETS) if presets == "all" else [p.strip() for p in presets.split(",") if p.strip()]
    )
    suites = [load_suite(s) for s in (suite_names or DEFAULT_SUITES)]
    combos = []
    for t in targets:
        profile = load_profile("sis" if t == "sim" else t)
        for p in wanted:
            profile.variables(p)
            combos.append((t, p, profile.name))
    return CheckPlan(targets, wanted, suites, out, max(1, jobs), readiness, baselines, combos)


def run_check(
    p: CheckPlan,
    on_result: Callable[[TestResult], None] | None = None,
    on_status: Callable[[str, str], None] | None = None,
) -> list[TestResult]:
    p.out.mkdir(parents=True, exist_ok=True)
    log_path = p.out / "results.jsonl"
    log_path.write_text("")
    log = ResultLog(log_path)
    lock = threading.Lock()

    def report(r: TestResult) -> None:
        log.add(r)
        if on_result is not None:
            with lock:
                on_result(r)

    def one(combo: tuple[str, str, str]) -> None:
        spec, preset, target_name = combo
        status = on_status or (lambda key, text: None)
        key = f"{target_name}/{preset}"
        started = time.monotonic()
        try:
            target = make_target(spec, preset=preset, workdir=p.out / "targets")
            status(key, "booting")
            target.start()
        except (TargetError, DataFileError, OSError) as e:
            for suite in p.suites:
                for test in suite.tests:
                    report(
                        TestResult(
                            target=target_name,
                            preset=preset,
                            suite=suite.name,
                            test=test.name,
                            verdict=ERROR,
                            reason=f"target did not start: {e}",
                            duration_s=time.monotonic() - started,
                        )
                    )
            status(key, "error")
            return
        try:
            for suite in p.suites:
                status(key, suite.name)
                run_suite(target, suite, report)
            if p.readiness:
                status(key, "metrics")
                if not target.alive() or target.death():
                    target.restart()
                for r in metrics_checks(target):
                    report(r)
        finally:
            status(key, "powering off")
            target.poweroff()
        if p.readiness:
            # Against a recorded baseline, the log of this very run (nothing boots again).
            status(key, "log regression")
            r = log_regression_result(target_name, preset, p.baselines, artifacts=target.artifacts())
            if r is not None:
                report(r)
        status(key, "done")

    if p.jobs == 1:
        for combo in p.combos:
            one(combo)
    else:
        with ThreadPoolExecutor(max_workers=p.jobs) as pool:
            list(pool.map(one, p.combos))
    write_reports(p.out)
    return log.results


def write_reports(out: Path) -> list[TestResult]:
    """(Re)build junit.xml and report.html from results.jsonl (also after an interrupted run)."""
    results, problems = read_results(out / "results.jsonl")
    write_junit(results, out / "junit.xml")
    write_html(
        results,
        out / "report.html",
        notes=problems,
        meta={"results": "results.jsonl", "generated": time.strftime("%Y-%m-%d %H:%M:%S")},
    )
    return results

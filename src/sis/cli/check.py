"""`sis check`: the main job. Exit 0 if all passed, 1 on a FAIL, 2 on an ERROR (or a command
line, profile or suite that cannot be run), 130 when interrupted (143 on SIGTERM)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail
from sis.cli.running import (
    ExecutorOpt,
    InsecureOpt,
    SchedulerOpt,
    SharedOutOpt,
    TlsOpt,
    executor_options,
    exit_with,
    run_plan_shown,
)

__all__ = ["check"]


def _phases_help() -> str:
    from sis.harness.phases import check_help

    return f"comma-separated phases to run ({check_help()})"


def check(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sis, linux-busybox or a profile file")
    ] = ["sis"],  # noqa: B006
    preset: Annotated[str, typer.Option(help="comma-separated presets, or all")] = "default",
    suite: Annotated[
        list[str], typer.Option("--suite", "-s", help="suite name or file (repeatable)")
    ] = [],  # noqa: B006
    jobs: Annotated[
        int | None,
        typer.Option(
            "-j",
            "--jobs",
            help="jobs run at once [default: twice the CPUs, as many as fit in memory]",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="where results and reports go")] = Path("sis-out"),
    readiness: Annotated[
        bool,
        typer.Option(help="also run the readiness phases (metrics, log regression)"),
    ] = True,
    phases: Annotated[str | None, typer.Option(help=_phases_help())] = None,
    baselines: Annotated[
        Path, typer.Option(help="log baselines recorded with `sis logs baseline --dir`")
    ] = Path("baselines"),
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    tls: TlsOpt = None,
    insecure: InsecureOpt = False,
    shared_out: SharedOutOpt = None,
) -> None:
    """Boot the target(s), run the phases (shell suites, then the readiness checks), write
    results.jsonl, jobs.jsonl, junit.xml and report.html. Exit 0 if all passed, 1 on a FAIL,
    2 on an ERROR or when nothing was tested."""
    from sis.harness.commands.check import PlanError, plan
    from sis.harness.datafile import DataFileError

    if phases is not None:
        wanted = [x.strip() for x in phases.split(",") if x.strip()]
    else:
        wanted = None if readiness else ["suites"]
    try:
        p = plan(target, preset, suite, out, jobs, wanted, baselines, executor)
    except (DataFileError, PlanError, ValueError) as e:
        fail("check", str(e), 2)
    p.executor_options = executor_options("check", executor, scheduler, tls, insecure, shared_out)
    exit_with("check", run_plan_shown("check", p))

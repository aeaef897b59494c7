"""`sis soak`: hours of workload on one or more targets, sampled all along, judged for leaks
and thresholds, in OUT/soak-report.html (linked from report.html). Exit 0 when every target
passed, 1 when one failed (a leak, a broken threshold), 2 when the lab could not do its job,
130 when interrupted (143 on SIGTERM; the report is written anyway, `--resume` continues)."""

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

__all__ = ["soak"]


def soak(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sis, linux-busybox or a profile file")
    ] = ["sis"],  # noqa: B006
    preset: Annotated[str, typer.Option(help="preset of the targets")] = "default",
    duration: Annotated[str, typer.Option(help="how long to soak: 90s, 10m, 2h, 1h30m")] = "10m",
    interval: Annotated[str, typer.Option(help="time between samples: 1s, 10s, 1m")] = "10s",
    workload: Annotated[
        str, typer.Option(help="a built-in workload (churn, tmpfs-grow) or a workload file")
    ] = "churn",
    out: Annotated[Path, typer.Option(help="where samples and the report go")] = Path("sis-out"),
    resume: Annotated[
        bool, typer.Option(help="continue the soak in OUT (same files, the gap marked)")
    ] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="targets soaked at once")] = 1,
    seed: Annotated[int, typer.Option(help="seed of the workload's random choices")] = 0,
    threshold: Annotated[
        list[str],
        typer.Option(help="a rule, e.g. 'p99(ctx_switch_p99_ns) < 5ms over 5m' (repeatable)"),
    ] = [],  # noqa: B006
    leak_min: Annotated[
        float, typer.Option(help="the smallest growth, in MiB/h, that counts as a leak")
    ] = 1.0,
    warmup: Annotated[
        float,
        typer.Option(
            help="a share of each boot never judged for leaks, beyond the warm-up the samples "
            "show (found in the data)"
        ),
    ] = 0.0,
    append: Annotated[
        str, typer.Option(help="the kernel command line, e.g. sis.bug=leak_on_spawn")
    ] = "",
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    tls: TlsOpt = None,
    insecure: InsecureOpt = False,
    shared_out: SharedOutOpt = None,
) -> None:
    """Soak targets: play a workload for DURATION, sample every INTERVAL, judge the samples
    (Hamed–Rao Mann–Kendall and Theil–Sen leak analysis, windowed thresholds)."""
    from sis.harness.commands.soak import plan_soak
    from sis.harness.datafile import DataFileError
    from sis.harness.phases import PlanError
    from sis.harness.phases.soak import SoakOptions
    from sis.harness.soak.report import REPORT
    from sis.harness.soak.statistics import parse_duration

    try:
        options = SoakOptions(
            workload=workload, duration=parse_duration(duration),
            interval=parse_duration(interval), seed=seed, thresholds=tuple(threshold),
            leak_min=leak_min, warmup=warmup, resume=resume,
        )  # fmt: skip
        plan = plan_soak(
            list(target), preset, options, out, append=append, jobs=jobs, executor=executor
        )
    except (ValueError, DataFileError, PlanError) as e:
        fail("soak", str(e))
    plan.executor_options = executor_options("soak", executor, scheduler, tls, insecure, shared_out)
    results = run_plan_shown("soak", plan)
    if (out / REPORT).exists():
        typer.echo(f"Report: {out / REPORT}", err=True)
    exit_with("soak", results)

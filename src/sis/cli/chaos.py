"""`sis chaos`: list the built-in experiments, run experiments on targets. Exit 0 if all
passed, 1 on a FAIL, 2 on an ERROR (or nothing tested, or a bad experiment), 130 when
interrupted (the rollbacks ran first)."""

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

__all__ = ["chaos_app"]

chaos_app = typer.Typer(
    no_args_is_help=True, help="Chaos experiments: faults, steady state, nothing lost."
)


@chaos_app.command("list")
def list_() -> None:
    """The built-in experiments and what each injects."""
    from sis.harness.chaos.experiment import builtin_experiments, load_experiment
    from sis.harness.datafile import DataFileError

    try:
        for name in builtin_experiments():
            exp = load_experiment(name)
            faults = ", ".join(exp.faults) or "-"
            typer.echo(f"{exp.name:<16} {faults:<16} {exp.description}")
    except DataFileError as e:
        fail("chaos", str(e), 2)


@chaos_app.command("run")
def run(
    experiments: Annotated[
        list[str] | None, typer.Argument(help="built-in names or experiment files (default: all)")
    ] = None,
    target: Annotated[
        list[str],
        typer.Option("--target", "-t", help="sis, linux-busybox or a profile (repeatable)"),
    ] = ["sis"],  # noqa: B006
    preset: Annotated[str, typer.Option(help="comma-separated presets, or all")] = "default",
    seed: Annotated[int, typer.Option(help="seed of the faults: the same seed replays them")] = 0,
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="targets run at once")] = 1,
    out: Annotated[Path, typer.Option(help="where results and reports go")] = Path("sis-out/chaos"),
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    tls: TlsOpt = None,
    insecure: InsecureOpt = False,
    shared_out: SharedOutOpt = None,
) -> None:
    """Run experiments on targets: steady state, fault, rollback, nothing lost. Writes
    results.jsonl, jobs.jsonl, junit.xml, report.html and chaos.html (the timelines)."""
    from sis.harness.commands.chaos import plan_chaos
    from sis.harness.datafile import DataFileError
    from sis.harness.phases import PlanError

    try:
        plan = plan_chaos(
            list(experiments or []), list(target), preset, seed, out, jobs=jobs, executor=executor
        )
    except (DataFileError, PlanError, ValueError) as e:
        fail("chaos", str(e), 2)
    plan.executor_options = executor_options(
        "chaos", executor, scheduler, tls, insecure, shared_out
    )
    results = run_plan_shown("chaos", plan, interrupted="the faults were rolled back")
    typer.echo(f"-> {out}/chaos.html")
    exit_with("chaos", results)


@chaos_app.command("crash-points")
def crash_points(
    target: Annotated[
        str, typer.Option("--target", "-t", help="sis, linux-busybox or a profile")
    ] = "sis",
    preset: Annotated[str, typer.Option(help="the preset to run in")] = "default",
    seed: Annotated[int, typer.Option(help="seed of the sampled reorderings")] = 0,
    files: Annotated[int, typer.Option(min=1, max=64, help="files the workload writes")] = 4,
    max_prefixes: Annotated[
        int, typer.Option(min=-1, help="prefixes checked per flush interval (-1: all)")
    ] = 8,
    reorders: Annotated[int, typer.Option(min=0, help="reorderings per flush interval")] = 2,
    mount_options: Annotated[
        str, typer.Option(help="ext4 mount options of the Linux guest, e.g. nobarrier")
    ] = "",
    ack_before_fsync: Annotated[
        bool, typer.Option(help="the workload acknowledges before fsync returns (a planted bug)")
    ] = False,
    append: Annotated[
        str, typer.Option(help="kernel command line of the reference kernel, e.g. sis.bug=NAME")
    ] = "",
    out: Annotated[Path, typer.Option(help="where the report goes")] = Path("sis-out/crash-points"),
) -> None:
    """Every crash point of the workload on a logged disk: exit 0 pass, 1 a lost write or an
    unclean file system, 2 the lab could not check."""
    from sis.harness.chaos.crashrun import CrashPointOptions
    from sis.harness.commands.chaos import crash_points_of
    from sis.harness.datafile import DataFileError
    from sis.harness.outdir import OutputError
    from sis.harness.phases import PlanError
    from sis.harness.plan import Interrupted
    from sis.harness.results import exit_code

    options = CrashPointOptions(
        files=files,
        max_prefixes=None if max_prefixes < 0 else max_prefixes,
        reorders=reorders,
        mount_options=mount_options,
        ack_before_fsync=ack_before_fsync,
    )
    try:
        r = crash_points_of(
            target,
            preset=preset,
            seed=seed,
            out=out,
            options=options,
            overrides={"append": append} if append else None,
        )
    except (OSError, OutputError, DataFileError, PlanError) as e:
        fail("chaos", str(e), 2)
    except Interrupted as e:
        raise typer.Exit(e.exit_status) from None
    for step in r.steps:
        if not step.ok:
            typer.echo(f"  {step.command}: {step.why}")
    why = f": {r.reason}" if r.reason else ""
    typer.echo(f"{r.verdict}: {r.test}{why}")
    typer.echo(f"-> {r.artifacts.get('crash_points', out)}")
    raise typer.Exit(exit_code([r]))

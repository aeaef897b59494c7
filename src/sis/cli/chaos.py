"""`sis chaos`: list the built-in experiments, run experiments on targets. Exit 0 if all
passed, 1 on a FAIL, 2 on an ERROR (or nothing tested, or a bad experiment), 130 when
interrupted (the rollbacks ran first)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail
from sis.cli.running import exit_with, run_plan_shown

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
    executor: Annotated[str, typer.Option(help="where jobs run: local")] = "local",
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
    results = run_plan_shown("chaos", plan, interrupted="the faults were rolled back")
    typer.echo(f"-> {out}/chaos.html")
    exit_with("chaos", results)

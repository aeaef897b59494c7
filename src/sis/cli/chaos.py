"""`sis chaos`: list the built-in experiments, run experiments on a target. Exit 0 if all
passed, 1 on a FAIL, 2 on an ERROR (or nothing tested, or a bad experiment), 130 when
interrupted (the rollbacks ran first)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["chaos_app"]

chaos_app = typer.Typer(
    no_args_is_help=True, help="Chaos experiments: faults, steady state, nothing lost."
)

_MARK = {"PASS": "✓", "FAIL": "✗", "ERROR": "!", "SKIP": "-"}


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
        str, typer.Option("--target", "-t", help="sim, linux-busybox or a profile")
    ] = "sim",
    preset: Annotated[str, typer.Option(help="the preset to run in")] = "default",
    seed: Annotated[int, typer.Option(help="seed of the faults: the same seed replays them")] = 0,
    out: Annotated[Path, typer.Option(help="where results and reports go")] = Path("sis-out/chaos"),
) -> None:
    """Run experiments on a target: steady state, fault, rollback, nothing lost."""
    from sis.harness.chaos.plan import plan_chaos, run_chaos, write_chaos_reports
    from sis.harness.datafile import DataFileError
    from sis.harness.outdir import OutputError
    from sis.harness.results import TestResult, exit_code, nothing_tested

    try:
        plan = plan_chaos(list(experiments or []), target, preset, seed, out)
    except DataFileError as e:
        fail("chaos", str(e), 2)

    def show(r: TestResult) -> None:
        why = f": {r.reason}" if r.reason else ""
        typer.echo(f"[{_MARK.get(r.verdict, '?')}] {r.verdict}: {r.test}{why}")

    try:
        results = run_chaos(plan, on_result=show)
    except OutputError as e:
        fail("chaos", str(e), 2)
    except KeyboardInterrupt:
        try:
            write_chaos_reports(out)
        except OutputError:
            pass
        typer.echo(
            f"interrupted: the faults were rolled back; results so far are in {out}/results.jsonl",
            err=True,
        )
        raise typer.Exit(130) from None
    typer.echo(f"-> {out}/chaos.html")
    if nothing_tested(results):
        typer.echo("sis chaos: nothing was tested (every experiment skipped): not a pass", err=True)
    raise typer.Exit(exit_code(results))

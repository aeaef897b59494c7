"""`sis selftest`: every readiness job against the clean reference kernel and each planted bug;
prints the detection matrix. Exit 0 only when every bug is caught by the job meant for it and
no job fails on the clean kernel; 1 otherwise; 2 when the command cannot run; 130 on Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["selftest"]


def selftest(
    job: Annotated[
        list[str], typer.Option("--job", "-j", help="a job row, e.g. chaos/disk_full (repeatable)")
    ] = [],  # noqa: B006
    bug: Annotated[
        list[str], typer.Option("--bug", "-b", help="a planted bug (repeatable; default: all)")
    ] = [],  # noqa: B006
    clean: Annotated[bool, typer.Option(help="also run the clean kernel (false alarms)")] = True,
    seed: Annotated[int, typer.Option(help="seed of the faults")] = 0,
    out: Annotated[Path, typer.Option(help="where results and the matrix go")] = Path(
        "sis-out/selftest"
    ),
) -> None:
    """Prove the readiness jobs catch the bugs they claim to (contract section 9)."""
    from sis.harness.outdir import OutputError
    from sis.harness.results import TestResult
    from sis.harness.selftest import format_matrix, holds, plan_selftest, run_selftest

    try:
        plan = plan_selftest(list(job), list(bug), out, seed, clean)
    except ValueError as e:
        fail("selftest", str(e), 2)

    def show(job_name: str, column: str, cell: str, r: TestResult) -> None:
        why = f": {r.reason}" if r.reason and cell not in ("ok", "-") else ""
        typer.echo(f"{job_name} on {column}: {cell}{why}")

    try:
        matrix = run_selftest(plan, on_cell=show)
    except OutputError as e:
        fail("selftest", str(e), 2)
    except KeyboardInterrupt:
        typer.echo(f"interrupted: the results so far are in {out}/results.jsonl", err=True)
        raise typer.Exit(130) from None
    typer.echo("")
    typer.echo(format_matrix(matrix, plan.columns))
    ok = holds(matrix, plan.rows)
    typer.echo(
        "selftest: every planted bug caught, no false alarm"
        if ok
        else "selftest: FAILED (a bug missed, a false alarm or an error; see the matrix)"
    )
    raise typer.Exit(0 if ok else 1)

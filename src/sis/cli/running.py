"""How a command runs its plan (the one door, `sis.harness.plan`): progress on stderr, one-line
errors, results kept after Ctrl-C or SIGTERM (exit 130 or 143), and the exit status every
command shares: 0 all passed, 1 a FAIL, 2 an ERROR or nothing tested."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from sis.cli.errors import fail

if TYPE_CHECKING:
    from sis.harness.plan import Plan
    from sis.harness.results import TestResult

__all__ = ["exit_with", "run_plan_shown"]


def run_plan_shown(group: str, plan: Plan, *, interrupted: str = "") -> list[TestResult]:
    """Run `plan` with progress; on Interrupted exit with its status after saying where the
    results are (and `interrupted`, what the command did about it); on an output error fail
    with one line."""
    from sis.harness.outdir import OutputError
    from sis.harness.plan import Interrupted, run_plan
    from sis.harness.progress import RunProgress

    progress = RunProgress(plan)
    try:
        with progress:
            results = run_plan(plan, on_result=progress.result, on_status=progress.status)
    except OutputError as e:
        fail(group, str(e), 2)
    except Interrupted as e:
        progress.interrupted(interrupted)
        raise typer.Exit(e.exit_status) from None
    progress.summary(results)
    return results


def exit_with(group: str, results: list[TestResult]) -> NoReturn:
    from sis.harness.results import exit_code, nothing_tested

    if nothing_tested(results):
        typer.echo(
            f"sis {group}: nothing was tested ({len(results)} result(s), all skipped): not a pass",
            err=True,
        )
    raise typer.Exit(exit_code(results))

"""How a command runs its plan (the one door, `sis.harness.plan`): progress on stderr, one-line
errors, results kept after Ctrl-C or SIGTERM (exit 130 or 143), and the exit status every
command shares: 0 all passed, 1 a FAIL, 2 an ERROR or nothing tested."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from sis.cli.errors import fail

if TYPE_CHECKING:
    from sis.harness.plan import Plan
    from sis.harness.results import TestResult

__all__ = [
    "ExecutorOpt", "InsecureOpt", "SchedulerOpt", "SharedOutOpt", "TlsOpt", "executor_options",
    "exit_with", "run_plan_shown",
]  # fmt: skip

#: Where a command's jobs run, the same options on every command that runs jobs.
ExecutorOpt = Annotated[str, typer.Option(help="where jobs run: local, or dask (a Dask cluster)")]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(
        help="dask: the scheduler, tls://HOST:PORT [default: $SIS_DASK_SCHEDULER, else a "
        "cluster of its own on this machine]",
        show_default=False,
    ),
]
TlsOpt = Annotated[
    Path | None,
    typer.Option(help="dask: directory with ca.pem, cert.pem, key.pem [default: $SIS_DASK_TLS]"),
]
InsecureOpt = Annotated[
    bool, typer.Option(help="dask: allow plain TCP to a scheduler that is not on loopback")
]
SharedOutOpt = Annotated[
    Path | None,
    typer.Option(help="dask: a directory every worker shares; jobs write their files there"),
]


def executor_options(
    group: str,
    executor: str,
    scheduler: str | None,
    tls: Path | None,
    insecure: bool,
    shared_out: Path | None,
) -> dict[str, Any]:
    """The executor's own settings, checked before anything boots (one line and exit 2 for an
    unknown executor, dask options without dask, a scheduler address that needs TLS)."""
    from sis.harness.executors import make_executor

    if executor != "dask" and (scheduler or tls or insecure or shared_out):
        fail(group, "--scheduler, --tls, --insecure and --shared-out are for --executor dask", 2)
    options: dict[str, Any] = {}
    if executor == "dask":
        options = {
            "scheduler": scheduler, "tls_dir": tls, "insecure": insecure, "shared_out": shared_out,
        }  # fmt: skip
    try:
        make_executor(executor, 1, **options)
    except ValueError as e:
        fail(group, str(e), 2)
    return options


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
    except (OutputError, ConnectionError) as e:
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

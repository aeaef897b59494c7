"""`sis check`: the main job. Exit 0 if all passed, 1 on a FAIL, 2 on an ERROR (or a command
line, profile or suite that cannot be run), 130 when interrupted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["check"]


def check(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sim, linux-busybox or a profile file")
    ] = ["sim"],  # noqa: B006
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
    phases: Annotated[
        str | None,
        typer.Option(help="comma-separated phases to run: suites, metrics, log_regression"),
    ] = None,
    baselines: Annotated[
        Path, typer.Option(help="log baselines recorded with `sis logs baseline --dir`")
    ] = Path("baselines"),
    executor: Annotated[str, typer.Option(help="where jobs run: local or dask")] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="dask: the scheduler, tls://HOST:PORT [default: $SIS_DASK_SCHEDULER, else a "
            "cluster of its own on this machine]",
            show_default=False,
        ),
    ] = None,
    tls: Annotated[
        Path | None,
        typer.Option(
            help="dask: directory with ca.pem, cert.pem, key.pem [default: $SIS_DASK_TLS]"
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option(help="dask: allow plain TCP to a scheduler that is not on loopback")
    ] = False,
    shared_out: Annotated[
        Path | None,
        typer.Option(help="dask: a directory every worker shares; jobs write their files there"),
    ] = None,
) -> None:
    """Boot the target(s), run the phases (shell suites, then the readiness checks), write
    results.jsonl, junit.xml and report.html. Exit 0 if all passed, 1 on a FAIL, 2 on an
    ERROR or when nothing was tested."""
    from sis.harness.check import PlanError, plan, run_check
    from sis.harness.datafile import DataFileError
    from sis.harness.outdir import OutputError
    from sis.harness.progress import CheckProgress
    from sis.harness.results import exit_code, nothing_tested

    if phases is not None:
        wanted = [x.strip() for x in phases.split(",") if x.strip()]
    else:
        wanted = None if readiness else ["suites"]
    try:
        p = plan(target, preset, suite, out, jobs, wanted, baselines, executor)
    except (DataFileError, PlanError) as e:
        fail("check", str(e), 2)
    if executor != "dask" and (scheduler or tls or insecure or shared_out):
        fail("check", "--scheduler, --tls, --insecure and --shared-out are for --executor dask", 2)
    if executor == "dask":
        p.executor_options = {
            "scheduler": scheduler,
            "tls_dir": tls,
            "insecure": insecure,
            "shared_out": shared_out,
        }
    try:
        from sis.harness.executors import make_executor

        make_executor(p.executor, p.parallel, **p.executor_options)  # a bad address fails here
    except ValueError as e:
        fail("check", str(e), 2)
    with CheckProgress(p) as progress:
        try:
            results = run_check(p, on_result=progress.result, on_status=progress.status)
        except (OutputError, ConnectionError) as e:
            progress.stop()
            fail("check", str(e), 2)
        except KeyboardInterrupt:
            from sis.harness.check import write_reports

            results = write_reports(out)
            progress.interrupted()
            raise typer.Exit(130) from None
    progress.summary(results)
    if nothing_tested(results):
        typer.echo(
            f"sis check: nothing was tested ({len(results)} result(s), all skipped): not a pass",
            err=True,
        )
    raise typer.Exit(exit_code(results))

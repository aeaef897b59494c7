"""`sis selftest`: every readiness job against a clean target and every planted bug (the
reference kernel's, or a Linux guest's with `--target linux-busybox`); prints the detection
matrix. Exit 0 only when every bug is caught by each job meant for it, no job raises a false
alarm and no cell failed to run; 1 otherwise; 2 when the command cannot run; 130 on Ctrl-C
(143 on SIGTERM), with matrix.json saying `complete: false`."""

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
)

__all__ = ["selftest"]


def selftest(
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="sis, or a Linux guest: linux-busybox (-arm64, -riscv64), bugs planted as "
            "its configuration",
        ),
    ] = "sis",
    job: Annotated[
        list[str], typer.Option("--job", help="a job row, e.g. chaos/disk_full (repeatable)")
    ] = [],  # noqa: B006
    bug: Annotated[
        list[str], typer.Option("--bug", "-b", help="a planted bug (repeatable; default: all)")
    ] = [],  # noqa: B006
    clean: Annotated[bool, typer.Option(help="also run the clean kernel (false alarms)")] = True,
    diagonal: Annotated[
        bool, typer.Option(help="only each bug against the jobs meant for it (and clean)")
    ] = False,
    seed: Annotated[int, typer.Option(help="seed of the faults, workloads and fuzzer")] = 0,
    bug_seed: Annotated[
        int | None,
        typer.Option(help="where the planted bugs' triggers are placed (sis) [default: random]"),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option("-j", "--jobs", help="cells run at once [default: as many as fit]"),
    ] = None,
    out: Annotated[Path, typer.Option(help="where results and the matrix go")] = Path(
        "sis-out/selftest"
    ),
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    tls: TlsOpt = None,
    insecure: InsecureOpt = False,
    shared_out: SharedOutOpt = None,
) -> None:
    """Prove the readiness jobs catch the bugs they claim to (contract section 9) and stay
    quiet where they should."""
    from sis.harness.commands.selftest import (
        MATRIX,
        CellWatch,
        as_plan,
        build_matrix,
        format_matrix,
        plan_selftest,
        target_ready,
        write_matrix,
    )
    from sis.harness.outdir import OutputError
    from sis.harness.plan import Interrupted, run_plan
    from sis.harness.results import TestResult

    try:
        plan = plan_selftest(
            list(job), list(bug), out, seed, clean, bug_seed, diagonal, target=target
        )
        if executor == "local":  # elsewhere the workers' QEMU and images are what count
            target_ready(plan)
        door = as_plan(plan, jobs, executor)
    except ValueError as e:
        fail("selftest", str(e), 2)
    door.executor_options = executor_options(
        "selftest", executor, scheduler, tls, insecure, shared_out
    )
    planted = (
        f"bug seed {plan.bug_seed} (repeat with --bug-seed {plan.bug_seed})"
        if plan.bug_seed is not None
        else "bugs planted as configurations of the guest"
    )
    typer.echo(f"{plan.target.name}: {planted}, {len(plan.cells)} cells, "
               f"{door.parallel} at once")  # fmt: skip

    def show(job_name: str, column: str, cell: str, r: TestResult | None) -> None:
        why = f": {r.reason}" if r is not None and r.reason and cell not in ("ok", "quiet") else ""
        typer.echo(f"{job_name} on {column}: {cell}{why}")

    watch = CellWatch(plan, show)

    # A matrix left by an earlier run must not stand for this one if it dies.
    (out / MATRIX).unlink(missing_ok=True)
    try:
        results = run_plan(door, on_result=watch.result, on_status=watch.status)
    except (OutputError, ConnectionError) as e:
        fail("selftest", str(e), 2)
    except Interrupted as e:
        _incomplete(plan)
        typer.echo(f"interrupted: matrix.json says holds: false; results so far in {out}",
                   err=True)  # fmt: skip
        raise typer.Exit(e.exit_status) from None
    except Exception as e:  # noqa: BLE001 - said in one line, the matrix marked incomplete
        _incomplete(plan)
        fail("selftest", f"the run failed ({type(e).__name__}: {e}); matrix.json says "
             "holds: false", 2)  # fmt: skip
    matrix, reasons = build_matrix(plan, results)
    try:
        ok = write_matrix(plan, matrix, reasons, complete=True)
    except OutputError as e:
        fail("selftest", str(e), 2)
    typer.echo("")
    typer.echo(format_matrix(matrix, plan.columns, plan.rows))
    typer.echo(
        "selftest: every planted bug caught, no false alarm"
        if ok
        else "selftest: FAILED (a bug missed, a false alarm or an error; see the matrix)"
    )
    raise typer.Exit(0 if ok else 1)


def _incomplete(plan) -> None:  # noqa: ANN001
    from sis.harness.commands.selftest import build_matrix, write_matrix
    from sis.harness.outdir import OutputError
    from sis.harness.results import read_results

    results, _ = read_results(plan.out / "results.jsonl")
    matrix, reasons = build_matrix(plan, results)
    try:
        write_matrix(plan, matrix, reasons, complete=False)
    except OutputError:
        pass

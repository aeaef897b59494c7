"""`sis fuzz`: fuzz a kernel's syscalls from their descriptions, with coverage feedback on the
reference kernel, deduplicated crashes and minimized reproducers; `sis fuzz repro FILE`
replays a reproducer. Exit 0 when no crash was found, 1 when one was, 2 when the lab could
not fuzz."""

from __future__ import annotations

import re
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

__all__ = ["fuzz_app"]

fuzz_app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    help="Fuzz a kernel's syscalls; replay reproducers.",
)


def _seconds(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not m:
        raise ValueError(f"not a duration: {text!r} (say 300, 300s, 5m or 1h)")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


@fuzz_app.callback()
def fuzz(
    ctx: typer.Context,
    target: Annotated[str, typer.Option("--target", "-t", help="sis or a profile")] = "sis",
    duration: Annotated[str, typer.Option(help="how long: 300, 5m, 1h")] = "60",
    seed: Annotated[int, typer.Option(help="random seed (same seed, same programs)")] = 0,
    out: Annotated[Path, typer.Option(help="corpus, crashes and stats go here")] = Path(
        "sis-out/fuzz"
    ),
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="targets fuzzed in parallel")] = 1,
    syscalls: Annotated[
        str | None, typer.Option(help="comma-separated syscalls to fuzz (default: all safe)")
    ] = None,
    cover: Annotated[
        bool, typer.Option(help="coverage feedback (x-sis-kcov; slower, finds deeper paths)")
    ] = False,
    append: Annotated[
        str, typer.Option(help="kernel command line, e.g. sis.bug=pwrite_overflow")
    ] = "",
    round_: Annotated[
        str,
        typer.Option(
            "--round",
            help="a long campaign is cut into rounds this long; the corpus is merged between them",
        ),
    ] = "5m",
    executor: ExecutorOpt = "local",
    scheduler: SchedulerOpt = None,
    tls: TlsOpt = None,
    insecure: InsecureOpt = False,
    shared_out: SharedOutOpt = None,
) -> None:
    """Fuzz TARGET for DURATION with live progress; writes the corpus, crashes (with minimized
    reproducers), stats.prom, summary.json, fuzz.html and the run's results and report to OUT."""
    if ctx.invoked_subcommand is not None:
        return
    from sis.harness.commands.fuzz import plan_fuzz
    from sis.harness.datafile import DataFileError
    from sis.harness.fuzz.campaign import merge, write_summary
    from sis.harness.fuzz.fuzzer import FuzzConfig
    from sis.harness.fuzz.progress import FuzzProgress
    from sis.harness.outdir import OutputError
    from sis.harness.phases import PlanError
    from sis.harness.plan import Interrupted, run_plan
    from sis.harness.results import ERROR

    try:
        seconds, round_s = _seconds(duration), _seconds(round_)
        if seconds <= 0 or round_s <= 0:
            raise ValueError("--duration and --round must be positive")
    except ValueError as e:
        fail("fuzz", str(e), 2)
    names = [s.strip() for s in syscalls.split(",") if s.strip()] if syscalls else None
    config = FuzzConfig(
        target=target, duration=seconds, seed=seed, out=out, jobs=jobs, syscalls=names,
        cover=cover, append=append,
    )  # fmt: skip
    try:
        plan = plan_fuzz(config, round_s=round_s, executor=executor)
    except (ValueError, DataFileError, PlanError) as e:
        fail("fuzz", str(e), 2)
    plan.executor_options = executor_options("fuzz", executor, scheduler, tls, insecure, shared_out)
    progress = FuzzProgress(config)
    try:
        with progress:
            results = run_plan(plan, on_result=lambda r: _note_error(progress, r))
    except (OutputError, ConnectionError) as e:
        fail("fuzz", str(e), 2)
    except Interrupted as e:
        typer.echo(f"interrupted: what was found so far is in {out}", err=True)
        raise typer.Exit(e.exit_status) from None
    run = merge(out)
    run.errors = [r.reason for r in results if r.verdict == ERROR]
    write_summary(out, run, config)
    progress.summary(run)
    if not run.stats.calls:  # nothing fuzzed is not "no crash"
        why = run.errors or [r.reason for r in results if r.verdict == "SKIP"]
        fail("fuzz", why[0] if why else "no call was executed", 2)
    raise typer.Exit(1 if run.crashes else 0)


def _note_error(progress, r) -> None:  # noqa: ANN001
    if r.verdict == "ERROR":
        progress.errors.append(r.reason)


@fuzz_app.command()
def repro(
    file: Annotated[Path, typer.Argument(help="repro.json (or any corpus program)")],
    target: Annotated[str, typer.Option("--target", "-t", help="sis or a profile")] = "sis",
    append: Annotated[str, typer.Option(help="kernel command line")] = "",
    repeat: Annotated[int, typer.Option(help="run it up to this many times")] = 1,
    out: Annotated[Path, typer.Option(help="where results and the target's captures go")] = Path(
        "sis-out/fuzz-repro"
    ),
) -> None:
    """Replay a reproducer on a fresh boot of TARGET: exit 1 if the kernel dies (its crash
    title is printed), 0 if it survives."""
    import json

    from sis.harness.datafile import DataFileError
    from sis.harness.fuzz.replay import load_program
    from sis.harness.jobs import target_jobs
    from sis.harness.outdir import OutputError
    from sis.harness.phases import PlanError
    from sis.harness.plan import Interrupted, Plan, run_plan
    from sis.harness.results import ERROR, FAIL

    try:
        program = load_program(file)
        options = {"fuzz_repro": {"program": json.loads(program.to_json()), "repeat": repeat}}
        jobs, _ = target_jobs(
            [target], "default", ("fuzz_repro",), options, out / "targets",
            overrides={"append": append} if append else None,
        )  # fmt: skip
        plan = Plan("SIS fuzz repro", [jobs], out)
    except (ValueError, DataFileError, PlanError) as e:
        fail("fuzz", str(e), 2)
    typer.echo(program.listing())
    try:
        results = run_plan(plan)
    except OutputError as e:
        fail("fuzz", str(e), 2)
    except Interrupted as e:
        raise typer.Exit(e.exit_status) from None
    replayed = next((r for r in results if r.test == "repro"), None)
    if replayed is None or replayed.verdict == ERROR:
        why = replayed.reason if replayed else next((r.reason for r in results), "no result")
        fail("fuzz", why, 2)
    typer.echo(replayed.reason)
    raise typer.Exit(1 if replayed.verdict == FAIL else 0)


@fuzz_app.command()
def validate(
    target: Annotated[
        list[str] | None,
        typer.Option("--target", "-t", help="sis or a profile; repeat to compare several"),
    ] = None,
    out: Annotated[Path, typer.Option(help="validation.json and validation.txt go here")] = Path(
        "sis-out/fuzz"
    ),
    case: Annotated[
        list[str] | None, typer.Option("--case", help="run only this case (repeatable)")
    ] = None,
) -> None:
    """Run the differential validation suite (syscalls with one bad argument each) on each
    TARGET and print every answer beside Linux's. Exit 1 when a target answers a case
    otherwise than Linux with no reason recorded (or a case could not run), 0 when all agree."""
    from rich.console import Console
    from rich.text import Text

    from sis.harness.datafile import DataFileError
    from sis.harness.fuzz.validate import CASES, unexplained, write
    from sis.harness.jobs import target_jobs
    from sis.harness.outdir import OutputError
    from sis.harness.phases import PlanError
    from sis.harness.phases.fuzz_validate import read_runs
    from sis.harness.plan import Interrupted, Plan, run_plan
    from sis.harness.results import ERROR

    console = Console(stderr=True)
    targets = target or ["sis"]
    known = {c.name for c in CASES}
    for name in case or []:
        if name not in known:
            fail("fuzz", f"no validation case {name!r}", 2)
    try:
        jobs, _ = target_jobs(
            targets, "default", ("fuzz_validate",),
            {"fuzz_validate": {"cases": list(case or [])}}, out / "targets",
        )  # fmt: skip
        plan = Plan("SIS fuzz validate", [jobs], out)
    except (ValueError, DataFileError, PlanError) as e:
        fail("fuzz", str(e), 2)
    try:
        with console.status(Text(f"validating {', '.join(targets)}")):
            results = run_plan(plan)
    except OutputError as e:
        fail("fuzz", str(e), 2)
    except Interrupted as e:
        raise typer.Exit(e.exit_status) from None
    order = {job.name: i for i, job in enumerate(jobs)}
    runs = sorted((r for r in read_runs(out) if r.target in order), key=lambda r: order[r.target])
    lab = [r for r in results if r.verdict == ERROR and r.suite != "fuzz-validate"]
    if lab or not runs:
        fail("fuzz", lab[0].reason if lab else "no target could be validated", 2)
    for run in runs:
        c = run.counts()
        console.print(Text(
            f"{run.target} ({run.arch}): {len(run.answers)} cases, {c['match']} as Linux, "
            f"{c['explained']} explained, {c['differs']} differ, {c['error']} error"
        ))  # fmt: skip
    try:
        path = write(out, runs)
    except (OSError, OutputError) as e:
        fail("fuzz", f"cannot write {out}: {e}", 2)
    typer.echo(path.read_text(), nl=False)
    bad = unexplained(runs)
    for t, a in bad:
        line = Text(a.verdict.upper(), style="red")
        line.append(f" {t} {a.case}: {a.answer} ({a.detail})")
        console.print(line)
    console.print(Text(f"table: {path}  data: {out / 'validation.json'}"))
    raise typer.Exit(1 if bad else 0)

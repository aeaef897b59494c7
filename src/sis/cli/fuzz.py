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
) -> None:
    """Fuzz TARGET for DURATION with live progress; writes the corpus, crashes (with minimized
    reproducers), stats.prom and summary.json to OUT."""
    if ctx.invoked_subcommand is not None:
        return
    from sis.harness.datafile import DataFileError
    from sis.harness.fuzz.fuzzer import FuzzConfig, run_fuzz
    from sis.harness.fuzz.generate import enabled_calls
    from sis.harness.fuzz.progress import FuzzProgress

    try:
        seconds = _seconds(duration)
    except ValueError as e:
        fail("fuzz", str(e), 2)
    names = [s.strip() for s in syscalls.split(",") if s.strip()] if syscalls else None
    config = FuzzConfig(
        target=target, duration=seconds, seed=seed, out=out, jobs=jobs, syscalls=names,
        cover=cover, append=append,
    )  # fmt: skip
    try:
        enabled_calls(names)  # a bad --syscalls is said before anything boots
        with FuzzProgress(config) as progress:
            run = run_fuzz(config, on_tick=progress.update)
    except (ValueError, DataFileError, OSError) as e:
        fail("fuzz", str(e), 2)
    progress.summary(run)
    if run.errors and not run.stats.calls:
        fail("fuzz", run.errors[0], 2)
    raise typer.Exit(1 if run.crashes else 0)


@fuzz_app.command()
def repro(
    file: Annotated[Path, typer.Argument(help="repro.json (or any corpus program)")],
    target: Annotated[str, typer.Option("--target", "-t", help="sis or a profile")] = "sis",
    append: Annotated[str, typer.Option(help="kernel command line")] = "",
    repeat: Annotated[int, typer.Option(help="run it up to this many times")] = 1,
    out: Annotated[Path, typer.Option(help="where the target's captures go")] = Path(
        "sis-out/fuzz-repro"
    ),
) -> None:
    """Replay a reproducer on a fresh boot of TARGET: exit 1 if the kernel dies (its crash
    title is printed), 0 if it survives."""
    from sis.harness.datafile import DataFileError
    from sis.harness.fuzz.replay import load_program, replay
    from sis.harness.session import TargetDied
    from sis.harness.targets.base import TargetError

    try:
        program = load_program(file)
        result = replay(program, target, workdir=out, append=append, repeat=repeat)
    except (ValueError, DataFileError, TargetError, TargetDied, OSError) as e:
        fail("fuzz", str(e), 2)
    typer.echo(program.listing())
    if result.crash is not None:
        typer.echo(f"crashed ({result.crash.kind}) on run {result.runs}: {result.crash.title}")
        raise typer.Exit(1)
    typer.echo(f"no crash in {result.runs} run(s); results: {result.results}")


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
    from sis.harness.fuzz.guest_channel import ExecutorError
    from sis.harness.fuzz.validate import TargetRun, unexplained, validate_target, write
    from sis.harness.qmp import QMPError
    from sis.harness.session import TargetDied
    from sis.harness.targets.base import TargetError

    console = Console(stderr=True)
    runs: list[TargetRun] = []
    for t in target or ["sis"]:
        try:
            with console.status(Text(f"validating {t}")):
                run = validate_target(t, out / "targets", case)
        except (ValueError, DataFileError, TargetError, TargetDied, QMPError, ExecutorError,
                OSError) as e:  # fmt: skip
            fail("fuzz", f"{t}: {e}", 2)
        c = run.counts()
        console.print(
            Text(
                f"{t} ({run.arch}): {len(run.answers)} cases, {c['match']} as Linux, "
                f"{c['explained']} explained, {c['differs']} differ, {c['error']} error"
            )
        )
        runs.append(run)
    try:
        path = write(out, runs)
    except OSError as e:
        fail("fuzz", f"cannot write {out}: {e.strerror or e}", 2)
    typer.echo(path.read_text(), nl=False)
    bad = unexplained(runs)
    for t, a in bad:
        line = f" {t} {a.case}: {a.answer} ({a.detail})"
        console.print(Text.assemble((a.verdict.upper(), "red"), line))
    console.print(Text(f"table: {path}  data: {out / 'validation.json'}"))
    raise typer.Exit(1 if bad else 0)

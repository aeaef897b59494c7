"""`sis logs`: record a kernel log baseline, check a run against it, parse a capture.

Exit codes: 0 all
well; 1 a regression (an event of the baseline is missing; with --strict also an added one),
or malformed lines with `parse --strict`; 2 the baseline is missing or unreadable, or the
target could not be run; 130 interrupted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["logs_app"]

logs_app = typer.Typer(
    no_args_is_help=True,
    help="Kernel logs: record a baseline, check a run against it, parse a capture.",
)

_TARGET_HELP = "sis (the reference kernel), linux-busybox, or a profile file"


@contextmanager
def _progress() -> Iterator[object]:
    """A spinner on stderr that the capture updates with what it is doing."""
    from rich.console import Console
    from rich.text import Text

    console = Console(stderr=True)
    with console.status("starting") as spinner:
        yield lambda text: spinner.update(Text(text))  # what the target says is text


def _notes(notes: list[str]) -> None:
    for note in notes:
        typer.echo(f"note: {note}", err=True)


@logs_app.command("baseline")
def baseline_cmd(
    target: Annotated[str, typer.Option("--target", "-t", help=_TARGET_HELP)] = "sis",
    preset: Annotated[str, typer.Option(help="the preset to boot")] = "default",
    name: Annotated[
        str | None, typer.Option(help="baseline name (default: <profile>-<preset>)")
    ] = None,
    directory: Annotated[
        Path, typer.Option("--dir", help="where baselines live (commit it)")
    ] = Path("baselines"),
    suite: Annotated[
        list[str], typer.Option("--suite", "-s", help="suite to run after boot (repeatable)")
    ] = [],  # noqa: B006
    workdir: Annotated[
        Path | None, typer.Option(help="keep the run's files here (default: a temporary dir)")
    ] = None,
) -> None:
    """Boot the target, run the suites, power it off, and write DIR/NAME.baseline: the
    normalized kernel log, one event a line."""
    from sis.harness.commands.logs import record_baseline
    from sis.harness.logs import BaselineError

    try:
        with _progress() as status:
            b = record_baseline(
                target,
                directory=directory,
                name=name,
                preset=preset,
                suites=suite,
                workdir=workdir,
                on_status=status,  # type: ignore[arg-type]
            )
    except BaselineError as e:
        fail("logs", str(e), 2)
    except KeyboardInterrupt:
        fail("logs", "interrupted; no baseline written", 130)
    _notes(b.notes)
    typer.echo(
        f"wrote {b.path}: {len(b.events)} events ({b.records} log records) "
        f"from {b.profile}/{b.preset}"
    )


@logs_app.command("check")
def check_cmd(
    name: Annotated[str, typer.Option(help="baseline name (file DIR/NAME.baseline)")],
    directory: Annotated[Path, typer.Option("--dir", help="where baselines live")] = Path(
        "baselines"
    ),
    target: Annotated[
        str | None, typer.Option("--target", "-t", help="default: the baseline's target")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="default: the baseline's preset")] = None,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-s", help="default: the baseline's suites (repeatable)"),
    ] = None,
    strict: Annotated[bool, typer.Option(help="added events fail too")] = False,
    log: Annotated[
        Path | None, typer.Option(help="check this captured log file instead of booting")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="keep the run's files here (default: a temporary dir)")
    ] = None,
) -> None:
    """Boot again, normalize the log and compare it with the baseline. Exit 1 if events of
    the baseline are missing (or, with --strict, new ones appeared)."""
    from sis.harness.commands.logs import check_against_baseline
    from sis.harness.logs import BaselineError

    try:
        with _progress() as status:
            diff = check_against_baseline(
                name,
                directory,
                target=target,
                preset=preset,
                suites=suite or None,
                strict=strict,
                workdir=workdir,
                log=log,
                on_status=status,  # type: ignore[arg-type]
            )
    except BaselineError as e:
        fail("logs", str(e), 2)
    except KeyboardInterrupt:
        fail("logs", "interrupted", 130)
    _notes(diff.notes)
    typer.echo(diff.render())
    if not diff.ok and diff.log_path is not None and log is None:
        typer.echo(f"The full log of this run: {diff.log_path}")
    raise typer.Exit(0 if diff.ok else 1)


@logs_app.command("parse")
def parse_cmd(
    file: Annotated[Path, typer.Argument(help="a kernel log or console capture")],
    console: Annotated[
        bool, typer.Option(help="a console capture: skip shell output silently")
    ] = False,
    signatures: Annotated[bool, typer.Option(help="print each record's signature")] = False,
    strict: Annotated[bool, typer.Option(help="exit 1 if any line is malformed")] = False,
) -> None:
    """Parse a capture: report malformed lines and sequence gaps; optionally print the
    normalized event signatures."""
    from sis.harness.logs.normalize import signature
    from sis.harness.logs.parse import parse_file

    try:
        report = parse_file(file, mixed=console)
    except OSError as e:
        fail("logs", f"{file}: cannot read: {e.strerror or e}", 2)
    if signatures:
        for r in report.records:
            typer.echo(f"{r.line}: {signature(r)}")
    for p in report.problems:
        typer.echo(f"{file}:{p}", err=True)
    for g in report.gaps:
        typer.echo(f"{file}:{g}", err=True)
    typer.echo(f"{file}: {report.summary()}", err=True)
    raise typer.Exit(1 if strict and report.problems else 0)

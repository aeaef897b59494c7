"""`sis crash`: find the crashes in a console capture, decode them against a symbol map, list
the deduplicated crashes of a run.

Exit codes: 0 the command did its job (whether or not it found a crash); 2 a file could not be
read (or a symbol map used).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, BinaryIO

import typer

from sis.cli.errors import fail

if TYPE_CHECKING:
    from sis.harness.forensics import Crash, CrashGroup

__all__ = ["crash_app"]

crash_app = typer.Typer(
    no_args_is_help=True,
    help="Crashes: parse a console capture, decode a trace, list a run's crashes.",
)

_OS_HELP = "the kernel that wrote the text: linux, sis or firmware (default: try all)"


def _read(file: str) -> str:
    if file == "-":
        return sys.stdin.buffer.read().decode("utf-8", "replace")
    try:
        return Path(file).read_bytes().decode("utf-8", "replace")
    except OSError as e:
        fail("crash", f"cannot read {file}: {e.strerror or e}")


def _show(crash: Crash, *, decoded: bool = False) -> None:
    flag = f"  [corrupted: {crash.corrupted_reason}]" if crash.corrupted else ""
    typer.echo(f"{crash.title}{flag}")
    where = f"lines {crash.start_line}-{crash.end_line}"
    if crash.source:
        where = f"{crash.source}:{crash.start_line}-{crash.end_line}"
    typer.echo(f"  type:     {crash.type}{' (fatal)' if crash.fatal else ''}   {where}")
    if crash.frame:
        typer.echo(f"  guilty:   {crash.frame}")
    facts = [
        f"kernel {crash.kernel_version}" if crash.kernel_version else "",
        f"arch {crash.arch}" if crash.arch else "",
        f"tainted {crash.taint}" if crash.taint and crash.taint != "G" else "",
        f"modules {' '.join(crash.modules)}" if crash.modules else "",
    ]
    if any(facts):
        typer.echo("  " + "; ".join(f for f in facts if f))
    if crash.frames:
        typer.echo("  trace:")
        for f in crash.frames:
            typer.echo(f"    {f}")
    if decoded and crash.register_symbols:
        typer.echo("  registers:")
        for name, sym in crash.register_symbols.items():
            typer.echo(f"    {name:>6} = {crash.registers[name]:#018x}  {sym}")


def _json(items: list[dict[str, object]]) -> None:
    import json

    typer.echo(json.dumps(items, indent=1))


def _open(file: str) -> BinaryIO:
    if file == "-":
        return sys.stdin.buffer
    try:
        f = open(file, "rb")  # noqa: SIM115 - closed by the caller
    except OSError as e:
        fail("crash", f"cannot read {file}: {e.strerror or e}")
    if not Path(file).is_file():
        f.close()
        fail("crash", f"cannot read {file}: not a regular file")
    return f


@crash_app.command("parse")
def parse_cmd(
    file: Annotated[str, typer.Argument(help="a console capture, or - for stdin")],
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list ([] when none)")] = False,
    os_hint: Annotated[str | None, typer.Option("--os", help=_OS_HELP)] = None,
) -> None:
    """Every crash in a console capture: type, title, guilty frame, call trace.

    The capture is read as a stream: memory stays bounded whatever its size.

    A report with no end is cut at 1000 lines and marked corrupted; lines at 4096 characters."""
    import json

    from sis.harness.forensics import stream_crashes

    f = _open(file)
    try:
        crashes = stream_crashes(f, os_hint=os_hint)
        if as_json:
            # One item at a time: the list is never held whole.
            typer.echo("[", nl=False)
            for i, c in enumerate(crashes):
                typer.echo(("," if i else "") + "\n" + json.dumps(c.to_dict(), indent=1), nl=False)
            typer.echo("\n]")
            return
        n = 0
        for n, c in enumerate(crashes, 1):
            if n > 1:
                typer.echo("")
            _show(c)
        if not n:
            typer.echo("no crash found")
    except OSError as e:
        fail("crash", f"cannot read {file}: {e.strerror or e}")
    finally:
        if f is not sys.stdin.buffer:
            f.close()


@crash_app.command("decode")
def decode_cmd(
    file: Annotated[str, typer.Argument(help="a console capture, or - for stdin")],
    symbols: Annotated[
        Path,
        typer.Option(
            "--symbols", "-s", help="System.map, /proc/kallsyms, a vmlinux, or `sis kernel symbols`"
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list ([] when none)")] = False,
    os_hint: Annotated[str | None, typer.Option("--os", help=_OS_HELP)] = None,
) -> None:
    """The crashes of a capture with every frame and code address resolved (file:line when
    the vmlinux has debug info)."""
    from sis.harness.forensics import SymbolError, find_crashes, load_symbols, symbolize

    crashes = find_crashes(_read(file), os_hint=os_hint)
    try:
        table = load_symbols(symbols)
    except SymbolError as e:
        fail("crash", str(e))
    decoded = [symbolize(c, table) for c in crashes]
    if as_json:
        _json([c.to_dict() for c in decoded])
        return
    if not decoded:
        typer.echo("no crash found")
    for i, c in enumerate(decoded):
        if i:
            typer.echo("")
        _show(c, decoded=True)


@crash_app.command("list")
def list_cmd(
    out_dir: Annotated[Path, typer.Argument(help="the OUT directory of a `sis check` run")],
    as_json: Annotated[bool, typer.Option("--json", help="a JSON list ([] when none)")] = False,
) -> None:
    """The run's crashes, one line per distinct title: count, first and last seen, captures."""
    import time

    from sis.harness.forensics import dedup, group_title, run_crashes

    if not out_dir.is_dir():
        fail("crash", f"{out_dir} is not a directory")
    crashes = run_crashes(out_dir)
    groups = dedup(crashes)

    def key(g: CrashGroup) -> str:
        return group_title(g.crash.title)

    if as_json:
        _json(
            [
                {
                    **g.crash.to_dict(),
                    "count": g.count,
                    "first_seen": g.first_seen,
                    "last_seen": g.last_seen,
                    "sources": sorted(
                        {c.source for c in crashes if group_title(c.title) == key(g)}
                    ),
                }
                for g in groups
            ]
        )
        return
    if not groups:
        typer.echo(f"no crash in {out_dir}")
        return

    def when(t: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else "?"

    for g in groups:
        typer.echo(f"{g.count:>4}x  {g.crash.title}")
        typer.echo(f"       first {when(g.first_seen)}  last {when(g.last_seen)}")
        for src in sorted({c.source for c in crashes if group_title(c.title) == key(g)}):
            typer.echo(f"       {src}")

"""How every `sis` command fails: one line ``sis <group>: <message>`` on stderr (never a
traceback) and an exit status."""

from __future__ import annotations

from typing import NoReturn

import typer

__all__ = ["fail"]


def fail(group: str, message: str, code: int = 2) -> NoReturn:
    """Print ``sis <group>: <message>`` on stderr and exit with `code` (2: the command could
    not do its job; commands document their other codes)."""
    one_line = " ".join(part.strip() for part in str(message).strip().splitlines()) or "failed"
    typer.echo(f"sis {group}: {one_line}", err=True)
    raise typer.Exit(code)

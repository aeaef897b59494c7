"""`sis kernel` (run the SIS reference kernel) and `sis version`."""

from __future__ import annotations

import typer

__all__ = ["kernel", "version"]


def kernel(ctx: typer.Context) -> None:
    """Run the SIS reference kernel (QEMU-style options; `sis kernel -h`)."""
    from sis.kernel.__main__ import main as kernel_main

    raise typer.Exit(kernel_main(list(ctx.args)))


def version() -> None:
    """Print the SIS version and build information."""
    from sis.kernel.buildinfo import build_info

    typer.echo(build_info().headline())

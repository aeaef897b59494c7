"""The `sis` command: one typer app, one thin module per command group (`kernel`, `disk`,
`check`, `image`, `logs`, `metrics`) that parses options, calls the harness and prints.

Start-up stays light: the group modules import only typer at load time and everything else
inside their commands, so `sis --help` loads no harness; and the app is built on first use,
so `sis kernel` (which hands its QEMU-style options to the kernel untouched) and
`sis --version` load no typer.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer

__all__ = ["app", "main"]


def _build_app() -> typer.Typer:
    import typer

    from sis.cli import (
        chaos,
        check,
        crash,
        disk,
        fuzz,
        image,
        kernel,
        logs,
        metrics,
        report,
        selftest,
        soak,
        worker,
    )

    app = typer.Typer(
        add_completion=False,
        no_args_is_help=True,
        help="SIS: make an operating-system kernel production ready, and prove it.",
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", "-V", is_eager=True, help="Print the SIS version and exit."
        ),
    ) -> None:
        if version:  # `main` answers a lone --version itself; this is --version with others
            from sis import __version__

            typer.echo(f"sis {__version__}")
            raise typer.Exit()

    # Listed in `sis --help` too; `main` runs it without typer.
    app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
        kernel.kernel
    )
    app.command()(kernel.version)
    app.command()(check.check)
    app.add_typer(disk.disk_app, name="disk")
    app.add_typer(chaos.chaos_app, name="chaos")
    app.add_typer(crash.crash_app, name="crash")
    app.add_typer(fuzz.fuzz_app, name="fuzz")
    app.command()(selftest.selftest)
    app.command()(soak.soak)
    app.command()(worker.worker)
    app.add_typer(image.image_app, name="image")
    app.add_typer(report.report_app, name="report")
    app.add_typer(metrics.metrics_app, name="metrics", help="Collect and export kernel metrics.")
    app.add_typer(
        logs.logs_app, name="logs", help="Kernel logs: parse, record baselines, check against them."
    )
    return app


def __getattr__(name: str) -> object:
    if name == "app":
        app = globals()["app"] = _build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    # Answered before typer loads: these two are what a user runs most often and waits for.
    if len(sys.argv) > 1 and sys.argv[1] == "kernel":
        from sis.kernel.__main__ import main as kernel_main

        sys.exit(kernel_main(sys.argv[2:]))
    if sys.argv[1:] in (["--version"], ["-V"]):
        from sis import __version__

        print(f"sis {__version__}")
        return
    _build_app()()

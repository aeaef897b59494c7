"""The `sis` command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="SIS: make an operating-system kernel production ready, and prove it.",
)
disk_app = typer.Typer(no_args_is_help=True, help="Offline tools for SIS disk images.")
image_app = typer.Typer(no_args_is_help=True, help="Build the images that QEMU targets boot.")
app.add_typer(disk_app, name="disk")
app.add_typer(image_app, name="image")


def _mount_sub_apps() -> None:
    from sis.harness.logs.cli import logs_app
    from sis.harness.metrics.cli import metrics_app

    app.add_typer(metrics_app, name="metrics", help="Collect and export kernel metrics.")
    app.add_typer(logs_app, name="logs", help="Kernel logs: parse, record baselines, check against them.")


_mount_sub_apps()


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"sis: {message}", err=True)
    raise typer.Exit(code)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def kernel(ctx: typer.Context) -> None:
    """Run the SIS reference kernel (QEMU-style options; `sis kernel -h`)."""
    from sis.kernel.__main__ import main as kernel_main

    raise typer.Exit(kernel_main(list(ctx.args)))


@app.command()
def version() -> None:
    """Print the SIS version and build information."""
    from sis.kernel.buildinfo import build_info

    typer.echo(build_info().headline())


@app.command()
def check(
    target: Annotated[
        list[str], typer.Option("--target", "-t", help="sim, linux-busybox or a profile file")
    ] = ["sim"],  # noqa: B006
    preset: Annotated[str, typer.Option(help="comma-separated presets, or all")] = "default",
    suite: Annotated[
        list[str], typer.Option("--suite", "-s", help="suite name or file (repeatable)")
    ] = [],  # noqa: B006
    jobs: Annotated[int, typer.Option("-j", "--jobs", help="targets run in parallel")] = 1,
    out: Annotated[Path, typer.Option(help="where results and reports go")] = Path("sis-out"),
    readiness: Annotated[
        bool, typer.Option(help="also run the metrics and log-regression checks")
    ] = True,
    baselines: Annotated[
        Path, typer.Option(help="log baselines recorded with `sis logs baseline --dir`")
    ] = Path("baselines"),
) -> None:
    """Boot the target(s), run the suites, write results.jsonl, junit.xml and report.html.
    Exit 0 if all passed, 1 on a FAIL, 2 on an ERROR."""
    from sis.harness.check import plan, run_check
    from sis.harness.datafile import DataFileError
    from sis.harness.progress import CheckProgress
    from sis.harness.results import exit_code

    try:
        p = plan(target, preset, suite, out, jobs, readiness, baselines)
    except DataFileError as e:
        _fail(str(e), 2)
        return
    with CheckProgress(p) as progress:
        try:
            results = run_check(p, on_result=progress.result, on_status=progress.status)
        except KeyboardInterrupt:
            from sis.harness.check import write_reports

            results = write_reports(out)
            progress.interrupted()
            raise typer.Exit(130) from None
    progress.summary(results)
    raise typer.Exit(exit_code(results))


@image_app.command("build")
def image_build(
    name: Annotated[
        str, typer.Argument(help="the image to build: linux-busybox")
    ] = "linux-busybox",
    out: Annotated[
        Path | None, typer.Option(help="where the image goes (default: the user cache)")
    ] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if up to date")] = False,
) -> None:
    """Build a bootable image from the host's packages (linux-busybox: Debian kernel + busybox)."""
    if name != "linux-busybox":
        _fail(f"unknown image {name!r} (known: linux-busybox)", 2)
    from sis.harness.image import ImageError, build_linux_busybox

    try:
        img = build_linux_busybox(out, force=force)
    except ImageError as e:
        _fail(str(e))
        return
    state = "built" if img.rebuilt else "up to date"
    typer.echo(f"{name} {state}: kernel {img.kernel_version}, busybox {img.busybox_version}")
    typer.echo(f"  vmlinux   {img.vmlinux}\n  initramfs {img.initramfs}\n  disk      {img.disk}")


def _size(text: str) -> int:
    from sis.kernel.config import ConfigError, parse_size

    try:
        return parse_size(text, default_unit="B")
    except ConfigError as e:
        _fail(str(e))
        raise


@disk_app.command("create")
def disk_create(
    path: Path, size: Annotated[str, typer.Option("--size", help="e.g. 64M")] = "64M"
) -> None:
    """Create and format a disk image."""
    from sis.kernel.errno import KernelError
    from sis.kernel.fs.tools import create_disk

    try:
        create_disk(path, _size(size))
    except (KernelError, OSError) as e:
        _fail(f"{path}: {getattr(e, 'detail', '') or e}")
    typer.echo(f"created {path} ({size})")


@disk_app.command("fsck")
def disk_fsck(path: Path) -> None:
    """Check a disk image; exit 1 if it is not clean."""
    from sis.kernel.errno import KernelError
    from sis.kernel.fs.tools import fsck_image

    try:
        report = fsck_image(path)
    except (KernelError, OSError) as e:
        _fail(f"{path}: {getattr(e, 'detail', '') or e}")
        return
    for finding in report.findings:
        typer.echo(str(finding))
    typer.echo(f"{path}: {'clean' if report.clean else 'NOT CLEAN'}")
    raise typer.Exit(0 if report.clean else 1)


@disk_app.command("ls")
def disk_ls(path: Path, directory: Annotated[str, typer.Argument()] = "/") -> None:
    """List a directory of a disk image."""
    from sis.kernel.errno import KernelError
    from sis.kernel.fs.tools import list_dir

    try:
        entries = list_dir(path, directory)
    except (KernelError, OSError) as e:
        _fail(f"{path}: {directory}: {getattr(e, 'detail', '') or e}")
        return
    for e in entries:
        typer.echo(f"{'d' if e.is_dir else '-'} {e.size:>10} {e.name}")


@disk_app.command("cat")
def disk_cat(path: Path, file: str) -> None:
    """Print a file of a disk image."""
    from sis.kernel.errno import KernelError
    from sis.kernel.fs.tools import read_file

    try:
        data = read_file(path, file)
    except (KernelError, OSError) as e:
        _fail(f"{path}: {file}: {getattr(e, 'detail', '') or e}")
        return
    sys.stdout.buffer.write(data)


def main() -> None:
    # `sis kernel ...` takes QEMU-style options that no option parser should touch.
    if len(sys.argv) > 1 and sys.argv[1] == "kernel":
        from sis.kernel.__main__ import main as kernel_main

        sys.exit(kernel_main(sys.argv[2:]))
    app()


if __name__ == "__main__":
    main()

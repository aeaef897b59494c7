"""`sis disk`: offline tools for SIS disk images. Exit 1 when the image cannot be used (or,
for `fsck`, is not clean)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["disk_app"]

disk_app = typer.Typer(no_args_is_help=True, help="Offline tools for SIS disk images.")


def _why(e: Exception) -> str:
    return str(getattr(e, "detail", "") or e)


def _size(text: str) -> int:
    from sis.kernel.config import ConfigError, parse_size

    try:
        return parse_size(text, default_unit="B")
    except ConfigError as e:
        fail("disk", str(e), 1)


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
        fail("disk", f"{path}: {_why(e)}", 1)
    typer.echo(f"created {path} ({size})")


@disk_app.command("fsck")
def disk_fsck(path: Path) -> None:
    """Check a disk image; exit 1 if it is not clean."""
    from sis.kernel.errno import KernelError
    from sis.kernel.fs.tools import fsck_image

    try:
        report = fsck_image(path)
    except (KernelError, OSError) as e:
        fail("disk", f"{path}: {_why(e)}", 1)
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
        fail("disk", f"{path}: {directory}: {_why(e)}", 1)
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
        fail("disk", f"{path}: {file}: {_why(e)}", 1)
    sys.stdout.buffer.write(data)


@disk_app.command("inspect")
def disk_inspect() -> None:
    """Answer requests read from standard input, one JSON object a line:
    {"image": PATH, "paths": [FILE, ...]} -> {"clean": bool, "findings": [...], "files":
    {FILE: sha256 or null}}, one line each. One process serves a whole run of checks (the
    lab's crash-point checker), so an image costs no start-up."""
    import hashlib
    import json

    from sis.kernel.errno import KernelError
    from sis.kernel.fs.tools import fsck_image, read_file

    for line in sys.stdin:
        try:
            ask = json.loads(line)
            image, paths = Path(ask["image"]), [str(p) for p in ask["paths"]]
        except (ValueError, KeyError, TypeError) as e:
            print(json.dumps({"error": f"not a request: {e}"}), flush=True)
            continue
        try:
            report = fsck_image(image)
            out = {"clean": report.clean, "findings": [str(f) for f in report.findings]}
        except (KernelError, OSError) as e:
            out = {"clean": False, "findings": [f"cannot check the image: {_why(e)}"]}
        files: dict[str, str | None] = {}
        for p in paths:
            try:
                files[p] = hashlib.sha256(read_file(image, p)).hexdigest()
            except (KernelError, OSError):
                files[p] = None
        print(json.dumps(out | {"files": files}), flush=True)

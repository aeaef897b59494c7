"""`sis image`: build the images that QEMU targets boot. Exit 1 when the image cannot be
built (the message says which host package is missing), 2 for an unknown image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sis.cli.errors import fail

__all__ = ["image_app"]

image_app = typer.Typer(no_args_is_help=True, help="Build the images that QEMU targets boot.")

IMAGES = ("linux-busybox",)


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
    if name not in IMAGES:
        fail("image", f"unknown image {name!r} (known: {', '.join(IMAGES)})", 2)
    from sis.harness.images import ImageError, build_linux_busybox

    try:
        img = build_linux_busybox(out, force=force)
    except ImageError as e:
        fail("image", str(e), 1)
    state = "built" if img.rebuilt else "up to date"
    typer.echo(f"{name} {state}: kernel {img.kernel_version}, busybox {img.busybox_version}")
    typer.echo(f"  vmlinux   {img.vmlinux}\n  initramfs {img.initramfs}\n  disk      {img.disk}")

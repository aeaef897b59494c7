"""`sis image`: build the images that QEMU targets boot. Exit 1 when the image cannot be
built (the message says what is missing), 2 for an unknown image or architecture."""

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
    arch: Annotated[
        str, typer.Option(help="amd64, arm64 or riscv64 (or x86_64, aarch64)")
    ] = "amd64",
    kernel: Annotated[
        str | None,
        typer.Option(
            help="a kernel release (6.1.0-56-cloud-amd64: the host's or Debian's), or a path "
            "to a kernel file, a .deb or an unpacked package [default: the newest plain "
            "-ARCH flavour]"
        ),
    ] = None,
    busybox: Annotated[
        Path | None,
        typer.Option(help="a static busybox for the arch [default: the host's or Debian's]"),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="where the image goes [default: the user cache, where the built-in profiles "
            "look]; a profile finds another directory with `image: {dir: DIR}`"
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="rebuild even if up to date")] = False,
    fuzz_executor: Annotated[
        bool,
        typer.Option(
            help="add the syscall executor `sis fuzz` drives over virtio-serial (compiled "
            "with gcc; arm64: aarch64-linux-gnu-gcc)"
        ),
    ] = False,
    crash_module: Annotated[
        bool,
        typer.Option(
            help="add sis_crash.ko: writing null, bug, warn, gpf, softlockup, hungtask or panic "
            "to /proc/sis_crash crashes the kernel that way (built against the kernel's "
            "linux-headers package with gcc and make)"
        ),
    ] = False,
) -> None:
    """Build a bootable image (linux-busybox: a Debian kernel + a busybox initramfs)."""
    if name not in IMAGES:
        fail("image", f"unknown image {name!r} (known: {', '.join(IMAGES)})", 2)
    from sis.harness.images import ImageError, arch_spec, build_linux_busybox

    try:
        spec = arch_spec(arch)
    except ImageError as e:
        fail("image", str(e), 2)
    try:
        img = build_linux_busybox(
            out,
            arch=spec.debian,
            kernel=kernel,
            busybox=str(busybox) if busybox is not None else None,
            force=force,
            # An explicit build looks at Debian's current packages; targets never refetch.
            refresh=True,
            fuzz_executor=fuzz_executor,
            crash_module=crash_module,
        )
    except ImageError as e:
        fail("image", str(e), 1)
    state = "built" if img.rebuilt else "up to date"
    typer.echo(
        f"{name} {state} for {img.arch}: kernel {img.kernel_version} ({img.kernel_origin}), "
        f"busybox {img.busybox_version} ({img.busybox_origin})"
    )
    if img.extracted:
        how = f"unpacked from {img.compression}" if img.compression else "as distributed"
        typer.echo(f"  kernel    {img.vmlinux} ({how})")
    else:
        typer.echo(f"  kernel    {img.vmlinux} (booted compressed, slower: {img.note})")
    typer.echo(f"  initramfs {img.initramfs}\n  disk      {img.disk}")
    if img.missing_modules:
        typer.echo(f"  this kernel has no module {', '.join(img.missing_modules)}: left out")
    profile = "linux-busybox" if img.arch == "amd64" else f"linux-busybox-{img.arch}"
    if img.fuzz_executor:
        typer.echo(f"  fuzz executor /sbin/sis-executor: sis fuzz --target {profile}")
    if img.crash_module:
        typer.echo(
            f"  crash module /proc/sis_crash: sis check --target {profile} --suite crash_forensics"
        )
        if img.crash_module_note:
            typer.echo(f"  crash module {img.crash_module_note}")
    if out is None:
        typer.echo(f"  boot it:  sis check --target {profile}")
    else:
        typer.echo(
            f"  boot it:  a copy of the {profile} profile with `image: {{builder: linux-busybox, "
            f"dir: {img.out_dir.resolve()}}}`"
        )

"""Which kernel an image is built from, and where its file and modules are.

`--kernel` is a release (`6.1.0-56-amd64`, `6.1.0-56-cloud-arm64`), a path (a kernel file, an
unpacked package tree, or a `.deb`), or nothing: then the plain flavour of the image's
architecture (`-amd64`, never `-rt-amd64` or `-cloud-amd64` by accident), the newest installed
on the host for the host's architecture, else Debian's current one (the kernel that
`linux-image-<arch>` depends on), downloaded."""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

from sis.harness.images.arches import ArchSpec
from sis.harness.images.debian import DebianArchive, debian_cache_dir, depmod, unpack_deb
from sis.harness.images.errors import ImageError

__all__ = [
    "BOOT_DIR",
    "MODULES_DIR",
    "KernelSource",
    "find_kernel",
    "host_arch",
    "is_plain_flavour",
    "resolve_kernel",
    "version_key",
]

BOOT_DIR = Path("/boot")
MODULES_DIR = Path("/lib/modules")
APT_HINT = "apt-get install -y --no-install-recommends linux-image-amd64 busybox-static"


@dataclass(frozen=True)
class KernelSource:
    release: str  # `uname -r` of the kernel, e.g. 6.1.0-56-amd64
    image: Path  # the kernel file as distributed (bzImage, Image, EFI stub, ...)
    modules_dir: Path | None  # /lib/modules/<release> with a modules.dep; None: built-ins only
    origin: str  # where it came from, for the build line


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def version_key(release: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders releases as versions: numbers as numbers (`-100` after `-56`),
    text after numbers, so `6.1.0-56` < `6.1.0-100` < `6.10.0-1`."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.findall(r"\d+|[A-Za-z]+", release)
    )


def is_plain_flavour(release: str, arch: str) -> bool:
    """True for Debian's generic flavour (`6.1.0-56-amd64`, `6.12.117+deb13-riscv64`); false
    for `-rt-amd64`, `-cloud-amd64`, `-rpi` and the like: every part between the version and
    the arch starts with a digit."""
    parts = release.split("-")
    return len(parts) >= 2 and parts[-1] == arch and all(p[:1].isdigit() for p in parts[:-1])


def find_kernel(kernel_version: str | None = None) -> tuple[str, Path, Path]:
    """(release, /boot/vmlinuz-<release>, /lib/modules/<release>) of an amd64 kernel installed
    on the host: `kernel_version`, or the newest of the plain flavour."""
    if kernel_version is not None:
        candidates = [kernel_version]
    else:
        found = [p.name.removeprefix("vmlinuz-") for p in BOOT_DIR.glob("vmlinuz-*-amd64")]
        plain = [r for r in found if is_plain_flavour(r, "amd64")]
        candidates = sorted(plain, key=version_key, reverse=True)
    for release in candidates:
        vmlinuz = BOOT_DIR / f"vmlinuz-{release}"
        modules = MODULES_DIR / release
        if vmlinuz.is_file() and (modules / "modules.dep").is_file():
            if not os.access(vmlinuz, os.R_OK):
                raise ImageError(
                    f"{vmlinuz} is not readable by this user: run as root or "
                    f"`sudo chmod 0644 {vmlinuz}`"
                )
            return release, vmlinuz, modules
    if kernel_version is not None:
        raise ImageError(
            f"kernel {kernel_version} not found (need /boot/vmlinuz-{kernel_version} and "
            f"/lib/modules/{kernel_version}/modules.dep): {APT_HINT}"
        )
    raise ImageError(
        f"no Debian kernel in {BOOT_DIR} (vmlinuz-*-amd64 with its modules): {APT_HINT}"
    )


def resolve_kernel(arch: ArchSpec, kernel: str | None, *, refresh: bool = False) -> KernelSource:
    """The kernel for an image of `arch` (see the module docstring)."""
    if kernel is not None and ("/" in kernel or kernel.endswith(".deb") or Path(kernel).exists()):
        return _from_path(Path(kernel).expanduser(), arch)
    on_host = arch.debian == host_arch()
    if on_host and kernel is None:
        try:
            release, vmlinuz, modules = find_kernel()
            return KernelSource(release, vmlinuz, modules, "installed on this host")
        except ImageError:
            pass  # none installed: Debian's, downloaded
    if on_host and kernel is not None and (BOOT_DIR / f"vmlinuz-{kernel}").is_file():
        release, vmlinuz, modules = find_kernel(kernel)
        return KernelSource(release, vmlinuz, modules, "installed on this host")
    archive = DebianArchive(arch)
    release = kernel or archive.default_kernel(refresh=refresh)
    package = f"linux-image-{release}"
    root, version = archive.unpack(package, refresh=refresh)
    source = _from_tree(root, arch, release)
    return KernelSource(
        source.release,
        source.image,
        source.modules_dir,
        f"Debian {arch.suite} {package} {version}",
    )


def _from_path(path: Path, arch: ArchSpec) -> KernelSource:
    if not path.exists():
        raise ImageError(f"--kernel {path}: no such file or directory")
    if path.is_dir():
        return _from_tree(path, arch, None)
    if path.name.endswith(".deb"):
        root = debian_cache_dir() / "local" / path.name.removesuffix(".deb")
        stamp = root / ".complete"
        size = str(path.stat().st_size)
        if not (stamp.is_file() and stamp.read_text() == size):
            unpack_deb(path, root)
            stamp.write_text(size)
        return _from_tree(root, arch, None)
    # A bare kernel file: modules from a tree next to it, or the host's, if they exist.
    release = re.sub(r"^(vmlinu[xz]|bzImage|Image)-?", "", path.name) or path.name
    for modules in (path.parent.parent / "lib" / "modules" / release, MODULES_DIR / release):
        if (modules / "modules.dep").is_file():
            return KernelSource(release, path, modules, f"file {path}")
    return KernelSource(release, path, None, f"file {path} (no modules found: built-ins only)")


def _from_tree(root: Path, arch: ArchSpec, release: str | None) -> KernelSource:
    """A kernel in an unpacked package: boot/vmlinu[xz]-<release> and its modules."""
    boot = root / "boot"
    images = sorted(
        (p for p in boot.glob("vmlinu[xz]-*") if p.is_file()),
        key=lambda p: version_key(p.name),
        reverse=True,
    )
    if release is not None:
        images = [p for p in images if p.name.split("-", 1)[1] == release]
    if not images:
        what = f"vmlinuz-{release}" if release else "vmlinuz-* or vmlinux-*"
        raise ImageError(f"no kernel ({what}) in {boot}")
    image = images[0]
    release = image.name.split("-", 1)[1]
    return KernelSource(release, image, depmod(root, release), f"unpacked in {root}")

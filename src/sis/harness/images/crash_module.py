"""The crash module for the linux-busybox image (`sis image build linux-busybox --crash-module`):
`guest/sis_crash.c`, an out-of-tree kernel module like the kernel's LKDTM (which Debian does not
build), compiled against the image kernel's own `linux-headers-<release>` package with Debian's
toolchain. In the guest, writing a word to `/proc/sis_crash` crashes the kernel that way
(`CRASHES`); the module's functions are named `sis_crash_<what>`, so every report names one of
them as its guilty frame.

amd64 builds with the host's headers package and gcc. arm64 is cross-built: Debian's arm64
headers package holds only the configuration and generated headers (its build tools, in the
arm64 `linux-kbuild` package, are arm64 programs), so the build runs the host's own
`linux-kbuild` tools of the same version against them, with the cross compiler
`aarch64-linux-gnu-gcc-12`. The arm64 headers are fetched with the image's private APT
configuration; nothing is installed. A built module is cached by the digest of its source,
the kernel's symbol versions and the compiler, so rebuilding an image does not compile again."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from sis.harness.images.arches import ArchSpec
from sis.harness.images.cache import default_image_dir, write_atomic
from sis.harness.images.errors import ImageError
from sis.harness.images.modules import Module

__all__ = ["CRASHES", "MODULE_NAME", "PROC_PATH", "SOURCE", "crash_module", "headers_dir"]

SOURCE = Path(__file__).parent / "guest" / "sis_crash.c"
MODULE_NAME = "sis_crash"
PROC_PATH = "/proc/sis_crash"
#: The words /proc/sis_crash takes, and the function each one crashes in.
CRASHES: dict[str, str] = {
    "null": "sis_crash_null",
    "bug": "sis_crash_bug",
    "warn": "sis_crash_warn",
    "gpf": "sis_crash_gpf",
    "softlockup": "sis_crash_lockup",
    "hungtask": "sis_crash_hung",
    "panic": "sis_crash_panic",
}
#: Where Debian's headers packages put a kernel's build tree.
HEADERS_ROOT = Path("/usr/src")
#: Debian arch -> (kernel ARCH, cross-compiler prefix, the cross compiler's package)
_CROSS: dict[str, tuple[str, str, str]] = {
    "amd64": ("x86", "x86_64-linux-gnu-", "gcc-12-x86-64-linux-gnu"),
    "arm64": ("arm64", "aarch64-linux-gnu-", "gcc-12-aarch64-linux-gnu"),
    "riscv64": ("riscv", "riscv64-linux-gnu-", "gcc-12-riscv64-linux-gnu"),
}
_HOST = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"}
BUILD_TIMEOUT_S = 600


def _native(arch: ArchSpec) -> bool:
    return _HOST.get(platform.machine()) == arch.debian


def headers_dir(arch: ArchSpec, release: str) -> Path:
    """The build tree of `release`: the host's installed headers package for the host's own
    architecture, else Debian's package for `arch`, fetched and unpacked in the image cache."""
    if _native(arch):
        tree = HEADERS_ROOT / f"linux-headers-{release}"
        if not (tree / "Module.symvers").is_file():
            raise ImageError(
                f"the crash module needs the headers of kernel {release}: install them with "
                f"`apt-get install --no-install-recommends linux-headers-{release} gcc make`"
            )
        return tree
    from sis.harness.images.debian import DebianArchive

    root, _version = DebianArchive(arch).unpack(f"linux-headers-{release}")
    tree = root / "usr" / "src" / f"linux-headers-{release}"
    if not (tree / "Module.symvers").is_file():
        raise ImageError(f"linux-headers-{release} for {arch.debian} holds no build tree")
    return tree


def _tools(arch: ArchSpec, tree: Path) -> None:
    """Check what the build runs: make, the kernel's compiler, and the build tools the tree's
    `scripts` link points to (for a foreign tree, the host's tools of the same version)."""
    if shutil.which("make") is None:
        raise ImageError("the crash module needs make: install it with `apt-get install make`")
    scripts = tree / "scripts"
    target = os.readlink(scripts) if scripts.is_symlink() else ""
    kbuild = Path("/usr/lib") / Path(target).parent.name if target else None
    if not scripts.exists() and kbuild is not None:
        if not (kbuild / "scripts").is_dir():
            raise ImageError(
                f"cross-building the crash module for {arch.debian} needs the host's "
                f"{kbuild.name} tools: install them with `apt-get install {kbuild.name}`"
            )
        # The unpacked tree's relative link points into the package root: give it the host's.
        link = (scripts.parent / target).parent
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(kbuild)


def _make_args(arch: ArchSpec) -> list[str]:
    karch, prefix, _package = _CROSS[arch.debian]
    return [] if _native(arch) else [f"ARCH={karch}", f"CROSS_COMPILE={prefix}"]


def _compiler(arch: ArchSpec, tree: Path) -> str:
    """The compiler Debian built the kernel with (`gcc-12`), for `arch`."""
    wanted = "gcc"
    for line in (tree / ".config").read_text(errors="replace").splitlines():
        if line.startswith("CONFIG_CC_VERSION_TEXT="):
            word = line.split("=", 1)[1].strip('"').split(" ", 1)[0]
            wanted = word or wanted
            break
    name = wanted if _native(arch) else _CROSS[arch.debian][1] + wanted
    if shutil.which(name) is None:
        package = wanted if _native(arch) else _CROSS[arch.debian][2]
        raise ImageError(
            f"the crash module needs {name}, the compiler of this kernel: install it with "
            f"`apt-get install --no-install-recommends {package}`"
        )
    try:
        done = subprocess.run([name, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageError(f"cannot run {name}: {e}") from None
    return done.stdout.split("\n", 1)[0]


def crash_module(arch: ArchSpec, release: str) -> Module:
    """The compiled crash module for kernel `release` of `arch`, as a module of the image
    (`extra/sis_crash.ko`, loaded with the others); compiled once per source, kernel and
    compiler."""
    if arch.debian not in _CROSS:
        raise ImageError(f"no crash module for arch {arch.debian}")
    tree = headers_dir(arch, release)
    _tools(arch, tree)
    compiler = _compiler(arch, tree)
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), (tree / "Module.symvers").read_bytes()):
        digest.update(part)
    digest.update(f"{release}\0{arch.debian}\0{compiler}".encode())
    cache = default_image_dir("crash-modules")
    ko = cache / f"{MODULE_NAME}-{release}-{digest.hexdigest()[:16]}.ko"
    if not ko.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        write_atomic(ko, _compile(arch, tree))
    return Module(MODULE_NAME, ko, f"extra/{MODULE_NAME}.ko", ())


def _compile(arch: ArchSpec, tree: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix="sis-crash-module-") as tmp:
        # A fixed directory name: the source path is part of WARN()'s report line.
        work = Path(tmp) / MODULE_NAME
        work.mkdir()
        shutil.copyfile(SOURCE, work / SOURCE.name)
        (work / "Kbuild").write_text(f"obj-m := {MODULE_NAME}.o\n")
        cmd = ["make", "-C", str(tree), f"M={work}", *_make_args(arch), "modules"]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ImageError(f"building the crash module: {e}") from None
        ko = work / f"{MODULE_NAME}.ko"
        if done.returncode != 0 or not ko.is_file():
            errors = [ln for ln in done.stderr.splitlines() if "rror" in ln] or [
                *done.stderr.strip().splitlines(),
                "(no output)",
            ]
            raise ImageError(f"building the crash module failed: {errors[0].strip()}")
        return ko.read_bytes()

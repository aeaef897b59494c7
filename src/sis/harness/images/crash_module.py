"""The crash module for the linux-busybox image (`sis image build linux-busybox --crash-module`):
`guest/sis_crash.c`, an out-of-tree kernel module like the kernel's LKDTM (which Debian does not
build), compiled against the image kernel's own `linux-headers-<release>` package with Debian's
toolchain. In the guest, writing a word to `/proc/sis_crash` crashes the kernel that way
(`CRASHES`); the module's functions are named `sis_crash_<what>`, so every report names one of
them as its guilty frame.

amd64 builds with the host's headers package and gcc. arm64 and riscv64 are cross-built
against a build tree assembled from Debian's packages of the kernel's own release
(`kbuild_tree`: the arch's headers, the common headers, and linux-kbuild for the host's
architecture, run with that release's C library), fetched with the image's private APT
configuration; nothing is installed. The compiler is the kernel's own (`gcc-12`,
`aarch64-linux-gnu-gcc-12`) when the host has it, else the host's cross gcc for the arch:
bookworm has no gcc-14 for trixie's riscv64 kernel (see `_compiler`). A built module is cached
by the digest of its source, the kernel's symbol versions and the compiler, so rebuilding an
image does not compile again."""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sis.harness.images.arches import ArchSpec
from sis.harness.images.cache import default_image_dir, write_atomic
from sis.harness.images.errors import ImageError
from sis.harness.images.kbuild_tree import HOST_ARCHES, foreign_tree
from sis.harness.images.modules import Module

__all__ = [
    "CRASHES",
    "MODULE_NAME",
    "PROC_PATH",
    "SOURCE",
    "Compiler",
    "CrashModule",
    "crash_module",
    "headers_dir",
]

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
    "riscv64": ("riscv", "riscv64-linux-gnu-", "gcc-riscv64-linux-gnu"),
}
BUILD_TIMEOUT_S = 600


def _native(arch: ArchSpec) -> bool:
    return HOST_ARCHES.get(platform.machine()) == arch.debian


def headers_dir(arch: ArchSpec, release: str) -> Path:
    """The build tree of `release`: the host's installed headers package for the host's own
    architecture, else one assembled from Debian's packages for `arch` (`kbuild_tree`)."""
    if _native(arch):
        tree = HEADERS_ROOT / f"linux-headers-{release}"
        if not (tree / "Module.symvers").is_file():
            raise ImageError(
                f"the crash module needs the headers of kernel {release}: install them with "
                f"`apt-get install --no-install-recommends linux-headers-{release} gcc make`"
            )
        return tree
    return foreign_tree(arch, release)


@dataclass(frozen=True)
class Compiler:
    command: str  # what make runs as CC
    version: str  # its `--version` line
    kernel: str  # what the kernel was built with (CONFIG_CC_VERSION_TEXT)

    @property
    def differs(self) -> bool:
        return self.version != self.kernel


@dataclass(frozen=True)
class CrashModule:
    module: Module  # extra/sis_crash.ko, loaded with the image's other modules
    compiler: Compiler


def _compiler(arch: ArchSpec, tree: Path) -> Compiler:
    """The compiler Debian built the kernel with (`gcc-12`, `riscv64-linux-gnu-gcc-14`) for
    `arch`, else the host's default one for `arch`: trixie's kernels are built with gcc-14,
    which bookworm does not have. A module from another gcc loads all the same: the kernel
    checks its version magic (release, SMP, preemption, modversions) and the CRC of every
    symbol it uses, not its compiler; Debian's headers turn the build's compiler check off
    (DEBIAN_KERNEL_NO_CC_VERSION_CHECK). The build line says which compiler was used."""
    kernel = ""
    for line in (tree / ".config").read_text(errors="replace").splitlines():
        if line.startswith("CONFIG_CC_VERSION_TEXT="):
            kernel = line.split("=", 1)[1].strip().strip('"')
            break
    prefix = "" if _native(arch) else _CROSS[arch.debian][1]
    # The first word names the program, with or without the cross prefix.
    base = (kernel.split(" ", 1)[0] or "gcc").removeprefix(prefix)
    name = next((n for n in (prefix + base, prefix + "gcc") if shutil.which(n)), None)
    if name is None:
        package = "gcc" if _native(arch) else _CROSS[arch.debian][2]
        raise ImageError(
            f"the crash module needs a C compiler for {arch.debian} (the kernel was built with "
            f"{prefix + base}): install one with `apt-get install --no-install-recommends "
            f"{package} make`"
        )
    try:
        done = subprocess.run([name, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageError(f"cannot run {name}: {e}") from None
    return Compiler(name, done.stdout.split("\n", 1)[0], kernel)


def _make_args(arch: ArchSpec, compiler: Compiler) -> list[str]:
    # No BTF for the module (CONFIG_DEBUG_INFO_BTF_MODULES): it would need pahole on the host
    # (trixie's headers ship the vmlinux it reads), and nothing reads the crash module's types.
    args = [f"CC={compiler.command}", "CONFIG_DEBUG_INFO_BTF_MODULES="]
    if not _native(arch):
        karch, prefix, _package = _CROSS[arch.debian]
        args += [f"ARCH={karch}", f"CROSS_COMPILE={prefix}"]
    return args


def crash_module(arch: ArchSpec, release: str) -> CrashModule:
    """The compiled crash module for kernel `release` of `arch`, as a module of the image
    (`extra/sis_crash.ko`, loaded with the others); compiled once per source, kernel and
    compiler."""
    if arch.debian not in _CROSS:
        raise ImageError(f"no crash module for arch {arch.debian}")
    if shutil.which("make") is None:
        raise ImageError("the crash module needs make: install it with `apt-get install make`")
    tree = headers_dir(arch, release)
    compiler = _compiler(arch, tree)
    digest = hashlib.sha256()
    for part in (SOURCE.read_bytes(), (tree / "Module.symvers").read_bytes()):
        digest.update(part)
    digest.update(f"{release}\0{arch.debian}\0{compiler.version}".encode())
    cache = default_image_dir("crash-modules")
    ko = cache / f"{MODULE_NAME}-{release}-{digest.hexdigest()[:16]}.ko"
    if not ko.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        write_atomic(ko, _compile(tree, _make_args(arch, compiler)))
    return CrashModule(Module(MODULE_NAME, ko, f"extra/{MODULE_NAME}.ko", ()), compiler)


def _compile(tree: Path, make_args: list[str]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="sis-crash-module-") as tmp:
        # A fixed directory name: the source path is part of WARN()'s report line.
        work = Path(tmp) / MODULE_NAME
        work.mkdir()
        shutil.copyfile(SOURCE, work / SOURCE.name)
        (work / "Kbuild").write_text(f"obj-m := {MODULE_NAME}.o\n")
        cmd = ["make", "-C", str(tree), f"M={work}", *make_args, "modules"]
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

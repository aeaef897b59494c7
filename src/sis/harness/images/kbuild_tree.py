"""The build tree for out-of-tree modules of a foreign-architecture Debian kernel, assembled
from Debian's packages without installing anything.

Debian splits a kernel's module build tree in three packages: `linux-headers-<release>` (the
architecture's .config, generated headers and Module.symvers), `linux-headers-<x>-common`
(the source headers and Makefiles, architecture-independent) and `linux-kbuild-<x>` (fixdep,
modpost, genksyms: programs for the machine that builds). The first names the other two by
absolute path (`include /usr/src/linux-headers-<x>-common/Makefile`) and by relative links
(`scripts -> ../../lib/linux-kbuild-<x>/scripts`), as if all three were installed.

Here the three are unpacked into one directory (hard links to the unpacked packages, so it
costs no space) with the include pointing into it. `linux-kbuild` is taken for the host's
architecture from the kernel's own Debian release, and its programs run with that release's
C library: a wrapper starts each one with the release's dynamic loader and libc (unpacked
beside), because a newer release's tools need a newer glibc than the host's (trixie's modpost
asks for GLIBC_2.38; bookworm has 2.36).

    ~/.cache/sis/debian/<suite>-<arch>/trees/linux-headers-<release>_<version>/
      usr/src/linux-headers-<release>/      the tree `make -C` builds against
      usr/src/linux-headers-<x>-common/
      usr/lib/linux-kbuild-<x>/             PROGRAM (a wrapper) and PROGRAM.elf
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
from dataclasses import replace
from pathlib import Path

from sis.harness.images.arches import ArchSpec, arch_spec
from sis.harness.images.cache import locked
from sis.harness.images.debian import DebianArchive
from sis.harness.images.errors import ImageError

__all__ = ["HOST_ARCHES", "foreign_tree", "host_arch"]

#: `platform.machine()` -> Debian's architecture name
HOST_ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"}
_ABSOLUTE_INCLUDE = re.compile(r"^(\s*-?include\s+)(/usr/\S+)", re.MULTILINE)


def host_arch() -> str:
    machine = platform.machine()
    if machine not in HOST_ARCHES:
        raise ImageError(f"cross-building kernel modules on a {machine} host is not supported")
    return HOST_ARCHES[machine]


def foreign_tree(arch: ArchSpec, release: str) -> Path:
    """The module build tree of kernel `release` of `arch` (`make -C TREE M=...`), assembled
    once per headers version."""
    archive = DebianArchive(arch)
    package = f"linux-headers-{release}"
    found = archive.candidate(package)
    if found is None:
        raise ImageError(
            f"no package {package} in Debian {arch.suite} for {arch.debian}: the crash module "
            "needs the headers of the kernel it is built for"
        )
    version, depends = found
    common = next((d for d in depends if re.fullmatch(r"linux-headers-.+-common", d)), None)
    kbuild = next((d for d in depends if d.startswith("linux-kbuild-")), None)
    if common is None or kbuild is None:
        raise ImageError(f"{package} {version} names no -common headers or linux-kbuild package")
    root = archive.dir / "trees" / f"{package}_{version.replace(':', '%3a')}"
    tree = root / "usr" / "src" / package
    root.parent.mkdir(parents=True, exist_ok=True)
    with locked(root.parent / ".lock"):
        if (root / ".complete").is_file():
            return tree
        # The tools run on this machine: linux-kbuild and the C library for its architecture,
        # from the kernel's release.
        host = DebianArchive(replace(arch_spec(host_arch()), suite=arch.suite))
        parts = [archive.unpack(package)[0], archive.unpack(common)[0], host.unpack(kbuild)[0]]
        libc = host.unpack("libc6")[0]
        shutil.rmtree(root, ignore_errors=True)
        for part in parts:
            shutil.copytree(
                part / "usr", root / "usr", symlinks=True, copy_function=_link, dirs_exist_ok=True
            )
        if not (tree / "Module.symvers").is_file():
            raise ImageError(f"{package} for {arch.debian} holds no build tree")
        _point_includes_into(tree / "Makefile", root)
        loader = _loader(libc)
        for program in _programs(root / "usr" / "lib" / kbuild):
            _wrap(program, loader)
        (root / ".complete").write_text(f"{version}\n")
    return tree


def _link(src: str, dst: str) -> None:
    """A hard link into the unpacked package (a copy across file systems)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _point_includes_into(makefile: Path, root: Path) -> None:
    """`include /usr/src/...` -> the same path under `root` (a new file: the old one is a hard
    link into the unpacked package)."""
    text = makefile.read_text()
    makefile.unlink()
    makefile.write_text(_ABSOLUTE_INCLUDE.sub(lambda m: f"{m[1]}{root}{m[2]}", text))


def _loader(libc: Path) -> Path:
    """The dynamic loader in an unpacked libc6 (its directory holds libc.so.6)."""
    for found in sorted(libc.glob("**/ld-linux*.so.[0-9]")):
        if found.is_file() and not found.is_symlink() and (found.parent / "libc.so.6").exists():
            return found
    raise ImageError(f"no dynamic loader in the unpacked C library {libc}")


def _programs(kbuild: Path) -> list[Path]:
    """The ELF programs of an unpacked linux-kbuild."""
    out = []
    for path in sorted(kbuild.rglob("*")):
        if path.is_file() and not path.is_symlink() and os.access(path, os.X_OK):
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(path)
    return out


def _wrap(program: Path, loader: Path) -> None:
    """PROGRAM becomes a script that runs PROGRAM.elf with `loader` and its libc. argv[0]
    stays PROGRAM: Debian's modpost finds modpost.real-<endian>-<bits> beside argv[0]."""
    elf = program.with_name(program.name + ".elf")
    program.rename(elf)
    program.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(str(loader))} --library-path {shlex.quote(str(loader.parent))} "
        '--argv0 "$0" "$0.elf" "$@"\n'
    )
    program.chmod(0o755)

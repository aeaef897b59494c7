"""The foreign kernel's module build tree: the headers' absolute include points into the
assembled tree, and the kbuild programs run through their own release's loader with argv[0]
kept (Debian's modpost picks modpost.real-<endian>-<bits> beside argv[0])."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from sis.harness.images import kbuild_tree


def test_the_headers_makefile_includes_the_common_tree_inside_the_assembled_one(tmp_path: Path):
    makefile = tmp_path / "Makefile"
    original = tmp_path / "package-Makefile"
    original.write_text("include /usr/src/linux-headers-6.12.118+deb13-common/Makefile\n")
    makefile.hardlink_to(original)
    kbuild_tree._point_includes_into(makefile, tmp_path / "root")
    assert makefile.read_text() == (
        f"include {tmp_path}/root/usr/src/linux-headers-6.12.118+deb13-common/Makefile\n"
    )
    # The unpacked package it was a hard link to is untouched.
    assert original.read_text().startswith("include /usr/src/")


def _host_libc(tmp_path: Path) -> Path:
    """The host's loader and libc, laid out like an unpacked libc6."""
    loader = next(
        (p.resolve() for p in Path("/lib64").glob("ld-linux*.so.[0-9]")),
        None,
    ) or next((p.resolve() for p in Path("/lib").glob("ld-linux*.so.[0-9]")), None)
    if loader is None or not (loader.parent / "libc.so.6").exists():
        pytest.skip("no glibc loader on this host")
    libdir = tmp_path / "libc" / "usr" / "lib" / loader.parent.name
    libdir.mkdir(parents=True)
    shutil.copy2(loader, libdir / loader.name)
    shutil.copy2((loader.parent / "libc.so.6").resolve(), libdir / "libc.so.6")
    return tmp_path / "libc"


def test_a_wrapped_program_runs_with_the_given_libc_and_keeps_its_name(tmp_path: Path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    libc = _host_libc(tmp_path)
    scripts = tmp_path / "kbuild" / "scripts" / "mod"
    scripts.mkdir(parents=True)
    source = tmp_path / "argv0.c"
    source.write_text("#include <stdio.h>\nint main(int c, char **v) { puts(v[0]); return 0; }\n")
    program = scripts / "modpost"
    subprocess.run(["gcc", "-o", str(program), str(source)], check=True)
    (scripts / "helper.sh").write_text("#!/bin/sh\n")
    (scripts / "helper.sh").chmod(0o755)

    found = kbuild_tree._programs(tmp_path / "kbuild")
    assert found == [program]  # ELF programs only: shell scripts run as they are
    loader = kbuild_tree._loader(libc)
    assert loader.parent.is_relative_to(libc)
    kbuild_tree._wrap(program, loader)

    assert (scripts / "modpost.elf").is_file()
    done = subprocess.run([str(program)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(program)
    assert str(loader) in program.read_text()

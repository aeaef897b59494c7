"""Which compiler builds the crash module: the kernel's own when the host has it, else the
host's default one for the arch (trixie's riscv64 kernel is built with gcc-14, bookworm has
gcc-12), said in the build line; none at all is an error naming the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis.harness.images import ImageError
from sis.harness.images import crash_module as cm
from sis.harness.images.arches import arch_spec

KERNEL_CC = "riscv64-linux-gnu-gcc-14 (Debian 14.2.0-19) 14.2.0"


def _tree(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / ".config").write_text(f'CONFIG_CC_IS_GCC=y\nCONFIG_CC_VERSION_TEXT="{KERNEL_CC}"\n')
    return tree


def _path_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **programs: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, version in programs.items():
        program = bin_dir / name.replace("_", "-")
        program.write_text(f"#!/bin/sh\necho '{version}'\n")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(cm, "_native", lambda arch: False)


def test_the_kernels_own_compiler_is_used_when_there(tmp_path, monkeypatch):
    _path_with(
        tmp_path, monkeypatch,
        riscv64_linux_gnu_gcc_14=KERNEL_CC,
        riscv64_linux_gnu_gcc="riscv64-linux-gnu-gcc (Debian 12.2.0-13) 12.2.0",
    )  # fmt: skip
    found = cm._compiler(arch_spec("riscv64"), _tree(tmp_path))
    assert found.command == "riscv64-linux-gnu-gcc-14" and not found.differs


def test_another_gcc_for_the_arch_is_used_and_said_when_the_kernels_is_missing(
    tmp_path, monkeypatch
):
    _path_with(
        tmp_path,
        monkeypatch,
        riscv64_linux_gnu_gcc="riscv64-linux-gnu-gcc (Debian 12.2.0-13) 12.2.0",
    )
    found = cm._compiler(arch_spec("riscv64"), _tree(tmp_path))
    assert found.command == "riscv64-linux-gnu-gcc" and found.differs
    assert found.kernel == KERNEL_CC and "12.2.0" in found.version
    assert "CC=riscv64-linux-gnu-gcc" in cm._make_args(arch_spec("riscv64"), found)


def test_no_compiler_for_the_arch_names_the_package(tmp_path, monkeypatch):
    _path_with(tmp_path, monkeypatch)
    with pytest.raises(ImageError, match="apt-get install --no-install-recommends gcc-riscv64"):
        cm._compiler(arch_spec("riscv64"), _tree(tmp_path))

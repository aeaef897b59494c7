"""riscv64 as the fuzzer speaks to it: the generic syscall table (arm64's numbers) and the
generic open flags (x86_64's O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE). Checked against
Debian's riscv64 kernel headers when the cross toolchain is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sis.contract import syscalls as sc
from sis.contract.syscall_args import DESCRIPTIONS
from sis.harness.fuzz import guest_channel as gc

CROSS_GCC = "riscv64-linux-gnu-gcc"
OPEN_FLAGS = ("O_DIRECTORY", "O_NOFOLLOW", "O_DIRECT", "O_LARGEFILE")


def _macros(tmp_path: Path) -> dict[str, str]:
    """The riscv64 kernel headers' macros (`gcc -E -dM`): the kernel's open flags, not the C
    library's (glibc says O_LARGEFILE is 0 on 64-bit)."""
    if shutil.which(CROSS_GCC) is None:
        pytest.skip(f"{CROSS_GCC} not installed (make qemu-deps)")
    source = tmp_path / "abi.c"
    source.write_text("#include <asm/unistd.h>\n#include <asm/fcntl.h>\n")
    done = subprocess.run(
        [CROSS_GCC, "-E", "-dM", str(source)], capture_output=True, text=True, check=True
    )
    return dict(re.findall(r"^#define (\w+) (.+)$", done.stdout, re.MULTILINE))


def _value(macros: dict[str, str], name: str) -> int:
    text = macros[name].strip()
    while text in macros:  # __NR_fstat -> __NR3264_fstat -> 80
        text = macros[text].strip()
    text = text.strip("()")
    return int(text, 8) if re.fullmatch(r"0[0-7]+", text) else int(text, 0)


def test_riscv64_numbers_every_described_call_as_arm64_does():
    for d in DESCRIPTIONS.values():
        assert d.numbers.get("linux-riscv64") == d.numbers.get("linux-arm64"), d.name


def test_the_numbers_are_the_riscv64_kernel_headers(tmp_path: Path):
    macros = _macros(tmp_path)
    linux = {
        n: d.numbers["linux-riscv64"]
        for n, d in DESCRIPTIONS.items()
        if "linux-riscv64" in d.numbers
    }
    checked = {n: _value(macros, f"__NR_{n}") for n in linux if f"__NR_{n}" in macros}
    assert len(checked) >= 50
    assert checked == {n: linux[n] for n in checked}


def test_open_flags_are_translated_to_the_riscv64_numbers(tmp_path: Path):
    macros = _macros(tmp_path)
    for name in OPEN_FLAGS:
        sis_bit = getattr(sc, name, None) or {"O_DIRECT": 0o200000, "O_LARGEFILE": 0o400000}[name]
        assert gc.arch_open_flags(sis_bit | sc.O_CREAT, "linux-riscv64") == (
            _value(macros, name) | _value(macros, "O_CREAT")
        ), name

"""sis.contract: the one copy of what kernel and harness share, and the kernel built on it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kernelsim import run_program
from sis.contract import chaos, console, log, metrics, syscalls
from sis.kernel import chaos as kernel_chaos
from sis.kernel import kmetrics
from sis.kernel.shell import libc
from sis.kernel.shell.usys import Usys
from sis.kernel.syscall import entry, table  # noqa: F401 - importing entry registers handlers

ROOT = Path(__file__).resolve().parents[2]


def test_the_contract_imports_neither_half() -> None:
    code = (
        "import sys, sis.contract.bugs, sis.contract.chaos, sis.contract.console, "
        "sis.contract.exit_codes, "
        "sis.contract.log, sis.contract.metrics, sis.contract.syscalls; "
        "print(sorted(m for m in sys.modules if m.startswith(('sis.kernel', 'sis.harness'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_syscall_of_the_table_has_exactly_one_handler() -> None:
    assert table.missing() == []
    assert {nr: sc.name for nr, sc in table.SYSCALLS.items()} == {
        s.nr: s.name for s in syscalls.TABLE
    }
    for sc in table.SYSCALLS.values():
        assert sc.args == syscalls.BY_NR[sc.nr].args  # validation uses the table's kinds


def test_a_handler_for_a_syscall_outside_the_table_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not in the contract"):
        table.syscall("frobnicate")


def test_libc_stubs_are_generated_from_the_table() -> None:
    assert libc.NR == syscalls.NR
    for spec in syscalls.TABLE:
        stub = getattr(Usys, spec.name)
        assert f"syscall {spec.nr}: {spec.name}(" in stub.__doc__
    traps: list[tuple[int, ...]] = []

    async def trap(*regs: int) -> int:
        traps.append(regs)
        return 0

    asyncio.run(Usys(trap).openat(syscalls.AT_FDCWD, 0x1000, 0, 0))
    assert traps == [(56, syscalls.AT_FDCWD, 0x1000, 0, 0)]
    with pytest.raises(TypeError, match="takes 1 arguments"):
        asyncio.run(Usys(trap).close(1, 2))


def test_a_program_calls_the_kernel_through_the_generated_stubs() -> None:
    async def prog(lc, argv):
        pid = await lc.sys.getpid()
        assert await lc.sys.getppid() >= 0
        assert await lc.sys.close(999) == -9  # EBADF, validated by the table's FD kind
        return 0 if pid > 1 else 1

    assert run_program(prog)[0] == 0


def test_both_halves_use_the_contracts_copies() -> None:
    from sis.harness.metrics import collect

    assert collect.CONTRACT_KEYS is metrics.CONTRACT_KEYS is kmetrics.CONTRACT_KEYS
    assert kernel_chaos.MODES is chaos.MODES
    from sis.kernel import printk

    assert printk.LEVELS is log.LEVELS


def test_console_strings_reach_the_console() -> None:
    async def idle(lc, argv) -> int:
        await lc.sleep(0.05)  # long enough for init's shell to greet the console
        return 0

    status, _, out = run_program(idle)
    assert status == 0
    assert f"{console.BANNER}\n{console.PROMPT}" in out.text


def test_a_machine_without_user_space_panics_with_no_init() -> None:
    from sis.kernel.__main__ import parse_command_line
    from sis.kernel.machine import Machine

    async def boot() -> Machine:
        machine = Machine(parse_command_line(["-serial", "null", "-nic", "none"]))
        runner = asyncio.create_task(machine.run())
        for _ in range(2000):
            if machine.status() == "guest-panicked":
                break
            await asyncio.sleep(0.005)
        machine.request("quit")
        await asyncio.wait_for(runner, 10)
        return machine

    machine = asyncio.run(boot())
    assert machine.panic_count == 1
    assert machine.kernel is not None
    assert any("no working init found" in line for line in machine.kernel.printk.dmesg())


def test_the_import_contract_names_every_kernel_core_module() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (core,) = [
        c for c in config["contracts"] if c["name"] == "The kernel core never imports user space"
    ]
    kernel_dir = ROOT / "src" / "sis" / "kernel"
    children = {
        f"sis.kernel.{p.stem}"
        for p in kernel_dir.iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").exists()) and not p.name.startswith("__")
    }
    assert children - {"sis.kernel.shell"} == set(core["source_modules"])

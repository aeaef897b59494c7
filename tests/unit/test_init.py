"""init (pid 1): its death is a kernel panic, as in Linux; it survives what it can (a shell that
keeps dying, allocation failures) and restarts the shell without flooding the console."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from kernelsim import run_program
from sis.kernel.__main__ import parse_command_line
from sis.kernel.exec import ProgramInfo, Userland
from sis.kernel.machine import Machine
from sis.kernel.proc.task import SIGKILL
from sis.kernel.shell import userland
from sis.kernel.shell.libc import SysError


@pytest.fixture(autouse=True)
def crash_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SIS_CRASH_DIR", str(tmp_path))


def _boot(
    land: Userland, *args: str, act=None, settle: float = 0.0
) -> tuple[int | None, Machine, str]:
    """Boot a machine with this user space and run `act(kernel)` once init runs; then wait
    `settle` seconds (without it: until the machine ends or panics) and quit it. Returns (exit
    status, None if the machine was still there to quit; machine; console text)."""
    out = bytearray()

    async def go() -> tuple[int | None, Machine]:
        m = Machine(parse_command_line(["-serial", "null", "-nic", "none", *args]), land)
        real = m.serials[0].write
        m.serials[0].write = lambda data: (out.extend(data), real(data))  # type: ignore[method-assign]
        runner = asyncio.create_task(m.run())
        while m.kernel is None or 1 not in m.kernel.sched.tasks:
            await asyncio.sleep(0.001)
            if runner.done():
                return runner.result(), m
        if act is not None:
            act(m.kernel)
        deadline = asyncio.get_running_loop().time() + (settle or 5)
        while not runner.done() and asyncio.get_running_loop().time() < deadline:
            if not settle and m.status() == "guest-panicked" and not m.cfg.no_reboot:
                break
            await asyncio.sleep(0.01)
        if runner.done():
            return runner.result(), m
        m.request("quit")
        await asyncio.wait_for(runner, 5)
        return None, m

    status, m = asyncio.run(go())
    return status, m, out.decode("utf-8", "replace")


def _with(**programs) -> Userland:
    base = userland()
    table = dict(base.programs)
    for name, main in programs.items():
        if name != "init":
            table[name] = ProgramInfo(name, "test", main)
    return replace(base, programs=table, init=programs.get("init", base.init))


def test_init_exiting_is_a_panic_through_the_normal_path():
    async def init(libc, argv):
        return 0

    status, m, text = _boot(_with(init=init), "-no-reboot")
    assert status == 3  # a panic under -no-reboot
    assert m.status() == "guest-panicked" and m.panic_count == 1
    assert "KERNEL PANIC" in text and "Attempted to kill init! exitcode=0x00000000" in text
    assert "System halted." in text


def test_init_killed_by_a_signal_is_a_panic():
    def kill_init(k):
        k.sched.signal(k.find_task(1), SIGKILL)

    status, m, text = _boot(userland(), act=kill_init)
    assert status is None and m.status() == "guest-panicked"  # halted: panic=0, no -no-reboot
    assert "Attempted to kill init! exitcode=0x00000009" in text


def test_user_space_cannot_signal_init():
    async def prog(libc, argv):
        try:
            await libc.kill(1, SIGKILL)
        except SysError as e:
            return int(e.errno)
        return 0

    status, m, _ = run_program(prog)
    assert status == 1 and m.panic_count == 0  # EPERM, as Linux ignores it


def test_a_shell_that_keeps_dying_is_respawned_with_backoff_and_reported_once():
    starts = []

    async def dying_sh(libc, argv):
        starts.append(argv)
        raise RuntimeError("broken shell")  # a fault: the task is killed

    status, m, text = _boot(_with(sh=dying_sh), settle=1.5)
    assert status is None and m.panic_count == 0  # init lived through it all
    assert 2 <= len(starts) <= 4  # restarted, but not thousands of times
    assert text.count("respawning too fast") == 1


def test_init_and_the_console_survive_memory_pressure():
    async def prog(libc, argv):
        await libc.kctl("chaos.seed=5")
        await libc.kctl("chaos.rate=30")
        await libc.kctl("chaos.mode=memory_pressure")
        failures = 0
        for _ in range(30):
            try:
                await libc.wait(await libc.spawn("echo", ["echo", "hi"]))
            except SysError as e:
                assert e.errno.name == "ENOMEM"
                failures += 1
            await libc.print("console ok")  # the TTY needs no kernel heap
        await libc.kctl("chaos.mode=none")
        prog.failures = failures
        return 0

    status, m, out = run_program(prog, args=["-features", "chaos"])
    assert status == 0 and m.panic_count == 0
    assert out.text.count("console ok") == 30 and prog.failures > 0
    assert m.kernel.chaos.stats.alloc_failures > 0
    assert 1 in m.kernel.sched.tasks  # init

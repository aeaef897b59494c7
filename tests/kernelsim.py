"""Run user programs on an in-process reference kernel (no sockets, no subprocess): the way
unit tests reach the syscall layer, the scheduler and the shell programs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sis.kernel.__main__ import parse_command_line
from sis.kernel.machine import Machine
from sis.kernel.shell import userland

Program = Callable[[Any, list[str]], Awaitable[int]]


class Captured:
    def __init__(self) -> None:
        self.console = bytearray()

    @property
    def text(self) -> str:
        return self.console.decode("utf-8", "replace").replace("\r\n", "\n")


async def _run(
    args: list[str], program: Program, argv: list[str], timeout: float, out: Captured, timer: Any
) -> tuple[int, Machine]:
    cfg = parse_command_line(["-serial", "null", "-nic", "none", *args])
    machine = Machine(cfg, userland())
    if timer is not None:
        machine.timer = timer
    real_write = machine.serials[0].write

    def capture(data: bytes) -> None:
        out.console += data
        real_write(data)

    machine.serials[0].write = capture  # type: ignore[method-assign]
    runner = asyncio.create_task(machine.run())
    while machine.kernel is None or not machine.kernel.sched.tasks:
        await asyncio.sleep(0.001)
        if runner.done():
            runner.result()
    k = machine.kernel
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def wrapper(libc: Any, av: list[str]) -> int:
        try:
            status = await program(libc, av)
        except BaseException:
            if not done.done():
                done.set_result(-1)
            raise
        if not done.done():
            done.set_result(status)
        return status

    k.spawn(wrapper, argv, files=k.console_files())
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        # The program ends, or the kernel panics (perhaps in another task) and never lets it.
        while not done.done() and machine.status() != "guest-panicked":
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"program did not finish in {timeout} s:\n{out.text[-2000:]}")
            await asyncio.sleep(0.005)
        status = done.result() if done.done() else -1
    finally:
        if not runner.done():
            machine.request("quit")
        await asyncio.wait_for(runner, 5)
    return status, machine


def run_program(
    program: Program,
    *,
    args: list[str] | None = None,
    argv: list[str] | None = None,
    timeout: float = 10.0,
    timer: Any = None,
) -> tuple[int, Machine, Captured]:
    """Boot a kernel, run `program(libc, argv)` as a user process, power off. Returns
    (exit status, the machine after power-off, console output)."""
    out = Captured()
    status, machine = asyncio.run(_run(args or [], program, argv or ["test"], timeout, out, timer))
    return status, machine, out

"""The kernel's dispatch table: the contract's syscall table (numbers, names, argument kinds)
joined with the handlers that implement it.

A handler registers against a name of `sis.contract.syscalls.TABLE`; argument kinds drive
validation (see validate.py), so handlers receive already-checked values: PATH arguments arrive
as str, everything else as int."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sis.contract.syscalls import BY_NAME, MAX_SYSCALL, TABLE, A, Arg

__all__ = ["MAX_SYSCALL", "SYSCALLS", "A", "Arg", "Syscall", "by_name", "missing", "syscall"]

Handler = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class Syscall:
    nr: int
    name: str
    args: tuple[Arg, ...]
    handler: Handler


SYSCALLS: dict[int, Syscall] = {}


def syscall(name: str) -> Callable[[Handler], Handler]:
    """Register the handler of the contract's syscall `name`:
    `async def sys_x(k: Kernel, t: Task, *values) -> int`."""
    spec = BY_NAME.get(name)
    if spec is None:
        raise RuntimeError(f"syscall {name!r} is not in the contract's table")

    def register(fn: Handler) -> Handler:
        if spec.nr in SYSCALLS:
            raise RuntimeError(f"syscall {name} registered twice")
        SYSCALLS[spec.nr] = Syscall(spec.nr, spec.name, spec.args, fn)
        return fn

    return register


def missing() -> list[str]:
    """Names of the contract's syscalls that have no handler."""
    return [s.name for s in TABLE if s.nr not in SYSCALLS]


def by_name(name: str) -> Syscall:
    for sc in SYSCALLS.values():
        if sc.name == name:
            return sc
    raise KeyError(name)

"""The user-side syscall stubs, generated from the contract's syscall table (xv6's `usys.pl`):
one method per syscall that puts its number and arguments in the registers and traps.

`Usys(trap).openat(dirfd, path, flags, mode)` returns the raw result (a negative errno on
failure); the C library (libc.py) builds its friendlier wrappers on these."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sis.contract.syscalls import TABLE, SyscallSpec

Trap = Callable[..., Awaitable[int]]


class Usys:
    """One stub per syscall; attributes are added from the table below."""

    def __init__(self, trap: Trap) -> None:
        self._trap = trap

    def __getattr__(self, name: str) -> Any:  # only reached for names not in the table
        raise AttributeError(f"no syscall {name!r} in the contract's table")


def _stub(spec: SyscallSpec) -> Callable[..., Awaitable[int]]:
    names = ", ".join(a.name for a in spec.args)

    async def stub(self: Usys, *args: int) -> int:
        if len(args) > len(spec.args):
            raise TypeError(f"{spec.name}({names}) takes {len(spec.args)} arguments")
        return await self._trap(spec.nr, *args)

    stub.__name__ = stub.__qualname__ = spec.name
    stub.__doc__ = f"syscall {spec.nr}: {spec.name}({names})"
    return stub


for _spec in TABLE:
    setattr(Usys, _spec.name, _stub(_spec))
del _spec

"""The syscall table: each call's number, name, argument kinds and handler.

Argument kinds drive validation (see validate.py); handlers receive already-checked values:
PATH arguments arrive as str, everything else as int."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


class A(enum.Enum):
    """Argument kinds."""

    INT = "int"  # any value, signed 64-bit
    UINT = "uint"  # any value, unsigned 64-bit
    FD = "fd"  # an open descriptor 0..1023
    NEWFD = "newfd"  # a descriptor number 0..1023, may be closed
    DIRFD = "dirfd"  # AT_FDCWD or an open descriptor
    LEN = "len"  # an I/O length <= 0x7ffff000
    PATH = "path"  # pointer to a NUL-terminated path within 4096 bytes
    BUF_IN = "buf_in"  # pointer the kernel reads `len` bytes from (len: the next LEN argument)
    BUF_OUT = "buf_out"  # pointer the kernel writes up to `len` bytes to
    PTR_OUT = "ptr_out"  # pointer to a fixed-size output object (size in Arg.size)
    PTR_IN = "ptr_in"  # pointer to a fixed-size input object
    OPT_PTR_OUT = "opt_ptr_out"  # like PTR_OUT but NULL is allowed
    OPT_PTR_IN = "opt_ptr_in"  # like PTR_IN but NULL is allowed
    FLAGS = "flags"  # bits within Arg.mask
    MODE = "mode"  # file mode within 0o7777
    WHENCE = "whence"  # 0..4
    SIG = "sig"  # 0..64
    PID = "pid"  # >= -1


@dataclass(frozen=True)
class Arg:
    kind: A
    name: str
    mask: int = 0
    size: int = 0


Handler = Callable[..., Awaitable[int]]


@dataclass(frozen=True)
class Syscall:
    nr: int
    name: str
    args: tuple[Arg, ...]
    handler: Handler


SYSCALLS: dict[int, Syscall] = {}
MAX_SYSCALL = 512


def syscall(nr: int, name: str, *args: Arg) -> Callable[[Handler], Handler]:
    """Register a handler: `async def sys_x(k: Kernel, t: Task, *values) -> int`."""

    def register(fn: Handler) -> Handler:
        if nr in SYSCALLS:
            raise RuntimeError(f"syscall {nr} registered twice ({SYSCALLS[nr].name}, {name})")
        SYSCALLS[nr] = Syscall(nr, name, args, fn)
        return fn

    return register


def by_name(name: str) -> Syscall:
    for sc in SYSCALLS.values():
        if sc.name == name:
            return sc
    raise KeyError(name)


def arg(kind: A, name: str, **kw: Any) -> Arg:
    return Arg(kind, name, **kw)

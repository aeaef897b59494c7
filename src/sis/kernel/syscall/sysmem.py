"""Memory syscalls: brk, mmap, munmap, mprotect over the task's address space."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sis.kernel.errno import Errno, KernelError
from sis.kernel.mm.user import (
    KERNEL_SPACE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_KNOWN,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE,
    USER_MIN,
    USER_TOP,
    page_align_up,
)
from sis.kernel.syscall.table import syscall

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

PROT_MASK = 1 | 2 | 4


@syscall("brk")
async def sys_brk(k: Kernel, t: Task, addr: int) -> int:
    return t.mm.set_brk(addr)


def _check_mmap(k: Kernel, length: int, prot: int, flags: int, offset: int, addr: int) -> None:
    v = k.validator
    v.check("mmap", prot & ~PROT_MASK == 0, Errno.EINVAL, f"prot {prot:#x} beyond READ|WRITE|EXEC")
    v.check(
        "mmap",
        bin(flags & (MAP_SHARED | MAP_PRIVATE)).count("1") == 1,
        Errno.EINVAL,
        "exactly one of MAP_SHARED and MAP_PRIVATE",
    )
    v.check(
        "mmap", flags & ~MAP_KNOWN == 0, Errno.EINVAL, f"unknown flag bits {flags & ~MAP_KNOWN:#x}"
    )
    v.check("mmap", 0 < length <= USER_TOP, Errno.EINVAL, f"length {length}")
    v.check(
        "mmap",
        offset % PAGE == 0 and addr % PAGE == 0,
        Errno.EINVAL,
        "address or offset not page aligned",
    )


@syscall("mmap")
async def sys_mmap(
    k: Kernel, t: Task, addr: int, length: int, prot: int, flags: int, fd: int, offset: int
) -> int:
    _check_mmap(k, length, prot, flags, offset, addr)
    if not flags & MAP_ANONYMOUS:
        raise KernelError(Errno.ENODEV, "only anonymous mappings are supported")
    size = page_align_up(length)
    if flags & MAP_FIXED:
        if addr < USER_MIN or addr + size > USER_TOP or addr >= KERNEL_SPACE:
            raise KernelError(Errno.EINVAL, "MAP_FIXED outside user space")
        start = addr
    else:
        start = t.mm.free_area(size)
    t.mm.map(start, size, prot, "anon")
    return start


@syscall("munmap")
async def sys_munmap(k: Kernel, t: Task, addr: int, length: int) -> int:
    k.validator.check(
        "mmap",
        addr % PAGE == 0 and 0 < length <= USER_TOP,
        Errno.EINVAL,
        "munmap needs a page-aligned address and a length",
    )
    if addr < USER_MIN or addr + length > USER_TOP:
        raise KernelError(Errno.EINVAL, "munmap outside user space")
    t.mm.unmap(addr, length)
    return 0


@syscall("mprotect")
async def sys_mprotect(k: Kernel, t: Task, addr: int, length: int, prot: int) -> int:
    k.validator.check(
        "mmap", prot & ~PROT_MASK == 0 and addr % PAGE == 0, Errno.EINVAL, "bad mprotect"
    )
    t.mm.protect(addr, length, prot)
    return 0

"""Argument validation, run on every syscall before its handler, with counters of checks and
rejections by class (readable with the `sysstat` command and exported as metrics)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from sis.contract.syscalls import AT_FDCWD
from sis.kernel.errno import Errno, KernelError
from sis.kernel.file import MAX_FDS
from sis.kernel.mm.user import KERNEL_SPACE, PROT_READ, PROT_WRITE, USER_MIN
from sis.kernel.syscall.table import MAX_SYSCALL, A, Syscall

if TYPE_CHECKING:
    from sis.kernel.proc.task import Task

MAX_IO = 0x7FFFF000
PATH_MAX = 4096
NSIG = 64
CLASSES = (
    "nr",
    "fd",
    "pointer",
    "length",
    "path",
    "flags",
    "mode",
    "whence",
    "signal",
    "pid",
    "socket",
    "mmap",
)


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v & (1 << 63) else v


class Validator:
    def __init__(self) -> None:
        self.checks: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()

    def reject(self, cls: str, errno: Errno, why: str) -> KernelError:
        self.rejections[cls] += 1
        return KernelError(errno, why)

    def check(self, cls: str, ok: bool, errno: Errno, why: str) -> None:
        self.checks[cls] += 1
        if not ok:
            raise self.reject(cls, errno, why)

    def number(self, nr: int) -> None:
        self.check("nr", 0 <= nr < MAX_SYSCALL, Errno.ENOSYS, f"syscall number {nr} out of range")

    def pointer(self, task: Task, addr: int, length: int, prot: int, what: str) -> None:
        self.check("pointer", addr != 0, Errno.EFAULT, f"{what}: NULL pointer")
        self.check(
            "pointer", addr >= USER_MIN, Errno.EFAULT, f"{what}: pointer {addr:#x} in the zero page"
        )
        self.check(
            "pointer", addr < KERNEL_SPACE, Errno.EFAULT, f"{what}: kernel address {addr:#x}"
        )
        self.check(
            "pointer",
            addr + length < 1 << 64,
            Errno.EFAULT,
            f"{what}: {addr:#x}+{length} overflows",
        )
        self.checks["pointer"] += 1
        try:
            task.mm.check_range(addr, length, prot)
        except KernelError:
            raise self.reject(
                "pointer", Errno.EFAULT, f"{what}: {addr:#x}+{length} not mapped"
            ) from None

    def arguments(self, task: Task, sc: Syscall, regs: list[int]) -> list[Any]:
        """Check each argument by its kind; returns the values the handler receives."""
        values: list[Any] = []
        lengths = [regs[i] for i, a in enumerate(sc.args) if a.kind is A.LEN]
        for i, a in enumerate(sc.args):
            raw = regs[i]
            k = a.kind
            if k is A.INT:
                values.append(s64(raw))
            elif k is A.UINT:
                values.append(raw)
            elif k in (A.FD, A.NEWFD, A.DIRFD):
                fd = s32(raw)
                if k is A.DIRFD and fd == AT_FDCWD:
                    self.checks["fd"] += 1
                    values.append(fd)
                    continue
                self.check("fd", 0 <= fd < MAX_FDS, Errno.EBADF, f"{a.name}: fd {fd} out of range")
                if k is not A.NEWFD:
                    self.check(
                        "fd", task.files.is_open(fd), Errno.EBADF, f"{a.name}: fd {fd} not open"
                    )
                values.append(fd)
            elif k is A.LEN:
                self.check(
                    "length", raw <= MAX_IO, Errno.EINVAL, f"{a.name}: length {raw} too large"
                )
                values.append(raw)
            elif k in (A.BUF_IN, A.BUF_OUT):
                length = lengths[0] if lengths else 0
                if length <= MAX_IO:
                    prot = PROT_READ if k is A.BUF_IN else PROT_WRITE
                    self.pointer(task, raw, length, prot, a.name)
                values.append(raw)
            elif k in (A.PTR_IN, A.PTR_OUT, A.OPT_PTR_IN, A.OPT_PTR_OUT):
                if raw == 0 and k in (A.OPT_PTR_IN, A.OPT_PTR_OUT):
                    self.checks["pointer"] += 1
                else:
                    prot = PROT_READ if k in (A.PTR_IN, A.OPT_PTR_IN) else PROT_WRITE
                    self.pointer(task, raw, a.size, prot, a.name)
                values.append(raw)
            elif k is A.PATH:
                self.pointer(task, raw, 1, PROT_READ, a.name)
                self.checks["path"] += 1
                try:
                    path = task.mm.strncpy_from_user(raw, PATH_MAX - 1)
                except KernelError as e:
                    cls = "path" if e.errno is Errno.ENAMETOOLONG else "pointer"
                    raise self.reject(cls, e.errno, f"{a.name}: {e.detail}") from None
                values.append(path.decode("utf-8", "surrogateescape"))
            elif k is A.FLAGS:
                self.check(
                    "flags",
                    raw & ~a.mask == 0,
                    Errno.EINVAL,
                    f"{a.name}: unknown bits {raw & ~a.mask:#x}",
                )
                values.append(raw)
            elif k is A.MODE:
                self.check(
                    "mode",
                    raw & ~0o7777 == 0,
                    Errno.EINVAL,
                    f"{a.name}: mode {raw:#o} beyond 07777",
                )
                values.append(raw)
            elif k is A.WHENCE:
                self.check(
                    "whence", 0 <= s32(raw) <= 4, Errno.EINVAL, f"{a.name}: whence {s32(raw)}"
                )
                values.append(s32(raw))
            elif k is A.SIG:
                self.check(
                    "signal", 0 <= s32(raw) <= NSIG, Errno.EINVAL, f"{a.name}: signal {s32(raw)}"
                )
                values.append(s32(raw))
            elif k is A.PID:
                self.check("pid", s32(raw) >= -1, Errno.EINVAL, f"{a.name}: pid {s32(raw)}")
                values.append(s32(raw))
            else:  # pragma: no cover - every kind is handled above
                raise AssertionError(k)
        return values

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {c: {"checks": self.checks[c], "rejections": self.rejections[c]} for c in CLASSES}

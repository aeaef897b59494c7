"""Syscall descriptions for fuzzing (syzkaller's descriptions, as data): for every call of the
syscall table, what each argument *means* (a descriptor of some resource, a path, a buffer and
the argument holding its length, flags from a set, an integer range, a pid, a signal), the
resource its result produces, and its number on each architecture.

`sis.contract.syscalls` says what the kernel checks; this says what a well-formed call looks
like, so a fuzzer can make valid calls most of the time and break them on purpose. Calls marked
`unsafe` stop the machine or the executor (reboot, exit, panic) and are never generated.

As in syzkaller, a call may have variants named `call$variant` (`ioctl$blk`, `openat$vda`):
the same syscall, with arguments narrowed to one kind of file, so that a fuzzer makes the
calls a device answers on the device that answers them. Every ioctl request of the kernel's
table is declared, on the kind of file it applies to and on any descriptor."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from sis.contract import syscalls as sc

# -- resources: what a call's result is, and what an fd argument wants ---------------------------
#: resource -> its parent (a `file` is an `fd`): a consumer of `fd` accepts any of them.
RESOURCES: dict[str, str | None] = {
    "fd": None,
    "file": "fd",
    "dir": "fd",
    "sock": "fd",
    "tty": "fd",
    "blk": "fd",
    "pid": None,
}


def is_a(resource: str, wanted: str) -> bool:
    r: str | None = resource
    while r is not None:
        if r == wanted:
            return True
        r = RESOURCES[r]
    return False


# -- argument kinds ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Res:
    """A resource an earlier call produced (or, on purpose, a wrong one)."""

    resource: str


@dataclass(frozen=True)
class Path:
    """Pointer to a NUL-terminated path; `values`: the paths this variant takes (empty: any)."""

    values: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Buf:
    """Pointer to a buffer; `len_arg` is the index of the argument holding its length."""

    direction: str  # "in" (the kernel reads it) or "out"
    len_arg: int


@dataclass(frozen=True)
class Len:
    """The length of the buffer argument `buf_arg`."""

    buf_arg: int


@dataclass(frozen=True)
class Ptr:
    """Pointer to a fixed-size object; `optional`: NULL is allowed."""

    direction: str
    size: int
    optional: bool = False
    #: the object's contents when the kernel reads it (struct timespec, sockaddr): a few
    #: well-formed values to choose from
    values: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Flags:
    """A combination of these bits; `common`: combinations real programs use."""

    values: tuple[int, ...]
    common: tuple[int, ...] = ()


@dataclass(frozen=True)
class Choice:
    """One of these values (ioctl requests, socket domains, whence)."""

    values: tuple[int, ...]


@dataclass(frozen=True)
class Int:
    """An integer in [lo, hi] (signed 64-bit, boundaries included on purpose)."""

    lo: int = -(1 << 63)
    hi: int = (1 << 63) - 1


@dataclass(frozen=True)
class Const:
    value: int


ArgKind = Res | Path | Buf | Len | Ptr | Flags | Choice | Int | Const


@dataclass(frozen=True)
class Syscall:
    name: str
    args: tuple[ArgKind, ...]
    ret: str | None = None  # the resource the result is
    unsafe: str = ""  # why it is never generated
    #: per architecture ("sis", "linux-x86_64", "linux-arm64", "linux-riscv64"), its number
    numbers: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        """The syscall a variant is of (`ioctl` for `ioctl$blk`)."""
        return self.name.split("$", 1)[0]


ARCHES = ("sis", "linux-x86_64", "linux-arm64", "linux-riscv64")

# Linux x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl). AArch64 and riscv64 numbers
# are the SIS table's below 500 (all three use the generic table, asm-generic/unistd.h);
# SIS's own calls exist only on SIS.
X86_64 = {
    "getcwd": 79, "dup": 32, "dup3": 292, "mkdirat": 258, "unlinkat": 263, "statfs": 137,
    "ftruncate": 77, "chdir": 80, "openat": 257, "close": 3, "getdents64": 217, "lseek": 8,
    "read": 0, "write": 1, "pread64": 17, "pwrite64": 18, "newfstatat": 262, "fstat": 5,
    "sync": 162, "fsync": 74, "fdatasync": 75, "renameat2": 316, "ioctl": 16, "exit": 60,
    "exit_group": 231, "nanosleep": 35, "sched_yield": 24, "kill": 62, "rt_sigaction": 13,
    "reboot": 169, "setpgid": 109, "getpgid": 121, "uname": 63, "getpid": 39, "getppid": 110,
    "getuid": 102, "gettid": 186, "wait4": 61, "brk": 12, "munmap": 11, "mmap": 9,
    "mprotect": 10, "socket": 41, "bind": 49, "connect": 42, "getsockname": 51,
    "getpeername": 52, "sendto": 44, "recvfrom": 45, "setsockopt": 54, "getsockopt": 55,
    "shutdown": 48,
}  # fmt: skip

_OPEN_FLAGS = (
    sc.O_WRONLY, sc.O_RDWR, sc.O_CREAT, sc.O_EXCL, sc.O_TRUNC, sc.O_APPEND, sc.O_NONBLOCK,
    sc.O_DIRECTORY, sc.O_NOFOLLOW, sc.O_CLOEXEC, sc.O_SYNC, sc.O_DSYNC,
)  # fmt: skip
_OPEN_COMMON = (
    sc.O_RDWR | sc.O_CREAT, sc.O_WRONLY | sc.O_CREAT | sc.O_TRUNC, sc.O_RDONLY,
    sc.O_RDONLY | sc.O_DIRECTORY, sc.O_RDWR, sc.O_WRONLY | sc.O_APPEND | sc.O_CREAT,
)  # fmt: skip
#: Every request of the kernel's ioctl table (sis.contract.syscalls.IOCTLS).
_IOCTL_REQUESTS = tuple(i.nr for i in sc.IOCTLS)


def _requests_for(kind: str) -> tuple[int, ...]:
    """The requests a kind of file answers: its own and those of every descriptor."""
    return tuple(i.nr for i in sc.IOCTLS if i.applies_to in (kind, "any"))


#: A console's usual struct termios (ICRNL; OPOST|ONLCR; B115200|CS8|CREAD|CLOCAL;
#: ISIG|ICANON|ECHO|ECHOE|ECHOK|IEXTEN), with ^C as VINTR and ^D as VEOF.
_TERMIOS = struct.pack(
    sc.TERMIOS_FORMAT, 0o400, 0o5, 0o014262, 0o100073, 0, bytes([3, 0x1C, 0x7F, 0x15, 4, 0, 1])
)


def _ifreq(name: bytes, tail: bytes = b"") -> bytes:
    return name.ljust(sc.IFNAMSIZ, b"\0") + tail.ljust(sc.IFREQ_SIZE - sc.IFNAMSIZ, b"\0")


#: What an ioctl's argument may point to: an int (a flag, a process group, a line discipline),
#: a struct termios or winsize, a struct ifreq naming an interface or giving an index. The
#: kernel writes its answers into the same object.
_IOCTL_ARGS = (
    (0).to_bytes(4, "little"), (1).to_bytes(4, "little"), (2).to_bytes(4, "little"),
    _TERMIOS, struct.pack(sc.WINSIZE_FORMAT, 24, 80, 0, 0),
    _ifreq(b"eth0"), _ifreq(b"lo"), _ifreq(b"", (1).to_bytes(4, "little")),
    _ifreq(b"", (2).to_bytes(4, "little")),
)  # fmt: skip
#: The device files a program may open besides its own files.
DEVICE_PATHS = (b"/dev/console", b"/dev/null", b"/dev/zero", b"/dev/vda")
_MS = 1_000_000
#: struct timespec values a sleep may take: short, so a batch never sleeps long.
_TIMESPECS = tuple(
    (0).to_bytes(8, "little") + (ns).to_bytes(8, "little") for ns in (0, 1, _MS, 10 * _MS)
)
_SOCKADDRS = (
    sc.pack_sockaddr_in(0x7F000001, 7), sc.pack_sockaddr_in(0, 0),
    sc.pack_sockaddr_in(0x0A000202, 80), sc.pack_sockaddr_in(0xFFFFFFFF, 9),
)  # fmt: skip
_SOCKOPTS = (sc.SO_REUSEADDR, sc.SO_TYPE, sc.SO_ERROR, sc.SO_BROADCAST, sc.SO_RCVBUF,
             sc.SO_RCVTIMEO, sc.SO_SNDTIMEO)  # fmt: skip
_MODES = (0, 0o644, 0o755, 0o777, 0o4755, 0o10000)
_SIGNALS = (0, 1, 2, 9, 10, 15, 17, 19, 64, 65)
_PIDS = (0, -1, 1, 2, 3, 4096)

_D: tuple[Syscall, ...] = (
    # -- files --
    Syscall("openat", (Choice((sc.AT_FDCWD,)), Path(), Flags(_OPEN_FLAGS, _OPEN_COMMON), Choice(_MODES)), "file"),
    Syscall("close", (Res("fd"),)),
    Syscall("dup", (Res("fd"),), "fd"),
    Syscall("dup3", (Res("fd"), Res("fd"), Flags((sc.O_CLOEXEC,))), "fd"),
    Syscall("read", (Res("fd"), Buf("out", 2), Len(1))),
    Syscall("write", (Res("fd"), Buf("in", 2), Len(1))),
    Syscall("pread64", (Res("file"), Buf("out", 2), Len(1), Int())),
    Syscall("pwrite64", (Res("file"), Buf("in", 2), Len(1), Int())),
    Syscall("lseek", (Res("file"), Int(), Choice((0, 1, 2, 3, 4)))),
    Syscall("ftruncate", (Res("file"), Int())),
    Syscall("fsync", (Res("fd"),)),
    Syscall("fdatasync", (Res("fd"),)),
    Syscall("sync", ()),
    Syscall("fstat", (Res("fd"), Ptr("out", 128))),
    Syscall("newfstatat", (
        Choice((sc.AT_FDCWD,)), Path(), Ptr("out", 128),
        Flags((sc.AT_SYMLINK_NOFOLLOW, sc.AT_EMPTY_PATH, sc.AT_NO_AUTOMOUNT)),
    )),
    Syscall("getdents64", (Res("dir"), Buf("out", 2), Len(1))),
    Syscall("mkdirat", (Choice((sc.AT_FDCWD,)), Path(), Choice(_MODES))),
    Syscall("unlinkat", (Choice((sc.AT_FDCWD,)), Path(), Flags((sc.AT_REMOVEDIR,)))),
    Syscall("renameat2", (
        Choice((sc.AT_FDCWD,)), Path(), Choice((sc.AT_FDCWD,)), Path(),
        Flags((sc.RENAME_NOREPLACE,)),
    )),
    Syscall("statfs", (Path(), Ptr("out", 120))),
    Syscall("chdir", (Path(),)),
    Syscall("getcwd", (Buf("out", 1), Len(0))),
    Syscall("openat$vda", (Choice((sc.AT_FDCWD,)), Path((b"/dev/vda\0",)), Flags((sc.O_NONBLOCK, sc.O_CLOEXEC)), Const(0)), "blk"),
    Syscall("ioctl", (Res("fd"), Choice(_IOCTL_REQUESTS), Ptr("in", 64, optional=True, values=_IOCTL_ARGS))),
    *(Syscall(f"ioctl${kind}", (Res(kind), Choice(_requests_for(resource)), Ptr("in", 64, optional=True, values=_IOCTL_ARGS)))
      for kind, resource in (("tty", "tty"), ("file", "file"), ("blk", "blk"), ("sock", "sock"))),
    # -- processes --
    Syscall("getpid", (), "pid"),
    Syscall("getppid", (), "pid"),
    Syscall("gettid", (), "pid"),
    Syscall("getuid", ()),
    Syscall("getpgid", (Res("pid"),)),
    Syscall("setpgid", (Res("pid"), Res("pid"))),
    Syscall("kill", (Res("pid"), Choice(_SIGNALS))),
    Syscall("rt_sigaction", (
        Choice(_SIGNALS), Ptr("in", 8, optional=True, values=(bytes(8), (1).to_bytes(8, "little"))),
        Ptr("out", 8, optional=True), Choice((8, 0, 16)),
    )),
    Syscall("nanosleep", (Ptr("in", 16, values=_TIMESPECS), Ptr("out", 16, optional=True))),
    Syscall("sched_yield", ()),
    Syscall("uname", (Ptr("out", 390),)),
    Syscall("wait4", (Res("pid"), Ptr("out", 4, optional=True), Flags((sc.WNOHANG,)),
                      Ptr("out", 144, optional=True))),
    # -- memory --
    Syscall("brk", (Int(0, 1 << 40),)),
    Syscall("mmap", (
        Const(0), Choice((4096, 8192, 1 << 20, 0, 1 << 40)),
        Flags((sc.PROT_READ, sc.PROT_WRITE, sc.PROT_EXEC)),
        Flags((sc.MAP_PRIVATE, sc.MAP_ANONYMOUS, 0x01, 0x10)), Choice((-1,)), Const(0),
    )),
    Syscall("munmap", (Int(0, 1 << 48), Choice((4096, 8192, 0, 1 << 20)))),
    Syscall("mprotect", (Int(0, 1 << 48), Choice((4096, 8192, 0)),
                         Flags((sc.PROT_READ, sc.PROT_WRITE, sc.PROT_EXEC)))),
    # -- network --
    Syscall("socket", (
        Choice((sc.AF_INET, sc.AF_UNIX, sc.AF_INET6, sc.AF_UNSPEC)),
        Flags((sc.SOCK_STREAM, sc.SOCK_DGRAM, sc.SOCK_NONBLOCK, sc.SOCK_CLOEXEC),
              (sc.SOCK_DGRAM, sc.SOCK_STREAM, sc.SOCK_DGRAM | sc.SOCK_NONBLOCK)),
        Choice((sc.IPPROTO_IP, sc.IPPROTO_UDP, sc.IPPROTO_ICMP)),
    ), "sock"),
    Syscall("bind", (Res("sock"), Ptr("in", 16, values=_SOCKADDRS), Choice((16, 8, 0, 128)))),
    Syscall("connect", (Res("sock"), Ptr("in", 16, values=_SOCKADDRS), Choice((16, 8, 0, 128)))),
    Syscall("getsockname", (Res("sock"), Ptr("out", 16), Ptr("in", 4, values=((16).to_bytes(4, "little"),)))),
    Syscall("getpeername", (Res("sock"), Ptr("out", 16), Ptr("in", 4, values=((16).to_bytes(4, "little"),)))),
    Syscall("sendto", (
        Res("sock"), Buf("in", 2), Len(1), Flags((sc.MSG_DONTWAIT, sc.MSG_NOSIGNAL, sc.MSG_CONFIRM)),
        Ptr("in", 16, optional=True, values=_SOCKADDRS), Choice((16, 0)),
    )),
    Syscall("recvfrom", (
        Res("sock"), Buf("out", 2), Len(1), Flags((sc.MSG_DONTWAIT, sc.MSG_PEEK, sc.MSG_TRUNC)),
        Ptr("out", 16, optional=True), Const(0),
    )),
    Syscall("setsockopt", (Res("sock"), Choice((sc.SOL_SOCKET, 0, 6)), Choice(_SOCKOPTS),
                           Ptr("in", 4, values=((1).to_bytes(4, "little"), bytes(4))), Choice((4, 0, 16)))),
    Syscall("getsockopt", (Res("sock"), Choice((sc.SOL_SOCKET, 0, 6)), Choice(_SOCKOPTS),
                           Ptr("out", 16), Ptr("in", 4, values=((4).to_bytes(4, "little"),)))),
    Syscall("shutdown", (Res("sock"), Choice((0, 1, 2, 3)))),
    # -- never generated: they end the executor or the machine --
    Syscall("exit", (Int(),), unsafe="ends the executor"),
    Syscall("exit_group", (Int(),), unsafe="ends the executor"),
    Syscall("reboot", (Int(), Int(), Int(), Int()), unsafe="powers the machine off"),
    Syscall("sis_panic", (Path(),), unsafe="panics on purpose"),
    Syscall("sis_kctl", (Path(),), unsafe="reconfigures the kernel"),
    Syscall("sis_spawn", (Path(), Ptr("in", 8), Flags((sc.SPAWN_NEWPGRP,))), unsafe="starts programs that may wait forever"),
    Syscall("sis_kinfo", (Path(), Buf("out", 2), Len(1))),
    Syscall("sis_netinfo", (Buf("out", 1), Len(0))),
)  # fmt: skip


def _numbers(name: str) -> dict[str, int]:
    base = name.split("$", 1)[0]
    nr = sc.NR[base]
    out = {"sis": nr}
    if nr < 500:
        out["linux-arm64"] = nr
        out["linux-riscv64"] = nr
        out["linux-x86_64"] = X86_64[base]
    return out


DESCRIPTIONS: dict[str, Syscall] = {
    d.name: Syscall(d.name, d.args, d.ret, d.unsafe, _numbers(d.name)) for d in _D
}
del _D

"""The syscall table: every call's number, name and argument kinds, and the flag values its
arguments may carry (Linux AArch64 numbers; SIS's own calls from 500).

This is the one table (xv6's `syscall.h`): the kernel registers its handlers against it and
validates arguments by kind before a handler runs; the user-side stubs of the C library are
generated from it (xv6's `usys.pl`); fuzzers read it to know what to call."""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass


class A(enum.Enum):
    """Argument kinds: what the kernel checks before the handler sees the value."""

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


@dataclass(frozen=True)
class SyscallSpec:
    nr: int
    name: str
    args: tuple[Arg, ...] = ()


def arg(kind: A, name: str, *, mask: int = 0, size: int = 0) -> Arg:
    return Arg(kind, name, mask=mask, size=size)


MAX_SYSCALL = 512  # numbers at or above are ENOSYS before any lookup

# -- flag values (the uapi headers) ---------------------------------------------------------------
AT_FDCWD = -100
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK = (
    0o100, 0o200, 0o400, 0o1000, 0o2000, 0o4000,
)  # fmt: skip
O_DSYNC, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_SYNC, O_PATH = (
    0o10000, 0o40000, 0o100000, 0o2000000, 0o4010000, 0o10000000,
)  # fmt: skip
O_LARGEFILE = 0o400000
O_NOATIME = 0o1000000
O_KNOWN = (
    O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC
    | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_SYNC | O_PATH | O_LARGEFILE | 0o200000
)  # fmt: skip
AT_REMOVEDIR = 0x200
AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH, AT_NO_AUTOMOUNT = 0x100, 0x1000, 0x800
RENAME_NOREPLACE = 1
MSG_PEEK, MSG_DONTROUTE, MSG_TRUNC, MSG_DONTWAIT, MSG_CONFIRM, MSG_NOSIGNAL = (
    0x2, 0x4, 0x20, 0x40, 0x800, 0x4000,
)  # fmt: skip
SEND_FLAGS = MSG_DONTROUTE | MSG_DONTWAIT | MSG_CONFIRM | MSG_NOSIGNAL
RECV_FLAGS = MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT | MSG_NOSIGNAL
WNOHANG = 1
WAIT_OPTIONS = 0x7 | 0x20000000 | 0x40000000 | 0x80000000
SPAWN_NEWPGRP = 1
REBOOT_MAGIC1, REBOOT_MAGIC2 = 0xFEE1DEAD, 672274793
REBOOT_CMD_RESTART, REBOOT_CMD_POWER_OFF, REBOOT_CMD_HALT = 0x01234567, 0x4321FEDC, 0xCDEF0123
TIOCGPGRP, TIOCSPGRP, TCGETS, TIOCGWINSZ = 0x540F, 0x5410, 0x5401, 0x5413
TIOCGETD = 0x5424  # the TTY's line discipline (N_TTY = 0)
TCSETS, TCSETSW, TCSETSF = 0x5402, 0x5403, 0x5404
TIOCOUTQ, TIOCSWINSZ, TIOCSETD = 0x5411, 0x5414, 0x5423
FIONREAD, FIONBIO, FIONCLEX, FIOCLEX, FIOASYNC, FIGETBSZ = (
    0x541B, 0x5421, 0x5450, 0x5451, 0x5452, 0x0002,
)  # fmt: skip
BLKROGET, BLKGETSIZE, BLKFLSBUF, BLKSSZGET, BLKIOMIN, BLKIOOPT, BLKPBSZGET = (
    0x125E, 0x1260, 0x1261, 0x1268, 0x1278, 0x1279, 0x127B,
)  # fmt: skip
BLKBSZGET, BLKGETSIZE64 = 0x80081270, 0x80081272  # _IOR(0x12, 112|114, size_t)
SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFBRDADDR = (
    0x8910, 0x8912, 0x8913, 0x8915, 0x8919,
)  # fmt: skip
SIOCGIFNETMASK, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX = 0x891B, 0x8921, 0x8927, 0x8933
O_ASYNC = 0o20000  # FIOASYNC's flag on the open file
N_TTY = 0  # the only line discipline (TIOCGETD, TIOCSETD)
TERMIOS_FORMAT = "<IIIIB19s"  # the kernel's struct termios (NCCS 19), 36 bytes
WINSIZE_FORMAT = "<HHHH"  # struct winsize: rows, columns, x and y pixels
IFREQ_SIZE = 40  # struct ifreq: a 16-byte name, then a 24-byte union
IFNAMSIZ = 16
IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_RUNNING, IFF_MULTICAST = 0x1, 0x2, 0x8, 0x40, 0x1000
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
SECTOR_SIZE = 512  # the block devices' logical sector


@dataclass(frozen=True)
class Ioctl:
    """One request the kernel answers: its number, the kind of open file it applies to
    ("tty", "file" for regular files, "blk", "sock", or "any" for every descriptor), and how
    its argument is used ("in": the kernel reads it, "out": writes it, "inout": both, "none")."""

    name: str
    nr: int
    applies_to: str
    arg: str
    size: int = 4  # bytes the argument points to


#: Every ioctl request the kernel answers (a request not here is ENOTTY, or EINVAL on a TTY).
IOCTLS: tuple[Ioctl, ...] = (
    Ioctl("TCGETS", TCGETS, "tty", "out", 36),
    Ioctl("TCSETS", TCSETS, "tty", "in", 36),
    Ioctl("TCSETSW", TCSETSW, "tty", "in", 36),
    Ioctl("TCSETSF", TCSETSF, "tty", "in", 36),
    Ioctl("TIOCGPGRP", TIOCGPGRP, "tty", "out"),
    Ioctl("TIOCSPGRP", TIOCSPGRP, "tty", "in"),
    Ioctl("TIOCOUTQ", TIOCOUTQ, "tty", "out"),
    Ioctl("TIOCGWINSZ", TIOCGWINSZ, "tty", "out", 8),
    Ioctl("TIOCSWINSZ", TIOCSWINSZ, "tty", "in", 8),
    Ioctl("TIOCGETD", TIOCGETD, "tty", "out"),
    Ioctl("TIOCSETD", TIOCSETD, "tty", "in"),
    Ioctl("FIONREAD", FIONREAD, "any", "out"),
    Ioctl("FIONBIO", FIONBIO, "any", "in"),
    Ioctl("FIOASYNC", FIOASYNC, "any", "in"),
    Ioctl("FIOCLEX", FIOCLEX, "any", "none", 0),
    Ioctl("FIONCLEX", FIONCLEX, "any", "none", 0),
    Ioctl("FIGETBSZ", FIGETBSZ, "file", "out"),
    Ioctl("BLKROGET", BLKROGET, "blk", "out"),
    Ioctl("BLKGETSIZE", BLKGETSIZE, "blk", "out", 8),
    Ioctl("BLKGETSIZE64", BLKGETSIZE64, "blk", "out", 8),
    Ioctl("BLKSSZGET", BLKSSZGET, "blk", "out"),
    Ioctl("BLKPBSZGET", BLKPBSZGET, "blk", "out"),
    Ioctl("BLKBSZGET", BLKBSZGET, "blk", "out"),
    Ioctl("BLKIOMIN", BLKIOMIN, "blk", "out"),
    Ioctl("BLKIOOPT", BLKIOOPT, "blk", "out"),
    Ioctl("BLKFLSBUF", BLKFLSBUF, "blk", "none", 0),
    Ioctl("SIOCGIFCONF", SIOCGIFCONF, "sock", "inout", 16),
    Ioctl("SIOCGIFNAME", SIOCGIFNAME, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFINDEX", SIOCGIFINDEX, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFFLAGS", SIOCGIFFLAGS, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFADDR", SIOCGIFADDR, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFBRDADDR", SIOCGIFBRDADDR, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFNETMASK", SIOCGIFNETMASK, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFMTU", SIOCGIFMTU, "sock", "inout", IFREQ_SIZE),
    Ioctl("SIOCGIFHWADDR", SIOCGIFHWADDR, "sock", "inout", IFREQ_SIZE),
)
IOCTL_BY_NAME: dict[str, Ioctl] = {i.name: i for i in IOCTLS}
IOCTL_BY_NR: dict[int, Ioctl] = {i.nr: i for i in IOCTLS}
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20
SIG_DFL, SIG_IGN = 0, 1
AF_UNSPEC, AF_UNIX, AF_INET, AF_INET6 = 0, 1, 2, 10
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW = 1, 2, 3
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
IPPROTO_IP, IPPROTO_ICMP, IPPROTO_UDP = 0, 1, 17
SOL_SOCKET = 1
SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_BROADCAST, SO_RCVBUF = 2, 3, 4, 6, 8
SO_RCVTIMEO, SO_SNDTIMEO = 20, 21
SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW = 66, 67

# -- structure layouts (struct module formats) ------------------------------------------------------
STAT_FORMAT = "<QQIIIIQqqiiqqqqqqqII"  # struct stat, 128 bytes
STATFS_FORMAT = "<qqQQQQQiiqqq4q"  # struct statfs, 120 bytes
DIRENT_HEADER = "<QqHB"  # struct linux_dirent64 before the name: ino, off, reclen, type


def pack_sockaddr_in(addr: int, port: int) -> bytes:
    """struct sockaddr_in: family, port and address in network order, 8 bytes of padding."""
    return struct.pack("<H", AF_INET) + struct.pack(">HI", port, addr) + bytes(8)


def unpack_sockaddr_in(data: bytes) -> tuple[int, int, int]:
    """(family, address, port)."""
    (family,) = struct.unpack_from("<H", data)
    port, addr = struct.unpack_from(">HI", data, 2) if len(data) >= 8 else (0, 0)
    return family, addr, port


_ = arg
TABLE: tuple[SyscallSpec, ...] = (
    # -- files (sysfile) --
    SyscallSpec(17, "getcwd", (_(A.BUF_OUT, "buf"), _(A.LEN, "size"))),
    SyscallSpec(23, "dup", (_(A.FD, "oldfd"),)),
    SyscallSpec(24, "dup3", (_(A.FD, "oldfd"), _(A.NEWFD, "newfd"), _(A.FLAGS, "flags", mask=O_CLOEXEC))),
    SyscallSpec(34, "mkdirat", (_(A.DIRFD, "dirfd"), _(A.PATH, "path"), _(A.MODE, "mode"))),
    SyscallSpec(35, "unlinkat", (_(A.DIRFD, "dirfd"), _(A.PATH, "path"), _(A.FLAGS, "flags", mask=AT_REMOVEDIR))),
    SyscallSpec(43, "statfs", (_(A.PATH, "path"), _(A.PTR_OUT, "buf", size=120))),
    SyscallSpec(46, "ftruncate", (_(A.FD, "fd"), _(A.INT, "length"))),
    SyscallSpec(49, "chdir", (_(A.PATH, "path"),)),
    SyscallSpec(56, "openat", (_(A.DIRFD, "dirfd"), _(A.PATH, "path"), _(A.FLAGS, "flags", mask=O_KNOWN), _(A.MODE, "mode"))),
    SyscallSpec(57, "close", (_(A.FD, "fd"),)),
    SyscallSpec(61, "getdents64", (_(A.FD, "fd"), _(A.BUF_OUT, "dirp"), _(A.LEN, "count"))),
    SyscallSpec(62, "lseek", (_(A.FD, "fd"), _(A.INT, "offset"), _(A.WHENCE, "whence"))),
    SyscallSpec(63, "read", (_(A.FD, "fd"), _(A.BUF_OUT, "buf"), _(A.LEN, "count"))),
    SyscallSpec(64, "write", (_(A.FD, "fd"), _(A.BUF_IN, "buf"), _(A.LEN, "count"))),
    SyscallSpec(67, "pread64", (_(A.FD, "fd"), _(A.BUF_OUT, "buf"), _(A.LEN, "count"), _(A.INT, "offset"))),
    SyscallSpec(68, "pwrite64", (_(A.FD, "fd"), _(A.BUF_IN, "buf"), _(A.LEN, "count"), _(A.INT, "offset"))),
    SyscallSpec(79, "newfstatat", (
        _(A.DIRFD, "dirfd"), _(A.PATH, "path"), _(A.PTR_OUT, "statbuf", size=128),
        _(A.FLAGS, "flags", mask=AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT),
    )),
    SyscallSpec(80, "fstat", (_(A.FD, "fd"), _(A.PTR_OUT, "statbuf", size=128))),
    SyscallSpec(81, "sync"),
    SyscallSpec(82, "fsync", (_(A.FD, "fd"),)),
    SyscallSpec(83, "fdatasync", (_(A.FD, "fd"),)),
    SyscallSpec(276, "renameat2", (
        _(A.DIRFD, "olddirfd"), _(A.PATH, "oldpath"), _(A.DIRFD, "newdirfd"), _(A.PATH, "newpath"),
        _(A.FLAGS, "flags", mask=RENAME_NOREPLACE),
    )),
    # -- processes (sysproc) --
    SyscallSpec(29, "ioctl", (_(A.FD, "fd"), _(A.UINT, "request"), _(A.UINT, "argp"))),
    SyscallSpec(93, "exit", (_(A.INT, "status"),)),
    SyscallSpec(94, "exit_group", (_(A.INT, "status"),)),
    SyscallSpec(101, "nanosleep", (_(A.PTR_IN, "req", size=16), _(A.OPT_PTR_OUT, "rem", size=16))),
    SyscallSpec(124, "sched_yield"),
    SyscallSpec(129, "kill", (_(A.PID, "pid"), _(A.SIG, "sig"))),
    SyscallSpec(134, "rt_sigaction", (
        _(A.SIG, "sig"), _(A.OPT_PTR_IN, "act", size=8), _(A.OPT_PTR_OUT, "oldact", size=8),
        _(A.UINT, "sigsetsize"),
    )),
    SyscallSpec(142, "reboot", (_(A.UINT, "magic1"), _(A.UINT, "magic2"), _(A.UINT, "cmd"), _(A.UINT, "arg"))),
    SyscallSpec(154, "setpgid", (_(A.PID, "pid"), _(A.PID, "pgid"))),
    SyscallSpec(155, "getpgid", (_(A.PID, "pid"),)),
    SyscallSpec(160, "uname", (_(A.PTR_OUT, "buf", size=390),)),
    SyscallSpec(172, "getpid"),
    SyscallSpec(173, "getppid"),
    SyscallSpec(174, "getuid"),
    SyscallSpec(178, "gettid"),
    SyscallSpec(260, "wait4", (
        _(A.PID, "pid"), _(A.OPT_PTR_OUT, "wstatus", size=4), _(A.FLAGS, "options", mask=WAIT_OPTIONS),
        _(A.OPT_PTR_OUT, "rusage", size=144),
    )),
    # -- memory (sysmem) --
    SyscallSpec(214, "brk", (_(A.UINT, "addr"),)),
    SyscallSpec(215, "munmap", (_(A.UINT, "addr"), _(A.UINT, "length"))),
    SyscallSpec(222, "mmap", (
        _(A.UINT, "addr"), _(A.UINT, "length"), _(A.UINT, "prot"), _(A.UINT, "flags"),
        _(A.INT, "fd"), _(A.UINT, "offset"),
    )),
    SyscallSpec(226, "mprotect", (_(A.UINT, "addr"), _(A.UINT, "length"), _(A.UINT, "prot"))),
    # -- network (sysnet) --
    SyscallSpec(198, "socket", (_(A.INT, "domain"), _(A.INT, "type"), _(A.INT, "protocol"))),
    SyscallSpec(200, "bind", (_(A.FD, "fd"), _(A.UINT, "addr"), _(A.UINT, "addrlen"))),
    SyscallSpec(203, "connect", (_(A.FD, "fd"), _(A.UINT, "addr"), _(A.UINT, "addrlen"))),
    SyscallSpec(204, "getsockname", (_(A.FD, "fd"), _(A.UINT, "addr"), _(A.UINT, "addrlen"))),
    SyscallSpec(205, "getpeername", (_(A.FD, "fd"), _(A.UINT, "addr"), _(A.UINT, "addrlen"))),
    SyscallSpec(206, "sendto", (
        _(A.FD, "fd"), _(A.BUF_IN, "buf"), _(A.LEN, "len"), _(A.FLAGS, "flags", mask=SEND_FLAGS),
        _(A.UINT, "dest_addr"), _(A.UINT, "addrlen"),
    )),
    SyscallSpec(207, "recvfrom", (
        _(A.FD, "fd"), _(A.BUF_OUT, "buf"), _(A.LEN, "len"), _(A.FLAGS, "flags", mask=RECV_FLAGS),
        _(A.UINT, "src_addr"), _(A.UINT, "addrlen"),
    )),
    SyscallSpec(208, "setsockopt", (
        _(A.FD, "fd"), _(A.INT, "level"), _(A.INT, "optname"), _(A.UINT, "optval"), _(A.UINT, "optlen"),
    )),
    SyscallSpec(209, "getsockopt", (
        _(A.FD, "fd"), _(A.INT, "level"), _(A.INT, "optname"), _(A.UINT, "optval"), _(A.UINT, "optlen"),
    )),
    SyscallSpec(210, "shutdown", (_(A.FD, "fd"), _(A.INT, "how"))),
    # -- SIS's own calls (above Linux's table, below MAX_SYSCALL) --
    SyscallSpec(500, "sis_spawn", (
        _(A.PATH, "path"), _(A.PTR_IN, "argv", size=8), _(A.FLAGS, "flags", mask=SPAWN_NEWPGRP),
    )),
    SyscallSpec(501, "sis_panic", (_(A.PATH, "message"),)),
    SyscallSpec(502, "sis_kinfo", (_(A.PATH, "topic"), _(A.BUF_OUT, "buf"), _(A.LEN, "len"))),
    SyscallSpec(503, "sis_kctl", (_(A.PATH, "command"),)),
    SyscallSpec(504, "sis_netinfo", (_(A.BUF_OUT, "buf"), _(A.LEN, "len"))),
)  # fmt: skip
del _

BY_NAME: dict[str, SyscallSpec] = {s.name: s for s in TABLE}
BY_NR: dict[int, SyscallSpec] = {s.nr: s for s in TABLE}
NR: dict[str, int] = {s.name: s.nr for s in TABLE}

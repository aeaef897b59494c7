"""Open files and per-process file descriptor tables (xv6's file.c): what a descriptor
points at — the console TTY, a regular file or directory of the file system, a socket."""

from __future__ import annotations

import stat as st
import struct
from typing import TYPE_CHECKING, Any

from sis.kernel.errno import Errno, KernelError

if TYPE_CHECKING:
    from sis.kernel.tty import Tty

MAX_FDS = 1024
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 3, 0, 1, 2
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK = (
    0o100,
    0o200,
    0o400,
    0o1000,
    0o2000,
    0o4000,
)
O_DSYNC, O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_SYNC, O_PATH = (
    0o10000,
    0o40000,
    0o100000,
    0o2000000,
    0o4010000,
    0o10000000,
)
O_LARGEFILE = 0o400000
O_KNOWN = (
    O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_CLOEXEC
    | O_SYNC
    | O_PATH
    | O_LARGEFILE
    | 0o200000
)
SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE = 0, 1, 2, 3, 4

# struct stat as on AArch64 Linux (asm-generic): 128 bytes.
STAT_FORMAT = "<QQIIIIQqqiiqqqqqqqII"
DT_DIR, DT_REG, DT_CHR, DT_SOCK = 4, 8, 2, 12


def pack_stat(
    *,
    dev: int = 0,
    ino: int,
    mode: int,
    nlink: int,
    size: int,
    blocks: int,
    blksize: int = 4096,
    rdev: int = 0,
    atime_ns: int = 0,
    mtime_ns: int = 0,
    ctime_ns: int = 0,
) -> bytes:
    return struct.pack(
        STAT_FORMAT,
        dev,
        ino,
        mode,
        nlink,
        0,
        0,
        rdev,
        0,
        size,
        blksize,
        0,
        blocks,
        atime_ns // 10**9,
        atime_ns % 10**9,
        mtime_ns // 10**9,
        mtime_ns % 10**9,
        ctime_ns // 10**9,
        ctime_ns % 10**9,
        0,
        0,
    )


def pack_dirent(ino: int, offset: int, dtype: int, name: bytes) -> bytes:
    """struct linux_dirent64, padded to 8 bytes."""
    reclen = (19 + len(name) + 1 + 7) & ~7
    return (
        struct.pack("<QqHB", ino, offset, reclen, dtype) + name + b"\0" * (reclen - 19 - len(name))
    )


class OpenFile:
    """An open file description; several descriptors may share it (dup)."""

    kind = "file"

    def __init__(self, flags: int) -> None:
        self.flags = flags
        self.refs = 0
        self.offset = 0

    @property
    def readable(self) -> bool:
        return self.flags & O_ACCMODE in (O_RDONLY, O_RDWR)

    @property
    def writable(self) -> bool:
        return self.flags & O_ACCMODE in (O_WRONLY, O_RDWR)

    async def read(self, task: Any, count: int) -> bytes:
        raise KernelError(Errno.EINVAL)

    async def write(self, task: Any, data: bytes) -> int:
        raise KernelError(Errno.EINVAL)

    def seek(self, offset: int, whence: int) -> int:
        raise KernelError(Errno.ESPIPE)

    def fstat(self) -> bytes:
        raise KernelError(Errno.EINVAL)

    def getdents(self, count: int) -> bytes:
        raise KernelError(Errno.ENOTDIR)

    def fsync(self) -> None:
        pass

    def release(self) -> None:
        """The last descriptor was closed."""


class TtyFile(OpenFile):
    kind = "tty"

    def __init__(self, tty: Tty, flags: int = O_RDWR) -> None:
        super().__init__(flags)
        self.tty = tty

    async def read(self, task: Any, count: int) -> bytes:
        if self.flags & O_NONBLOCK and not self.tty.lines:
            raise KernelError(Errno.EAGAIN, "no complete line yet")
        return await self.tty.read(task.pgid, count)

    async def write(self, task: Any, data: bytes) -> int:
        return self.tty.write(data)

    def fstat(self) -> bytes:
        return pack_stat(ino=1, mode=st.S_IFCHR | 0o620, nlink=1, size=0, blocks=0, rdev=0x0401)


class FdTable:
    def __init__(self) -> None:
        self.slots: list[OpenFile | None] = []
        self.cloexec: set[int] = set()  # descriptors a spawned program does not inherit

    def get(self, fd: int) -> OpenFile:
        if 0 <= fd < len(self.slots):
            f = self.slots[fd]
            if f is not None:
                return f
        raise KernelError(Errno.EBADF, f"fd {fd} is not open")

    def is_open(self, fd: int) -> bool:
        return 0 <= fd < len(self.slots) and self.slots[fd] is not None

    def install(self, f: OpenFile, lowest: int = 0) -> int:
        for fd in range(lowest, MAX_FDS):
            if fd >= len(self.slots):
                self.slots.extend([None] * (fd + 1 - len(self.slots)))
            if self.slots[fd] is None:
                self.slots[fd] = f
                f.refs += 1
                return fd
        raise KernelError(Errno.EMFILE, "too many open files")

    def install_at(self, fd: int, f: OpenFile) -> None:
        if fd >= len(self.slots):
            self.slots.extend([None] * (fd + 1 - len(self.slots)))
        if self.slots[fd] is not None:
            self.close(fd)
        self.cloexec.discard(fd)
        self.slots[fd] = f
        f.refs += 1

    def close(self, fd: int) -> None:
        f = self.get(fd)
        self.slots[fd] = None
        self.cloexec.discard(fd)
        f.refs -= 1
        if f.refs == 0:
            f.release()

    def close_all(self) -> None:
        for fd, f in enumerate(self.slots):
            if f is not None:
                self.close(fd)

    def fork(self) -> FdTable:
        """The table a spawned program starts with: every descriptor but the close-on-exec ones."""
        child = FdTable()
        child.slots = [None if fd in self.cloexec else f for fd, f in enumerate(self.slots)]
        for f in child.slots:
            if f is not None:
                f.refs += 1
        return child

"""File syscalls (xv6's sysfile.c): descriptors, read/write, paths, directories, sync.

Paths are resolved by the VFS against the task's working directory; data moves between user
memory and the file system through a kernel bounce buffer allocated from the heap, so a heap
under pressure fails I/O with ENOMEM as a real kernel would."""

from __future__ import annotations

import stat as st
import struct
from typing import TYPE_CHECKING, Any

from sis.contract.bugs import FSYNC_LIES, PWRITE_OVERFLOW
from sis.contract.syscalls import AT_EMPTY_PATH, AT_REMOVEDIR, RENAME_NOREPLACE, STATFS_FORMAT
from sis.kernel import bugs
from sis.kernel.errno import Errno, KernelError
from sis.kernel.file import (
    DT_DIR,
    DT_REG,
    O_ACCMODE,
    O_APPEND,
    O_CLOEXEC,
    O_CREAT,
    O_DIRECTORY,
    O_EXCL,
    O_RDONLY,
    O_RDWR,
    O_TRUNC,
    O_WRONLY,
    SEEK_CUR,
    SEEK_DATA,
    SEEK_END,
    SEEK_SET,
    OpenFile,
    TtyFile,
    pack_dirent,
    pack_stat,
)
from sis.kernel.fs.vfs import path_of
from sis.kernel.fs.vfs import resolve as vfs_resolve
from sis.kernel.syscall.table import syscall
from sis.kernel.syscall.validate import AT_FDCWD

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

BOUNCE_LIMIT = 1 << 20
SISFS_MAGIC = 0x53495346


class FsFile(OpenFile):
    """A regular file or directory of the mounted file system."""

    def __init__(self, k: Kernel, ino: int, flags: int, is_dir: bool) -> None:
        super().__init__(flags)
        self.k = k
        self.ino = ino
        self.is_dir = is_dir
        self.kind = "dir" if is_dir else "file"
        self.kobj = k.heap.alloc(256, "file")

    async def read(self, task: Any, count: int) -> bytes:
        if self.is_dir:
            raise KernelError(Errno.EISDIR)
        data = self.k.fs.read(self.ino, self.offset, count)
        self.offset += len(data)
        return data

    async def write(self, task: Any, data: bytes) -> int:
        if self.is_dir:
            raise KernelError(Errno.EISDIR)
        if self.flags & O_APPEND:
            self.offset = self.k.fs.stat(self.ino).size
        n = self.k.fs.write(self.ino, self.offset, data)
        self.offset += n
        return n

    def seek(self, offset: int, whence: int) -> int:
        size = self.k.fs.stat(self.ino).size
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.offset + offset
        elif whence == SEEK_END:
            new = size + offset
        elif whence == SEEK_DATA:
            if offset >= size:
                raise KernelError(Errno.ENXIO)
            new = offset
        else:  # SEEK_HOLE: no sparse-file tracking, so the only hole is at the end
            if offset >= size:
                raise KernelError(Errno.ENXIO)
            new = size
        if new < 0:
            raise KernelError(Errno.EINVAL, "negative file offset")
        self.offset = new
        return new

    def fstat(self) -> bytes:
        return stat_bytes(self.k, self.ino)

    def getdents(self, count: int) -> bytes:
        if not self.is_dir:
            raise KernelError(Errno.ENOTDIR)
        out = bytearray()
        entries = self.k.fs.readdir(self.ino)
        while self.offset < len(entries):
            e = entries[self.offset]
            rec = pack_dirent(
                e.ino,
                self.offset + 1,
                DT_DIR if e.is_dir else DT_REG,
                e.name.encode("utf-8", "surrogateescape"),
            )
            if len(out) + len(rec) > count:
                if not out:
                    raise KernelError(Errno.EINVAL, "buffer too small for a directory entry")
                break
            out += rec
            self.offset += 1
        return bytes(out)

    def fsync(self) -> None:
        self.k.fs.fsync(self.ino)

    def release(self) -> None:
        self.k.heap.free(self.kobj)


class NullFile(OpenFile):
    kind = "null"

    def __init__(self, flags: int, zero: bool) -> None:
        super().__init__(flags)
        self.zero = zero

    async def read(self, task: Any, count: int) -> bytes:
        return bytes(count) if self.zero else b""

    async def write(self, task: Any, data: bytes) -> int:
        return len(data)

    def fstat(self) -> bytes:
        return pack_stat(
            ino=2,
            mode=st.S_IFCHR | 0o666,
            nlink=1,
            size=0,
            blocks=0,
            rdev=0x0105 if self.zero else 0x0103,
        )


class BlockDevFile(OpenFile):
    """/dev/vda: the root disk as a block device, read-only while the file system is mounted
    on it (a write-open is EBUSY, as Linux refuses writers to a mounted device), for the
    block ioctls (BLKGETSIZE64, BLKSSZGET, ...) and raw reads."""

    kind = "blk"
    RDEV = 0xFE00  # virtio block: major 254, minor 0

    def __init__(self, k: Kernel, flags: int) -> None:
        if flags & O_ACCMODE != O_RDONLY:
            raise KernelError(Errno.EBUSY, "/dev/vda holds the mounted root file system")
        super().__init__(flags)
        self.dev = _fs(k).dev
        self.size = self.dev.block_count * self.dev.block_size

    async def read(self, task: Any, count: int) -> bytes:
        bs = self.dev.block_size
        out = bytearray()
        end = min(self.offset + count, self.size)
        while self.offset + len(out) < end:
            pos = self.offset + len(out)
            block = self.dev.read_block(pos // bs)
            out += block[pos % bs : min(bs, pos % bs + end - pos)]
        self.offset += len(out)
        return bytes(out)

    def seek(self, offset: int, whence: int) -> int:
        base = {SEEK_SET: 0, SEEK_CUR: self.offset, SEEK_END: self.size}.get(whence)
        if base is None or base + offset < 0:
            raise KernelError(Errno.EINVAL, f"seek to {offset} from whence {whence}")
        self.offset = base + offset
        return self.offset

    def fstat(self) -> bytes:
        return pack_stat(ino=3, mode=st.S_IFBLK | 0o660, nlink=1, size=0, blocks=0, rdev=self.RDEV)


def stat_bytes(k: Kernel, ino: int) -> bytes:
    s = k.fs.stat(ino)
    return pack_stat(
        dev=0x0801,
        ino=s.ino,
        mode=s.mode,
        nlink=s.nlink,
        size=s.size,
        blocks=s.blocks,
        atime_ns=s.atime_ns,
        mtime_ns=s.mtime_ns,
        ctime_ns=s.ctime_ns,
    )


def _fs(k: Kernel) -> Any:
    if k.fs is None:
        raise KernelError(Errno.ENODEV, "no root file system")
    return k.fs


def _start_dir(k: Kernel, t: Task, dirfd: int, path: str) -> int:
    if path.startswith("/") or dirfd == AT_FDCWD:
        return t.cwd if t.cwd is not None else _fs(k).ROOT_INO
    f = t.files.get(dirfd)
    if not isinstance(f, FsFile) or not f.is_dir:
        raise KernelError(Errno.ENOTDIR, f"fd {dirfd} is not a directory")
    return f.ino


def resolve(k: Kernel, t: Task, dirfd: int, path: str, *, parent: bool = False) -> Any:
    if not path:
        raise KernelError(Errno.ENOENT, "empty path")
    return vfs_resolve(_fs(k), path, _start_dir(k, t, dirfd, path), parent=parent)


_DEVICES = {
    "/dev/console": "tty",
    "/dev/tty": "tty",
    "/dev/ttyS0": "tty",
    "/dev/null": "null",
    "/dev/zero": "zero",
    "/dev/vda": "blk",
}


@syscall("openat")
async def sys_openat(k: Kernel, t: Task, dirfd: int, path: str, flags: int, mode: int) -> int:
    if flags & O_ACCMODE == O_ACCMODE:
        raise KernelError(Errno.EINVAL, "O_ACCMODE 3 is not an access mode")
    k.vfs["opens"] += 1
    if path in _DEVICES:
        dev = _DEVICES[path]
        f: OpenFile
        if dev == "tty":
            f = TtyFile(k.tty, flags)
        elif dev == "blk":
            f = BlockDevFile(k, flags)
        else:
            f = NullFile(flags, dev == "zero")
        return _install(t, f, flags)
    fs = _fs(k)
    if flags & O_CREAT:
        dir_ino, name = resolve(k, t, dirfd, path, parent=True)
        try:
            ino = fs.lookup(dir_ino, name)
            if flags & O_EXCL:
                raise KernelError(Errno.EEXIST, path)
        except KernelError as e:
            if e.errno is not Errno.ENOENT:
                raise
            if path.endswith("/"):
                raise KernelError(Errno.EISDIR, path) from None
            ino = fs.create(dir_ino, name, mode & 0o7777)
    else:
        ino = resolve(k, t, dirfd, path)
    is_dir = st.S_ISDIR(fs.stat(ino).mode)
    if flags & O_DIRECTORY and not is_dir:
        raise KernelError(Errno.ENOTDIR, path)
    if is_dir and flags & O_ACCMODE != O_RDONLY:
        raise KernelError(Errno.EISDIR, path)
    if flags & O_TRUNC and flags & O_ACCMODE in (O_WRONLY, O_RDWR):
        fs.truncate(ino, 0)
    return _install(t, FsFile(k, ino, flags, is_dir), flags)


def _install(t: Task, f: OpenFile, flags: int) -> int:
    fd = t.files.install(f)
    if flags & O_CLOEXEC:
        t.files.cloexec.add(fd)
    return fd


@syscall("close")
async def sys_close(k: Kernel, t: Task, fd: int) -> int:
    t.files.close(fd)
    return 0


async def _bounced(k: Kernel, count: int, op: Any, f: OpenFile | None = None) -> Any:
    if f is not None and f.kind == "tty":
        return await op()  # the TTY copies through its own buffers, as n_tty does
    buf = k.heap.alloc(max(16, min(count, BOUNCE_LIMIT)), "bounce")
    try:
        return await op()
    finally:
        k.heap.free(buf)


@syscall("read")
async def sys_read(k: Kernel, t: Task, fd: int, buf: int, count: int) -> int:
    f = t.files.get(fd)
    if not f.readable:
        raise KernelError(Errno.EBADF, f"fd {fd} not open for reading")
    if count == 0:
        return 0
    data = await _bounced(k, count, lambda: f.read(t, count), f)
    t.mm.copy_to_user(buf, data)
    k.vfs["reads"] += 1
    return len(data)


@syscall("write")
async def sys_write(k: Kernel, t: Task, fd: int, buf: int, count: int) -> int:
    f = t.files.get(fd)
    if not f.writable:
        raise KernelError(Errno.EBADF, f"fd {fd} not open for writing")
    data = t.mm.copy_from_user(buf, count)
    n = await _bounced(k, count, lambda: f.write(t, data), f)
    k.vfs["writes"] += 1
    return n


@syscall("pread64")
async def sys_pread64(k: Kernel, t: Task, fd: int, buf: int, count: int, offset: int) -> int:
    f = t.files.get(fd)
    if not isinstance(f, FsFile) or f.is_dir:
        raise KernelError(Errno.ESPIPE if not isinstance(f, FsFile) else Errno.EISDIR)
    if offset < 0:
        raise KernelError(Errno.EINVAL, "negative offset")
    data = k.fs.read(f.ino, offset, count)
    t.mm.copy_to_user(buf, data)
    k.vfs["reads"] += 1
    return len(data)


@syscall("pwrite64")
async def sys_pwrite64(k: Kernel, t: Task, fd: int, buf: int, count: int, offset: int) -> int:
    f = t.files.get(fd)
    if not isinstance(f, FsFile) or f.is_dir:
        raise KernelError(Errno.ESPIPE if not isinstance(f, FsFile) else Errno.EISDIR)
    if offset < 0:
        raise KernelError(Errno.EINVAL, "negative offset")
    if not f.writable:
        raise KernelError(Errno.EBADF)
    if PWRITE_OVERFLOW in k.bugs:
        bugs.pwrite_store_end_unchecked(k, offset, count)
    n = k.fs.write(f.ino, offset, t.mm.copy_from_user(buf, count))
    k.vfs["writes"] += 1
    return n


@syscall("lseek")
async def sys_lseek(k: Kernel, t: Task, fd: int, offset: int, whence: int) -> int:
    return t.files.get(fd).seek(offset, whence)


@syscall("fstat")
async def sys_fstat(k: Kernel, t: Task, fd: int, statbuf: int) -> int:
    t.mm.copy_to_user(statbuf, t.files.get(fd).fstat())
    return 0


@syscall("newfstatat")
async def sys_newfstatat(
    k: Kernel, t: Task, dirfd: int, path: str, statbuf: int, flags: int
) -> int:
    if not path and flags & AT_EMPTY_PATH and dirfd != AT_FDCWD:
        data = t.files.get(dirfd).fstat()
    elif path in _DEVICES:
        dev = _DEVICES[path]
        data = TtyFile(k.tty).fstat() if dev == "tty" else NullFile(0, dev == "zero").fstat()
    else:
        data = stat_bytes(k, resolve(k, t, dirfd, path))
    t.mm.copy_to_user(statbuf, data)
    return 0


@syscall("getdents64")
async def sys_getdents64(k: Kernel, t: Task, fd: int, dirp: int, count: int) -> int:
    data = t.files.get(fd).getdents(count)
    t.mm.copy_to_user(dirp, data)
    return len(data)


@syscall("mkdirat")
async def sys_mkdirat(k: Kernel, t: Task, dirfd: int, path: str, mode: int) -> int:
    dir_ino, name = resolve(k, t, dirfd, path.rstrip("/") or "/", parent=True)
    _fs(k).mkdir(dir_ino, name, mode)
    return 0


@syscall("unlinkat")
async def sys_unlinkat(k: Kernel, t: Task, dirfd: int, path: str, flags: int) -> int:
    if flags & AT_REMOVEDIR:
        dir_ino, name = resolve(k, t, dirfd, path.rstrip("/") or "/", parent=True)
        if name in (".", ""):
            raise KernelError(Errno.EINVAL, "cannot remove '.'")
        if name == "..":
            raise KernelError(Errno.ENOTEMPTY, "cannot remove '..'")
        _fs(k).rmdir(dir_ino, name)
    else:
        dir_ino, name = resolve(k, t, dirfd, path, parent=True)
        if path.endswith("/"):
            raise KernelError(
                Errno.EISDIR
                if st.S_ISDIR(_fs(k).stat(_fs(k).lookup(dir_ino, name)).mode)
                else Errno.ENOTDIR,
                path,
            )
        _fs(k).unlink(dir_ino, name)
    return 0


@syscall("renameat2")
async def sys_renameat2(
    k: Kernel, t: Task, olddirfd: int, oldpath: str, newdirfd: int, newpath: str, flags: int
) -> int:
    old_dir, old_name = resolve(k, t, olddirfd, oldpath.rstrip("/") or "/", parent=True)
    new_dir, new_name = resolve(k, t, newdirfd, newpath.rstrip("/") or "/", parent=True)
    if flags & RENAME_NOREPLACE:
        try:
            _fs(k).lookup(new_dir, new_name)
            raise KernelError(Errno.EEXIST, newpath)
        except KernelError as e:
            if e.errno is not Errno.ENOENT:
                raise
    _fs(k).rename(old_dir, old_name, new_dir, new_name)
    return 0


@syscall("chdir")
async def sys_chdir(k: Kernel, t: Task, path: str) -> int:
    ino = resolve(k, t, AT_FDCWD, path)
    if not st.S_ISDIR(_fs(k).stat(ino).mode):
        raise KernelError(Errno.ENOTDIR, path)
    t.cwd = ino
    return 0


@syscall("getcwd")
async def sys_getcwd(k: Kernel, t: Task, buf: int, size: int) -> int:
    fs = _fs(k)
    path = (
        path_of(fs, t.cwd if t.cwd is not None else fs.ROOT_INO).encode("utf-8", "surrogateescape")
        + b"\0"
    )
    if len(path) > size:
        raise KernelError(Errno.ERANGE, "buffer too small for the path")
    t.mm.copy_to_user(buf, path)
    return len(path)


@syscall("dup")
async def sys_dup(k: Kernel, t: Task, oldfd: int) -> int:
    return t.files.install(t.files.get(oldfd))


@syscall("dup3")
async def sys_dup3(k: Kernel, t: Task, oldfd: int, newfd: int, flags: int) -> int:
    if oldfd == newfd:
        raise KernelError(Errno.EINVAL, "dup3 to the same descriptor")
    t.files.install_at(newfd, t.files.get(oldfd))
    return newfd


@syscall("fsync")
async def sys_fsync(k: Kernel, t: Task, fd: int) -> int:
    f = t.files.get(fd)
    if FSYNC_LIES in k.bugs and isinstance(f, FsFile) and bugs.fsync_lies(k):
        return 0
    f.fsync()
    return 0


@syscall("fdatasync")
async def sys_fdatasync(k: Kernel, t: Task, fd: int) -> int:
    f = t.files.get(fd)
    if FSYNC_LIES in k.bugs and isinstance(f, FsFile) and bugs.fsync_lies(k):
        return 0
    f.fsync()
    return 0


@syscall("sync")
async def sys_sync(k: Kernel, t: Task) -> int:
    if FSYNC_LIES in k.bugs and bugs.fsync_lies(k):
        return 0
    if k.fs is not None:
        k.fs.sync()
    return 0


@syscall("ftruncate")
async def sys_ftruncate(k: Kernel, t: Task, fd: int, length: int) -> int:
    f = t.files.get(fd)
    if not isinstance(f, FsFile) or f.is_dir or not f.writable:
        raise KernelError(Errno.EINVAL, "not a regular file open for writing")
    if length < 0:
        raise KernelError(Errno.EINVAL, "negative length")
    k.fs.truncate(f.ino, length)
    return 0


@syscall("statfs")
async def sys_statfs(k: Kernel, t: Task, path: str, buf: int) -> int:
    resolve(k, t, AT_FDCWD, path)
    s = _fs(k).statfs()
    t.mm.copy_to_user(
        buf,
        struct.pack(
            STATFS_FORMAT,
            SISFS_MAGIC,
            s.block_size,
            s.total_blocks,
            s.free_blocks,
            s.free_blocks,
            s.total_inodes,
            s.free_inodes,
            0,
            0,
            255,
            s.block_size,
            0,
            0,
            0,
            0,
            0,
        ),
    )
    return 0

"""Block devices: the trait, a file-backed disk image and an in-memory disk.

Blocks are 4 KiB. A device reports I/O errors as `KernelError(EIO)` and writes to a read-only
device as `KernelError(EROFS)`; what the file system does with them is its business.

An image file is locked while it is open, as QEMU locks its images: exclusively by a writer,
shared by readers, so that two kernels (or a kernel and `sis disk`) never write one image at
once and corrupt it. The lock belongs to the open file, so it lasts until `close` (or the
process ends), whatever the kernel inside does — reboots included.
"""

from __future__ import annotations

import fcntl
import os
import struct
from dataclasses import dataclass
from typing import Protocol

from sis.kernel.errno import Errno, KernelError

BLOCK_SIZE = 4096


@dataclass
class BlockStats:
    reads: int = 0
    writes: int = 0
    flushes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    errors: int = 0


class BlockDevice(Protocol):
    block_size: int
    block_count: int
    read_only: bool
    stats: BlockStats

    def read_block(self, index: int) -> bytes: ...
    def write_block(self, index: int, data: bytes) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def _check(dev: BlockDevice, index: int, data: bytes | None = None) -> None:
    if not 0 <= index < dev.block_count:
        dev.stats.errors += 1
        raise KernelError(Errno.EIO, f"block {index} beyond end of device ({dev.block_count})")
    if data is not None:
        if dev.read_only:
            dev.stats.errors += 1
            raise KernelError(Errno.EROFS, "device is read-only")
        if len(data) != dev.block_size:
            raise ValueError(f"block write of {len(data)} bytes, expected {dev.block_size}")


class MemoryBlockDevice:
    """A RAM disk; contents vanish with the process."""

    def __init__(self, block_count: int, read_only: bool = False) -> None:
        self.block_size = BLOCK_SIZE
        self.block_count = block_count
        self.read_only = read_only
        self.stats = BlockStats()
        self._blocks: dict[int, bytes] = {}

    def read_block(self, index: int) -> bytes:
        _check(self, index)
        self.stats.reads += 1
        self.stats.bytes_read += self.block_size
        return self._blocks.get(index, bytes(self.block_size))

    def write_block(self, index: int, data: bytes) -> None:
        _check(self, index, data)
        self.stats.writes += 1
        self.stats.bytes_written += self.block_size
        self._blocks[index] = bytes(data)

    def flush(self) -> None:
        self.stats.flushes += 1

    def close(self) -> None:
        pass


class FileBlockDevice:
    """A raw disk image file. Written blocks reach the host page cache at once (they survive
    the process being killed); `flush` makes them durable (fdatasync).

    Opening takes the image lock (see above): `KernelError(EBUSY)` when another user holds a
    conflicting one."""

    _fd = -1  # so that close() and __del__ work on a half-built device

    def __init__(self, path: str | os.PathLike[str], read_only: bool = False) -> None:
        self.path = os.fspath(path)
        self.block_size = BLOCK_SIZE
        self.read_only = read_only
        try:
            self._fd = os.open(self.path, os.O_RDONLY if read_only else os.O_RDWR)
        except FileNotFoundError:
            raise KernelError(Errno.ENOENT, f"disk image {self.path} does not exist") from None
        except IsADirectoryError:
            raise KernelError(Errno.EISDIR, f"disk image {self.path} is a directory") from None
        except PermissionError:
            raise KernelError(Errno.EACCES, f"disk image {self.path} is not accessible") from None
        self._lock()
        size = os.fstat(self._fd).st_size
        if size == 0 or size % BLOCK_SIZE:
            self.close()
            raise KernelError(
                Errno.EINVAL,
                f"disk image {self.path} is {size} bytes, not a whole number of 4 KiB blocks",
            )
        self.block_count = size // BLOCK_SIZE
        self.stats = BlockStats()

    def _lock(self) -> None:
        # flock: the lock goes with this open file description, even against another open of
        # the same image in this process, and the kernel drops it when the process dies.
        try:
            fcntl.flock(
                self._fd, (fcntl.LOCK_SH if self.read_only else fcntl.LOCK_EX) | fcntl.LOCK_NB
            )
        except BlockingIOError:
            self.close()
            kind = 'shared "write"' if self.read_only else '"write"'
            raise KernelError(
                Errno.EBUSY, f"Failed to get {kind} lock: image is in use by another process"
            ) from None
        except OSError:
            pass  # a file system without locks (some network mounts): use the image unlocked

    def read_block(self, index: int) -> bytes:
        _check(self, index)
        try:
            data = os.pread(self._fd, self.block_size, index * self.block_size)
        except OSError as e:
            self.stats.errors += 1
            raise KernelError(Errno.EIO, f"read block {index}: {e.strerror}") from None
        self.stats.reads += 1
        self.stats.bytes_read += self.block_size
        return data.ljust(self.block_size, b"\0")

    def write_block(self, index: int, data: bytes) -> None:
        _check(self, index, data)
        try:
            os.pwrite(self._fd, data, index * self.block_size)
        except OSError as e:
            self.stats.errors += 1
            errno = Errno.ENOSPC if e.errno == 28 else Errno.EIO
            raise KernelError(errno, f"write block {index}: {e.strerror}") from None
        self.stats.writes += 1
        self.stats.bytes_written += self.block_size

    def flush(self) -> None:
        if self.read_only:
            return
        try:
            os.fdatasync(self._fd)
        except OSError as e:
            self.stats.errors += 1
            raise KernelError(Errno.EIO, f"flush: {e.strerror}") from None
        self.stats.flushes += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the image lock
            self._fd = -1

    def __del__(self) -> None:
        self.close()  # a device dropped without close() must not keep the image locked


def create_image(path: str | os.PathLike[str], size_bytes: int) -> None:
    """Create a sparse raw image of the given size (rounded up to whole blocks)."""
    blocks = max(1, -(-size_bytes // BLOCK_SIZE))
    with open(path, "wb") as f:
        f.truncate(blocks * BLOCK_SIZE)


class LoggedBlockDevice:
    """A block device whose writes and flushes are also recorded, in order, to a log file in
    Linux's dm-log-writes format (the one QEMU's `blklogwrites` driver writes), so that the
    disk as it was after any of them can be rebuilt: `-drive file=IMG,log=LOG`.

    Log sectors are the device's 4 KiB blocks. Each entry reaches the log file before the
    operation returns, and the super block counts it at once: a reader that sees an operation
    complete finds it in the log. The log starts empty at every start of the kernel."""

    MAGIC = 0x6A736677736872
    FLUSH = 1

    def __init__(self, inner: BlockDevice, log_path: str | os.PathLike[str]) -> None:
        self.inner = inner
        self.block_size = inner.block_size
        self.block_count = inner.block_count
        self.read_only = inner.read_only
        self.stats = inner.stats
        self.entries = 0
        try:
            self._fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as e:
            raise KernelError(Errno.EIO, f"write log {log_path}: {e.strerror}") from None
        self._end = self.block_size
        self._super()

    def _super(self) -> None:
        head = struct.pack("<QQQI", self.MAGIC, 1, self.entries, self.block_size)
        os.pwrite(self._fd, head.ljust(self.block_size, b"\0"), 0)

    def _log(self, sector: int, count: int, flags: int, data: bytes) -> None:
        header = struct.pack("<QQQQ", sector, count, flags, 0).ljust(self.block_size, b"\0")
        try:
            os.pwrite(self._fd, header + data, self._end)
            self._end += len(header) + len(data)
            self.entries += 1
            self._super()
        except OSError as e:
            raise KernelError(Errno.EIO, f"write log: {e.strerror}") from None

    def read_block(self, index: int) -> bytes:
        return self.inner.read_block(index)

    def write_block(self, index: int, data: bytes) -> None:
        self.inner.write_block(index, data)
        self._log(index, 1, 0, bytes(data))

    def flush(self) -> None:
        self.inner.flush()
        self._log(0, 0, self.FLUSH, b"")

    def close(self) -> None:
        self.inner.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

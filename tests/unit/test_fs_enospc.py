"""Running out of data blocks or inodes: ENOSPC reaches the caller, nothing is left half done,
fsck stays clean, a remount works, and deleting gives the space back."""

from __future__ import annotations

import pytest

from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck

ROOT = FileSystem.ROOT_INO


def small_fs(blocks: int = 256, inodes: int | None = None) -> tuple[MemoryBlockDevice, FileSystem]:
    dev = MemoryBlockDevice(blocks)
    FileSystem.format(dev, inodes=inodes, journal_blocks=48)
    return dev, FileSystem.mount(dev)


def fill(fs: FileSystem, ino: int) -> int:
    """Append until the disk is full; returns the bytes the file system accepted."""
    chunk = bytes(range(256)) * 256  # 64 KiB
    size = 0
    with pytest.raises(KernelError) as e:
        while True:
            n = fs.write(ino, size, chunk)
            size += n
            assert n == len(chunk) or fs.statfs().free_blocks < 20
    assert e.value.errno == Errno.ENOSPC
    return size


def test_data_blocks_run_out() -> None:
    dev, fs = small_fs()
    empty = fs.statfs()
    f = fs.create(ROOT, "f", 0o644)
    size = fill(fs, f)
    assert fs.stat(f).size == size > 100 * 4096
    assert fs.statfs().free_blocks == 0
    # Every other kind of allocation is refused too, and changes nothing.
    inodes = fs.statfs().free_inodes
    for call in (lambda: fs.mkdir(ROOT, "d", 0o755), lambda: fs.write(f, size, b"x")):
        with pytest.raises(KernelError) as e:
            call()
        assert e.value.errno == Errno.ENOSPC
    assert fs.statfs().free_inodes == inodes
    fs.sync()
    assert fsck(dev).clean
    fs.unmount()

    fs = FileSystem.mount(dev)
    expected = (bytes(range(256)) * 256 * (size // 65536 + 1))[:size]
    assert fs.read(f, 0, size) == expected
    fs.unlink(ROOT, "f")
    assert fs.statfs() == empty
    g = fs.create(ROOT, "g", 0o644)
    assert fs.write(g, 0, bytes(4096 * 10)) == 4096 * 10
    fs.unmount()
    assert fsck(dev).clean


def test_short_write_then_enospc() -> None:
    dev, fs = small_fs()
    f = fs.create(ROOT, "f", 0o644)
    free = fs.statfs().free_blocks
    big = bytes(4096 * (free + 50))
    n = fs.write(f, 0, big)
    assert 0 < n < len(big)
    assert fs.stat(f).size == n
    with pytest.raises(KernelError) as e:
        fs.write(f, n, big)
    assert e.value.errno == Errno.ENOSPC
    fs.sync()
    assert fsck(dev).clean


def test_inodes_run_out() -> None:
    dev, fs = small_fs(inodes=40)
    total = fs.statfs().free_inodes
    for i in range(total):
        fs.create(ROOT, f"f{i}", 0o644)
    with pytest.raises(KernelError) as e:
        fs.create(ROOT, "one-more", 0o644)
    assert e.value.errno == Errno.ENOSPC
    with pytest.raises(KernelError) as e:
        fs.mkdir(ROOT, "dir", 0o755)
    assert e.value.errno == Errno.ENOSPC
    fs.sync()
    assert fsck(dev).clean
    fs.unlink(ROOT, "f7")
    fs.create(ROOT, "one-more", 0o644)
    fs.unmount()
    assert fsck(dev).clean
    assert len(FileSystem.mount(dev).readdir(ROOT)) == total + 2


def test_directory_cannot_grow_when_full() -> None:
    dev, fs = small_fs()
    d = fs.mkdir(ROOT, "d", 0o755)
    f = fs.create(ROOT, "filler", 0o644)
    fill(fs, f)
    inodes = fs.statfs().free_inodes
    created = 0
    with pytest.raises(KernelError) as e:
        while True:
            fs.create(d, f"entry-with-a-fairly-long-name-{created:05d}", 0o644)
            created += 1
    assert e.value.errno == Errno.ENOSPC
    assert created > 10  # the first directory block filled up before the error
    # The inode allocated for the failed create was given back.
    assert fs.statfs().free_inodes == inodes - created
    fs.unmount()
    assert fsck(dev).clean
    assert len(FileSystem.mount(dev).readdir(d)) == created + 2

"""Offline tools on disk image files, for the `sis disk` command.

Inspection (`fsck_image`, `list_dir`, `read_file`) opens the image read-only: a committed
journal transaction is applied in memory and never written back. Every failure is a
`KernelError` with a one-line reason (the caller knows which image it named).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sis.kernel.drivers.block import FileBlockDevice, create_image
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs.filesystem import FileSystem
from sis.kernel.fs.fsck import FsckReport, fsck
from sis.kernel.fs.vfs import resolve

Path = str | os.PathLike[str]


@dataclass(frozen=True)
class ListEntry:
    name: str
    ino: int
    is_dir: bool
    size: int
    mode: int
    mtime_ns: int


@contextmanager
def _device(path: Path, read_only: bool) -> Iterator[FileBlockDevice]:
    dev = FileBlockDevice(path, read_only=read_only)
    try:
        yield dev
    finally:
        dev.close()


@contextmanager
def _mounted(path: Path, read_only: bool = True) -> Iterator[FileSystem]:
    with _device(path, read_only) as dev:
        fs = FileSystem.mount(dev, read_only=read_only)
        yield fs
        fs.unmount()


def create_disk(
    path: Path,
    size_bytes: int,
    *,
    inodes: int | None = None,
    journal_blocks: int | None = None,
    overwrite: bool = False,
) -> None:
    """Create an image file of `size_bytes` (rounded up to 4 KiB) holding an empty file system."""
    if os.path.exists(path) and not overwrite:
        raise KernelError(Errno.EEXIST, "the file already exists; not overwriting it")
    create_image(path, size_bytes)
    try:
        with _device(path, read_only=False) as dev:
            FileSystem.format(dev, inodes=inodes, journal_blocks=journal_blocks)
    except KernelError:
        os.unlink(path)
        raise


def fsck_image(path: Path) -> FsckReport:
    with _device(path, read_only=True) as dev:
        return fsck(dev)


def list_dir(path: Path, dir: str = "/") -> list[ListEntry]:
    """Entries of directory `dir` in the image (without "." and ".."); for a file, the file."""
    with _mounted(path) as fs:
        ino = resolve(fs, dir, fs.ROOT_INO)
        st = fs.stat(ino)
        if not st.is_dir:
            name = dir.rstrip("/").rsplit("/", 1)[-1]
            return [ListEntry(name, ino, False, st.size, st.mode, st.mtime_ns)]
        out = []
        for e in fs.readdir(ino):
            if e.name in (".", ".."):
                continue
            s = fs.stat(e.ino)
            out.append(ListEntry(e.name, e.ino, e.is_dir, s.size, s.mode, s.mtime_ns))
        return sorted(out, key=lambda e: e.name)


def read_file(path: Path, file: str) -> bytes:
    with _mounted(path) as fs:
        ino = resolve(fs, file, fs.ROOT_INO)
        st = fs.stat(ino)
        if st.is_dir:
            raise KernelError(Errno.EISDIR, "is a directory")
        return fs.read(ino, 0, st.size)


def write_file(path: Path, file: str, data: bytes, mode: int = 0o644) -> None:
    """Create or replace `file` in the image (its directory must exist) and sync."""
    with _mounted(path, read_only=False) as fs:
        dir_ino, name = resolve(fs, file, fs.ROOT_INO, parent=True)
        try:
            ino = fs.lookup(dir_ino, name)
        except KernelError as e:
            if e.errno != Errno.ENOENT:
                raise
            ino = fs.create(dir_ino, name, mode)
        fs.truncate(ino, 0)
        fs.write(ino, 0, data)
        fs.sync()

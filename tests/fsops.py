"""File-system operations written as tuples, applied to a mounted FileSystem: the scripted
workloads of the crash-consistency test and the random ones of the model test share them."""

from __future__ import annotations

from typing import Any

from sis.kernel.fs import FileSystem
from sis.kernel.fs.vfs import resolve


def run_fs_op(fs: FileSystem, op: tuple) -> Any:
    """("mkdir"|"create"|"unlink"|"rmdir", path), ("rename", old, new), ("write", path, off,
    data), ("truncate", path, size), ("read", path, off, n), ("readdir"|"stat"|"fsync", path),
    ("sync",), ("unmount",). Returns what the call returns (readdir/stat: comparable values)."""
    kind, root = op[0], fs.ROOT_INO
    if kind in ("mkdir", "create", "unlink", "rmdir"):
        d, name = resolve(fs, op[1], root, parent=True)
        if kind == "mkdir":
            fs.mkdir(d, name, 0o755)
        elif kind == "create":
            fs.create(d, name, 0o644)
        elif kind == "unlink":
            fs.unlink(d, name)
        else:
            fs.rmdir(d, name)
        return None
    if kind == "rename":
        od, on = resolve(fs, op[1], root, parent=True)
        nd, nn = resolve(fs, op[2], root, parent=True)
        fs.rename(od, on, nd, nn)
        return None
    if kind == "sync":
        return fs.sync()
    if kind == "unmount":
        return fs.unmount()
    ino = resolve(fs, op[1], root)
    if kind == "readdir":
        return sorted((e.name, e.is_dir) for e in fs.readdir(ino) if e.name not in (".", ".."))
    if kind == "stat":
        s = fs.stat(ino)
        return (True, s.nlink) if s.is_dir else (False, s.size)
    if kind == "write":
        return fs.write(ino, op[2], op[3])
    if kind == "truncate":
        return fs.truncate(ino, op[2])
    if kind == "read":
        return fs.read(ino, op[2], op[3])
    if kind == "fsync":
        return fs.fsync(ino)
    raise AssertionError(kind)

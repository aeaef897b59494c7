"""Path names: resolving a path to an inode, and an inode back to its path (getcwd).

Only the file system's inode operations are used, so this works on any mounted `FileSystem`.
There are no symbolic links: every component is a plain directory lookup.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, overload

from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs.filesystem import FileSystem, Stat, decode_name
from sis.kernel.fs.layout import NAME_MAX, PATH_MAX


def _components(path: str) -> tuple[list[bytes], bool, bool]:
    """(components, absolute, trailing slash); the whole path's length is checked here, each
    component's as the walk reaches it (as Linux does: a missing directory is ENOENT even
    when a later name is too long)."""
    raw = path.encode("utf-8", "surrogateescape")
    if len(raw) > PATH_MAX:
        raise KernelError(Errno.ENAMETOOLONG, f"path of {len(raw)} bytes (limit {PATH_MAX})")
    if not raw:
        raise KernelError(Errno.ENOENT, "empty path")
    if b"\0" in raw:
        raise KernelError(Errno.EINVAL, "path contains NUL")
    parts = [p for p in raw.split(b"/") if p]
    return parts, raw.startswith(b"/"), raw.endswith(b"/")


def _walk(fs: FileSystem, start: int, parts: list[bytes]) -> int:
    cur = start
    for p in parts:
        if len(p) > NAME_MAX and not fs.stat(cur).is_dir:
            raise KernelError(Errno.ENOTDIR, "a path component is not a directory")
        _check_name(p)
        # "." and ".." are real directory entries: looking them up also checks `cur` is a dir.
        cur = fs.lookup(cur, decode_name(p))
    return cur


def _check_name(p: bytes) -> None:
    if len(p) > NAME_MAX:
        raise KernelError(
            Errno.ENAMETOOLONG, f"path component of {len(p)} bytes (limit {NAME_MAX})"
        )


@overload
def resolve(fs: FileSystem, path: str, cwd_ino: int, *, parent: Literal[False] = False) -> int: ...


@overload
def resolve(
    fs: FileSystem, path: str, cwd_ino: int, *, parent: Literal[True]
) -> tuple[int, str]: ...


def resolve(
    fs: FileSystem, path: str, cwd_ino: int, *, parent: bool = False
) -> int | tuple[int, str]:
    """The inode `path` names, relative to directory `cwd_ino` unless absolute.

    With `parent=True`, returns (directory inode, last component) for calls that create or
    remove a name; the last component need not exist. "/" gives (root, ".").
    """
    parts, absolute, trailing = _components(path)
    start = fs.ROOT_INO if absolute else cwd_ino
    if not parent:
        ino = _walk(fs, start, parts)
        if trailing and not fs.stat(ino).is_dir:
            raise KernelError(Errno.ENOTDIR, f"{path}: not a directory")
        return ino
    if not parts:
        return start, "."
    dir_ino = _walk(fs, start, parts[:-1])
    if not fs.stat(dir_ino).is_dir:
        raise KernelError(Errno.ENOTDIR, f"{path}: a path component is not a directory")
    _check_name(parts[-1])
    last = decode_name(parts[-1])
    if trailing:
        # "name/" may be created as a directory, but must not name an existing file.
        try:
            ino = fs.lookup(dir_ino, last)
        except KernelError as e:
            if e.errno != Errno.ENOENT:
                raise
        else:
            if not fs.stat(ino).is_dir:
                raise KernelError(Errno.ENOTDIR, f"{path}: not a directory")
    return dir_ino, last


def path_of(fs: FileSystem, ino: int) -> str:
    """Absolute path of directory `ino`, rebuilt by following ".." up to the root.
    ENOENT if the directory has been removed, ENOTDIR if `ino` is not a directory."""
    if not fs.stat(ino).is_dir:
        raise KernelError(Errno.ENOTDIR, f"inode {ino} is not a directory")
    names: list[str] = []
    cur = ino
    seen = {cur}
    while cur != fs.ROOT_INO:
        up = fs.lookup(cur, "..")
        name = next(
            (e.name for e in fs.readdir(up) if e.ino == cur and e.name not in (".", "..")),
            None,
        )
        if name is None or up in seen:
            raise KernelError(Errno.ENOENT, f"directory {ino} is no longer linked")
        names.append(name)
        seen.add(up)
        cur = up
    return "/" + "/".join(reversed(names))


getcwd = path_of


def walk(fs: FileSystem, top: str = "/") -> Iterator[tuple[str, Stat]]:
    """Every path under directory `top` (itself first), depth first, with its stat."""
    ino = resolve(fs, top, fs.ROOT_INO)
    stack = [(top, ino)]
    while stack:
        path, ino = stack.pop()
        st = fs.stat(ino)
        yield path, st
        if st.is_dir:
            children = [e for e in fs.readdir(ino) if e.name not in (".", "..")]
            for e in sorted(children, key=lambda e: e.name, reverse=True):
                stack.append((path.rstrip("/") + "/" + e.name, e.ino))

"""Path resolution for the syscall layer, and rebuilding a directory's path (getcwd)."""

from __future__ import annotations

import pytest

from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, getcwd, path_of, resolve, walk

ROOT = FileSystem.ROOT_INO


@pytest.fixture
def fs() -> FileSystem:
    dev = MemoryBlockDevice(4096)
    FileSystem.format(dev, inodes=1200)
    fs = FileSystem.mount(dev)
    a = fs.mkdir(ROOT, "a", 0o755)
    b = fs.mkdir(a, "b", 0o755)
    fs.create(b, "f", 0o644)
    fs.create(ROOT, "top", 0o644)
    return fs


def err(fn, *args, **kw) -> Errno:
    with pytest.raises(KernelError) as e:
        fn(*args, **kw)
    return e.value.errno


def test_absolute_and_relative(fs: FileSystem) -> None:
    a = fs.lookup(ROOT, "a")
    b = fs.lookup(a, "b")
    f = fs.lookup(b, "f")
    assert resolve(fs, "/", b) == ROOT
    assert resolve(fs, "/a/b/f", ROOT) == f
    assert resolve(fs, "b/f", a) == f
    assert resolve(fs, ".", b) == b
    assert resolve(fs, "..", b) == a
    assert resolve(fs, "../..", b) == ROOT
    assert resolve(fs, "/..", b) == ROOT  # the root is its own parent
    assert resolve(fs, "//a///b/./../b//f", ROOT) == f
    assert resolve(fs, "/a/b/", ROOT) == b
    assert resolve(fs, "a/.", ROOT) == a


def test_errors(fs: FileSystem) -> None:
    assert err(resolve, fs, "", ROOT) == Errno.ENOENT
    assert err(resolve, fs, "/nope", ROOT) == Errno.ENOENT
    assert err(resolve, fs, "/nope/x", ROOT) == Errno.ENOENT
    assert err(resolve, fs, "/top/x", ROOT) == Errno.ENOTDIR
    assert err(resolve, fs, "/top/", ROOT) == Errno.ENOTDIR
    assert err(resolve, fs, "/top/.", ROOT) == Errno.ENOTDIR
    assert err(resolve, fs, "/a/b/f/..", ROOT) == Errno.ENOTDIR
    assert err(resolve, fs, "/" + "x" * 256, ROOT) == Errno.ENAMETOOLONG
    assert err(resolve, fs, "/" + "x" * 256 + "/y", ROOT, parent=True) == Errno.ENAMETOOLONG
    assert err(resolve, fs, "/a/" + "y" * 256, ROOT, parent=True) == Errno.ENAMETOOLONG
    assert err(resolve, fs, "a/" * 2049, ROOT) == Errno.ENAMETOOLONG  # 4098 bytes
    assert err(resolve, fs, "a\0b", ROOT) == Errno.EINVAL


def test_path_length_limit_is_4096_bytes(fs: FileSystem) -> None:
    path = "/" + "/".join(["."] * 2047) + "/a"  # exactly 4096 bytes
    assert len(path) == 4096
    assert resolve(fs, path, ROOT) == fs.lookup(ROOT, "a")
    assert err(resolve, fs, path + "/", ROOT) == Errno.ENAMETOOLONG


def test_parent_mode(fs: FileSystem) -> None:
    a = fs.lookup(ROOT, "a")
    b = fs.lookup(a, "b")
    assert resolve(fs, "/a/b/new", ROOT, parent=True) == (b, "new")
    assert resolve(fs, "new", b, parent=True) == (b, "new")
    assert resolve(fs, "/a/b/f", ROOT, parent=True) == (b, "f")
    assert resolve(fs, "/a/newdir/", ROOT, parent=True) == (a, "newdir")
    assert resolve(fs, "/a/b/", ROOT, parent=True) == (a, "b")
    assert resolve(fs, "/", b, parent=True) == (ROOT, ".")
    assert resolve(fs, "b/..", a, parent=True) == (b, "..")
    assert err(resolve, fs, "/top/x", ROOT, parent=True) == Errno.ENOTDIR
    assert err(resolve, fs, "/top/", ROOT, parent=True) == Errno.ENOTDIR
    assert err(resolve, fs, "/nope/x", ROOT, parent=True) == Errno.ENOENT


def test_mkdir_and_create_through_parent_mode(fs: FileSystem) -> None:
    d, name = resolve(fs, "/a/b/c", ROOT, parent=True)
    c = fs.mkdir(d, name, 0o755)
    d, name = resolve(fs, "/a/b/c/file", ROOT, parent=True)
    f = fs.create(d, name, 0o644)
    assert resolve(fs, "/a/b/c/file", ROOT) == f
    d, name = resolve(fs, "/", ROOT, parent=True)
    assert err(fs.mkdir, d, name, 0o755) == Errno.EEXIST
    assert c == resolve(fs, "/a/b/c", ROOT)


def test_path_of(fs: FileSystem) -> None:
    a = fs.lookup(ROOT, "a")
    b = fs.lookup(a, "b")
    assert path_of(fs, ROOT) == "/"
    assert path_of(fs, b) == "/a/b"
    assert getcwd(fs, a) == "/a"
    fs.rename(a, "b", ROOT, "moved")
    assert path_of(fs, b) == "/moved"
    assert err(path_of, fs, fs.lookup(b, "f")) == Errno.ENOTDIR
    fs.unlink(b, "f")
    fs.rmdir(ROOT, "moved")
    assert err(path_of, fs, b) == Errno.ENOENT


def test_deep_tree(fs: FileSystem) -> None:
    d = ROOT
    for _ in range(1000):
        d = fs.mkdir(d, "d", 0o755)
    path = "/" + "/".join(["d"] * 1000)
    assert resolve(fs, path, ROOT) == d
    assert path_of(fs, d) == path
    assert resolve(fs, "/".join([".."] * 1000) + "/a", d) == fs.lookup(ROOT, "a")


def test_walk(fs: FileSystem) -> None:
    assert [p for p, _ in walk(fs)] == ["/", "/a", "/a/b", "/a/b/f", "/top"]
    assert [p for p, _ in walk(fs, "/a/b")] == ["/a/b", "/a/b/f"]

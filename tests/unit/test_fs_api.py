"""The inode API of FileSystem, call by call, with every errno it promises."""

from __future__ import annotations

import stat

import pytest

from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import DirEntry, FileSystem, fsck
from sis.kernel.fs.layout import MAX_FILE_SIZE

ROOT = FileSystem.ROOT_INO


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000_000

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
def dev() -> MemoryBlockDevice:
    dev = MemoryBlockDevice(4096)  # 16 MiB
    FileSystem.format(dev, journal_blocks=128)
    return dev


@pytest.fixture
def fs(dev: MemoryBlockDevice) -> FileSystem:
    return FileSystem.mount(dev, clock=Clock())


def errno_of(fn, *args) -> Errno:
    with pytest.raises(KernelError) as e:
        fn(*args)
    return e.value.errno


def test_root_after_format(fs: FileSystem) -> None:
    st = fs.stat(ROOT)
    assert stat.S_ISDIR(st.mode) and st.nlink == 2 and st.ino == ROOT
    assert fs.readdir(ROOT) == [DirEntry(".", ROOT, True), DirEntry("..", ROOT, True)]
    assert fs.lookup(ROOT, "..") == ROOT


def test_create_stat_and_timestamps(fs: FileSystem) -> None:
    ino = fs.create(ROOT, "f", 0o640)
    st = fs.stat(ino)
    assert st.mode == stat.S_IFREG | 0o640
    assert (st.nlink, st.size, st.blocks) == (1, 0, 0)
    assert st.atime_ns == st.mtime_ns == st.ctime_ns > 0
    fs.write(ino, 0, b"x" * 5000)
    st2 = fs.stat(ino)
    assert st2.size == 5000 and st2.blocks == 16  # two 4 KiB blocks in 512-byte units
    assert st2.mtime_ns > st.mtime_ns and st2.ctime_ns == st2.mtime_ns
    assert fs.lookup(ROOT, "f") == ino
    assert fs.stat(ROOT).mtime_ns >= st.ctime_ns


def test_mode_keeps_only_permission_bits(fs: FileSystem) -> None:
    ino = fs.create(ROOT, "f", stat.S_IFDIR | 0o4755)
    assert fs.stat(ino).mode == stat.S_IFREG | 0o4755


def test_create_errors(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    assert errno_of(fs.create, ROOT, "f", 0o644) == Errno.EEXIST
    assert errno_of(fs.mkdir, ROOT, "f", 0o755) == Errno.EEXIST
    assert errno_of(fs.create, ROOT, ".", 0o644) == Errno.EEXIST
    assert errno_of(fs.create, f, "g", 0o644) == Errno.ENOTDIR
    assert errno_of(fs.create, ROOT, "n" * 256, 0o644) == Errno.ENAMETOOLONG
    assert errno_of(fs.create, ROOT, "a/b", 0o644) == Errno.EINVAL
    assert errno_of(fs.create, ROOT, "a\0b", 0o644) == Errno.EINVAL
    assert errno_of(fs.create, ROOT, "", 0o644) == Errno.ENOENT
    assert errno_of(fs.create, 9999, "g", 0o644) == Errno.ENOENT
    assert errno_of(fs.create, 0, "g", 0o644) == Errno.ENOENT


def test_names_are_bytes_up_to_255(fs: FileSystem) -> None:
    names = ["n" * 255, "é" * 127, "sp ace\ttab\n", "\udcff\udc80raw", "...", "-"]
    for name in names:
        fs.create(ROOT, name, 0o644)
    got = {e.name for e in fs.readdir(ROOT)} - {".", ".."}
    assert got == set(names)
    fs.unmount()


def test_mkdir_links(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT, "d", 0o750)
    st = fs.stat(d)
    assert st.mode == stat.S_IFDIR | 0o750 and st.nlink == 2 and st.size == 4096
    assert fs.stat(ROOT).nlink == 3
    assert fs.lookup(d, ".") == d and fs.lookup(d, "..") == ROOT
    e = fs.mkdir(d, "e", 0o755)
    assert fs.stat(d).nlink == 3
    assert [x.name for x in fs.readdir(d)] == [".", "..", "e"]
    assert fs.readdir(d)[2] == DirEntry("e", e, True)


def test_lookup_errors(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    assert errno_of(fs.lookup, ROOT, "nope") == Errno.ENOENT
    assert errno_of(fs.lookup, f, "x") == Errno.ENOTDIR
    assert errno_of(fs.lookup, ROOT, "x" * 300) == Errno.ENAMETOOLONG
    assert errno_of(fs.stat, 12345) == Errno.ENOENT
    assert errno_of(fs.readdir, f) == Errno.ENOTDIR


def test_read_write_holes_and_bounds(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    assert fs.write(f, 0, b"hello") == 5
    assert fs.read(f, 0, 100) == b"hello"
    assert fs.read(f, 1, 3) == b"ell"
    assert fs.read(f, 5, 10) == b"" and fs.read(f, 500, 10) == b""
    assert fs.write(f, 10_000, b"end") == 3
    data = fs.read(f, 0, 20_000)
    assert data == b"hello" + bytes(9995) + b"end"
    assert fs.stat(f).blocks == 16  # the gap is a hole: no block for 4096..8191
    assert fs.write(f, 0, b"") == 0
    assert errno_of(fs.read, f, -1, 1) == Errno.EINVAL
    assert errno_of(fs.write, f, -1, b"x") == Errno.EINVAL
    assert errno_of(fs.write, f, MAX_FILE_SIZE, b"x") == Errno.EFBIG
    assert errno_of(fs.truncate, f, MAX_FILE_SIZE + 1) == Errno.EFBIG
    assert errno_of(fs.read, ROOT, 0, 1) == Errno.EISDIR
    assert errno_of(fs.write, ROOT, 0, b"x") == Errno.EISDIR
    assert errno_of(fs.truncate, ROOT, 0) == Errno.EISDIR
    assert errno_of(fs.truncate, f, -1) == Errno.EINVAL


def test_write_accepts_any_bytes_like(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    assert fs.write(f, 0, bytearray(b"ab")) == 2
    assert fs.write(f, 2, memoryview(b"cd")) == 2
    assert fs.read(f, 0, 4) == b"abcd"


def test_large_file_uses_double_indirect_blocks(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    offset = (12 + 1024 + 1024 + 5) * 4096 + 123  # past the single-indirect range
    fs.write(f, offset, b"far away")
    assert fs.stat(f).size == offset + 8
    assert fs.read(f, offset - 2, 12) == b"\0\0far away"
    # data block + indirect from the double-indirect block + the double-indirect block
    assert fs.stat(f).blocks == 3 * 8
    fs.truncate(f, 0)
    assert fs.stat(f).blocks == 0
    fs.sync()
    assert fsck(fs.dev).clean


def test_overwrite_in_place(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"a" * 10_000)
    blocks = fs.stat(f).blocks
    fs.write(f, 4000, b"b" * 200)
    assert fs.read(f, 3999, 202) == b"a" + b"b" * 200 + b"a"
    assert fs.stat(f).size == 10_000 and fs.stat(f).blocks == blocks


def test_truncate_shrink_then_grow_reads_zeros(fs: FileSystem) -> None:
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"z" * 70_000)
    fs.truncate(f, 5000)
    assert fs.stat(f).size == 5000 and fs.stat(f).blocks == 16
    fs.truncate(f, 9000)
    assert fs.read(f, 0, 9000) == b"z" * 5000 + bytes(4000)
    fs.truncate(f, 4096)
    assert fs.stat(f).blocks == 8
    fs.truncate(f, 0)
    assert fs.read(f, 0, 10) == b"" and fs.stat(f).blocks == 0


def test_unlink(fs: FileSystem) -> None:
    free = fs.statfs().free_blocks
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"q" * 100_000)
    fs.unlink(ROOT, "f")
    assert errno_of(fs.lookup, ROOT, "f") == Errno.ENOENT
    assert errno_of(fs.stat, f) == Errno.ENOENT
    assert fs.statfs().free_blocks == free
    d = fs.mkdir(ROOT, "d", 0o755)
    assert errno_of(fs.unlink, ROOT, "d") == Errno.EISDIR
    assert errno_of(fs.unlink, ROOT, "f") == Errno.ENOENT
    assert errno_of(fs.unlink, d, ".") == Errno.EISDIR
    assert errno_of(fs.unlink, f, "x") == Errno.ENOENT  # f no longer exists


def test_rmdir(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT, "d", 0o755)
    fs.create(d, "f", 0o644)
    fs.mkdir(d, "sub", 0o755)
    assert errno_of(fs.rmdir, ROOT, "d") == Errno.ENOTEMPTY
    assert errno_of(fs.rmdir, d, "f") == Errno.ENOTDIR
    assert errno_of(fs.rmdir, d, ".") == Errno.EINVAL
    assert errno_of(fs.rmdir, d, "..") == Errno.ENOTEMPTY
    assert errno_of(fs.rmdir, d, "nope") == Errno.ENOENT
    fs.rmdir(d, "sub")
    assert fs.stat(d).nlink == 2
    fs.unlink(d, "f")
    fs.rmdir(ROOT, "d")
    assert fs.stat(ROOT).nlink == 2
    assert [e.name for e in fs.readdir(ROOT)] == [".", ".."]


def test_directory_grows_and_reuses_space(fs: FileSystem) -> None:
    d = fs.mkdir(ROOT, "d", 0o755)
    names = [f"file-with-a-long-name-{i:04d}" + "x" * 40 for i in range(300)]
    for n in names:
        fs.create(d, n, 0o644)
    size = fs.stat(d).size
    assert size > 4096 * 4
    for n in names[::2]:
        fs.unlink(d, n)
    for n in names[::2]:
        fs.create(d, n.upper(), 0o644)
    assert fs.stat(d).size == size  # freed records were reused
    assert len(fs.readdir(d)) == 302
    fs.sync()
    assert fsck(fs.dev).clean
    remounted = FileSystem.mount(fs.dev)
    assert sorted(e.name for e in remounted.readdir(d))[2:] == sorted(
        names[1::2] + [n.upper() for n in names[::2]]
    )


def test_rename_file(fs: FileSystem) -> None:
    a = fs.mkdir(ROOT, "a", 0o755)
    b = fs.mkdir(ROOT, "b", 0o755)
    f = fs.create(a, "f", 0o644)
    fs.write(f, 0, b"data")
    fs.rename(a, "f", b, "g")
    assert fs.lookup(b, "g") == f and errno_of(fs.lookup, a, "f") == Errno.ENOENT
    fs.rename(b, "g", b, "g")  # same name: nothing happens
    fs.rename(b, "g", b, "h")
    assert [e.name for e in fs.readdir(b)] == [".", "..", "h"]
    assert fs.read(f, 0, 10) == b"data"


def test_rename_replaces_file_atomically(fs: FileSystem) -> None:
    old = fs.create(ROOT, "old", 0o644)
    new = fs.create(ROOT, "new", 0o644)
    fs.write(old, 0, b"old")
    fs.write(new, 0, b"new" * 3000)
    free = fs.statfs()
    fs.rename(ROOT, "new", ROOT, "old")
    assert fs.lookup(ROOT, "old") == new
    assert errno_of(fs.stat, old) == Errno.ENOENT
    assert fs.statfs().free_inodes == free.free_inodes + 1
    assert fs.statfs().free_blocks == free.free_blocks + 1
    fs.sync()
    assert fsck(fs.dev).clean


def test_rename_directory(fs: FileSystem) -> None:
    a = fs.mkdir(ROOT, "a", 0o755)
    b = fs.mkdir(a, "b", 0o755)
    c = fs.mkdir(ROOT, "c", 0o755)
    fs.rename(a, "b", c, "b2")
    assert fs.lookup(c, "b2") == b and fs.lookup(b, "..") == c
    assert fs.stat(a).nlink == 2 and fs.stat(c).nlink == 3
    # over an empty directory
    empty = fs.mkdir(ROOT, "empty", 0o755)
    fs.rename(c, "b2", ROOT, "empty")
    assert fs.lookup(ROOT, "empty") == b and errno_of(fs.stat, empty) == Errno.ENOENT
    assert fs.stat(ROOT).nlink == 2 + 3
    fs.sync()
    assert fsck(fs.dev).clean


def test_rename_errors(fs: FileSystem) -> None:
    a = fs.mkdir(ROOT, "a", 0o755)
    b = fs.mkdir(a, "b", 0o755)
    f = fs.create(ROOT, "f", 0o644)
    full = fs.mkdir(ROOT, "full", 0o755)
    fs.create(full, "x", 0o644)
    assert errno_of(fs.rename, ROOT, "a", b, "a") == Errno.EINVAL  # into its own subtree
    assert errno_of(fs.rename, ROOT, "a", a, "self") == Errno.EINVAL
    assert errno_of(fs.rename, ROOT, "nope", ROOT, "x") == Errno.ENOENT
    assert errno_of(fs.rename, ROOT, "a", ROOT, "f") == Errno.ENOTDIR
    assert errno_of(fs.rename, ROOT, "f", ROOT, "a") == Errno.EISDIR
    assert errno_of(fs.rename, ROOT, "a", ROOT, "full") == Errno.ENOTEMPTY
    assert errno_of(fs.rename, a, "b", ROOT, "a") == Errno.ENOTEMPTY  # over its own parent
    assert errno_of(fs.rename, ROOT, ".", ROOT, "x") == Errno.EINVAL
    assert errno_of(fs.rename, ROOT, "f", ROOT, "..") == Errno.EINVAL
    assert errno_of(fs.rename, ROOT, "f", f, "x") == Errno.ENOTDIR
    assert errno_of(fs.rename, ROOT, "f", ROOT, "y" * 256) == Errno.ENAMETOOLONG
    fs.sync()
    assert fsck(fs.dev).clean


def test_statfs_counts(fs: FileSystem) -> None:
    s = fs.statfs()
    assert s.block_size == 4096
    assert s.total_blocks == fs.sb.block_count - fs.sb.data_start
    assert s.free_blocks == s.total_blocks - 1  # the root directory's block
    assert s.free_inodes == s.total_inodes - 1
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, bytes(3 * 4096))
    assert fs.statfs().free_blocks == s.free_blocks - 3
    assert fs.statfs().free_inodes == s.free_inodes - 1


def test_sync_fsync_and_unmount(dev: MemoryBlockDevice) -> None:
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"abc")
    fs.fsync(f)
    assert fs.journal.commits == 1
    fs.sync()  # nothing pending: no empty transaction
    assert fs.journal.commits == 1
    assert errno_of(fs.fsync, 999) == Errno.ENOENT
    fs.unmount()
    fs.unmount()  # idempotent
    assert errno_of(fs.stat, f) == Errno.ENODEV
    assert errno_of(fs.create, ROOT, "g", 0o644) == Errno.ENODEV
    assert FileSystem.mount(dev).read(f, 0, 3) == b"abc"


def test_clock_is_used(dev: MemoryBlockDevice) -> None:
    fs = FileSystem.mount(dev, clock=lambda: 42)
    assert fs.stat(fs.create(ROOT, "f", 0o644)).mtime_ns == 42


def test_read_only_mount_refuses_changes(dev: MemoryBlockDevice) -> None:
    fs = FileSystem.mount(dev, read_only=True)
    assert errno_of(fs.create, ROOT, "f", 0o644) == Errno.EROFS
    assert errno_of(fs.write, ROOT, 0, b"x") == Errno.EROFS
    assert errno_of(fs.mkdir, ROOT, "d", 0o755) == Errno.EROFS
    fs.sync()  # nothing to do
    assert [e.name for e in fs.readdir(ROOT)] == [".", ".."]


def test_deep_paths_of_directories(fs: FileSystem) -> None:
    d = ROOT
    for i in range(300):
        d = fs.mkdir(d, f"level{i}", 0o755)
    f = fs.create(d, "leaf", 0o644)
    fs.write(f, 0, b"deep")
    fs.sync()
    assert fsck(fs.dev).clean
    assert fs.read(fs.lookup(d, "leaf"), 0, 4) == b"deep"

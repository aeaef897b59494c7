"""Images that are not ours, truncated or damaged: mount refuses them with a one-line reason,
and fsck says what is wrong."""

from __future__ import annotations

import struct

import pytest

from sis.kernel.drivers.block import FileBlockDevice, MemoryBlockDevice, create_image
from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck
from sis.kernel.fs.layout import DIRENT, Inode, Superblock
from sis.kernel.fs.layout import parse_dir_block as parse

ROOT = FileSystem.ROOT_INO


def mount_error(dev) -> str:
    with pytest.raises(KernelError) as e:
        FileSystem.mount(dev)
    assert e.value.errno == Errno.EINVAL
    message = e.value.detail
    assert "\n" not in message
    return message


def test_foreign_images_are_refused() -> None:
    zeros = MemoryBlockDevice(256)
    assert "not a SIS file system" in mount_error(zeros)
    noise = MemoryBlockDevice(256)
    rng = Rng(7)
    for n in range(256):
        noise.write_block(n, rng.bytes(4096))
    assert "not a SIS file system" in mount_error(noise)
    report = fsck(noise)
    assert not report.clean and "not a SIS file system" in report.findings[0].message


def test_corrupt_superblock_is_refused() -> None:
    dev = MemoryBlockDevice(256)
    FileSystem.format(dev, journal_blocks=48)
    block = bytearray(dev.read_block(0))
    block[20] ^= 0x01  # inside the geometry
    dev.write_block(0, bytes(block))
    assert "checksum mismatch" in mount_error(dev)
    assert "checksum mismatch" in fsck(dev).findings[0].message


def test_other_version_is_refused() -> None:
    dev = MemoryBlockDevice(256)
    FileSystem.format(dev, journal_blocks=48)
    sb = Superblock.parse(dev.read_block(0), 256)
    from dataclasses import replace

    dev.write_block(0, replace(sb, version=9).pack())
    assert "unsupported SIS file system version 9" in mount_error(dev)


def test_truncated_image_is_refused(tmp_path) -> None:
    path = tmp_path / "disk.img"
    create_image(path, 4 * 1024 * 1024)
    dev = FileBlockDevice(path)
    FileSystem.format(dev)
    dev.close()
    with open(path, "r+b") as f:
        f.truncate(2 * 1024 * 1024)
    dev = FileBlockDevice(path)
    assert "truncated" in mount_error(dev)
    assert "truncated" in fsck(dev).findings[0].message
    dev.close()


def test_format_refuses_impossible_geometry() -> None:
    with pytest.raises(KernelError) as e:
        FileSystem.format(MemoryBlockDevice(40))
    assert e.value.errno == Errno.EINVAL and "too small" in e.value.detail
    with pytest.raises(KernelError) as e:
        FileSystem.format(MemoryBlockDevice(4096), journal_blocks=10)
    assert "journal" in e.value.detail
    with pytest.raises(KernelError) as e:
        FileSystem.format(MemoryBlockDevice(4096, read_only=True))
    assert e.value.errno == Errno.EROFS


# --- fsck finds damage below the superblock ------------------------------------------------


@pytest.fixture
def populated() -> tuple[MemoryBlockDevice, Superblock, dict[str, int]]:
    dev = MemoryBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    fs = FileSystem.mount(dev)
    d = fs.mkdir(ROOT, "d", 0o755)
    a = fs.create(d, "a", 0o644)
    b = fs.create(ROOT, "b", 0o644)
    fs.write(a, 0, b"a" * 20_000)
    fs.write(b, 0, b"b" * 100_000)  # uses the indirect block
    fs.unmount()
    assert fsck(dev).findings == []
    return dev, fs.sb, {"d": d, "a": a, "b": b}


def edit_inode(dev: MemoryBlockDevice, sb: Superblock, ino: int, **changes) -> Inode:
    blk, off = sb.inode_location(ino)
    buf = bytearray(dev.read_block(blk))
    inode = Inode.unpack(buf, off)
    for k, v in changes.items():
        setattr(inode, k, v)
    inode.pack_into(buf, off)
    dev.write_block(blk, bytes(buf))
    return inode


def messages(dev) -> list[str]:
    report = fsck(dev)
    assert not report.clean
    return [f.message for f in report.errors]


def test_fsck_finds_a_shared_block(populated) -> None:
    dev, sb, ino = populated
    a = Inode.unpack(dev.read_block(sb.inode_location(ino["a"])[0]), sb.inode_location(ino["a"])[1])
    b_direct = Inode.unpack(
        dev.read_block(sb.inode_location(ino["b"])[0]), sb.inode_location(ino["b"])[1]
    ).direct
    edit_inode(dev, sb, ino["b"], direct=[a.direct[0]] + b_direct[1:])
    found = messages(dev)
    assert any(f"block {a.direct[0]} (file block 0) is also used by inode" in m for m in found)
    assert any("leaked" in m for m in found)  # b's own first block is now unreferenced


def test_fsck_finds_a_pointer_out_of_range(populated) -> None:
    dev, sb, ino = populated
    edit_inode(dev, sb, ino["a"], direct=[5] + [0] * 11)
    assert any("points to block 5, outside the data area" in m for m in messages(dev))


def test_fsck_finds_bitmap_errors(populated) -> None:
    dev, sb, _ = populated
    bm = bytearray(dev.read_block(sb.block_bitmap_start))
    last = sb.block_count - 2
    bm[last // 8] |= 1 << (last % 8)  # mark a free block used
    first_data = sb.data_start
    bm[first_data // 8] &= ~(1 << (first_data % 8))  # the root directory's block: free
    dev.write_block(sb.block_bitmap_start, bytes(bm))
    found = messages(dev)
    assert f"block {last} is marked in use but nothing uses it (leaked)" in found
    assert (
        f"block {first_data} is used by inode {ROOT} but marked free in the block bitmap" in found
    )


def test_fsck_finds_wrong_link_counts_and_sizes(populated) -> None:
    dev, sb, ino = populated
    edit_inode(dev, sb, ino["a"], nlink=3)
    edit_inode(dev, sb, ino["d"], nlink=7)
    edit_inode(dev, sb, ino["b"], size=10)
    found = messages(dev)
    assert f"inode {ino['a']} has link count 3, but 1 directory entries" in found
    assert f"directory {ino['d']} has link count 7, expected 2" in found
    assert any(f"inode {ino['b']}: file block" in m and "beyond its size 10" in m for m in found)


def test_fsck_finds_orphans_and_bad_dot_dot(populated) -> None:
    dev, sb, ino = populated
    # Point d's ".." at d itself.
    d = Inode.unpack(dev.read_block(sb.inode_location(ino["d"])[0]), sb.inode_location(ino["d"])[1])
    block = bytearray(dev.read_block(d.direct[0]))
    dotdot = parse(block)[1]
    struct.pack_into("<I", block, dotdot.offset, ino["d"])
    dev.write_block(d.direct[0], bytes(block))
    # And drop the entry for "b" from the root: inode b becomes an orphan.
    root = Inode.unpack(dev.read_block(sb.inode_table_start), ROOT * 128)
    rblock = bytearray(dev.read_block(root.direct[0]))
    rec = next(r for r in parse(rblock) if r.name == b"b")
    DIRENT.pack_into(rblock, rec.offset, 0, rec.rec_len, 0, 0)
    dev.write_block(root.direct[0], bytes(rblock))
    found = messages(dev)
    assert f"directory {ino['d']}: '..' is inode {ino['d']}, expected its parent {ROOT}" in found
    assert f"inode {ino['b']} is marked in use but no directory links to it (orphan)" in found


def test_fsck_finds_a_damaged_directory_block(populated) -> None:
    dev, sb, ino = populated
    d = Inode.unpack(dev.read_block(sb.inode_location(ino["d"])[0]), sb.inode_location(ino["d"])[1])
    block = bytearray(dev.read_block(d.direct[0]))
    struct.pack_into("<H", block, 4, 3)  # rec_len of "." = 3
    dev.write_block(d.direct[0], bytes(block))
    found = messages(dev)
    assert any(
        f"directory {ino['d']} block 0: record at offset 0 has a bad length 3" in m for m in found
    )
    # The mount itself works; using that directory reports EIO.
    fs = FileSystem.mount(dev)
    with pytest.raises(KernelError) as e:
        fs.readdir(ino["d"])
    assert e.value.errno == Errno.EIO


def test_fsck_finds_a_directory_cycle(populated) -> None:
    dev, sb, ino = populated
    # Add an entry "loop" in d pointing back at the root.
    d = Inode.unpack(dev.read_block(sb.inode_location(ino["d"])[0]), sb.inode_location(ino["d"])[1])
    block = bytearray(dev.read_block(d.direct[0]))
    from sis.kernel.fs.directory import insert_record
    from sis.kernel.fs.layout import FT_DIR

    insert_record(block, ROOT, FT_DIR, b"loop")
    dev.write_block(d.direct[0], bytes(block))
    found = messages(dev)
    assert any(f"directory {ROOT} is reachable twice" in m for m in found)

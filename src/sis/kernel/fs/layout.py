"""The on-disk format of SISFS: superblock, geometry, inodes and directory records.

Everything is little-endian and block-addressed in 4 KiB blocks::

    block 0                superblock (written once, at format)
    journal_start ..       journal: header block + room for one transaction
    inode_bitmap_start ..  one bit per inode (bit set = in use; inode 0 is reserved)
    block_bitmap_start ..  one bit per device block (metadata blocks are marked in use)
    inode_table_start ..   128-byte inodes, 32 to a block
    data_start ..          file and directory blocks, indirect pointer blocks

A block pointer of 0 means "not allocated" (a hole): block 0 is the superblock and never data.
"""

from __future__ import annotations

import stat
import struct
import zlib
from dataclasses import dataclass, field

BLOCK_SIZE = 4096
MAGIC = b"SISFS001"
VERSION = 1

ROOT_INO = 1
INODE_SIZE = 128
INODES_PER_BLOCK = BLOCK_SIZE // INODE_SIZE
BITS_PER_BLOCK = BLOCK_SIZE * 8

N_DIRECT = 12
PTRS_PER_BLOCK = BLOCK_SIZE // 4
# File blocks reachable through the direct, single-indirect and double-indirect pointers.
MAX_FILE_BLOCKS = N_DIRECT + PTRS_PER_BLOCK + PTRS_PER_BLOCK * PTRS_PER_BLOCK
MAX_FILE_SIZE = MAX_FILE_BLOCKS * BLOCK_SIZE

NAME_MAX = 255
PATH_MAX = 4096

# Smallest journal that still fits the largest single operation on a tiny device.
MIN_JOURNAL_BLOCKS = 48
# Blocks a format needs beyond its metadata, so that a few files fit.
MIN_DATA_BLOCKS = 16

_SUPER = struct.Struct("<8sIIQIIIIIIIIIIIq")
_SUPER_CRC = struct.Struct("<I")


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Superblock:
    block_count: int
    inode_count: int
    journal_start: int
    journal_blocks: int
    inode_bitmap_start: int
    inode_bitmap_blocks: int
    block_bitmap_start: int
    block_bitmap_blocks: int
    inode_table_start: int
    inode_table_blocks: int
    data_start: int
    created_ns: int = 0
    root_ino: int = ROOT_INO
    block_size: int = BLOCK_SIZE
    version: int = VERSION
    magic: bytes = MAGIC

    @classmethod
    def plan(cls, block_count: int, inodes: int | None, journal_blocks: int | None) -> Superblock:
        """Lay out a file system of `block_count` blocks; ValueError says why it cannot be."""
        if inodes is None:
            # One inode per 16 KiB of disk, like mke2fs's default ratio.
            inodes = max(64, block_count // 4)
        if inodes < 2:
            raise ValueError(f"need at least 2 inodes, asked for {inodes}")
        inode_count = ceil_div(inodes + 1, INODES_PER_BLOCK) * INODES_PER_BLOCK
        if inode_count >= 2**32:
            raise ValueError(f"too many inodes ({inodes})")
        ibm = ceil_div(inode_count, BITS_PER_BLOCK)
        bbm = ceil_div(block_count, BITS_PER_BLOCK)
        if journal_blocks is None:
            journal_blocks = min(8192, max(block_count // 16, MIN_JOURNAL_BLOCKS))
        min_journal = min_journal_blocks(bbm, ibm)
        if journal_blocks < min_journal:
            raise ValueError(
                f"journal of {journal_blocks} blocks is too small (minimum {min_journal})"
            )
        itb = inode_count // INODES_PER_BLOCK
        journal_start = 1
        ibm_start = journal_start + journal_blocks
        bbm_start = ibm_start + ibm
        it_start = bbm_start + bbm
        data_start = it_start + itb
        if block_count >= 2**32:
            raise ValueError(
                f"device of {block_count} blocks is too large (block numbers are 32-bit)"
            )
        if block_count - data_start < MIN_DATA_BLOCKS:
            raise ValueError(
                f"device of {block_count} blocks is too small for {journal_blocks} journal "
                f"blocks and {inode_count} inodes (needs at least {data_start + MIN_DATA_BLOCKS})"
            )
        return cls(
            block_count=block_count,
            inode_count=inode_count,
            journal_start=journal_start,
            journal_blocks=journal_blocks,
            inode_bitmap_start=ibm_start,
            inode_bitmap_blocks=ibm,
            block_bitmap_start=bbm_start,
            block_bitmap_blocks=bbm,
            inode_table_start=it_start,
            inode_table_blocks=itb,
            data_start=data_start,
        )

    def pack(self) -> bytes:
        body = _SUPER.pack(
            self.magic,
            self.version,
            self.block_size,
            self.block_count,
            self.inode_count,
            self.journal_start,
            self.journal_blocks,
            self.inode_bitmap_start,
            self.inode_bitmap_blocks,
            self.block_bitmap_start,
            self.block_bitmap_blocks,
            self.inode_table_start,
            self.inode_table_blocks,
            self.data_start,
            self.root_ino,
            self.created_ns,
        )
        body += _SUPER_CRC.pack(zlib.crc32(body))
        return body.ljust(BLOCK_SIZE, b"\0")

    @classmethod
    def parse(cls, block: bytes, device_blocks: int) -> Superblock:
        """Decode block 0; ValueError with a one-line reason if it is not a usable SISFS."""
        if len(block) < _SUPER.size + 4:
            raise ValueError("superblock is truncated")
        fields = _SUPER.unpack_from(block)
        if fields[0] != MAGIC:
            raise ValueError("not a SIS file system (no SISFS001 signature in block 0)")
        (crc,) = _SUPER_CRC.unpack_from(block, _SUPER.size)
        if crc != zlib.crc32(block[: _SUPER.size]):
            raise ValueError("superblock checksum mismatch (corrupt superblock)")
        if fields[1] != VERSION:
            raise ValueError(
                f"unsupported SIS file system version {fields[1]} (expected {VERSION})"
            )
        if fields[2] != BLOCK_SIZE:
            raise ValueError(f"unsupported block size {fields[2]} (expected {BLOCK_SIZE})")
        sb = cls(
            block_count=fields[3],
            inode_count=fields[4],
            journal_start=fields[5],
            journal_blocks=fields[6],
            inode_bitmap_start=fields[7],
            inode_bitmap_blocks=fields[8],
            block_bitmap_start=fields[9],
            block_bitmap_blocks=fields[10],
            inode_table_start=fields[11],
            inode_table_blocks=fields[12],
            data_start=fields[13],
            root_ino=fields[14],
            created_ns=fields[15],
        )
        if sb.block_count > device_blocks:
            raise ValueError(
                f"image is truncated: the file system has {sb.block_count} blocks "
                f"but the device only {device_blocks}"
            )
        problem = sb.geometry_problem()
        if problem:
            raise ValueError(f"inconsistent superblock geometry: {problem}")
        return sb

    def geometry_problem(self) -> str | None:
        expect = [
            ("journal start", self.journal_start, 1),
            (
                "inode bitmap start",
                self.inode_bitmap_start,
                self.journal_start + self.journal_blocks,
            ),
            (
                "block bitmap start",
                self.block_bitmap_start,
                self.inode_bitmap_start + self.inode_bitmap_blocks,
            ),
            (
                "inode table start",
                self.inode_table_start,
                self.block_bitmap_start + self.block_bitmap_blocks,
            ),
            ("data start", self.data_start, self.inode_table_start + self.inode_table_blocks),
            (
                "inode bitmap size",
                self.inode_bitmap_blocks,
                ceil_div(self.inode_count, BITS_PER_BLOCK),
            ),
            (
                "block bitmap size",
                self.block_bitmap_blocks,
                ceil_div(self.block_count, BITS_PER_BLOCK),
            ),
            ("inode table size", self.inode_table_blocks * INODES_PER_BLOCK, self.inode_count),
            ("root inode", self.root_ino, ROOT_INO),
        ]
        for what, got, want in expect:
            if got != want:
                return f"{what} is {got}, expected {want}"
        if self.journal_blocks < min_journal_blocks(
            self.block_bitmap_blocks, self.inode_bitmap_blocks
        ):
            return f"journal of {self.journal_blocks} blocks is too small"
        if self.data_start >= self.block_count:
            return (
                f"data area starts at block {self.data_start}, beyond the end ({self.block_count})"
            )
        return None

    def inode_location(self, ino: int) -> tuple[int, int]:
        """(block, byte offset) of inode `ino` in the inode table."""
        return self.inode_table_start + ino // INODES_PER_BLOCK, (
            ino % INODES_PER_BLOCK
        ) * INODE_SIZE


def min_journal_blocks(block_bitmap_blocks: int, inode_bitmap_blocks: int) -> int:
    # An unlink or truncate may touch every block-bitmap block in one transaction; keep room
    # for that plus the fixed cost of a rename (see FileSystem credit estimates).
    return max(MIN_JOURNAL_BLOCKS, block_bitmap_blocks + inode_bitmap_blocks + 44)


# --- inodes ---------------------------------------------------------------------------------

_INODE = struct.Struct(f"<IIQqqqI{N_DIRECT}III")


@dataclass
class Inode:
    """An inode as stored in the table. `mode == 0` marks a free inode."""

    mode: int = 0
    nlink: int = 0
    size: int = 0
    atime_ns: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    nblocks: int = 0  # allocated blocks, data and indirect
    direct: list[int] = field(default_factory=lambda: [0] * N_DIRECT)
    indirect: int = 0
    double_indirect: int = 0

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return stat.S_ISREG(self.mode)

    @classmethod
    def unpack(cls, buf: bytes | bytearray, offset: int) -> Inode:
        v = _INODE.unpack_from(buf, offset)
        return cls(
            mode=v[0],
            nlink=v[1],
            size=v[2],
            atime_ns=v[3],
            mtime_ns=v[4],
            ctime_ns=v[5],
            nblocks=v[6],
            direct=list(v[7 : 7 + N_DIRECT]),
            indirect=v[7 + N_DIRECT],
            double_indirect=v[8 + N_DIRECT],
        )

    def pack_into(self, buf: bytearray, offset: int) -> None:
        buf[offset : offset + INODE_SIZE] = bytes(INODE_SIZE)
        _INODE.pack_into(
            buf,
            offset,
            self.mode,
            self.nlink,
            self.size,
            self.atime_ns,
            self.mtime_ns,
            self.ctime_ns,
            self.nblocks,
            *self.direct,
            self.indirect,
            self.double_indirect,
        )


PTRS = struct.Struct(f"<{PTRS_PER_BLOCK}I")
PTR = struct.Struct("<I")


# --- directory records (the ext2 format) -----------------------------------------------------
#
# A directory is a file of blocks, each a chain of records that exactly covers the block:
# ino u32, rec_len u16, name_len u8, ftype u8, name. A record may be longer than it needs;
# the slack is where a new name goes. ino 0 marks an unused record.

DIRENT = struct.Struct("<IHBB")
FT_REG = 1
FT_DIR = 2


def dirent_size(name_len: int) -> int:
    return (DIRENT.size + name_len + 3) & ~3


@dataclass(frozen=True)
class DirRecord:
    offset: int
    ino: int
    rec_len: int
    ftype: int
    name: bytes

    @property
    def slack(self) -> int:
        """Bytes a new record could take from this one."""
        return self.rec_len if self.ino == 0 else self.rec_len - dirent_size(len(self.name))


def parse_dir_block(buf: bytes | bytearray) -> list[DirRecord]:
    """Decode one directory block; ValueError with the reason if the chain is malformed."""
    records: list[DirRecord] = []
    off = 0
    while off < BLOCK_SIZE:
        if off + DIRENT.size > BLOCK_SIZE:
            raise ValueError(f"record at offset {off} runs past the end of the block")
        ino, rec_len, name_len, ftype = DIRENT.unpack_from(buf, off)
        if rec_len < DIRENT.size or rec_len % 4 or off + rec_len > BLOCK_SIZE:
            raise ValueError(f"record at offset {off} has a bad length {rec_len}")
        if ino and dirent_size(name_len) > rec_len:
            raise ValueError(f"record at offset {off}: name of {name_len} bytes overflows it")
        name = bytes(buf[off + DIRENT.size : off + DIRENT.size + name_len]) if ino else b""
        records.append(DirRecord(off, ino, rec_len, ftype, name))
        off += rec_len
    return records


def pack_dirent(
    buf: bytearray, offset: int, ino: int, rec_len: int, ftype: int, name: bytes
) -> None:
    DIRENT.pack_into(buf, offset, ino, rec_len, len(name), ftype)
    buf[offset + DIRENT.size : offset + DIRENT.size + len(name)] = name


def empty_dir_block() -> bytearray:
    buf = bytearray(BLOCK_SIZE)
    pack_dirent(buf, 0, 0, BLOCK_SIZE, 0, b"")
    return buf


def new_dir_block(ino: int, parent: int) -> bytearray:
    buf = bytearray(BLOCK_SIZE)
    dot = dirent_size(1)
    pack_dirent(buf, 0, ino, dot, FT_DIR, b".")
    pack_dirent(buf, dot, parent, BLOCK_SIZE - dot, FT_DIR, b"..")
    return buf


def ftype_of(mode: int) -> int:
    return FT_DIR if stat.S_ISDIR(mode) else FT_REG


def valid_name_bytes(name: bytes) -> bool:
    return 0 < len(name) <= NAME_MAX and b"/" not in name and b"\0" not in name

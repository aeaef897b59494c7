"""Directories: editing directory blocks in place, and the in-memory index of one directory.

The index maps each name to its inode and to where its record lives, and remembers how much
room each block has left, so that lookup is a dict access and insertion touches one block.
It is derived data: it can be dropped at any time and rebuilt from the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sis.kernel.fs.layout import (
    DIRENT,
    DirRecord,
    dirent_size,
    pack_dirent,
    parse_dir_block,
)


@dataclass(frozen=True)
class Entry:
    ino: int
    ftype: int
    block: int  # index of the directory's file block holding the record
    offset: int


@dataclass
class DirIndex:
    entries: dict[bytes, Entry] = field(default_factory=dict)
    room: list[int] = field(default_factory=list)  # per block: largest record that fits

    def add_block(self, records: list[DirRecord]) -> None:
        fb = len(self.room)
        for r in records:
            if r.ino:
                self.entries[r.name] = Entry(r.ino, r.ftype, fb, r.offset)
        self.room.append(max((r.slack for r in records), default=0))

    def block_with_room(self, need: int) -> int | None:
        for fb, room in enumerate(self.room):
            if room >= need:
                return fb
        return None

    @property
    def is_empty(self) -> bool:
        """Holds nothing but "." and ".."."""
        return all(name in (b".", b"..") for name in self.entries)


def largest_room(buf: bytearray) -> int:
    return max(r.slack for r in parse_dir_block(buf))


def insert_record(buf: bytearray, ino: int, ftype: int, name: bytes) -> int:
    """Put a record in the first gap that fits; returns its offset (ValueError if none)."""
    need = dirent_size(len(name))
    for r in parse_dir_block(buf):
        if r.slack < need:
            continue
        if r.ino == 0:
            pack_dirent(buf, r.offset, ino, r.rec_len, ftype, name)
            return r.offset
        # Split: the existing record keeps what it needs, the new one takes the rest.
        own = dirent_size(len(r.name))
        DIRENT.pack_into(buf, r.offset, r.ino, own, len(r.name), r.ftype)
        pack_dirent(buf, r.offset + own, ino, r.rec_len - own, ftype, name)
        return r.offset + own
    raise ValueError("no room in directory block")


def remove_record(buf: bytearray, offset: int) -> None:
    """Remove the record at `offset`: the previous record absorbs its space (or, for the first
    record of a block, it becomes an unused record)."""
    prev: DirRecord | None = None
    for r in parse_dir_block(buf):
        if r.offset == offset:
            if prev is None:
                DIRENT.pack_into(buf, offset, 0, r.rec_len, 0, 0)
                start = offset + DIRENT.size
            else:
                DIRENT.pack_into(
                    buf, prev.offset, prev.ino, prev.rec_len + r.rec_len, len(prev.name), prev.ftype
                )
                start = offset
            # Scrub the old record so that a removed name leaves nothing readable behind.
            buf[start : offset + r.rec_len] = bytes(offset + r.rec_len - start)
            return
        prev = r
    raise ValueError(f"no directory record at offset {offset}")


def retarget_record(buf: bytearray, offset: int, ino: int, ftype: int) -> None:
    """Point an existing record at another inode (rename over a name, or a moved dir's "..")."""
    _, rec_len, name_len, _ = DIRENT.unpack_from(buf, offset)
    DIRENT.pack_into(buf, offset, ino, rec_len, name_len, ftype)

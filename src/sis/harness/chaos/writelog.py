"""The dm-log-writes log format: every write, flush and discard a block device saw, in order.

Linux's dm-log-writes target (Documentation/admin-guide/device-mapper/log-writes.rst) and
QEMU's `blklogwrites` block driver both write it; the reference kernel's block layer does too
when its `-drive` has `log=PATH`. A log lets the lab rebuild the disk as it was after any
entry, which is what a power cut at that moment could have left.

Layout, all integers little-endian, in sectors of `sectorsize` bytes:

    sector 0      super: magic u64, version u64 (1), nr_entries u64, sectorsize u32
    sector 1..    entries, one after another: a header sector (sector u64, nr_sectors u64,
                  flags u64, data_len u64, zero padded), then `nr_sectors` sectors of the
                  written data (none for a flush or a discard; a mark's data is its name,
                  `data_len` bytes, padded to whole sectors)

`sector` and `nr_sectors` count log sectors. Writers update `nr_entries` only now and then
(QEMU on each flush and every 4096 entries), so a log cut short by a killed process holds
entries past it: they are read too, up to the first header that cannot be one.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DISCARD",
    "FLUSH",
    "FUA",
    "MAGIC",
    "MARK",
    "METADATA",
    "Entry",
    "LogFormatError",
    "LogWriter",
    "WriteLog",
    "apply_entries",
    "parse_log",
    "read_log",
]

MAGIC = 0x6A736677736872
VERSION = 1
FLUSH = 1 << 0
FUA = 1 << 1
DISCARD = 1 << 2
MARK = 1 << 3
METADATA = 1 << 4
KNOWN_FLAGS = FLUSH | FUA | DISCARD | MARK | METADATA

_SUPER = struct.Struct("<QQQI")
_ENTRY = struct.Struct("<QQQQ")
MIN_SECTOR = 512  # the super and an entry header must fit in one sector
MAX_SECTOR = 1 << 20


class LogFormatError(ValueError):
    """Not a dm-log-writes log, or a damaged one: says where and what."""


@dataclass(frozen=True)
class Entry:
    index: int  # 0-based position in the log
    sector: int  # first sector written, in log sectors
    nr_sectors: int
    flags: int
    data: bytes = b""  # the written bytes (nr_sectors * sectorsize), or a mark's name

    @property
    def is_flush(self) -> bool:
        return bool(self.flags & FLUSH)

    @property
    def is_write(self) -> bool:
        """A write of data to the disk (a flush may carry none; marks and discards carry none)."""
        return self.nr_sectors > 0 and not self.flags & (MARK | DISCARD)

    @property
    def mark(self) -> str | None:
        if not self.flags & MARK:
            return None
        return self.data.split(b"\0", 1)[0].decode("utf-8", errors="replace")

    def describe(self, sectorsize: int) -> str:
        kinds = [n for bit, n in _FLAG_NAMES if self.flags & bit] or ["write"]
        where = ""
        if self.nr_sectors:
            start = self.sector * sectorsize
            where = f" bytes {start}..{start + self.nr_sectors * sectorsize}"
        return f"entry {self.index}: {'+'.join(kinds)}{where}"


_FLAG_NAMES = (
    (FLUSH, "flush"),
    (FUA, "fua"),
    (DISCARD, "discard"),
    (MARK, "mark"),
    (METADATA, "metadata"),
)


@dataclass(frozen=True)
class WriteLog:
    sectorsize: int
    entries: list[Entry]
    counted: int  # nr_entries in the super block; `entries` may hold more (see above)

    def flushes(self) -> list[int]:
        """Indices of the flush entries, in order."""
        return [e.index for e in self.entries if e.is_flush]


def read_log(path: str | os.PathLike[str], *, unwritten_super: int | None = None) -> WriteLog:
    """Read a log file; LogFormatError with the reason when it is not one. `unwritten_super`:
    the sector size to read a log with, should its super block not be written yet (QEMU
    writes it at the first flush: a device that never saw one leaves zeros there)."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise LogFormatError(f"{path}: {e.strerror or e}") from None
    try:
        return parse_log(data, unwritten_super=unwritten_super)
    except LogFormatError as e:
        raise LogFormatError(f"{path}: {e}") from None


def parse_log(data: bytes, *, unwritten_super: int | None = None) -> WriteLog:
    if len(data) < _SUPER.size:
        raise LogFormatError(f"{len(data)} bytes: too short for a log super block")
    magic, version, counted, sectorsize = _SUPER.unpack_from(data, 0)
    if unwritten_super is not None and not any(data[: _SUPER.size]):
        magic, version, counted, sectorsize = MAGIC, VERSION, 0, unwritten_super
    if magic != MAGIC:
        raise LogFormatError(f"bad magic {magic:#x} (a dm-log-writes log has {MAGIC:#x})")
    if version != VERSION:
        raise LogFormatError(f"unsupported log version {version}")
    if sectorsize < MIN_SECTOR or sectorsize > MAX_SECTOR or sectorsize & (sectorsize - 1):
        raise LogFormatError(f"bad sector size {sectorsize}")
    entries: list[Entry] = []
    pos = sectorsize
    while pos + _ENTRY.size <= len(data):
        sector, nr, flags, data_len = _ENTRY.unpack_from(data, pos)
        index = len(entries)
        trusted = index < counted
        damaged = _damage(data, pos, sectorsize, sector, nr, flags, data_len)
        if damaged:
            if trusted:
                raise LogFormatError(f"entry {index} at byte {pos}: {damaged}")
            break  # past the counted entries: the end of what was written
        pos += sectorsize
        payload = b""
        if flags & MARK:
            payload = data[pos : pos + data_len]
            pos += -(-data_len // sectorsize) * sectorsize
        elif not flags & DISCARD:
            payload = data[pos : pos + nr * sectorsize]
            pos += nr * sectorsize
        entries.append(Entry(index, sector, nr, flags, payload))
    if len(entries) < counted:
        raise LogFormatError(
            f"the super block counts {counted} entries, the log holds {len(entries)}"
        )
    return WriteLog(sectorsize, entries, counted)


def _damage(
    data: bytes, pos: int, sectorsize: int, sector: int, nr: int, flags: int, data_len: int
) -> str:
    """Why the header at `pos` cannot be an entry ("" when it can)."""
    if flags & ~KNOWN_FLAGS:
        return f"unknown flags {flags:#x}"
    if not flags and not nr and not sector and not data_len:
        return "an empty header"
    body = pos + sectorsize
    if flags & MARK:
        if data_len > len(data) - body:
            return f"mark of {data_len} bytes runs past the end"
        return ""
    if flags & DISCARD:
        return ""
    if nr * sectorsize > len(data) - body:
        return f"{nr} sectors of data run past the end of the log"
    return ""


def apply_entries(disk: BinaryIO, entries: Iterable[Entry], sectorsize: int) -> None:
    """Write the entries' data onto an open disk image (writes; discards become zeros; flushes
    and marks change nothing)."""
    for e in entries:
        if e.flags & MARK or not e.nr_sectors:
            continue
        disk.seek(e.sector * sectorsize)
        if e.flags & DISCARD:
            disk.write(bytes(e.nr_sectors * sectorsize))
        else:
            disk.write(e.data)


class LogWriter:
    """Writes a log (for tests, and for anything in the lab that records a device): entries go
    to the file at once, and the super block counts each one, so a reader at any moment sees
    every entry that was written."""

    def __init__(self, path: str | os.PathLike[str], sectorsize: int = 512) -> None:
        self.sectorsize = sectorsize
        self.count = 0
        self._f = open(path, "wb+")  # noqa: SIM115 - closed by close()
        self._super()

    def _super(self) -> None:
        block = _SUPER.pack(MAGIC, VERSION, self.count, self.sectorsize)
        self._f.seek(0)
        self._f.write(block.ljust(self.sectorsize, b"\0"))
        self._f.seek(0, os.SEEK_END)

    def _entry(self, sector: int, nr: int, flags: int, payload: bytes, data_len: int = 0) -> None:
        self._f.seek(0, os.SEEK_END)
        header = _ENTRY.pack(sector, nr, flags, data_len).ljust(self.sectorsize, b"\0")
        pad = -len(payload) % self.sectorsize
        self._f.write(header + payload + bytes(pad))
        self.count += 1
        self._super()
        self._f.flush()

    def write(self, sector: int, data: bytes, flags: int = 0) -> None:
        if not data or len(data) % self.sectorsize:
            raise ValueError(f"a write of {len(data)} bytes is not whole sectors")
        self._entry(sector, len(data) // self.sectorsize, flags, data)

    def flush(self) -> None:
        self._entry(0, 0, FLUSH, b"")

    def discard(self, sector: int, nr_sectors: int) -> None:
        self._entry(sector, nr_sectors, DISCARD, b"")

    def mark(self, name: str) -> None:
        raw = name.encode()
        self._entry(0, 0, MARK, raw, len(raw))

    def close(self) -> None:
        self._f.close()

"""The write-ahead journal: full data journaling, one transaction at a time.

Journal region layout (block offsets from `journal_start`)::

    0                header: magic, `sequence` = number of the next transaction to replay
    1 .. d           descriptor blocks: home block numbers of the logged blocks
    d+1 .. d+n       the n logged blocks, in descriptor order
    d+n+1            commit block: sequence, n, CRC-32 of descriptors + logged blocks

A commit writes descriptors and blocks, flushes, writes the commit block, flushes (the
transaction is now durable), writes every block to its home location, flushes, and finally
bumps the header's sequence number and flushes (the journal is empty again). If a device error
stops a commit after the commit block, the journal keeps that transaction and finishes its
checkpoint before it writes anything else there; an error earlier leaves nothing committed. Recovery replays
the transaction whose sequence matches the header only if its commit block and checksum are
intact; anything else is an interrupted commit and is ignored, which leaves the file system
exactly as the previous transaction left it.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from sis.kernel.drivers.block import BlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs.layout import BLOCK_SIZE, Superblock, ceil_div

HEADER_MAGIC = b"SISJRNL1"
DESC_MAGIC = b"SISJDESC"
COMMIT_MAGIC = b"SISJCMIT"

_HEADER = struct.Struct("<8sQ")
_DESC = struct.Struct("<8sQIII")  # magic, sequence, total blocks, descriptor index, entries here
_COMMIT = struct.Struct("<8sQII")  # magic, sequence, total blocks, data crc
_CRC = struct.Struct("<I")
DESC_ENTRIES = (BLOCK_SIZE - _DESC.size - _CRC.size) // 4


def _seal(body: bytes) -> bytes:
    """Body + CRC-32 of the body, padded to a block."""
    return (body + _CRC.pack(zlib.crc32(body))).ljust(BLOCK_SIZE, b"\0")


def _sealed(block: bytes, size: int) -> bool:
    (crc,) = _CRC.unpack_from(block, size)
    return crc == zlib.crc32(block[:size])


def header_block(sequence: int) -> bytes:
    return _seal(_HEADER.pack(HEADER_MAGIC, sequence))


def capacity(journal_blocks: int) -> int:
    """Most blocks one transaction can log in a journal of this size."""
    n = journal_blocks - 3
    while n > 0 and 1 + ceil_div(n, DESC_ENTRIES) + n + 1 > journal_blocks:
        n -= 1
    return n


@dataclass
class JournalState:
    """What the journal holds. `status` is one of "empty", "committed" (a transaction that must
    be replayed), or "incomplete" (an interrupted commit, ignored)."""

    sequence: int
    status: str
    blocks: list[tuple[int, bytes]] = field(default_factory=list)
    reason: str = ""


def read_state(dev: BlockDevice, sb: Superblock) -> JournalState:
    """Inspect the journal without writing. KernelError(EINVAL) if its header is corrupt."""
    start = sb.journal_start
    hdr = dev.read_block(start)
    magic, sequence = _HEADER.unpack_from(hdr)
    if magic != HEADER_MAGIC or not _sealed(hdr, _HEADER.size):
        raise KernelError(Errno.EINVAL, "journal header is corrupt")

    def incomplete(reason: str) -> JournalState:
        return JournalState(sequence, "incomplete", reason=reason)

    descs: list[bytes] = []
    targets: list[int] = []
    total = 0
    ndesc = 1
    i = 0
    while i < ndesc:
        blk = dev.read_block(start + 1 + i)
        magic, seq, tot, index, count = _DESC.unpack_from(blk)
        if magic != DESC_MAGIC or seq != sequence:
            return JournalState(sequence, "empty") if i == 0 else incomplete("descriptor missing")
        damaged = index != i or count > DESC_ENTRIES or (i > 0 and tot != total)
        if damaged or not _sealed(blk, _DESC.size + 4 * DESC_ENTRIES):
            return incomplete(f"descriptor {i} is damaged")
        if i == 0:
            total = tot
            ndesc = ceil_div(total, DESC_ENTRIES)
            if total == 0 or 1 + ndesc + total + 1 > sb.journal_blocks:
                return incomplete(f"descriptor claims {total} blocks")
        targets.extend(struct.unpack_from(f"<{count}I", blk, _DESC.size))
        descs.append(blk)
        i += 1
    if len(targets) != total:
        return incomplete("descriptors disagree on the transaction size")
    commit = dev.read_block(start + 1 + ndesc + total)
    magic, seq, tot, data_crc = _COMMIT.unpack_from(commit)
    if (
        magic != COMMIT_MAGIC
        or seq != sequence
        or tot != total
        or not _sealed(commit, _COMMIT.size)
    ):
        return incomplete(f"transaction {sequence} has no commit block")
    crc = 0
    for blk in descs:
        crc = zlib.crc32(blk, crc)
    data: list[bytes] = []
    for j in range(total):
        blk = dev.read_block(start + 1 + ndesc + j)
        crc = zlib.crc32(blk, crc)
        data.append(blk)
    if crc != data_crc:
        return incomplete(f"transaction {sequence} fails its checksum")
    for t in targets:
        if not (sb.journal_start + sb.journal_blocks <= t < sb.block_count):
            return incomplete(f"transaction {sequence} targets block {t} outside the file system")
    return JournalState(sequence, "committed", list(zip(targets, data, strict=True)))


class Journal:
    """Commits transactions to the journal region of a mounted file system."""

    def __init__(self, dev: BlockDevice, sb: Superblock, sequence: int) -> None:
        self.dev = dev
        self.start = sb.journal_start
        self.blocks = sb.journal_blocks
        self.capacity = capacity(sb.journal_blocks)
        self.sequence = sequence
        self.commits = 0
        # A committed transaction whose checkpoint has not completed: it owns the journal.
        self.pending: list[tuple[int, bytes]] | None = None

    def commit(self, blocks: list[tuple[int, bytes]]) -> None:
        """Make `blocks` (home block number, contents) durable atomically, then checkpoint.

        Device errors propagate; the on-disk state is then the old or the new transaction
        (recovery decides), and calling `commit` again retries safely.
        """
        if self.pending is not None:
            self.checkpoint(self.pending)
        if not blocks:
            return
        if len(blocks) > self.capacity:
            raise KernelError(Errno.EIO, f"transaction of {len(blocks)} blocks exceeds the journal")
        dev = self.dev
        total = len(blocks)
        targets = [b for b, _ in blocks]
        ndesc = ceil_div(total, DESC_ENTRIES)
        crc = 0
        pos = self.start + 1
        for i in range(ndesc):
            chunk = targets[i * DESC_ENTRIES : (i + 1) * DESC_ENTRIES]
            body = _DESC.pack(DESC_MAGIC, self.sequence, total, i, len(chunk))
            body += struct.pack(f"<{len(chunk)}I", *chunk)
            body = body.ljust(_DESC.size + 4 * DESC_ENTRIES, b"\0")
            blk = _seal(body)
            crc = zlib.crc32(blk, crc)
            dev.write_block(pos, blk)
            pos += 1
        for _, data in blocks:
            crc = zlib.crc32(data, crc)
            dev.write_block(pos, data)
            pos += 1
        dev.flush()
        dev.write_block(pos, _seal(_COMMIT.pack(COMMIT_MAGIC, self.sequence, total, crc)))
        dev.flush()
        # Durable from here on: a crash now is repaired by replay at the next mount.
        self.pending = blocks
        self.checkpoint(blocks)

    def checkpoint(self, blocks: list[tuple[int, bytes]]) -> None:
        """Write a committed transaction home and mark the journal empty."""
        for target, data in sorted(blocks, key=lambda b: b[0]):
            self.dev.write_block(target, data)
        self.dev.flush()
        self.dev.write_block(self.start, header_block(self.sequence + 1))
        self.dev.flush()
        self.sequence += 1
        self.commits += 1
        self.pending = None

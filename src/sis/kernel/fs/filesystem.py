"""SISFS, the reference kernel's file system: inode-based operations on a block device.

Every mutating call is one *operation*: it reserves room in the running transaction (committing
the transaction first if it would not fit), changes blocks in the buffer cache, and on any error
rolls all of its changes back, so a transaction only ever holds whole operations. `sync` and
`fsync` commit the transaction through the journal; it also commits on its own when it fills the
journal. Large writes are split into operations of at most `chunk_blocks` blocks.

Timestamps come from the `clock` given at format/mount (nanoseconds). Changing a file sets its
mtime and ctime; atime is set when the inode is created and never on reads (like mounting with
`noatime`), so reading never writes to the disk.

Write errors: if the device fails a write or flush while committing, the call that committed
(`sync`, `fsync`, or an operation that found the journal full) fails with the device's errno
(EIO). The disk then holds the previous or the new transaction, whichever the journal says, so
a crash at that point recovers cleanly. Unlike Linux's `errors=remount-ro`, the mount stays
writable: the changes stay in memory and the next commit retries them (first finishing the
checkpoint of a transaction that did reach the journal). A transient fault loses nothing; on a
persistently failing disk every commit fails, and once the transaction is full every change does.
"""

from __future__ import annotations

import functools
import stat as st
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sis.kernel.drivers.block import BlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import bitmap, journal
from sis.kernel.fs.cache import BufferCache
from sis.kernel.fs.directory import (
    DirIndex,
    Entry,
    insert_record,
    largest_room,
    remove_record,
    retarget_record,
)
from sis.kernel.fs.layout import (
    BITS_PER_BLOCK,
    BLOCK_SIZE,
    FT_DIR,
    INODE_SIZE,
    MAX_FILE_SIZE,
    N_DIRECT,
    NAME_MAX,
    PTR,
    PTRS,
    PTRS_PER_BLOCK,
    ROOT_INO,
    Inode,
    Superblock,
    ceil_div,
    dirent_size,
    empty_dir_block,
    ftype_of,
    new_dir_block,
    parse_dir_block,
)

Clock = Callable[[], int]
F = TypeVar("F", bound=Callable[..., Any])

MAX_CHUNK_BLOCKS = 256  # largest write operation: 1 MiB
DIR_INDEX_LIMIT = 4096  # directory indexes kept in memory before the cache is dropped
_ZERO_BLOCK = bytes(BLOCK_SIZE)
_DOUBLE_BASE = N_DIRECT + PTRS_PER_BLOCK


@dataclass(frozen=True)
class Stat:
    ino: int
    mode: int
    nlink: int
    size: int
    blocks: int  # 512-byte units, as POSIX st_blocks
    atime_ns: int
    mtime_ns: int
    ctime_ns: int

    @property
    def is_dir(self) -> bool:
        return st.S_ISDIR(self.mode)

    @property
    def is_reg(self) -> bool:
        return st.S_ISREG(self.mode)


@dataclass(frozen=True)
class DirEntry:
    name: str
    ino: int
    is_dir: bool


@dataclass(frozen=True)
class StatFs:
    block_size: int
    total_blocks: int  # the data area
    free_blocks: int
    total_inodes: int
    free_inodes: int


def encode_name(name: str) -> bytes:
    """A name as stored: UTF-8, with surrogate escapes standing for arbitrary bytes."""
    raw = name.encode("utf-8", "surrogateescape")
    if not raw:
        raise KernelError(Errno.ENOENT, "empty file name")
    if len(raw) > NAME_MAX:
        raise KernelError(Errno.ENAMETOOLONG, f"name of {len(raw)} bytes (limit {NAME_MAX})")
    if b"/" in raw or b"\0" in raw:
        raise KernelError(Errno.EINVAL, f"name {name!r} contains '/' or NUL")
    return raw


def decode_name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _locked(method: F) -> F:
    @functools.wraps(method)
    def wrapper(self: FileSystem, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class FileSystem:
    """A mounted SISFS. Create one with `FileSystem.mount`; inode numbers name files."""

    ROOT_INO: int = ROOT_INO

    def __init__(
        self,
        dev: BlockDevice,
        sb: Superblock,
        jnl: journal.Journal,
        cache: BufferCache,
        clock: Clock,
        read_only: bool,
    ) -> None:
        self.dev = dev
        self.sb = sb
        self.journal = jnl
        self.cache = cache
        self.clock = clock
        self.read_only = read_only
        self.commit_failures = 0
        self.mounted = True
        self.replayed = False  # mount found a committed transaction and replayed it
        # Called before the file system consumes space (chaos disk_full); raises ENOSPC.
        self.space_hook: Callable[[str], None] | None = None
        # Called when a journal commit fails, before the error is returned (planted bug
        # enospc_panic, contract section 9).
        self.commit_error_hook: Callable[[KernelError], None] | None = None
        self.journal_note = ""  # why an interrupted transaction was ignored, if one was
        self._lock = threading.RLock()
        self._dirs: dict[int, DirIndex] = {}
        self._touched_dirs: set[int] = set()
        self._in_op = False
        self._free_blocks = 0
        self._free_inodes = 0
        self._block_goal = sb.data_start
        self._inode_goal = ROOT_INO + 1
        b = sb.block_bitmap_blocks
        self._free_credits = b + 8  # unlink, rmdir, truncate: any block-bitmap block may change
        self._rename_credits = b + 24
        self.chunk_blocks = max(
            (n for n in range(1, MAX_CHUNK_BLOCKS + 1) if self._write_credits(n) <= jnl.capacity),
            default=1,
        )

    # --- format and mount -------------------------------------------------------------------

    @staticmethod
    def format(
        dev: BlockDevice,
        *,
        inodes: int | None = None,
        journal_blocks: int | None = None,
        clock: Clock = time.time_ns,
    ) -> None:
        """Write an empty file system (root directory only) over the whole device.

        `inodes`: how many files and directories it can hold, the root included (default one
        per 16 KiB of device); `journal_blocks`: size of the journal, which bounds one
        transaction (default 1/16 of the device, 48 to 8192 blocks)."""
        if dev.block_size != BLOCK_SIZE:
            raise KernelError(Errno.EINVAL, f"block size {dev.block_size} is not {BLOCK_SIZE}")
        if dev.read_only:
            raise KernelError(Errno.EROFS, "cannot format a read-only device")
        try:
            sb = Superblock.plan(dev.block_count, inodes, journal_blocks)
        except ValueError as e:
            raise KernelError(Errno.EINVAL, str(e)) from None
        now = clock()
        sb = replace(sb, created_ns=now)
        root_block = sb.data_start

        ibm = bytearray(sb.inode_bitmap_blocks * BLOCK_SIZE)
        bitmap.set_range(ibm, 0, ROOT_INO + 1)  # inode 0 is reserved
        bitmap.set_range(ibm, sb.inode_count, len(ibm) * 8)
        bbm = bytearray(sb.block_bitmap_blocks * BLOCK_SIZE)
        bitmap.set_range(bbm, 0, root_block + 1)
        bitmap.set_range(bbm, sb.block_count, len(bbm) * 8)

        root = Inode(
            mode=st.S_IFDIR | 0o755,
            nlink=2,
            size=BLOCK_SIZE,
            atime_ns=now,
            mtime_ns=now,
            ctime_ns=now,
            nblocks=1,
        )
        root.direct[0] = root_block
        table0 = bytearray(BLOCK_SIZE)
        root.pack_into(table0, ROOT_INO * INODE_SIZE)

        writes: list[tuple[int, bytes]] = [
            (sb.journal_start, journal.header_block(1)),
            (sb.journal_start + 1, _ZERO_BLOCK),
        ]
        for i in range(sb.inode_bitmap_blocks):
            writes.append(
                (sb.inode_bitmap_start + i, bytes(ibm[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]))
            )
        for i in range(sb.block_bitmap_blocks):
            writes.append(
                (sb.block_bitmap_start + i, bytes(bbm[i * BLOCK_SIZE : (i + 1) * BLOCK_SIZE]))
            )
        writes.append((sb.inode_table_start, bytes(table0)))
        for i in range(1, sb.inode_table_blocks):
            writes.append((sb.inode_table_start + i, _ZERO_BLOCK))
        writes.append((root_block, bytes(new_dir_block(ROOT_INO, ROOT_INO))))
        for n, data in writes:
            dev.write_block(n, data)
        dev.flush()
        # The superblock goes last: an interrupted format leaves no mountable file system.
        dev.write_block(0, sb.pack())
        dev.flush()

    @classmethod
    def mount(
        cls, dev: BlockDevice, *, clock: Clock = time.time_ns, read_only: bool = False
    ) -> FileSystem:
        """Mount, replaying a committed journal transaction. On a read-only device (or with
        `read_only`) the replay happens in memory only and nothing is ever written."""
        if dev.block_size != BLOCK_SIZE:
            raise KernelError(Errno.EINVAL, f"block size {dev.block_size} is not {BLOCK_SIZE}")
        read_only = read_only or dev.read_only
        try:
            sb = Superblock.parse(dev.read_block(0), dev.block_count)
        except ValueError as e:
            raise KernelError(Errno.EINVAL, str(e)) from None
        state = journal.read_state(dev, sb)
        jnl = journal.Journal(dev, sb, state.sequence)
        overlay: dict[int, bytes] = {}
        if state.status == "committed":
            if read_only:
                overlay = dict(state.blocks)
            else:
                jnl.checkpoint(state.blocks)
        fs = cls(dev, sb, jnl, BufferCache(dev, overlay), clock, read_only)
        fs.replayed = state.status == "committed"
        fs.journal_note = state.reason
        fs._count_free()
        try:
            root_ok = fs._iget(ROOT_INO).is_dir
        except KernelError as e:
            if e.errno != Errno.ENOENT:
                raise
            root_ok = False
        if not root_ok:
            raise KernelError(Errno.EINVAL, "root directory inode is damaged")
        return fs

    def _count_free(self) -> None:
        sb = self.sb
        used = sum(
            bitmap.count_set(self.cache.read(sb.block_bitmap_start + i))
            for i in range(sb.block_bitmap_blocks)
        )
        self._free_blocks = sb.block_bitmap_blocks * BITS_PER_BLOCK - used
        used = sum(
            bitmap.count_set(self.cache.read(sb.inode_bitmap_start + i))
            for i in range(sb.inode_bitmap_blocks)
        )
        self._free_inodes = sb.inode_bitmap_blocks * BITS_PER_BLOCK - used

    # --- operations and transactions --------------------------------------------------------

    def _check_mounted(self) -> None:
        if not self.mounted:
            raise KernelError(Errno.ENODEV, "file system is not mounted")

    def _check_writable(self) -> None:
        self._check_mounted()
        if self.read_only:
            raise KernelError(Errno.EROFS, "file system is mounted read-only")

    @contextmanager
    def _op(self, credits: int) -> Iterator[None]:
        """One atomic operation that dirties at most `credits` blocks."""
        self._check_writable()
        if self.cache.dirty_count + credits > self.journal.capacity:
            self._commit()
        saved = (self._free_blocks, self._free_inodes, self._block_goal, self._inode_goal)
        self._touched_dirs = set()
        self._in_op = True
        self.cache.begin()
        try:
            yield
            if self.cache.dirty_count > self.journal.capacity:
                raise KernelError(Errno.ENOSPC, "operation too large for the journal")
        except BaseException:
            self.cache.rollback()
            self._free_blocks, self._free_inodes, self._block_goal, self._inode_goal = saved
            for d in self._touched_dirs:
                self._dirs.pop(d, None)
            raise
        else:
            self.cache.end()
        finally:
            self._in_op = False

    def _commit(self) -> None:
        blocks = self.cache.dirty_blocks()
        if not blocks and self.journal.pending is None:
            return
        try:
            if blocks and self.space_hook is not None:
                self.space_hook("journal")
            self.journal.commit(blocks)
        except KernelError as e:
            self.commit_failures += 1
            if self.commit_error_hook is not None:
                self.commit_error_hook(e)
            raise KernelError(
                e.errno,
                f"journal commit failed ({e.detail or e.errno.message}); "
                "the changes are kept and retried at the next sync",
            ) from None
        self.cache.mark_clean()

    def _write_credits(self, n: int) -> int:
        # n data blocks, the indirect blocks on their path, the inode, the bitmap blocks.
        indirect = n // PTRS_PER_BLOCK + 3
        return n + indirect + 1 + min(self.sb.block_bitmap_blocks, n + indirect) + 2

    # --- inodes and allocation --------------------------------------------------------------

    def _iget(self, ino: int) -> Inode:
        if not 0 < ino < self.sb.inode_count:
            raise KernelError(Errno.ENOENT, f"no inode {ino}")
        blk, off = self.sb.inode_location(ino)
        inode = Inode.unpack(self.cache.read(blk), off)
        if inode.mode == 0:
            raise KernelError(Errno.ENOENT, f"inode {ino} is not in use")
        return inode

    def _iput(self, ino: int, inode: Inode) -> None:
        blk, off = self.sb.inode_location(ino)
        inode.pack_into(self.cache.modify(blk), off)

    def _find_clear(self, start: int, nblocks: int, goal: int, limit: int) -> int | None:
        """First clear bit at or after `goal` in a bitmap of `nblocks` blocks, wrapping around."""
        first = min(goal // BITS_PER_BLOCK, nblocks - 1)
        for k in range(nblocks + 1):
            i = (first + k) % nblocks
            bit = goal - first * BITS_PER_BLOCK if k == 0 else 0
            found = bitmap.find_clear(self.cache.read(start + i), bit)
            if found is not None and (n := i * BITS_PER_BLOCK + found) < limit:
                return n
        return None

    def _claim(
        self, bitmap_start: int, bitmap_blocks: int, goal: int, limit: int, what: str
    ) -> int:
        """Find a clear bit at or after `goal` in an allocation bitmap and set it."""
        n = self._find_clear(bitmap_start, bitmap_blocks, goal, limit)
        if n is None:
            raise KernelError(Errno.ENOSPC, f"no free {what}")
        bitmap.set_bit(self.cache.modify(bitmap_start + n // BITS_PER_BLOCK), n % BITS_PER_BLOCK)
        return n

    def _alloc_block(self) -> int:
        sb = self.sb
        if self._free_blocks <= 0:
            raise KernelError(Errno.ENOSPC, "no free blocks")
        if self.space_hook is not None:
            self.space_hook("block")
        n = self._claim(
            sb.block_bitmap_start,
            sb.block_bitmap_blocks,
            self._block_goal,
            sb.block_count,
            "blocks",
        )
        self._free_blocks -= 1
        self._block_goal = n + 1
        return n

    def _free_block(self, n: int) -> None:
        sb = self.sb
        if not sb.data_start <= n < sb.block_count:
            raise KernelError(
                Errno.EIO, f"file system corrupt: freeing block {n} outside the data area"
            )
        buf = self.cache.modify(sb.block_bitmap_start + n // BITS_PER_BLOCK)
        if not bitmap.test_bit(buf, n % BITS_PER_BLOCK):
            raise KernelError(Errno.EIO, f"file system corrupt: block {n} freed twice")
        bitmap.clear_bit(buf, n % BITS_PER_BLOCK)
        self._free_blocks += 1
        self.cache.forget(n)

    def _alloc_inode(self) -> int:
        sb = self.sb
        if self._free_inodes <= 0:
            raise KernelError(Errno.ENOSPC, "no free inodes")
        if self.space_hook is not None:
            self.space_hook("inode")
        n = self._claim(
            sb.inode_bitmap_start,
            sb.inode_bitmap_blocks,
            self._inode_goal,
            sb.inode_count,
            "inodes",
        )
        self._free_inodes -= 1
        self._inode_goal = n + 1
        return n

    def _free_inode(self, ino: int) -> None:
        sb = self.sb
        blk, off = sb.inode_location(ino)
        self.cache.modify(blk)[off : off + INODE_SIZE] = bytes(INODE_SIZE)
        buf = self.cache.modify(sb.inode_bitmap_start + ino // BITS_PER_BLOCK)
        bitmap.clear_bit(buf, ino % BITS_PER_BLOCK)
        self._free_inodes += 1
        self._dirs.pop(ino, None)

    # --- block maps -------------------------------------------------------------------------

    def _ptr(self, blk: int, index: int) -> int:
        return PTR.unpack_from(self.cache.read(blk), index * 4)[0]

    def _bmap(self, inode: Inode, fb: int) -> int:
        """Device block holding file block `fb`, or 0 for a hole."""
        if fb < N_DIRECT:
            return inode.direct[fb]
        fb -= N_DIRECT
        if fb < PTRS_PER_BLOCK:
            return self._ptr(inode.indirect, fb) if inode.indirect else 0
        fb -= PTRS_PER_BLOCK
        if not inode.double_indirect:
            return 0
        child = self._ptr(inode.double_indirect, fb // PTRS_PER_BLOCK)
        return self._ptr(child, fb % PTRS_PER_BLOCK) if child else 0

    def _new_block(self, inode: Inode) -> int:
        n = self._alloc_block()
        inode.nblocks += 1
        return n

    def _bmap_alloc(self, inode: Inode, fb: int) -> tuple[int, bool]:
        """Like `_bmap`, allocating the data block (and indirect blocks) if missing.
        Returns (block, newly allocated); the caller fills a new block with `cache.fresh`."""
        if fb < N_DIRECT:
            if inode.direct[fb]:
                return inode.direct[fb], False
            inode.direct[fb] = n = self._new_block(inode)
            return n, True
        fb -= N_DIRECT
        if fb < PTRS_PER_BLOCK:
            if not inode.indirect:
                inode.indirect = self._new_block(inode)
                self.cache.fresh(inode.indirect)
            return self._slot_alloc(inode, inode.indirect, fb)
        fb -= PTRS_PER_BLOCK
        if not inode.double_indirect:
            inode.double_indirect = self._new_block(inode)
            self.cache.fresh(inode.double_indirect)
        child, _ = self._slot_alloc(inode, inode.double_indirect, fb // PTRS_PER_BLOCK, fresh=True)
        return self._slot_alloc(inode, child, fb % PTRS_PER_BLOCK)

    def _slot_alloc(
        self, inode: Inode, blk: int, index: int, fresh: bool = False
    ) -> tuple[int, bool]:
        n = self._ptr(blk, index)
        if n:
            return n, False
        n = self._new_block(inode)
        if fresh:
            self.cache.fresh(n)
        PTR.pack_into(self.cache.modify(blk), index * 4, n)
        return n, True

    def _map_range(self, inode: Inode, fb: int, count: int) -> list[int]:
        """Device blocks (0 for holes) of file blocks [fb, fb + count)."""
        out: list[int] = []
        end = fb + count
        while fb < end:
            if fb < N_DIRECT:
                stop = min(end, N_DIRECT)
                out.extend(inode.direct[fb:stop])
            elif fb < _DOUBLE_BASE:
                stop = min(end, _DOUBLE_BASE)
                out.extend(self._ptrs(inode.indirect)[fb - N_DIRECT : stop - N_DIRECT])
            else:
                rel = fb - _DOUBLE_BASE
                ci, lo = divmod(rel, PTRS_PER_BLOCK)
                stop = min(end, fb + PTRS_PER_BLOCK - lo)
                child = self._ptrs(inode.double_indirect)[ci] if inode.double_indirect else 0
                out.extend(self._ptrs(child)[lo : lo + stop - fb])
            fb = stop
        return out

    def _ptrs(self, blk: int) -> tuple[int, ...]:
        return PTRS.unpack_from(self.cache.read(blk)) if blk else (0,) * PTRS_PER_BLOCK

    def _free_from(self, inode: Inode, keep: int) -> None:
        """Free every block of file blocks >= `keep`, and indirect blocks left empty."""
        for i in range(keep, N_DIRECT):
            if inode.direct[i]:
                self._release_block(inode, inode.direct[i])
                inode.direct[i] = 0
        if inode.indirect and keep < _DOUBLE_BASE:
            if self._free_ptr_block(inode, inode.indirect, max(0, keep - N_DIRECT)):
                self._release_block(inode, inode.indirect)
                inode.indirect = 0
        if inode.double_indirect:
            lo = max(0, keep - _DOUBLE_BASE)
            first = lo // PTRS_PER_BLOCK
            children = self._ptrs(inode.double_indirect)
            for ci in range(first, PTRS_PER_BLOCK):
                child = children[ci]
                if not child:
                    continue
                if self._free_ptr_block(
                    inode, child, lo - ci * PTRS_PER_BLOCK if ci == first else 0
                ):
                    self._release_block(inode, child)
                    if lo:
                        PTR.pack_into(self.cache.modify(inode.double_indirect), ci * 4, 0)
            if lo == 0:
                self._release_block(inode, inode.double_indirect)
                inode.double_indirect = 0

    def _free_ptr_block(self, inode: Inode, blk: int, lo: int) -> bool:
        """Free the blocks an indirect block points to from slot `lo` on; True if the indirect
        block itself is now unused (lo == 0)."""
        ptrs = self._ptrs(blk)
        freed = False
        for n in ptrs[lo:]:
            if n:
                self._release_block(inode, n)
                freed = True
        if lo == 0:
            return True
        if freed:
            self.cache.modify(blk)[lo * 4 :] = bytes(BLOCK_SIZE - lo * 4)
        return False

    def _release_block(self, inode: Inode, n: int) -> None:
        self._free_block(n)
        inode.nblocks -= 1

    # --- directories ------------------------------------------------------------------------

    def _dir(self, ino: int) -> tuple[Inode, DirIndex]:
        inode = self._iget(ino)
        if not inode.is_dir:
            raise KernelError(Errno.ENOTDIR, f"inode {ino} is not a directory")
        idx = self._dirs.get(ino)
        if idx is None:
            if len(self._dirs) >= DIR_INDEX_LIMIT:
                self._dirs.clear()
            idx = DirIndex()
            for fb, blk in enumerate(self._map_range(inode, 0, inode.size // BLOCK_SIZE)):
                if not blk:
                    raise KernelError(Errno.EIO, f"directory {ino} has a hole at block {fb}")
                try:
                    idx.add_block(parse_dir_block(self.cache.read(blk)))
                except ValueError as e:
                    raise KernelError(
                        Errno.EIO, f"directory {ino} block {fb} is corrupt: {e}"
                    ) from None
            self._dirs[ino] = idx
            if self._in_op:
                # Built from blocks this operation may yet roll back.
                self._touched_dirs.add(ino)
        return inode, idx

    def _dir_add(
        self, dino: int, dinode: Inode, idx: DirIndex, name: bytes, ino: int, ftype: int
    ) -> None:
        self._touched_dirs.add(dino)
        fb = idx.block_with_room(dirent_size(len(name)))
        if fb is None:
            fb = len(idx.room)
            blk, _ = self._bmap_alloc(dinode, fb)
            self.cache.fresh(blk)[:] = empty_dir_block()
            dinode.size += BLOCK_SIZE
            idx.room.append(BLOCK_SIZE)
        else:
            blk = self._bmap(dinode, fb)
        buf = self.cache.modify(blk)
        offset = insert_record(buf, ino, ftype, name)
        idx.entries[name] = Entry(ino, ftype, fb, offset)
        idx.room[fb] = largest_room(buf)
        dinode.mtime_ns = dinode.ctime_ns = self.clock()

    def _dir_remove(self, dino: int, dinode: Inode, idx: DirIndex, name: bytes) -> None:
        self._touched_dirs.add(dino)
        e = idx.entries.pop(name)
        buf = self.cache.modify(self._bmap(dinode, e.block))
        remove_record(buf, e.offset)
        idx.room[e.block] = largest_room(buf)
        dinode.mtime_ns = dinode.ctime_ns = self.clock()

    def _dir_retarget(
        self, dino: int, dinode: Inode, idx: DirIndex, name: bytes, ino: int, ftype: int
    ) -> None:
        self._touched_dirs.add(dino)
        e = idx.entries[name]
        retarget_record(self.cache.modify(self._bmap(dinode, e.block)), e.offset, ino, ftype)
        idx.entries[name] = Entry(ino, ftype, e.block, e.offset)

    def _release_inode(self, ino: int, inode: Inode) -> None:
        self._free_from(inode, 0)
        self._free_inode(ino)

    # --- the API ----------------------------------------------------------------------------

    @_locked
    def lookup(self, dir_ino: int, name: str) -> int:
        self._check_mounted()
        raw = encode_name(name)
        _, idx = self._dir(dir_ino)
        e = idx.entries.get(raw)
        if e is None:
            raise KernelError(Errno.ENOENT, f"{name!r} not found")
        return e.ino

    @_locked
    def stat(self, ino: int) -> Stat:
        self._check_mounted()
        i = self._iget(ino)
        return Stat(
            ino,
            i.mode,
            i.nlink,
            i.size,
            i.nblocks * (BLOCK_SIZE // 512),
            i.atime_ns,
            i.mtime_ns,
            i.ctime_ns,
        )

    @_locked
    def create(self, dir_ino: int, name: str, mode: int) -> int:
        """Create an empty regular file; EEXIST if the name is taken."""
        return self._make(dir_ino, name, st.S_IFREG | (mode & 0o7777))

    @_locked
    def mkdir(self, dir_ino: int, name: str, mode: int) -> int:
        return self._make(dir_ino, name, st.S_IFDIR | (mode & 0o7777))

    def _make(self, dir_ino: int, name: str, mode: int) -> int:
        raw = encode_name(name)
        is_dir = st.S_ISDIR(mode)
        with self._op(24):
            dinode, idx = self._dir(dir_ino)
            if raw in idx.entries:
                raise KernelError(Errno.EEXIST, f"{name!r} exists")
            ino = self._alloc_inode()
            now = self.clock()
            inode = Inode(
                mode=mode, nlink=2 if is_dir else 1, atime_ns=now, mtime_ns=now, ctime_ns=now
            )
            if is_dir:
                blk = self._new_block(inode)
                self.cache.fresh(blk)[:] = new_dir_block(ino, dir_ino)
                inode.direct[0] = blk
                inode.size = BLOCK_SIZE
                dinode.nlink += 1
            self._iput(ino, inode)
            self._dir_add(dir_ino, dinode, idx, raw, ino, ftype_of(mode))
            self._iput(dir_ino, dinode)
        return ino

    @_locked
    def unlink(self, dir_ino: int, name: str) -> None:
        raw = encode_name(name)
        with self._op(self._free_credits):
            dinode, idx = self._dir(dir_ino)
            e = idx.entries.get(raw)
            if e is None:
                raise KernelError(Errno.ENOENT, f"{name!r} not found")
            inode = self._iget(e.ino)
            if inode.is_dir:
                raise KernelError(Errno.EISDIR, f"{name!r} is a directory")
            self._dir_remove(dir_ino, dinode, idx, raw)
            self._drop_link(e.ino, inode)
            self._iput(dir_ino, dinode)

    def _drop_link(self, ino: int, inode: Inode) -> None:
        inode.nlink -= 1
        if inode.nlink <= 0:
            self._release_inode(ino, inode)
        else:
            inode.ctime_ns = self.clock()
            self._iput(ino, inode)

    @_locked
    def rmdir(self, dir_ino: int, name: str) -> None:
        raw = encode_name(name)
        if raw == b".":
            raise KernelError(Errno.EINVAL, "cannot remove '.'")
        if raw == b"..":
            raise KernelError(Errno.ENOTEMPTY, "cannot remove '..'")
        with self._op(self._free_credits):
            dinode, idx = self._dir(dir_ino)
            e = idx.entries.get(raw)
            if e is None:
                raise KernelError(Errno.ENOENT, f"{name!r} not found")
            inode = self._iget(e.ino)
            if not inode.is_dir:
                raise KernelError(Errno.ENOTDIR, f"{name!r} is not a directory")
            if not self._dir(e.ino)[1].is_empty:
                raise KernelError(Errno.ENOTEMPTY, f"{name!r} is not empty")
            self._dir_remove(dir_ino, dinode, idx, raw)
            dinode.nlink -= 1
            self._release_inode(e.ino, inode)
            self._iput(dir_ino, dinode)

    @_locked
    def rename(self, old_dir: int, old_name: str, new_dir: int, new_name: str) -> None:
        """POSIX rename: atomically replaces a target file or empty directory."""
        old_raw, new_raw = encode_name(old_name), encode_name(new_name)
        if old_raw in (b".", b"..") or new_raw in (b".", b".."):
            raise KernelError(Errno.EINVAL, "cannot rename '.' or '..'")
        with self._op(self._rename_credits):
            odinode, oidx = self._dir(old_dir)
            if new_dir == old_dir:
                ndinode, nidx = odinode, oidx
            else:
                ndinode, nidx = self._dir(new_dir)
            src = oidx.entries.get(old_raw)
            if src is None:
                raise KernelError(Errno.ENOENT, f"{old_name!r} not found")
            dst = nidx.entries.get(new_raw)
            if dst is not None and dst.ino == src.ino:
                return
            inode = self._iget(src.ino)
            if inode.is_dir and new_dir != old_dir:
                self._check_not_ancestor(src.ino, new_dir)
            victim: Inode | None = None
            if dst is not None:
                victim = self._iget(dst.ino)
                if inode.is_dir and not victim.is_dir:
                    raise KernelError(Errno.ENOTDIR, f"{new_name!r} is not a directory")
                if not inode.is_dir and victim.is_dir:
                    raise KernelError(Errno.EISDIR, f"{new_name!r} is a directory")
                if victim.is_dir and not self._dir(dst.ino)[1].is_empty:
                    raise KernelError(Errno.ENOTEMPTY, f"{new_name!r} is not empty")

            ftype = ftype_of(inode.mode)
            self._dir_remove(old_dir, odinode, oidx, old_raw)
            if dst is not None and victim is not None:
                self._dir_retarget(new_dir, ndinode, nidx, new_raw, src.ino, ftype)
                ndinode.mtime_ns = ndinode.ctime_ns = self.clock()
                if victim.is_dir:
                    ndinode.nlink -= 1
                    self._release_inode(dst.ino, victim)
                else:
                    self._drop_link(dst.ino, victim)
            else:
                self._dir_add(new_dir, ndinode, nidx, new_raw, src.ino, ftype)
            if inode.is_dir and new_dir != old_dir:
                moved_inode, moved_idx = self._dir(src.ino)
                self._dir_retarget(src.ino, moved_inode, moved_idx, b"..", new_dir, FT_DIR)
                odinode.nlink -= 1
                ndinode.nlink += 1
            inode = self._iget(src.ino)
            inode.ctime_ns = self.clock()
            self._iput(src.ino, inode)
            self._iput(old_dir, odinode)
            if new_dir != old_dir:
                self._iput(new_dir, ndinode)

    def _check_not_ancestor(self, ino: int, dir_ino: int) -> None:
        """EINVAL if directory `ino` is `dir_ino` or one of its ancestors."""
        cur = dir_ino
        for _ in range(self.sb.inode_count):
            if cur == ino:
                raise KernelError(Errno.EINVAL, "cannot move a directory into itself")
            if cur == ROOT_INO:
                return
            parent = self._dir(cur)[1].entries.get(b"..")
            if parent is None:
                break
            cur = parent.ino
        raise KernelError(Errno.EIO, f"directory {dir_ino} does not lead back to the root")

    @_locked
    def read(self, ino: int, offset: int, length: int) -> bytes:
        self._check_mounted()
        if offset < 0 or length < 0:
            raise KernelError(Errno.EINVAL, "negative offset or length")
        inode = self._iget(ino)
        if inode.is_dir:
            raise KernelError(Errno.EISDIR, f"inode {ino} is a directory")
        end = min(inode.size, offset + length)
        if offset >= end:
            return b""
        fb0 = offset // BLOCK_SIZE
        blocks = self._map_range(inode, fb0, (end - 1) // BLOCK_SIZE - fb0 + 1)
        out = bytearray()
        for blk in blocks:
            out += self.cache.read_uncached(blk) if blk else _ZERO_BLOCK
        start = offset - fb0 * BLOCK_SIZE
        return bytes(out[start : start + end - offset])

    @_locked
    def write(self, ino: int, offset: int, data: bytes) -> int:
        """Write at `offset` (a gap past the end reads back as zeros). Returns the byte count;
        if space runs out after part of the data was written, that shorter count."""
        self._check_writable()
        if offset < 0:
            raise KernelError(Errno.EINVAL, "negative offset")
        inode = self._iget(ino)
        if inode.is_dir:
            raise KernelError(Errno.EISDIR, f"inode {ino} is a directory")
        view = memoryview(data).cast("B")
        if not view:
            return 0
        if offset + len(view) > MAX_FILE_SIZE:
            raise KernelError(Errno.EFBIG, f"file would exceed {MAX_FILE_SIZE} bytes")
        if self.space_hook is not None:
            self.space_hook("write")
        chunk = self.chunk_blocks * BLOCK_SIZE
        done = 0
        while done < len(view):
            pos = offset + done
            n = min(len(view) - done, chunk - pos % BLOCK_SIZE)
            spanned = (pos + n - 1) // BLOCK_SIZE - pos // BLOCK_SIZE + 1
            try:
                with self._op(self._write_credits(spanned)):
                    self._write_chunk(ino, pos, view[done : done + n])
            except KernelError as e:
                if e.errno != Errno.ENOSPC:
                    raise
                if spanned > 1:
                    chunk = BLOCK_SIZE  # space is short: fill what is left block by block
                    continue
                if done:
                    return done
                raise
            done += n
        return done

    def _write_chunk(self, ino: int, pos: int, data: memoryview) -> None:
        inode = self._iget(ino)
        fb = pos // BLOCK_SIZE
        boff = pos % BLOCK_SIZE
        i = 0
        while i < len(data):
            take = min(BLOCK_SIZE - boff, len(data) - i)
            blk, new = self._bmap_alloc(inode, fb)
            buf = self.cache.fresh(blk) if new or take == BLOCK_SIZE else self.cache.modify(blk)
            buf[boff : boff + take] = data[i : i + take]
            i += take
            fb += 1
            boff = 0
        inode.size = max(inode.size, pos + len(data))
        inode.mtime_ns = inode.ctime_ns = self.clock()
        self._iput(ino, inode)

    @_locked
    def truncate(self, ino: int, size: int) -> None:
        if size < 0:
            raise KernelError(Errno.EINVAL, "negative size")
        if size > MAX_FILE_SIZE:
            raise KernelError(Errno.EFBIG, f"size exceeds {MAX_FILE_SIZE} bytes")
        with self._op(self._free_credits):
            inode = self._iget(ino)
            if inode.is_dir:
                raise KernelError(Errno.EISDIR, f"inode {ino} is a directory")
            if size < inode.size:
                keep = ceil_div(size, BLOCK_SIZE)
                self._free_from(inode, keep)
                tail = size % BLOCK_SIZE
                if tail and (blk := self._bmap(inode, keep - 1)):
                    # Bytes past the end stay zero, so that growing the file reads zeros.
                    self.cache.modify(blk)[tail:] = bytes(BLOCK_SIZE - tail)
            if size != inode.size:
                inode.size = size
                inode.mtime_ns = inode.ctime_ns = self.clock()
                self._iput(ino, inode)

    @_locked
    def readdir(self, ino: int) -> list[DirEntry]:
        self._check_mounted()
        _, idx = self._dir(ino)
        return [
            DirEntry(decode_name(name), e.ino, e.ftype == FT_DIR) for name, e in idx.entries.items()
        ]

    @_locked
    def fsync(self, ino: int) -> None:
        """Make this file durable; commits every pending change (one journal for all)."""
        self._check_mounted()
        self._iget(ino)
        self.sync()

    @_locked
    def sync(self) -> None:
        self._check_mounted()
        if self.read_only:
            return
        self._commit()

    @_locked
    def statfs(self) -> StatFs:
        self._check_mounted()
        sb = self.sb
        return StatFs(
            block_size=BLOCK_SIZE,
            total_blocks=sb.block_count - sb.data_start,
            free_blocks=self._free_blocks,
            total_inodes=sb.inode_count - 1,
            free_inodes=self._free_inodes,
        )

    @_locked
    def unmount(self) -> None:
        """Commit what is pending and detach. The caller still owns (and closes) the device.
        If that commit fails (EIO) the mount is detached anyway and the unsynced changes are
        lost; the disk still holds a consistent state."""
        if not self.mounted:
            return
        try:
            if not self.read_only:
                self._commit()
        finally:
            self.mounted = False
            self._dirs.clear()

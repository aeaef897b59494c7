"""The buffer cache: block contents in memory, the dirty set of the running transaction, and
an undo log so that a failed operation leaves no trace.

Clean blocks live in an LRU of bounded size; dirty blocks are pinned until the journal commits
them. Every change goes through `modify` / `fresh` / `forget`, which first remember the block's
previous state for the current operation; `rollback` puts all of it back (an operation that
fails half way, e.g. with ENOSPC or a read error, is undone in memory and never committed).
"""

from __future__ import annotations

from collections import OrderedDict

from sis.kernel.drivers.block import BlockDevice
from sis.kernel.fs.layout import BLOCK_SIZE

DEFAULT_CLEAN_LIMIT = 2048  # 8 MiB of clean blocks

# Undo entry: the block's contents before the operation touched it (None = not cached) and
# whether it was already dirty.
_Undo = tuple[bytes | None, bool]


class BufferCache:
    def __init__(
        self,
        dev: BlockDevice,
        overlay: dict[int, bytes] | None = None,
        clean_limit: int = DEFAULT_CLEAN_LIMIT,
    ) -> None:
        self.dev = dev
        # Blocks a read-only mount replayed from the journal: newer than the device's copy.
        self.overlay = overlay or {}
        self.clean_limit = clean_limit
        self._clean: OrderedDict[int, bytearray] = OrderedDict()
        self._dirty: dict[int, bytearray] = {}
        self._undo: dict[int, _Undo] | None = None

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def read(self, n: int) -> bytearray:
        """The cached block; callers must not change it (use `modify`)."""
        buf = self._dirty.get(n)
        if buf is not None:
            return buf
        buf = self._clean.get(n)
        if buf is not None:
            self._clean.move_to_end(n)
            return buf
        data = self.overlay.get(n)
        if data is None:
            data = self.dev.read_block(n)
        buf = bytearray(data)
        self._clean[n] = buf
        if len(self._clean) > self.clean_limit:
            self._clean.popitem(last=False)
        return buf

    def read_uncached(self, n: int) -> bytes | bytearray:
        """The block's contents without adding it to the cache: streaming file data through
        would only push out the metadata worth keeping."""
        buf = self._dirty.get(n)
        if buf is None:
            buf = self._clean.get(n)
        if buf is not None:
            return buf
        data = self.overlay.get(n)
        return data if data is not None else self.dev.read_block(n)

    def modify(self, n: int) -> bytearray:
        """The block, made dirty and ready to be changed in place."""
        buf = self._dirty.get(n)
        if buf is not None:
            if self._undo is not None and n not in self._undo:
                self._undo[n] = (bytes(buf), True)
            return buf
        buf = self.read(n)
        if self._undo is not None and n not in self._undo:
            self._undo[n] = (bytes(buf), False)
        del self._clean[n]
        self._dirty[n] = buf
        return buf

    def fresh(self, n: int) -> bytearray:
        """A dirty all-zero block whose old contents do not matter (newly allocated or fully
        overwritten): saves reading it from the device."""
        self._remember(n)
        self._clean.pop(n, None)
        buf = bytearray(BLOCK_SIZE)
        self._dirty[n] = buf
        return buf

    def forget(self, n: int) -> None:
        """Drop a freed block: its contents need never reach the disk."""
        self._remember(n)
        self._clean.pop(n, None)
        self._dirty.pop(n, None)

    def _remember(self, n: int) -> None:
        if self._undo is None or n in self._undo:
            return
        if n in self._dirty:
            self._undo[n] = (bytes(self._dirty[n]), True)
        elif n in self._clean:
            self._undo[n] = (bytes(self._clean[n]), False)
        else:
            self._undo[n] = (None, False)

    # --- operations -------------------------------------------------------------------------

    def begin(self) -> None:
        self._undo = {}

    def end(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        undo, self._undo = self._undo or {}, None
        for n, (prev, was_dirty) in undo.items():
            self._dirty.pop(n, None)
            self._clean.pop(n, None)
            if prev is None:
                continue
            if was_dirty:
                self._dirty[n] = bytearray(prev)
            else:
                self._clean[n] = bytearray(prev)

    # --- transactions -----------------------------------------------------------------------

    def dirty_blocks(self) -> list[tuple[int, bytes]]:
        return [(n, bytes(buf)) for n, buf in self._dirty.items()]

    def mark_clean(self) -> None:
        """The journal has made every dirty block durable."""
        for n, buf in self._dirty.items():
            self._clean[n] = buf
        self._dirty.clear()
        while len(self._clean) > self.clean_limit:
            self._clean.popitem(last=False)

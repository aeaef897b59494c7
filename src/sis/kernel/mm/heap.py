"""The kernel heap: a segregated-fit allocator with coalescing over an arena carved from -m.

Addresses are offsets in the arena (plus a base that looks like a kernel address). Kernel
objects (task structs, kernel stacks, file and socket objects, packet and I/O buffers) are
allocated here, so fragmentation and exhaustion are real: when no free block fits, the
allocation fails with ENOMEM, whatever Python itself could still allocate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sis.kernel.errno import Errno, KernelError

HEAP_BASE = 0xFFFF_8000_0000_0000
ALIGN = 16
_NBINS = 48


def _bin(size: int) -> int:
    return min(size.bit_length(), _NBINS - 1)


@dataclass
class HeapStats:
    allocs: int = 0
    deallocs: int = 0
    failures: int = 0
    current_bytes: int = 0
    peak_bytes: int = 0


class Heap:
    def __init__(self, size: int) -> None:
        self.size = size - size % ALIGN
        self.stats = HeapStats()
        self._free_start: dict[int, int] = {0: self.size}  # start -> size
        self._free_end: dict[int, int] = {self.size: 0}  # end -> start
        self._bins: list[set[int]] = [set() for _ in range(_NBINS)]
        self._bins[_bin(self.size)].add(0)
        self._used: dict[int, tuple[int, str]] = {}  # start -> (size, tag)
        # Chaos hook: returns True to make this allocation fail (memory_pressure).
        self.fail_hook: Callable[[int, str], bool] | None = None

    # -- free-list bookkeeping -------------------------------------------------------------
    def _add_free(self, start: int, size: int) -> None:
        self._free_start[start] = size
        self._free_end[start + size] = start
        self._bins[_bin(size)].add(start)

    def _remove_free(self, start: int) -> int:
        size = self._free_start.pop(start)
        del self._free_end[start + size]
        self._bins[_bin(size)].discard(start)
        return size

    # -- API -------------------------------------------------------------------------------
    def alloc(self, size: int, tag: str = "kmalloc") -> int:
        """Allocate `size` bytes; returns the address. Raises KernelError(ENOMEM)."""
        need = max(ALIGN, -(-size // ALIGN) * ALIGN)
        if self.fail_hook is not None and self.fail_hook(need, tag):
            self.stats.failures += 1
            raise KernelError(Errno.ENOMEM, f"injected allocation failure ({tag}, {size} bytes)")
        start = self._find(need)
        if start is None:
            self.stats.failures += 1
            raise KernelError(Errno.ENOMEM, f"heap exhausted: {tag} wants {size} bytes")
        block = self._remove_free(start)
        if block > need:
            self._add_free(start + need, block - need)
        self._used[start] = (need, tag)
        st = self.stats
        st.allocs += 1
        st.current_bytes += need
        st.peak_bytes = max(st.peak_bytes, st.current_bytes)
        return HEAP_BASE + start

    def _find(self, need: int) -> int | None:
        b = _bin(need)
        # Same bin: blocks may be smaller than needed; take the smallest that fits.
        fits = [s for s in self._bins[b] if self._free_start[s] >= need]
        if fits:
            return min(fits, key=lambda s: (self._free_start[s], s))
        for higher in range(b + 1, _NBINS):
            if self._bins[higher]:
                return min(self._bins[higher])  # lowest address: keeps the top of the arena free
        return None

    def free(self, addr: int) -> None:
        start = addr - HEAP_BASE
        entry = self._used.pop(start, None)
        if entry is None:
            raise KernelError(Errno.EFAULT, f"free of unallocated address {addr:#x}")
        size = entry[0]
        self.stats.deallocs += 1
        self.stats.current_bytes -= size
        # Coalesce with the neighbours so fragmentation heals.
        if start + size in self._free_start:
            size += self._remove_free(start + size)
        if start in self._free_end:
            prev = self._free_end[start]
            size += self._remove_free(prev)
            start = prev
        self._add_free(start, size)

    def size_of(self, addr: int) -> int:
        return self._used[addr - HEAP_BASE][0]

    @property
    def free_bytes(self) -> int:
        return self.size - self.stats.current_bytes

    def largest_free_block(self) -> int:
        return max(self._free_start.values(), default=0)

    def fragmentation(self) -> float:
        """1 - largest free block / free bytes: 0 when all free memory is one block."""
        free = self.free_bytes
        return 0.0 if free == 0 else 1.0 - self.largest_free_block() / free

    def usage_by_tag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for size, tag in self._used.values():
            out[tag] = out.get(tag, 0) + size
        return out

    def check(self) -> None:
        """Invariant check (tests): free and used blocks tile the arena exactly."""
        spans = sorted(
            [(s, n) for s, n in self._free_start.items()]
            + [(s, n) for s, (n, _) in self._used.items()]
        )
        pos = 0
        for s, n in spans:
            assert s == pos, f"gap or overlap at {pos:#x} (next block at {s:#x})"
            pos = s + n
        assert pos == self.size, f"arena ends at {pos:#x}, expected {self.size:#x}"
        for a, b in zip(sorted(self._free_start), sorted(self._free_start)[1:], strict=False):
            assert a + self._free_start[a] != b, f"uncoalesced free blocks at {a:#x}"

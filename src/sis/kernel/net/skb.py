"""Packet buffers. Every packet the stack holds — on its way out, waiting for address
resolution, queued on a socket — lives in a buffer allocated from the kernel heap, so a heap
under pressure drops packets and fails sends with ENOMEM as a real kernel would, and a leak
of buffers shows in `memstats`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sis.kernel.mm.heap import Heap

SKB_TAG = "skb"


class Skb:
    """One packet buffer: `data` is the packet, `addr` its heap block."""

    __slots__ = ("heap", "addr", "data")

    def __init__(self, heap: Heap, data: bytes) -> None:
        self.heap = heap
        self.data = data
        self.addr = heap.alloc(max(1, len(data)), SKB_TAG)  # raises KernelError(ENOMEM)

    @property
    def truesize(self) -> int:
        """What the buffer costs the heap (socket receive budgets count this)."""
        return self.heap.size_of(self.addr) if self.addr else 0

    def free(self) -> None:
        if self.addr:
            addr, self.addr = self.addr, 0
            self.heap.free(addr)

"""User address spaces: mapped regions (text, brk heap, mmap areas, stack) over 4 KiB pages
backed by page frames from physical memory. The kernel reaches user memory only through the
checked copy helpers here, which is where a bad pointer becomes EFAULT instead of a crash."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from sis.kernel.errno import Errno, KernelError

PAGE = 4096
USER_MIN = 0x1000  # the zero page is never mapped: NULL and small pointers fault
KERNEL_SPACE = 0xFFFF_0000_0000_0000  # and above: kernel addresses, never valid from a task
USER_TOP = 0x0000_8000_0000_0000
STACK_TOP = 0x0000_7FFF_FFFF_0000
STACK_SIZE = 256 * PAGE
MMAP_TOP = 0x0000_7F00_0000_0000
BRK_BASE = 0x0000_5555_0000_0000
TEXT_BASE = 0x0000_0000_0040_0000

PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_NORESERVE, MAP_POPULATE = 0x4000, 0x8000
MAP_KNOWN = (
    MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_NORESERVE
    | MAP_POPULATE
    | 0x100
    | 0x20000
)


class SegmentationFault(Exception):
    """A task touched memory it has not mapped: the task gets SIGSEGV."""


class FramePool:
    """Physical page frames for user memory: the part of -m that is not the kernel heap."""

    def __init__(self, total_bytes: int) -> None:
        self.total = total_bytes // PAGE
        self.used = 0
        self.failures = 0

    def take(self) -> None:
        if self.used >= self.total:
            self.failures += 1
            raise KernelError(Errno.ENOMEM, "out of page frames")
        self.used += 1

    def give(self, n: int = 1) -> None:
        self.used -= n


@dataclass
class Region:
    start: int
    end: int
    prot: int
    name: str


def page_align_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


class AddressSpace:
    def __init__(self, frames: FramePool) -> None:
        self.frames = frames
        self.regions: list[Region] = []  # sorted by start, never overlapping
        self.pages: dict[int, bytearray] = {}
        self.brk_start = self.brk = BRK_BASE
        self.map(TEXT_BASE, 16 * PAGE, PROT_READ | PROT_EXEC, "text")
        self.map(STACK_TOP - STACK_SIZE, STACK_SIZE, PROT_READ | PROT_WRITE, "stack")

    # -- regions -------------------------------------------------------------------------
    def find(self, addr: int) -> Region | None:
        i = bisect.bisect_right([r.start for r in self.regions], addr) - 1
        if i >= 0 and self.regions[i].start <= addr < self.regions[i].end:
            return self.regions[i]
        return None

    def map(self, start: int, length: int, prot: int, name: str) -> int:
        end = start + page_align_up(length)
        self.unmap(start, end - start)
        bisect.insort(self.regions, Region(start, end, prot, name), key=lambda r: r.start)
        return start

    def unmap(self, start: int, length: int) -> None:
        end = start + page_align_up(length)
        kept: list[Region] = []
        for r in self.regions:
            if r.end <= start or r.start >= end:
                kept.append(r)
                continue
            if r.start < start:
                kept.append(Region(r.start, start, r.prot, r.name))
            if r.end > end:
                kept.append(Region(end, r.end, r.prot, r.name))
        self.regions = kept
        for page in [p for p in self.pages if start <= p * PAGE < end]:
            del self.pages[page]
            self.frames.give()

    def protect(self, start: int, length: int, prot: int) -> None:
        """mprotect: split the regions at the range's edges and give the middle `prot`."""
        end = start + page_align_up(length)
        pos = start
        while pos < end:
            r = self.find(pos)
            if r is None:
                raise KernelError(Errno.ENOMEM, f"{pos:#x} not mapped")
            pos = r.end
        kept: list[Region] = []
        for r in self.regions:
            if r.end <= start or r.start >= end:
                kept.append(r)
                continue
            lo, hi = max(r.start, start), min(r.end, end)
            for s, e, p in ((r.start, lo, r.prot), (lo, hi, prot), (hi, r.end, r.prot)):
                if e > s:
                    kept.append(Region(s, e, p, r.name))
        self.regions = sorted(kept, key=lambda r: r.start)

    def free_area(self, length: int) -> int:
        """Highest gap below MMAP_TOP that fits `length` bytes (mmap grows down)."""
        top = MMAP_TOP
        for r in reversed(self.regions):
            if r.start >= MMAP_TOP:
                continue
            if r.end <= top - length:
                break
            top = min(top, r.start)
        if top - length < self.brk + 64 * PAGE:
            raise KernelError(Errno.ENOMEM, "no room in the address space")
        return top - length

    def set_brk(self, new: int) -> int:
        if new == 0 or new < self.brk_start:
            return self.brk
        new_end, old_end = page_align_up(new), page_align_up(self.brk)
        if new_end > old_end:
            if any(r.start < new_end and r.end > old_end for r in self.regions):
                return self.brk
            if new_end - self.brk_start > 1 << 30:
                return self.brk  # more than 1 GiB of brk heap: refuse like RLIMIT_DATA
            self.map(old_end, new_end - old_end, PROT_READ | PROT_WRITE, "heap")
        elif new_end < old_end:
            self.unmap(new_end, old_end - new_end)
        self.brk = new
        return self.brk

    def release(self) -> None:
        self.frames.give(len(self.pages))
        self.pages.clear()
        self.regions.clear()

    # -- access ---------------------------------------------------------------------------
    def check_range(self, addr: int, length: int, prot: int) -> None:
        """EFAULT unless [addr, addr+length) is a valid, mapped user range with `prot`."""
        if (
            addr < USER_MIN
            or addr >= KERNEL_SPACE
            or addr + length > USER_TOP
            or addr + length < addr
        ):
            raise KernelError(Errno.EFAULT, f"bad user address {addr:#x}")
        pos, end = addr, addr + length
        while pos < end or (length == 0 and pos == addr):
            r = self.find(pos)
            if r is None or r.prot & prot != prot:
                raise KernelError(Errno.EFAULT, f"unmapped or protected address {pos:#x}")
            if length == 0:
                break
            pos = r.end

    def _page(self, index: int) -> bytearray:
        page = self.pages.get(index)
        if page is None:
            self.frames.take()
            page = self.pages[index] = bytearray(PAGE)
        return page

    def _read(self, addr: int, length: int) -> bytes:
        out = bytearray()
        while length > 0:
            index, off = divmod(addr, PAGE)
            n = min(length, PAGE - off)
            page = self.pages.get(index)
            out += page[off : off + n] if page is not None else bytes(n)
            addr += n
            length -= n
        return bytes(out)

    def _write(self, addr: int, data: bytes | memoryview) -> None:
        view = memoryview(data)
        while view:
            index, off = divmod(addr, PAGE)
            n = min(len(view), PAGE - off)
            self._page(index)[off : off + n] = view[:n]
            addr += n
            view = view[n:]

    def copy_from_user(self, addr: int, length: int) -> bytes:
        self.check_range(addr, length, PROT_READ)
        return self._read(addr, length)

    def copy_to_user(self, addr: int, data: bytes) -> None:
        self.check_range(addr, len(data), PROT_WRITE)
        self._write(addr, data)

    def strncpy_from_user(self, addr: int, limit: int) -> bytes:
        """A NUL-terminated string of at most `limit` bytes (NUL excluded): ENAMETOOLONG past it."""
        out = bytearray()
        pos = addr
        while True:
            self.check_range(pos, 1, PROT_READ)
            region = self.find(pos)
            assert region is not None
            chunk = self._read(pos, min(region.end - pos, PAGE - pos % PAGE))
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                if len(out) > limit:
                    raise KernelError(Errno.ENAMETOOLONG, "string too long")
                return bytes(out)
            out += chunk
            pos += len(chunk)
            if len(out) > limit:
                raise KernelError(Errno.ENAMETOOLONG, "string too long")

    # User-mode loads and stores (the task touching its own memory): a bad one is SIGSEGV.
    def load(self, addr: int, length: int) -> bytes:
        try:
            return self.copy_from_user(addr, length)
        except KernelError as e:
            raise SegmentationFault(f"load from {addr:#x}: {e.detail}") from None

    def store(self, addr: int, data: bytes) -> None:
        try:
            self.copy_to_user(addr, data)
        except KernelError as e:
            raise SegmentationFault(f"store to {addr:#x}: {e.detail}") from None

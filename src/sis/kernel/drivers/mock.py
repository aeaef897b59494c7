"""Mock devices for the kernel's own tests: every knob a test needs (failure rate, delay,
read-only, crash after N writes, packet loss, link state, clock jitter), seeded so that a
failing run replays exactly, and statistics of what was injected."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sis.kernel.drivers.block import BLOCK_SIZE, BlockStats, MemoryBlockDevice
from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import Errno, KernelError


class PowerCut(Exception):
    """The mock disk lost power: nothing more reaches it (used by crash-consistency tests)."""


@dataclass
class MockBlockDevice:
    """An in-memory disk that fails on demand.

    * `read_failure_rate` / `write_failure_rate`: probability (0..1) of EIO per operation;
    * `fail_blocks`: block numbers that always give EIO;
    * `delay_s`: time each operation takes;
    * `crash_after_writes`: after that many successful writes, every further write raises
      `PowerCut` and is lost (the image is what a crash at that point leaves behind).
    """

    block_count: int
    read_only: bool = False
    read_failure_rate: float = 0.0
    write_failure_rate: float = 0.0
    delay_s: float = 0.0
    crash_after_writes: int | None = None
    fail_blocks: set[int] = field(default_factory=set)
    seed: int = 0
    injected_errors: int = 0

    def __post_init__(self) -> None:
        self.block_size = BLOCK_SIZE
        self._disk = MemoryBlockDevice(self.block_count)
        self.stats: BlockStats = self._disk.stats
        self._rng = Rng(self.seed)
        self.writes_done = 0

    def _maybe_fail(self, index: int, rate: float) -> None:
        if self.delay_s:
            time.sleep(self.delay_s)
        if index in self.fail_blocks or self._rng.chance(rate):
            self.injected_errors += 1
            self.stats.errors += 1
            raise KernelError(Errno.EIO, f"injected I/O error on block {index}")

    def read_block(self, index: int) -> bytes:
        self._maybe_fail(index, self.read_failure_rate)
        return self._disk.read_block(index)

    def write_block(self, index: int, data: bytes) -> None:
        if self.read_only:
            raise KernelError(Errno.EROFS, "device is read-only")
        if self.crash_after_writes is not None and self.writes_done >= self.crash_after_writes:
            raise PowerCut(f"power cut before write #{self.writes_done + 1} (block {index})")
        self._maybe_fail(index, self.write_failure_rate)
        self._disk.write_block(index, data)
        self.writes_done += 1

    def flush(self) -> None:
        if self.crash_after_writes is not None and self.writes_done >= self.crash_after_writes:
            raise PowerCut("power cut before flush")
        self._disk.flush()

    def close(self) -> None:
        pass

    def snapshot(self) -> MemoryBlockDevice:
        """A copy of what is on the platters now, as a fresh healthy disk."""
        copy = MemoryBlockDevice(self.block_count)
        copy._blocks = dict(self._disk._blocks)
        return copy


@dataclass
class MockClock:
    """A timer whose reading can jump and jitter (seeded)."""

    jitter_ns: int = 0
    seed: int = 0
    offset_ns: int = 0

    def __post_init__(self) -> None:
        self._rng = Rng(self.seed)

    def monotonic_ns(self) -> int:
        jitter = self._rng.randrange(self.jitter_ns + 1) if self.jitter_ns else 0
        return time.monotonic_ns() + self.offset_ns + jitter

    def advance(self, ns: int) -> None:
        self.offset_ns += ns

    # A mock clock is moved by the test alone; pausing the machine does not touch it.
    def pause(self) -> None:
        pass

    def resume(self) -> None:
        pass

"""Chaos injection (feature `chaos`, contract section 6): faults injected at the real call
sites — block reads and writes, file-system space allocation, NIC send, heap allocation,
syscall entry — at a chosen rate, from a seeded generator so that a run can be replayed.
Without the feature none of this code is attached and no check runs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sis.contract.chaos import MODES
from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import Errno, KernelError

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

SLOW_IO_RANGE_S = (0.002, 0.020)


@dataclass
class ChaosStats:
    disk_full: int = 0
    disk_failures: int = 0
    network_failures: int = 0
    alloc_failures: int = 0
    slow_io: int = 0
    panics: int = 0


class ChaosEngine:
    def __init__(self, k: Kernel, seed: int = 0) -> None:
        self.k = k
        self.mode = "none"
        self.rate = 0
        self.seed = seed
        self.rng = Rng(seed)
        self.stats = ChaosStats()
        k.heap.fail_hook = self._alloc_hook

    def _hit(self, mode: str) -> bool:
        if self.mode != mode or self.rate == 0 or self.k.sched.halted:
            return False  # a halted kernel (panicked, or going down) is no target any more
        return self.rng.randrange(100) < self.rate

    # -- settings (the `chaos` command) -------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise KernelError(Errno.EINVAL, f"unknown chaos mode {mode!r}")
        self.mode = mode
        self.k.printk.warn("chaos", "mode", f"chaos mode set to {mode}", mode=mode, rate=self.rate)

    def set_rate(self, rate: int) -> None:
        if not 0 <= rate <= 100:
            raise KernelError(Errno.EINVAL, "rate is 0..100")
        self.rate = rate

    def set_seed(self, seed: int) -> None:
        self.seed = seed
        self.rng = Rng(seed)

    def reset(self) -> None:
        self.stats = ChaosStats()

    # -- call sites ----------------------------------------------------------------------------------
    def at_syscall(self, task: Task, name: str) -> None:
        # Any call of a running program may meet a random panic. A plain call, not a
        # coroutine: it runs on every syscall and awaits nothing.
        if self.mode == "random_panic" and self._hit("random_panic"):
            self.stats.panics += 1
            self.k.panic(f"chaos: random panic in syscall {name}", task=task)

    def at_space(self, what: str) -> None:
        """The file system is about to consume space (allocate a block or an inode, write a
        file, write the journal): a full disk shows itself there, and only there — the
        console, sockets and reads never see ENOSPC."""
        if self._hit("disk_full"):
            self.stats.disk_full += 1
            raise KernelError(Errno.ENOSPC, f"chaos: disk full ({what})")

    def at_block_io(self, write: bool, index: int) -> None:
        if self._hit("disk_fail"):
            self.stats.disk_failures += 1
            raise KernelError(
                Errno.EIO, f"chaos: {'write' if write else 'read'} error on block {index}"
            )
        if self._hit("slow_io"):
            self.stats.slow_io += 1
            lo, hi = SLOW_IO_RANGE_S
            time.sleep(lo + (hi - lo) * self.rng.random())  # the device stalls the CPU, as PIO does

    def at_nic_send(self) -> None:
        if self._hit("network_fail"):
            self.stats.network_failures += 1
            raise KernelError(Errno.ENETDOWN, "chaos: network failure")

    def _alloc_hook(self, size: int, tag: str) -> bool:
        if self._hit("memory_pressure"):
            self.stats.alloc_failures += 1
            return True
        return False

    def info(self) -> dict[str, Any]:
        return {"mode": self.mode, "rate": self.rate, "seed": self.seed, **vars(self.stats)}


class ChaosBlockDevice:
    """The root disk as the file system sees it when chaos is on: faults before the real I/O."""

    def __init__(self, dev: Any, chaos: ChaosEngine) -> None:
        self._dev = dev
        self._chaos = chaos
        self.block_size = dev.block_size
        self.block_count = dev.block_count
        self.read_only = dev.read_only
        self.stats = dev.stats

    def read_block(self, index: int) -> bytes:
        self._chaos.at_block_io(False, index)
        return self._dev.read_block(index)

    def write_block(self, index: int, data: bytes) -> None:
        self._chaos.at_block_io(True, index)
        self._dev.write_block(index, data)

    def flush(self) -> None:
        self._dev.flush()

    def close(self) -> None:
        self._dev.close()

"""How many jobs `sis check` runs at once when `-j` is not given.

A job mostly waits: for a boot, for a prompt, for a ping to come back. So the default is twice
the CPUs this process may use, bounded by memory: each running target needs its guest memory
(QEMU) or a small process (the SIS reference kernel), and a run never plans more than half of
the memory the machine has available.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

__all__ = ["SIM_TARGET_BYTES", "available_memory", "cpu_count", "default_parallel", "target_bytes"]

#: What a SIS reference kernel process takes (25 MiB idle; headroom for a busy one).
SIM_TARGET_BYTES = 64 << 20
#: What a QEMU process takes beyond its guest memory.
QEMU_OVERHEAD_BYTES = 128 << 20
_SIZE = re.compile(r"(\d+)\s*([KMGT]?)i?B?", re.IGNORECASE)
_UNITS = {"": 1 << 20, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}  # QEMU: bare = MiB


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory() -> int | None:
    """Bytes the kernel says can be allocated without swapping (MemAvailable), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def target_bytes(kind: str, memory: str | None) -> int:
    """The memory one running target takes: the reference kernel's process, or a QEMU guest's
    ``-m`` plus QEMU's own."""
    if kind != "qemu":
        return SIM_TARGET_BYTES
    m = _SIZE.fullmatch((memory or "").strip())
    guest = int(m.group(1)) * _UNITS[m.group(2).upper()] if m else 512 << 20
    return guest + QEMU_OVERHEAD_BYTES


def default_parallel(
    per_job_bytes: Iterable[int], cpus: int | None = None, memory: int | None = None
) -> int:
    """Jobs to run at once: 2 x CPUs, no more than there are jobs, and no more than fit in
    half the available memory with the largest job's size."""
    sizes = list(per_job_bytes)
    if not sizes:
        return 1
    n = min(2 * (cpus or cpu_count()), len(sizes))
    avail = memory if memory is not None else available_memory()
    if avail is not None:
        n = min(n, max(1, (avail // 2) // max(sizes)))
    return max(1, n)

"""The timer device: the kernel's monotonic clock. Uptime, log timestamps and sleep deadlines
read it; tests substitute `MockClock` (drivers/mock.py) to make time jitter or jump."""

from __future__ import annotations

import time
from typing import Protocol


class Timer(Protocol):
    def monotonic_ns(self) -> int: ...


class HostTimer:
    """The host's monotonic clock."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

"""The timer device: the kernel's monotonic clock. Uptime, log timestamps and sleep deadlines
read it; tests substitute `MockClock` (drivers/mock.py) to make time jitter or jump."""

from __future__ import annotations

import time
from typing import Protocol


class Timer(Protocol):
    def monotonic_ns(self) -> int: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


class HostTimer:
    """The host's monotonic clock, stopped while the machine is paused (QMP `stop`), as a
    QEMU guest's clock is: time spent paused never shows up in uptime or log timestamps."""

    def __init__(self) -> None:
        self._paused_ns = 0  # total time spent paused
        self._paused_at: int | None = None

    def monotonic_ns(self) -> int:
        now = self._paused_at if self._paused_at is not None else time.monotonic_ns()
        return now - self._paused_ns

    def pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.monotonic_ns()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused_ns += time.monotonic_ns() - self._paused_at
            self._paused_at = None

"""printk: the kernel log. Records carry a boot-relative timestamp (µs), a sequence number,
a level, a subsystem, an event and key/values; they go to a ring buffer (for `dmesg` and the
panic report) and to the log console in human or JSON form (contract section 4)."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from sis.contract.log import LEVELS, format_human, format_json

_RANK = {name: i for i, name in enumerate(LEVELS)}
RING_SIZE = 4096


@dataclass(frozen=True)
class LogRecord:
    ts_us: int
    seq: int
    level: str
    subsystem: str
    event: str
    message: str = ""
    fields: dict[str, object] = field(default_factory=dict)

    def human(self) -> str:
        extras = " ".join(f"{k}={_human_value(v)}" for k, v in self.fields.items())
        return format_human(
            self.ts_us, self.level, self.subsystem, self.message or self.event, extras
        )

    def json(self) -> str:
        fields = {"msg": self.message, **self.fields} if self.message else self.fields
        return format_json(self.ts_us, self.seq, self.level, self.subsystem, self.event, fields)

    def render(self, fmt: str) -> str:
        return self.json() if fmt == "json" else self.human()


def _human_value(v: object) -> str:
    s = str(v)
    return json.dumps(s) if (not s or any(c in s for c in ' "=\r\n\t')) else s


class Printk:
    """The log core. `sinks` receive rendered lines of records at or above the console level."""

    def __init__(
        self,
        *,
        fmt: str = "human",
        level: str = "INFO",
        quiet: bool = False,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self.format = fmt
        self.level = level.upper()
        self.quiet = quiet
        self._clock_ns = clock_ns
        self.boot_ns = clock_ns()
        self.seq = 0
        self.ring: deque[LogRecord] = deque(maxlen=RING_SIZE)
        self.sinks: list[Callable[[str], None]] = []
        self.counts = {name: 0 for name in LEVELS}

    def uptime_us(self) -> int:
        return (self._clock_ns() - self.boot_ns) // 1000

    def set_level(self, level: str) -> None:
        level = level.upper()
        if level not in _RANK:
            raise ValueError(f"unknown log level {level!r} (one of {', '.join(LEVELS)})")
        self.level = level

    def enabled(self, level: str) -> bool:
        return _RANK[level] <= _RANK[self.level]

    def log(
        self, level: str, subsystem: str, event: str, message: str = "", **fields: object
    ) -> LogRecord | None:
        if not self.enabled(level):
            return None
        self.seq += 1
        rec = LogRecord(self.uptime_us(), self.seq, level, subsystem, event, message, fields)
        self.ring.append(rec)
        self.counts[level] += 1
        if self.sinks and (not self.quiet or _RANK[level] <= _RANK["ERROR"]):
            line = rec.render(self.format)
            for sink in self.sinks:
                sink(line)
        return rec

    # Shorthands, named after the levels.
    def fatal(self, subsystem: str, event: str, message: str = "", **f: object) -> None:
        self.log("FATAL", subsystem, event, message, **f)

    def error(self, subsystem: str, event: str, message: str = "", **f: object) -> None:
        self.log("ERROR", subsystem, event, message, **f)

    def warn(self, subsystem: str, event: str, message: str = "", **f: object) -> None:
        self.log("WARN", subsystem, event, message, **f)

    def info(self, subsystem: str, event: str, message: str = "", **f: object) -> None:
        self.log("INFO", subsystem, event, message, **f)

    def debug(self, subsystem: str, event: str, message: str = "", **f: object) -> None:
        self.log("DEBUG", subsystem, event, message, **f)

    def trace(self, subsystem: str, event: str, message: str = "", **f: object) -> None:
        self.log("TRACE", subsystem, event, message, **f)

    def dmesg(self, last: int | None = None) -> list[str]:
        records = list(self.ring)[-last:] if last else list(self.ring)
        return [r.render(self.format) for r in records]

"""The record every log dialect parses into, and what the dialects share: the SIS levels and
the printk-style timestamp ``[    1.234567] `` that starts a text record."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sis.contract.log import LEVELS

__all__ = ["EMPTY_FIELDS", "SIS_LEVELS", "TIMESTAMP", "LogRecord", "ts_us"]

#: The levels of a SIS kernel's records, most severe first (docs/contract.md section 4).
SIS_LEVELS: tuple[str, ...] = LEVELS

# Seconds and a fraction; the fraction has six digits from a kernel, but a line may be cut or
# written by another tool, so 1 to 9 are taken.
TIMESTAMP = re.compile(r"\[ *(\d{1,12})\.(\d{1,9})\] ")

#: The fields of a record that has none (one shared, read-only mapping).
EMPTY_FIELDS: Mapping[str, object] = MappingProxyType({})


@dataclass(slots=True)
class LogRecord:
    ts_us: int | None
    seq: int | None
    level: str | None
    subsystem: str
    event: str
    message: str
    #: Extra key/values. Shared between identical records: read it, do not change it.
    fields: Mapping[str, object]
    #: The text after ``subsystem: `` as the human format shows it: message, then k=v fields.
    body: str
    raw: str
    line: int
    format: str


def ts_us(secs: str, frac: str) -> int:
    """Microseconds from the two digit groups of a timestamp."""
    if len(frac) == 6:
        return int(secs) * 1_000_000 + int(frac)
    return int(secs) * 1_000_000 + int((frac + "00000")[:6])

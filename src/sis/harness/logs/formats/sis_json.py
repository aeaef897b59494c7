"""The SIS JSON log format (docs/contract.md section 4): one object a line, ::

    {"ts": <µs>, "seq": N, "level": "INFO", "subsystem": "fs", "status": "<event>",
     "msg": "...", ...}

Members beyond those are `fields`. A record's `body` is the text the human format would
show (message, then ``k=v`` fields), so that both SIS formats normalize alike.

Most of a long log repeats a few records with other ``ts`` and ``seq``: the rest of the
record is decoded once into a `Template` that the parser caches by its text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sis.harness.logs.formats.record import EMPTY_FIELDS, LogRecord
from sis.harness.logs.formats.sis_human import human_value

__all__ = ["DECODER", "FAST_HEAD", "FORMAT", "Template", "record", "template", "ts_seq"]

FORMAT = "sis-json"

#: The kernel's own key order and spacing: ts and seq read without decoding them.
FAST_HEAD = re.compile(r'\{"ts":(\d+),"seq":(\d+),')
DECODER = json.JSONDecoder()
_KEYS = frozenset(("ts", "seq", "level", "subsystem", "status", "event", "msg", "message"))


@dataclass(slots=True)
class Template:
    """A JSON record but its ts and seq: parsed once per distinct text and shared."""

    level: str
    subsystem: str
    event: str
    message: str
    fields: Mapping[str, object]
    body: str


def template(obj: dict, names: dict[str, str]) -> Template | str:
    """The template of a decoded record (or why it is not one); takes `obj` over (its extra
    members become the fields). `names` shares the strings of levels, subsystems and events
    between records."""
    level, subsystem = obj.get("level"), obj.get("subsystem", "")
    if not isinstance(level, str) or not isinstance(subsystem, str):
        return "JSON record without a string level and subsystem"
    event = obj.get("status", obj.get("event", ""))
    message = obj.get("msg", obj.get("message", ""))
    event = event if isinstance(event, str) else str(event)
    message = message if isinstance(message, str) else str(message)
    level = names.setdefault(level, level)
    subsystem = names.setdefault(subsystem, subsystem)
    event = names.setdefault(event, event) if len(event) < 64 else event
    for key in _KEYS.intersection(obj):
        del obj[key]
    fields = obj
    body = message or event
    if fields:
        body += " " + " ".join(f"{k}={human_value(v)}" for k, v in fields.items())
    return Template(
        level, subsystem, event, message, MappingProxyType(fields) if fields else EMPTY_FIELDS, body
    )


def ts_seq(obj: dict) -> tuple[int, int | None] | str:
    """A decoded record's timestamp and sequence number, or why they are unusable."""
    ts, seq = obj.get("ts"), obj.get("seq")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts < 0:
        return "JSON record without a numeric ts"
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        return "JSON record with a non-integer seq"
    return int(ts), seq


def record(t: Template, ts: int, seq: int | None, raw: str, n: int) -> LogRecord:
    return LogRecord(
        ts, seq, t.level, t.subsystem, t.event, t.message, t.fields, t.body, raw, n, FORMAT
    )

"""The SIS human log format (docs/contract.md section 4)::

    [    1.234567] [INFO] fs: message k=v k2="quoted value"

Trailing ``key=value`` tokens become `fields` (values stay strings; a double-quoted value is
a JSON string). The kernel prints the message, or the event name when there is no message,
so `event` and `message` are both that text. No sequence numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping

from sis.harness.logs.formats.record import EMPTY_FIELDS, SIS_LEVELS, LogRecord

__all__ = [
    "FORMAT",
    "HEAD",
    "LEVEL_NAME",
    "LEVEL_PREFIX",
    "BodyLayout",
    "body_layout",
    "human_value",
    "record",
    "record_after_timestamp",
]

FORMAT = "sis-human"

_LEVELS_RX = "|".join(SIS_LEVELS)
#: One string object per level, so that records share it.
LEVEL_NAME = {name: name for name in SIS_LEVELS}
#: A whole record head at the start of a line: timestamp, level, ``subsystem: ``.
HEAD = re.compile(rf"\[ *(\d{{1,12}})\.(\d{{1,9}})\] \[({_LEVELS_RX})\] ([^\s:]+):(?: |$)")
#: ``[LEVEL] `` after the timestamp: what tells this format from Linux printk.
LEVEL_PREFIX = re.compile(rf"\[({_LEVELS_RX})\] ")
_SUBSYSTEM = re.compile(r"([^\s:]+):(?: |$)")
_KV = re.compile(r' ([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_NEEDS_QUOTES = re.compile(r'[ "=\r\n\t]')

#: Where a body's message ends, and its trailing fields as
#: (key start, key end, value start, value end) offsets into the body.
BodyLayout = tuple[int, tuple[tuple[int, int, int, int], ...]]


def human_value(v: object) -> str:
    """A field value as the SIS human format prints it (quoted when it has blanks or quotes)."""
    if type(v) is int:
        return str(v)
    s = str(v)
    return json.dumps(s) if (not s or _NEEDS_QUOTES.search(s)) else s


def body_layout(body: str) -> BodyLayout:
    """Split a body into its message and its trailing `` k=v k2="v 2"`` fields. Depends only
    on the body's shape (its digits 2-9 may be made alike), so a layout can be reused."""
    if "=" not in body:
        return len(body), ()
    run_start, end = -1, -1
    spans: list[tuple[int, int, int, int]] = []
    for m in _KV.finditer(" " + body):  # the leading space lets the first token be a field
        if m.start() != end:
            run_start, spans = m.start(), []
        end = m.end()
        spans.append((m.start(1) - 1, m.end(1) - 1, m.start(2) - 1, m.end(2) - 1))
    if end != len(body) + 1 or run_start < 0:
        return len(body), ()
    return max(0, run_start - 1), tuple(spans)


class _Fields(Mapping[str, object]):
    """The k=v fields of a record, read from its body when first looked at: most records of a
    long log are never asked for their fields, and a dict each would double the memory a
    parsed log takes."""

    __slots__ = ("_body", "_spans", "_values")

    def __init__(self, body: str, spans: tuple[tuple[int, int, int, int], ...]) -> None:
        self._body = body
        self._spans = spans
        self._values: dict[str, object] | None = None

    def _dict(self) -> dict[str, object]:
        if self._values is None:
            body, values = self._body, {}
            for ks, ke, vs, ve in self._spans:
                value: object = body[vs:ve]
                if ve > vs and body[vs] == '"':
                    try:
                        value = json.loads(body[vs:ve])
                    except ValueError:
                        pass
                values[body[ks:ke]] = value
            self._values = values
        return self._values

    def __getitem__(self, key: str) -> object:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __eq__(self, other: object) -> bool:
        return dict(self) == other if isinstance(other, Mapping) else NotImplemented

    def __repr__(self) -> str:
        return repr(self._dict())


def record(
    ts: int, level: str, subsystem: str, body: str, layout: BodyLayout, raw: str, n: int
) -> LogRecord:
    msg_end, spans = layout
    message = body[:msg_end]
    fields = _Fields(body, spans) if spans else EMPTY_FIELDS
    return LogRecord(ts, None, level, subsystem, message, message, fields, body, raw, n, FORMAT)


def record_after_timestamp(ts: int, text: str, raw: str, n: int) -> LogRecord | str | None:
    """The record whose text after the timestamp is `text`: None if it is not in this format
    (no ``[LEVEL]``), a reason if it is but is damaged."""
    lvl = LEVEL_PREFIX.match(text)
    if lvl is None:
        return None
    head = _SUBSYSTEM.match(text, lvl.end())
    if head is None:
        return "truncated record (human record without 'subsystem: ')"
    body = text[head.end() :]
    return record(ts, lvl.group(1), head.group(1), body, body_layout(body), raw, n)

"""Linux printk lines, as a console or ``dmesg`` prints them::

    <6>[    1.234567][    T1] x86/fpu: Supporting XSAVE feature 0x001

The ``<n>`` level prefix (``dmesg -r``) and the ``[  T1]`` caller id are optional, and so is
the timestamp when a ``<n>`` prefix is there (a kernel without printk times). A leading
``subsystem: `` or ``driver device: `` head (``x86/fpu:``, ``sd 0:0:0:0:``) becomes
`subsystem`. Linux records have no sequence number; their level, when a ``<n>`` prefix gives
it, is one of EMERG ALERT CRIT ERROR WARN NOTICE INFO DEBUG.
"""

from __future__ import annotations

import re

from sis.harness.logs.formats.record import EMPTY_FIELDS, LogRecord

__all__ = ["FORMAT", "LINE", "LINUX_LEVELS", "Layout", "layout", "record"]

FORMAT = "linux"

# printk's <0>..<7>, named like the SIS levels where they mean the same.
LINUX_LEVELS = ("EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")

#: A record from its start: level prefix, timestamp, caller id, then the text.
LINE = re.compile(r"(?:<([0-7])>)?\[ *(\d{1,12})\.(\d{1,9})\](?:\[ *[TC]\d+\])? ?(.*)", re.DOTALL)
# "subsystem: ", "x86/fpu: ", "sd 0:0:0:0: ", "virtio_blk virtio0: ", "00:02: "; colons
# only inside words, so "PM: hibernation: ..." gives "PM".
_WORD = r"[\w.\-/]+(?::[\w.\-/]+)*"
_HEAD = re.compile(rf"({_WORD}(?: {_WORD})?): ", re.ASCII)

#: The text after the timestamp: where the subsystem head ends, where the message starts.
Layout = tuple[int, int]


def layout(text: str) -> Layout:
    """Where the parts of `text` are; depends only on its shape, so it can be reused."""
    head = _HEAD.match(text)
    return (0, 0) if head is None else (head.end(1), head.end())


def record(
    ts: int | None, level: str | None, text: str, parts: Layout, raw: str, n: int
) -> LogRecord:
    sub_end, msg_start = parts
    message = text[msg_start:]
    return LogRecord(
        ts, None, level, text[:sub_end], message, message, EMPTY_FIELDS, message, raw, n, FORMAT
    )

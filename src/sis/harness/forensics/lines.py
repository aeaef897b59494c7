"""Console text as lines a reporter can read: line endings and terminal escapes removed, the
printk prefix (`<4>[   12.345678][  T123] `) split off, doubled lines marked.

Serial consoles are messy: CRLF and lone CR, colour escapes from the shell, the same line
written twice, shell output in the middle of a kernel report. Reporters work on `text` (the
line without its prefix) and use `stamped` to tell kernel lines from the shell's.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The printk prefix (a log pasted as a Markdown code block is indented 4 or more): optional
# syslog level, the timestamp, optional caller id (T=task, C=cpu).
_PREFIX = re.compile(
    r"^(?: {4,}|\t+)?(?:\*\* \d+ printk messages dropped \*\* )?(?:<\d>)?\[\s*(\d+\.\d+)\](?: ?\[\s*[CT]\d+\])? ?"
)
# A syslog or journal prefix, as kernel logs pasted from /var/log or journalctl carry it:
# `Oct 24 01:36:33 host kernel: `, `2026-05-28T12:21:57.303295+00:00 host kernel: `.
_SYSLOG = re.compile(
    r"^\s*(?:\S+ +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*) (?:\S+ )?kernel: ?"
)
# /dev/kmsg records (`level,seq,usec,flags;text`), `dmesg -T` (`[Fri Nov 21 14:22:56 2025] `)
# and a log quoted in Markdown (`> `).
_KMSG = re.compile(r"^\d+,\d+,\d+,[-+c][^;]*;")
_HUMAN_TIME = re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] ?")
_QUOTE = re.compile(r"^> ?(?=\[\s*\d+\.\d+\])")
# A serial terminal's logger stamps every line, the shell's too: removed, the line stays
# unstamped (`[2021/07/05, 13:43:52.334] `, `[2021-07-05 13:43:52.334] `).
_LOGGER = re.compile(r"^\[\d{4}[/-]\d\d[/-]\d\d,? \d\d:\d\d:\d\d(?:[.,]\d+)?\] ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_DIRTY = _CONTROL  # escapes (ESC is a control character) or control characters to remove


class Line(NamedTuple):
    number: int  # 1-based line number in the capture
    raw: str  # the line as captured (without its line ending)
    text: str  # without the printk prefix, escapes and control characters
    stamped: bool  # it carried a printk timestamp
    doubled: bool = False  # identical to the line before it (a console artefact)
    ts: float | None = None  # the printk timestamp, when the line has one


def split_lines(text: str) -> list[Line]:
    out: list[Line] = []
    prev_raw = None
    # Numbered as an editor numbers the capture: a stray CR is not a line break.
    for i, raw in enumerate((line.rstrip("\r") for line in text.split("\n")), 1):
        out.append(make_line(i, raw, prev_raw))
        prev_raw = raw
    if out and out[-1].raw == "":
        out.pop()  # the text ended with a newline
    return out


def make_line(number: int, raw: str, prev_raw: str | None) -> Line:
    """One captured line (without its line ending), `prev_raw` the line before it."""
    clean = raw.replace("\t", "    ") if "\t" in raw else raw
    if _DIRTY.search(clean):
        clean = _CONTROL.sub("", _ANSI.sub("", clean))
    m = _PREFIX.match(clean)  # the common case first: `[   12.345678] text`
    syslog = None
    if m is None:
        syslog = _SYSLOG.match(clean) or _KMSG.match(clean) or _HUMAN_TIME.match(clean)
        if syslog:
            clean = clean[syslog.end() :]
        elif quote := _QUOTE.match(clean) or _LOGGER.match(clean):
            clean = clean[quote.end() :]
        m = _PREFIX.match(clean)
    body = clean[m.end() :] if m else clean
    return Line(
        number,
        raw,
        body.rstrip(),
        m is not None or syslog is not None,
        doubled=raw == prev_raw and bool(raw.strip()),
        ts=float(m.group(1)) if m else None,
    )

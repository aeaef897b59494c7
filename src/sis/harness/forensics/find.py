"""Every crash in a console capture: the reporters read the text, their findings are merged in
order, and a report that two reporters both claim is kept once.

`find_crashes(text)` reads a capture held in memory; `stream_crashes(binary_file)` reads one of
any size in windows of `WINDOW_LINES` lines, with memory bounded whatever the input: no report
is longer than `reporters.linux.MAX_LINES` lines, so a window keeps the last `CARRY_LINES` lines
of the one before it and every report is seen whole in some window. Lines longer than
`MAX_LINE_CHARS` are cut there.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import BinaryIO

from sis.harness.forensics.lines import Line, make_line, split_lines
from sis.harness.forensics.model import Crash, CrashType
from sis.harness.forensics.reporters import REPORTERS
from sis.harness.forensics.reporters.linux import MAX_LINES
from sis.harness.forensics.reporters.linux_kinds import BOOT_BANNER, ORDERLY_END

#: os_hint values and the reporters they use: firmware runs before any kernel.
_BY_HINT = {
    "linux": ("firmware", "linux"),
    "qemu": ("firmware", "linux"),
    "sis": ("sis",),
    "sim": ("sis",),
    "firmware": ("firmware",),
}
WINDOW_LINES = 20_000
#: A report that starts before a window's last CARRY_LINES lines has ended inside the window.
CARRY_LINES = MAX_LINES + 200
MAX_LINE_CHARS = 4096


def find_crashes(text: str, *, os_hint: str | None = None) -> list[Crash]:
    """Every crash in `text`, in order; [] for text that holds none. `os_hint` (linux, sis,
    firmware) limits the reporters; None (or an unknown one) tries them all."""
    return find_in_lines(split_lines(text), os_hint=os_hint)


def find_in_lines(lines: Sequence[Line], *, os_hint: str | None = None) -> list[Crash]:
    names = _BY_HINT.get((os_hint or "").lower(), tuple(REPORTERS))
    found: list[Crash] = []
    for name in names:
        found.extend(REPORTERS[name].parse(lines))
    found.sort(key=lambda c: (c.start_line, -(c.end_line - c.start_line)))
    kept: list[Crash] = []
    for crash in found:
        if kept and crash.start_line <= kept[-1].end_line:
            continue  # inside a report already kept (e.g. a panic's own log lines)
        kept.append(crash)
    return kept


def read_lines(f: BinaryIO) -> Iterator[Line]:
    """The lines of a binary stream, decoded (bad UTF-8 replaced), each at most MAX_LINE_CHARS."""
    prev: str | None = None
    number = 0
    while True:
        chunk = f.readline(MAX_LINE_CHARS)
        if not chunk:
            return
        if not chunk.endswith(b"\n") and len(chunk) == MAX_LINE_CHARS:
            while (rest := f.readline(MAX_LINE_CHARS)) and not rest.endswith(b"\n"):
                pass  # the rest of an overlong line is dropped
        raw = chunk.decode("utf-8", "replace").rstrip("\n").rstrip("\r")
        number += 1
        yield make_line(number, raw, prev)
        prev = raw


def stream_crashes(f: BinaryIO, *, os_hint: str | None = None) -> Iterator[Crash]:
    """Every crash in a binary stream, in order, found window by window."""
    window: list[Line] = []
    state = _StreamState()
    for line in read_lines(f):
        window.append(line)
        state.see(line)
        if len(window) >= WINDOW_LINES + CARRY_LINES:
            yield from state.emit(find_in_lines(window, os_hint=os_hint), window[-CARRY_LINES])
            window = window[-CARRY_LINES:]
    if window:
        yield from state.emit(find_in_lines(window, os_hint=os_hint), None)


class _StreamState:
    """What the windows already said: the last crash given, boot banners and orderly ends (an
    unexpected reboot is only one if no crash or orderly end came since the boot before). The
    lists keep the lines of the current window and the last one before it: bounded."""

    def __init__(self) -> None:
        self.given_end = 0
        self.last_given_start = 0
        self.banners: list[int] = []
        self.orderly: list[int] = []

    def see(self, line: Line) -> None:
        if line.text.startswith("Linux version ") and BOOT_BANNER.match(line.text):
            self.banners.append(line.number)
        elif ORDERLY_END.match(line.text.strip()):
            self.orderly.append(line.number)

    def emit(self, crashes: list[Crash], keep_from: Line | None) -> Iterator[Crash]:
        limit = keep_from.number if keep_from is not None else float("inf")
        for c in crashes:
            if c.start_line <= self.given_end or c.start_line >= limit:
                continue  # given already, or seen again whole in the next window
            if c.type is CrashType.REBOOT and self._explained(c.start_line):
                continue
            self.given_end = max(self.given_end, c.end_line)
            self.last_given_start = c.start_line
            yield c
        if keep_from is not None:
            self.banners = _trim(self.banners, keep_from.number)
            self.orderly = _trim(self.orderly, keep_from.number)

    def _explained(self, banner: int) -> bool:
        prev = max((b for b in self.banners if b < banner), default=0)
        last_orderly = max((o for o in self.orderly if o < banner), default=0)
        return self.last_given_start > prev or last_orderly > prev


def _trim(numbers: list[int], start: int) -> list[int]:
    """The line numbers from `start` on, and the last one before it."""
    before = [n for n in numbers if n < start]
    return [*before[-1:], *(n for n in numbers if n >= start)]


def retitle(crash: Crash) -> Crash:
    """Recompute the guilty frame and the title (after the frames changed)."""
    reporter = REPORTERS.get(crash.os)
    return reporter.retitle(crash) if reporter is not None else crash

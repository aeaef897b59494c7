"""Every crash in a console capture: the reporters read the text, their findings are merged in
order, and a report that two reporters both claim is kept once."""

from __future__ import annotations

from sis.harness.forensics.lines import split_lines
from sis.harness.forensics.model import Crash
from sis.harness.forensics.reporters import REPORTERS

#: os_hint values and the reporters they use: firmware runs before any kernel.
_BY_HINT = {
    "linux": ("firmware", "linux"),
    "qemu": ("firmware", "linux"),
    "sis": ("sis",),
    "sim": ("sis",),
    "firmware": ("firmware",),
}


def find_crashes(text: str, *, os_hint: str | None = None) -> list[Crash]:
    """Every crash in `text`, in order; [] for text that holds none. `os_hint` (linux, sis,
    firmware) limits the reporters; None (or an unknown one) tries them all."""
    lines = split_lines(text)
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


def retitle(crash: Crash) -> Crash:
    """Recompute the guilty frame and the title (after the frames changed)."""
    reporter = REPORTERS.get(crash.os)
    return reporter.retitle(crash) if reporter is not None else crash

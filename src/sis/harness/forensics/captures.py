"""The crashes of a run: every console and kernel-log capture under OUT/targets, each crash
stamped with its capture file and the time the capture was last written.

One boot may show one panic twice (the report on the console, its FATAL record in the kernel
log): a title seen in several captures of the same boot counts once (a corrupted copy too).
"""

from __future__ import annotations

import re
from pathlib import Path

from sis.harness.forensics.dedup import group_title
from sis.harness.forensics.find import find_crashes
from sis.harness.forensics.model import Crash

#: Captures the lab writes: NAME[.bootN].console.log and NAME[.bootN].kernel.log. QEMU's own
#: `qemu-*.log` logfiles hold the same bytes and are left out.
_CAPTURE = re.compile(r"^(?P<boot>.+)\.(?:console|kernel)\.log$")
MAX_CAPTURE_BYTES = 64 * 1024 * 1024


def capture_files(out_dir: Path) -> list[Path]:
    root = out_dir / "targets" if (out_dir / "targets").is_dir() else out_dir
    return sorted(
        p
        for p in root.rglob("*.log")
        if p.is_file() and _CAPTURE.match(p.name) and ".qemu-" not in p.name
    )


def run_crashes(out_dir: Path) -> list[Crash]:
    """Every crash in the captures of the run in `out_dir` (OUT, or OUT/targets)."""
    boots: dict[str, list[list[Crash]]] = {}
    for path in capture_files(out_dir):
        m = _CAPTURE.match(path.name)
        boot = str(path.parent / m.group("boot")) if m else str(path)
        with open(path, "rb") as f:
            text = f.read(MAX_CAPTURE_BYTES).decode("utf-8", "replace")
        mtime = path.stat().st_mtime
        found = find_crashes(text)
        for crash in found:
            crash.source = str(path)
            crash.seen = mtime
        boots.setdefault(boot, []).append(found)
    crashes: list[Crash] = []
    for captures in boots.values():
        # Per title, the capture that shows it most often (and most completely) speaks.
        titles = dict.fromkeys(group_title(c.title) for found in captures for c in found)
        for title in titles:
            best = max(
                ([c for c in found if group_title(c.title) == title] for found in captures),
                key=lambda cs: (len(cs), -sum(c.corrupted for c in cs)),
            )
            crashes.extend(best)
    crashes.sort(key=lambda c: (c.seen or 0.0, c.source, c.start_line))
    return crashes

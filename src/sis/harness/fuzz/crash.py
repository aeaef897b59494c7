"""What killed the kernel during a batch: a panic (titled by crash forensics, `KIND in FUNCTION`,
so the same bug always has the same title and a campaign's crashes group by it), a hang (no
answer in time), or a lost target (the process went away without a report)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sis.harness.session import Session

try:  # crash forensics titles crashes as syzkaller does; without it, the panic message does
    from sis.harness.forensics import find_crashes, group_title
except ImportError:  # pragma: no cover - forensics ships with the lab
    find_crashes = None

PANIC_MESSAGE = re.compile(r"^\s*Message:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class CrashInfo:
    kind: str  # "panic", "hang", "lost"
    title: str
    report: str = ""  # the crash report's text

    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.title)[:80].strip("_") or "crash"


def read_captures(session: Session) -> str:
    """The console and kernel-log captures of the current boot."""
    parts = []
    for kind in ("console", "kernel_log"):
        path = session.artifacts().get(kind)
        if path is not None:
            try:
                parts.append(Path(path).read_text(encoding="utf-8", errors="replace"))
            except OSError:
                pass
    return "\n".join(parts)


def identify(session: Session, kind: str, detail: str) -> CrashInfo:
    """Name the death seen in the session's captures; `kind`/`detail` when no report is there."""
    text = read_captures(session)
    crashes = find_crashes(text) if find_crashes is not None else []
    if crashes:
        # Grouped by `KIND in FUNCTION`: a report cut short by the death joins the whole ones.
        c = crashes[0]
        return CrashInfo("panic", group_title(c.title), c.text or text)
    m = PANIC_MESSAGE.search(text)
    if m and "KERNEL PANIC" in text:
        return CrashInfo("panic", f"KERNEL PANIC: {m.group(1).strip()}", text)
    return CrashInfo(kind, f"{kind}: {detail}", text[-4000:])

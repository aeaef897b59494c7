"""OOM kills in the soaked kernel's log, as they appear: events on the soak's timeline (the
kernel working as designed under memory pressure, never a verdict by themselves).

The log is read on from where the last look stopped, so a soak of days does not read its
whole log at every sample; the last lines are kept, because an OOM report spans many lines
and may be cut between two looks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sis.harness.forensics import find_oom_kills

if TYPE_CHECKING:
    from sis.harness.session import Session

KEPT_LINES = 200  # an OOM report's header to its `Killed process` line, with room to spare
READ_LIMIT = 4 << 20  # bytes read at one look: a flood of log lines is caught up over looks


class OomWatch:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._path: Path | None = None
        self._offset = 0
        self._kept: list[str] = []
        self._base = 0  # the line number (0-based) of _kept[0] in the boot's log
        self._reported = 0  # kills at lines up to this one were already said

    def new_kills(self) -> list[dict[str, Any]]:
        """Kills logged since the last call, as timeline records without `kind` and `segment`."""
        path = self.session.artifacts().get("kernel_log")
        if path is None:
            return []
        if path != self._path:  # a new boot: its own log, from its start
            self._path, self._offset, self._kept, self._base, self._reported = path, 0, [], 0, 0
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                data = f.read(READ_LIMIT)
        except OSError:
            return []
        whole = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        if not whole:
            return []
        self._offset += len(whole)
        lines = self._kept + whole.decode("utf-8", errors="replace").splitlines(keepends=True)
        boot = self.session.boots[-1] if self.session.boots else None
        out = []
        for kill in find_oom_kills("".join(lines)):
            at = self._base + kill.line
            if at <= self._reported:
                continue
            self._reported = at
            t = None
            if boot is not None and kill.uptime is not None:
                t = boot.started + kill.uptime
            out.append(
                {
                    "t": t,
                    "why": f"oom-kill: {kill.victim} (pid {kill.pid}, {kill.constraint})",
                    "oom_kill": kill.to_dict(),
                }
            )
        cut = max(0, len(lines) - KEPT_LINES)
        self._kept, self._base = lines[cut:], self._base + cut
        return out

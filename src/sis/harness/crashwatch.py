"""Crash watching for a Session: what a boot's captures say about how it died, and whether a
kernel that printed a crash pattern lived on (an oops that killed only one task).

Kept apart from the session's state machine: the session decides *when* to ask (a death
pattern seen, a command that timed out, a console that closed); this module reads the
captures and answers with the forensics view of the crash."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from sis.harness.console import ConsoleError, ConsoleTimeout
from sis.harness.forensics import Crash, find_crashes, find_oom_kills, outcome_crash
from sis.harness.targets.process import ProcessTarget

#: How much of a boot's capture is searched for its crash report (the end of it).
CRASH_SCAN_BYTES = 4 << 20
#: A crash report takes a moment to finish arriving after its first line.
CRASH_SETTLE_S = 0.3
#: A report is written line by line (a 60-line oops takes ~0.5 s at 115200 baud): it is over
#: when the serial lines have been quiet this long, or after REPORT_MAX_S.
REPORT_QUIET_S = 0.3
REPORT_MAX_S = 5.0
#: How long a shell that lived through an oops has to answer, and how many times it is asked.
SURVIVAL_PROBE_S = 5.0
SURVIVAL_PROBES = 3


class CrashWatch:
    def __init__(self, target: ProcessTarget) -> None:
        self.target = target
        # Crashes of this boot's captures already diagnosed, per capture: the next diagnosis
        # is the first one after them, not a follow-on warning the kernel printed later.
        self._diagnosed: dict[str, int] = {}

    def new_boot(self) -> None:
        self._diagnosed = {}

    def diagnose(self, artifacts: dict[str, str], how: str) -> dict[str, Any]:
        """The crash that ended a boot, from its captures (the kernel log first, then the
        console); a boot that went away or hung without a report gets the lab's outcome."""
        hint = "sis" if self.target.profile.kind == "sim" else None
        for kind in ("kernel_log", "console"):
            crashes = find_crashes(_read_tail(artifacts.get(kind)), os_hint=hint)
            if crashes:
                first_new = min(self._diagnosed.get(kind, 0), len(crashes) - 1)
                self._diagnosed[kind] = len(crashes)
                return crash_view(crashes[first_new])
        if how == "hung":
            return crash_view(outcome_crash("hang", "a command did not finish"))
        if how == "gone":
            return crash_view(outcome_crash("lost", "the target went away without a report"))
        return {}

    def events(self, artifacts: dict[str, str]) -> list[dict[str, Any]]:
        """What the kernel did by design in a boot's captures: its OOM kills (the kernel log
        if the boot has one, else the console)."""
        source = artifacts.get("kernel_log") or artifacts.get("console")
        return [kill.to_dict() for kill in find_oom_kills(_read_tail(source))]

    def settle(self) -> None:
        """The rest of a report is still on its way after its first line."""
        time.sleep(CRASH_SETTLE_S)

    def survived(self) -> bool:
        """After a crash pattern: did the kernel live on (an oops that killed only the task)?
        Not if the process ended, the machine reported a panic, or the shell does not answer."""
        self._await_quiet()
        target = self.target
        qmp = target.qmp
        if not target.alive() or (
            qmp is not None and any(ev.name == "GUEST_PANICKED" for ev in qmp.events)
        ):
            return False
        for con in (target.console, target.log_console):
            if con is not None:
                con.clear_death()
        # More than once: when the oops killed the shell itself, the first probe goes (whole or
        # in part) to a tty nobody reads, and the shell init starts in its place answers a
        # later one (on a busy host init may take more than one probe's time to start it).
        for _ in range(SURVIVAL_PROBES):
            try:
                probe = target.run("echo sis-alive", timeout=SURVIVAL_PROBE_S)
            except ConsoleTimeout:
                continue
            except ConsoleError:
                return False
            if target.death() is not None:
                return False
            if probe.output.strip().endswith("sis-alive"):
                return True
        return False

    def _await_quiet(self) -> None:
        """Wait for the end of a report still arriving: its later lines (`Call Trace:`) must
        not count as a second death once the first is cleared."""
        captures = [
            con.capture_path
            for con in (self.target.console, self.target.log_console)
            if con is not None and con.capture_path is not None
        ]
        deadline = time.monotonic() + REPORT_MAX_S
        sizes: list[int] = []
        while time.monotonic() < deadline:
            time.sleep(REPORT_QUIET_S)
            now = [_size(p) for p in captures]
            if now == sizes:
                return
            sizes = now


def crash_view(crash: Crash) -> dict[str, Any]:
    """What results and reports keep of a crash."""
    return {
        "type": str(crash.type),
        "title": crash.title,
        "frame": crash.frame or "",
        "corrupted": crash.corrupted,
        "text": crash.text,
    }


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _read_tail(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - CRASH_SCAN_BYTES))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""

"""The crash-forensics job of `sis selftest`: walk the reference kernel's TTY ioctls from its
shell (`syscall ioctl 0 REQUEST 0`) and, when one kills the kernel, FAIL with the crash as
forensics parsed it: its title names the guilty function (contract section 9, the planted bug
`null_deref_ioctl`). A kernel that answers every request, with a result or an error, PASSes.

A crash that forensics could not title (no report, no guilty frame) is a FAIL too, saying so:
the job is about the report as much as about the crash."""

from __future__ import annotations

import time

from sis.contract.syscalls import NR, TCGETS, TIOCGETD, TIOCGPGRP, TIOCGWINSZ
from sis.harness.console import ConsoleError
from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session, TargetDied
from sis.harness.targets.base import TargetError

JOB = "crash/forensics"
#: The read-only requests a TTY answers, by name (their argument is left NULL: EFAULT at worst).
REQUESTS: dict[str, int] = {
    "TCGETS": TCGETS,
    "TIOCGPGRP": TIOCGPGRP,
    "TIOCGWINSZ": TIOCGWINSZ,
    "TIOCGETD": TIOCGETD,
}


def probe_crashes(session: Session) -> TestResult:
    """One verdict: FAIL `kernel crashed in ioctl NAME: TITLE` for the first request that
    crashes the kernel, else PASS."""
    started = time.monotonic()

    def result(verdict: str, reason: str, crash: dict | None = None) -> TestResult:
        duration = time.monotonic() - started
        return TestResult(
            target=session.name, preset=session.preset, suite="selftest", test=JOB,
            verdict=verdict, reason=reason, duration_s=duration, started=time.time() - duration,
            artifacts={k: str(v) for k, v in session.artifacts().items()}, crash=crash or {},
        )  # fmt: skip

    name = ""
    try:
        session.ensure_shell()
        for name in REQUESTS:  # `name` says which request crashed the kernel
            session.run(f"syscall {NR['ioctl']} 0 {REQUESTS[name]:#x} 0")
    except TargetDied as e:
        crash = e.crash
        if not crash.get("frame"):
            what = crash.get("title") or str(e)
            return result(FAIL, f"kernel crashed in ioctl {name}, no guilty frame: {what}", crash)
        return result(FAIL, f"kernel crashed in ioctl {name}: {crash['title']}", crash)
    except (ConsoleError, TargetError) as e:
        return result(ERROR, f"lab error: {e}")
    return result(PASS, f"no crash in {len(REQUESTS)} TTY ioctls")

"""The crash-forensics job of `sis selftest`: call every ioctl request the syscall descriptions
declare, on a descriptor of each kind of file a description takes (the console TTY, a regular
file, the root disk, a socket), and, when one kills the kernel, FAIL with the crash as
forensics parsed it: its title names the guilty function. A kernel that answers every request,
with a result or an error, PASSes.

Nothing here knows which request might be broken: the requests and the files they go to come
from `sis.contract.syscall_args`, the same descriptions the fuzzer reads. A request that writes
its argument gets a scratch buffer; one that reads it gets NULL (EFAULT at worst), so that
probing never changes the console's settings under the lab's feet.

On a target with the SIS syscall channel (QMP `x-sis-syscall`) every kind of file is probed;
elsewhere the shell's `syscall` program reaches the console's descriptor only, and the verdict
says how many requests that was. A crash that forensics could not title (no report, no guilty
frame) is a FAIL too, saying so: the job is about the report as much as about the crash."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sis.contract.syscall_args import DESCRIPTIONS, Choice, Res
from sis.contract.syscalls import (
    AF_INET,
    AT_FDCWD,
    IOCTL_BY_NR,
    NR,
    O_CREAT,
    O_RDONLY,
    O_RDWR,
    SOCK_DGRAM,
)
from sis.harness.console import ConsoleError
from sis.harness.qmp import QMPError
from sis.harness.results import ERROR, FAIL, PASS, TestResult
from sis.harness.session import Session, TargetDied
from sis.harness.targets.base import TargetError

JOB = "crash/forensics"
BATCH_TIMEOUT_S = 10.0
PROBE_FILE = "/crash-probe"
CONSOLE_FD = 0
_MASK64 = (1 << 64) - 1


def _cstr(text: str) -> str:
    return (text.encode() + b"\0").hex()


#: How to get a descriptor of each resource the ioctl descriptions take (None: the console's
#: own descriptor, which every program has).
OPENERS: dict[str, dict | None] = {
    "fd": None,
    "tty": None,
    "file": {"nr": NR["openat"], "args": [AT_FDCWD & _MASK64, "@data", O_RDWR | O_CREAT, 0o644],
             "data": _cstr(PROBE_FILE)},
    "blk": {"nr": NR["openat"], "args": [AT_FDCWD & _MASK64, "@data", O_RDONLY, 0],
            "data": _cstr("/dev/vda")},
    "sock": {"nr": NR["socket"], "args": [AF_INET, SOCK_DGRAM, 0]},
}  # fmt: skip


@dataclass(frozen=True)
class Probe:
    resource: str  # the kind of descriptor
    request: int

    @property
    def name(self) -> str:
        known = IOCTL_BY_NR.get(self.request)
        return known.name if known else f"{self.request:#x}"

    @property
    def writes_argument(self) -> bool:
        known = IOCTL_BY_NR.get(self.request)
        return known is not None and known.arg in ("out", "none")


def probes() -> list[Probe]:
    """Every (kind of descriptor, request) the descriptions declare, each once."""
    out: list[Probe] = []
    for d in DESCRIPTIONS.values():
        if d.base != "ioctl" or d.unsafe:
            continue
        fd, request = d.args[0], d.args[1]
        if not isinstance(fd, Res) or not isinstance(request, Choice):
            continue
        for nr in request.values:
            p = Probe(fd.resource, nr)
            if p not in out:
                out.append(p)
    return out


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

    probe: Probe | None = None
    try:
        session.ensure_shell()
        channel = "sis_contract" in session.capabilities and session.qmp is not None
        todo = probes() if channel else [p for p in probes() if OPENERS[p.resource] is None]
        skipped: set[int] = set()  # requests on a kind of file this target cannot open
        for probe in todo:  # `probe` says which request crashed the kernel
            if channel:
                if not _through_channel(session, probe):
                    skipped.add(probe.request)
            else:
                session.run(f"syscall {NR['ioctl']} {CONSOLE_FD} {probe.request:#x} 0")
    except TargetDied as e:
        return _crashed(result, probe, e)
    except (ConsoleError, TargetError, QMPError) as e:
        return result(ERROR, f"lab error: {e}")
    if not todo:
        return result(ERROR, "no ioctl request could be probed")
    where = "on every kind of file" if channel else "on the console (no syscall channel)"
    return result(PASS, f"no crash in {len(todo) - len(skipped)} ioctl probes {where}")


def _through_channel(session: Session, probe: Probe) -> bool:
    """One batch: open the descriptor, then the request. False when the descriptor could not be
    opened (a target without a disk or a network). Raises TargetDied if the kernel died."""
    opener = OPENERS[probe.resource]
    calls = [opener] if opener is not None else []
    fd: int | str = "@ret:0" if opener is not None else CONSOLE_FD
    argp: int | str = "@scratch" if probe.writes_argument else 0
    calls.append({"nr": NR["ioctl"], "args": [fd, probe.request, argp]})
    qmp = session.qmp
    assert qmp is not None
    command = f"ioctl {probe.name} on a {probe.resource}"
    try:
        r = qmp.execute(
            "x-sis-syscall",
            {"calls": calls, "timeout": BATCH_TIMEOUT_S},
            timeout=BATCH_TIMEOUT_S + 5,
        )
    except (QMPError, OSError, EOFError):
        session.await_crash(command)  # raises TargetDied when the kernel died of it
        raise
    results = r.get("results", []) if isinstance(r, dict) else []
    if isinstance(r, dict) and r.get("status") not in (None, "running"):
        session.await_crash(command)
    if not session.alive():
        session.await_crash(command)
    return not (opener is not None and (not results or results[0].get("ret", -1) < 0))


def _crashed(result, probe: Probe | None, e: TargetDied) -> TestResult:  # noqa: ANN001
    crash = e.crash
    name = probe.name if probe else "?"
    if not crash.get("frame"):
        what = crash.get("title") or str(e)
        return result(FAIL, f"kernel crashed in ioctl {name}, no guilty frame: {what}", crash)
    return result(FAIL, f"kernel crashed in ioctl {name}: {crash['title']}", crash)

"""Executor channels: how a batch of programs reaches a kernel and its results come back.

`QmpChannel` drives the reference kernel's `x-sis-syscall` executor (one QMP round trip per
batch of programs) and, with coverage on, `x-sis-kcov`. A batch that kills the kernel comes
back as a CrashInfo; the channel then restarts the target (through its Session) so the next
batch finds a fresh kernel."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Protocol

from sis.contract.syscall_args import DESCRIPTIONS
from sis.contract.syscalls import AT_FDCWD
from sis.harness.fuzz.crash import CrashInfo, identify
from sis.harness.fuzz.program import Call, Program, to_wire
from sis.harness.qmp import QMPError
from sis.harness.session import Session, State

#: A blocked call is abandoned after this long (it returns EINTR).
CALL_TIMEOUT = 0.001
#: A batch with no answer after this long (plus its calls' own allowance) is a hang.
BATCH_TIMEOUT = 10.0


@dataclass
class BatchResult:
    #: per program, per call: {"ret": int, "errno"?: str, "cover"?: [int]}
    results: list[list[dict]] = field(default_factory=list)
    crash: CrashInfo | None = None
    seconds: float = 0.0
    #: with a crash: (program, call) that was running when the kernel died, when known
    crash_at: tuple[int, int] | None = None
    #: the executor process ended the batch early without the kernel dying (a program
    #: killed it, or blocked past the batch timeout): how, for the record
    executor_status: str = ""


class Channel(Protocol):
    arch: str

    def start(self) -> None: ...
    def run(self, programs: list[Program]) -> BatchResult: ...
    def restart(self) -> None: ...
    def stop(self) -> None: ...


class QmpChannel:
    """The reference kernel's QMP syscall executor."""

    arch = "sis"

    def __init__(self, session: Session, *, cover: bool = False) -> None:
        self.session = session
        self.cover = cover
        self.numbers = {n: d.numbers["sis"] for n, d in DESCRIPTIONS.items()}
        self.batches = 0

    def start(self) -> None:
        self.session.ensure_shell()
        if self.session.qmp is None:
            raise QMPError(f"{self.session.name} has no QMP monitor to run syscalls through")
        if self.cover:
            self.session.qmp.execute("x-sis-kcov", {"enable": True}, timeout=10)

    def restart(self) -> None:
        self.session.restart()
        self.start()

    def stop(self) -> None:
        """Done with the channel (the session belongs to its job, which powers it off)."""
        if self.cover and self.session.qmp is not None and self.session.alive():
            with contextlib.suppress(QMPError):
                self.session.qmp.execute("x-sis-kcov", {"enable": False}, timeout=5)

    def run(self, programs: list[Program]) -> BatchResult:
        # Every batch starts in a new empty directory (as syzkaller runs each program in a
        # fresh temporary directory): the files earlier batches made do not change what this
        # one does, so a reproducer does the same on any boot of the same disk.
        self.batches += 1
        workdir = f"/fz-{os.getpid()}-{self.batches}-{secrets.token_hex(3)}\0".encode()
        prefix = Program(
            [
                Call("mkdirat", [AT_FDCWD, "@data", 0o755], workdir),
                Call("chdir", ["@data"], workdir),
            ]
        )
        calls, starts = to_wire([prefix, *programs], self.numbers)
        qmp = self.session.qmp
        started = time.perf_counter()
        timeout = BATCH_TIMEOUT + CALL_TIMEOUT * len(calls)
        args = {"calls": calls, "timeout": timeout, "call-timeout": CALL_TIMEOUT}
        try:
            if qmp is None:
                raise QMPError("no QMP monitor")
            reply = qmp.execute("x-sis-syscall", args, timeout=timeout + 5)
        except QMPError as e:
            return BatchResult(crash=self._death(str(e)), seconds=time.perf_counter() - started)
        out = BatchResult(seconds=time.perf_counter() - started)
        results = reply.get("results", [])
        ends = starts[1:] + [len(calls)]
        out.results = [results[a:b] for a, b in zip(starts, ends, strict=True)][1:]
        starts = starts[1:]
        if reply.get("status") != "running":
            out.crash = self._death(f"status {reply.get('status')} after the batch")
            # The executor answers with the results of the calls that returned: the next
            # one is the call the kernel died in.
            died = len(results)
            if starts[0] <= died < len(calls):
                p = max(i for i, s in enumerate(starts) if s <= died)
                out.crash_at = (p, died - starts[p])
        return out

    def _death(self, detail: str) -> CrashInfo:
        time.sleep(0.3)  # the panic report may still be arriving
        state = self.session.state
        if state is State.CRASHED:
            return identify(self.session, "panic", detail)
        if "did not finish" in detail or "no answer" in detail:
            return identify(self.session, "hang", "the batch did not finish in time")
        if not self.session.alive():
            return identify(self.session, "lost", "the kernel went away")
        return identify(self.session, "lost", detail)

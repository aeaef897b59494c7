"""The task struct: one schedulable thread of execution with its own user address space,
file table, registers and signal state. Tasks are coroutines; they leave the CPU only by
trapping (a syscall that blocks, a yield, or exit)."""

from __future__ import annotations

import enum
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGSEGV, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP = (
    1,
    2,
    3,
    9,
    11,
    15,
    17,
    18,
    19,
)
SIGNAL_NAMES = {
    1: "HUP",
    2: "INT",
    3: "QUIT",
    4: "ILL",
    5: "TRAP",
    6: "ABRT",
    7: "BUS",
    8: "FPE",
    9: "KILL",
    10: "USR1",
    11: "SEGV",
    12: "USR2",
    13: "PIPE",
    14: "ALRM",
    15: "TERM",
    17: "CHLD",
    18: "CONT",
    19: "STOP",
    20: "TSTP",
}
NSIG = 64
# Signals whose default action is to ignore them.
DEFAULT_IGNORED = frozenset({SIGCHLD, SIGCONT, 23, 28})


def signal_number(name: str) -> int | None:
    """'9', 'KILL', 'SIGKILL' -> 9; None if unknown."""
    name = name.upper().removeprefix("SIG")
    if name.isdigit():
        return int(name)
    for num, n in SIGNAL_NAMES.items():
        if n == name:
            return num
    return None


class TaskState(enum.Enum):
    RUNNABLE = "R"
    RUNNING = "R+"
    SLEEPING = "S"
    ZOMBIE = "Z"


class TaskExit(BaseException):
    """Thrown into a task's coroutine to end it (exit() or a fatal signal). A BaseException
    so that user code catching Exception cannot swallow it."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


REG_NAMES = tuple(f"x{i}" for i in range(31)) + ("sp", "pc", "pstate")


@dataclass
class Registers:
    """AArch64-style register file: x8 carries the syscall number, x0-x5 the arguments,
    x0 the result."""

    x: list[int] = field(default_factory=lambda: [0] * 31)
    sp: int = 0
    pc: int = 0
    pstate: int = 0

    def as_dict(self) -> dict[str, int]:
        out = {f"x{i}": v for i, v in enumerate(self.x)}
        out.update(sp=self.sp, pc=self.pc, pstate=self.pstate)
        return out


@dataclass(eq=False)
class Task:
    pid: int
    name: str
    coro: Coroutine[Any, Any, int] | None
    ppid: int = 0
    pgid: int = 0
    argv: list[str] = field(default_factory=list)
    state: TaskState = TaskState.RUNNABLE
    cpu: int = 0
    regs: Registers = field(default_factory=Registers)
    exit_status: int | None = None
    pending: set[int] = field(default_factory=set)
    ignored: set[int] = field(default_factory=set)
    wait_channel: str = ""
    start_ns: int = 0
    cpu_ns: int = 0
    switches: int = 0
    kernel_thread: bool = False
    # Set by the kernel when it creates the task: address space, file table, cwd, heap objects.
    mm: Any = None
    files: Any = None
    cwd: Any = None
    kobjs: list[int] = field(default_factory=list)
    # Scheduler bookkeeping.
    resume_value: Any = None
    resume_exc: BaseException | None = None
    slice_start_ns: int = 0
    wait_token: Any = None
    # Coverage of this task's kernel work (sis.kernel.kcov.Coverage), on while a fuzzer asks.
    kcov: Any = None

    @property
    def alive(self) -> bool:
        return self.state is not TaskState.ZOMBIE

    def fatal_signal(self) -> int | None:
        """A pending signal whose action is to terminate the task, if any."""
        for sig in sorted(self.pending):
            if sig in (SIGKILL, SIGSTOP):
                return sig
            if sig not in self.ignored and sig not in DEFAULT_IGNORED:
                return sig
        return None

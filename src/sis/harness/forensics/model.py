"""The crash model: what one kernel death (or one survived kernel error) looks like once parsed.

A `Crash` is plain data: its kind (`CrashType`), a normalized title that is the same every
time the same bug is hit (no addresses, no PIDs, no timestamps), the guilty frame, the call
trace, registers, taint, modules, kernel version, and the raw text with its span in the
capture. `to_dict()`/`from_dict()` give the JSON shape that `sis crash parse --json` prints and
that reports store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields, replace
from typing import Any


class CrashType(enum.StrEnum):
    PANIC = "panic"  # Kernel panic - not syncing: ... (nothing worse before it)
    OOPS = "oops"  # an oops of no more specific kind (divide error, invalid opcode, ...)
    BUG = "BUG"  # BUG()/kernel BUG at ..., BUG: <something>
    WARNING = "WARNING"
    GPF = "general protection fault"
    NULL_DEREF = "NULL pointer dereference"
    PAGE_FAULT = "page fault"  # a bad kernel address other than NULL
    HUNG_TASK = "hung task"
    SOFT_LOCKUP = "soft lockup"
    HARD_LOCKUP = "hard lockup"
    RCU_STALL = "RCU stall"
    KASAN = "KASAN"
    UBSAN = "UBSAN"
    LEAK = "memory leak"  # kmemleak: an object no pointer refers to any more
    LOCKDEP = "lockdep"  # a locking rule broken (possible deadlock, bad unlock balance, ...)
    REBOOT = "unexpected reboot"  # a new boot with no report and no orderly shutdown before it
    #: Kept so that results written before OOM kills became events still load; an OOM kill is
    #: an event (sis.harness.forensics.oom), and a panic on OOM is a PANIC.
    OOM = "out of memory"
    SIS_PANIC = "SIS panic"
    FIRMWARE_ABORT = "firmware abort"
    LOST = "lost connection"  # the machine went away without a report
    HANG = "hang"  # no output at all for too long


@dataclass(frozen=True)
class Frame:
    """One call-trace frame: `function+0xoffset/0xsize [module]`, or a bare address."""

    function: str = ""  # "" when only the address is known
    offset: int | None = None
    size: int | None = None
    module: str = ""  # "" for the kernel image itself
    address: int | None = None
    reliable: bool = True  # False for x86 `?` frames (stale stack words)
    file: str = ""  # from debug info, after symbolization
    line: int | None = None

    def __str__(self) -> str:
        if self.function:
            s = self.function
            if self.offset is not None:
                s += f"+{self.offset:#x}"
                if self.size is not None:
                    s += f"/{self.size:#x}"
        else:
            s = f"{self.address:#018x}" if self.address is not None else "?"
        if self.module:
            s += f" [{self.module}]"
        if self.file:
            s += f" {self.file}:{self.line}" if self.line is not None else f" {self.file}"
        if not self.reliable:
            s = "? " + s
        return s

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Frame:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Crash:
    """One crash found in a console capture."""

    type: CrashType
    title: str
    frame: str | None = None  # the guilty function
    frames: list[Frame] = field(default_factory=list)  # innermost first, reliable and not
    registers: dict[str, int] = field(default_factory=dict)
    taint: str = ""  # "" when not tainted (or not said), else the flags, e.g. "G W O"
    modules: list[str] = field(default_factory=list)
    kernel_version: str = ""
    corrupted: bool = False
    corrupted_reason: str = ""
    start_line: int = 0  # 1-based, inclusive span of the report in the capture
    end_line: int = 0
    text: str = ""
    os: str = ""  # the reporter that found it: linux, sis, firmware, lab
    arch: str = ""  # x86_64, arm64, ... when the text says
    message: str = ""  # the panic message, the BUG text, ... as printed
    fatal: bool = False  # the kernel stopped (panic, halt, firmware reset), not just an oops
    kernel_offset: int | None = None  # KASLR offset from `Kernel Offset:`, for symbolizing
    format: str = ""  # which format of the reporter matched (to retitle after symbolizing)
    title_args: dict[str, str] = field(default_factory=dict)  # what the title is built from
    register_symbols: dict[str, str] = field(default_factory=dict)  # after symbolizing
    source: str = ""  # the capture file, when known
    seen: float | None = None  # when it happened (epoch seconds), when known

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "frames":
                v = [fr.to_dict() for fr in v]
            elif f.name == "type":
                v = str(v)
            elif f.name == "registers":
                v = {k: f"{x:#x}" for k, x in v.items()}
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Crash:
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["type"] = CrashType(kw["type"])
        kw["frames"] = [Frame.from_dict(x) for x in kw.get("frames", [])]
        kw["registers"] = {k: int(str(v), 0) for k, v in kw.get("registers", {}).items()}
        return cls(**kw)

    def with_(self, **changes: Any) -> Crash:
        return replace(self, **changes)


def outcome_crash(kind: str, detail: str = "", *, text: str = "") -> Crash:
    """A death that left no report: `lost` (the machine or its connection went away) or `hang`
    (no output for too long). Titles are fixed so such deaths group together."""
    if kind == "lost":
        return Crash(
            CrashType.LOST, "lost connection to test machine", message=detail, text=text, os="lab"
        )
    if kind == "hang":
        return Crash(
            CrashType.HANG, "no output from test machine", message=detail, text=text, os="lab"
        )
    raise ValueError(f"unknown outcome {kind!r} (lost or hang)")

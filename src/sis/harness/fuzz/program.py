"""A fuzz program: a short list of syscalls whose arguments are integers or references (the
executor's wire syntax: `@data`, `@scratch+N`, `@ret:K` for what call K of the same program
returned). Programs are data: JSON in the corpus and in reproducers, a readable listing in
reports, and calls in an executor batch."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from sis.contract.syscall_args import DESCRIPTIONS

Value = int | str
_RET = re.compile(r"^@ret:(\d+)$")


@dataclass
class Call:
    name: str
    args: list[Value] = field(default_factory=list)
    data: bytes | None = None  # what `@data` points at

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "args": list(self.args)}
        if self.data is not None:
            out["data"] = self.data.hex()
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Call:
        data = d.get("data")
        return cls(str(d["name"]), list(d.get("args", [])), bytes.fromhex(data) if data else None)

    def copy(self) -> Call:
        return Call(self.name, list(self.args), self.data)


def ret_ref(value: Value) -> int | None:
    """The call index a `@ret:K` argument refers to, else None."""
    if isinstance(value, str):
        m = _RET.match(value)
        if m:
            return int(m.group(1))
    return None


@dataclass
class Program:
    calls: list[Call] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.calls)

    def copy(self) -> Program:
        return Program([c.copy() for c in self.calls])

    def to_json(self) -> str:
        return json.dumps({"calls": [c.to_dict() for c in self.calls]}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Program:
        try:
            raw = json.loads(text)
            prog = cls([Call.from_dict(c) for c in raw["calls"]])
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"not a fuzz program: {e}") from None
        for i, c in enumerate(prog.calls):
            if c.name not in DESCRIPTIONS:
                raise ValueError(f"call {i}: unknown syscall {c.name!r}")
            for a in c.args:
                k = ret_ref(a)
                if k is not None and k >= i:
                    raise ValueError(f"call {i} ({c.name}) refers to later call {k}")
        return prog

    def hash(self) -> str:
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]

    def remove(self, index: int) -> Program:
        """Without call `index`: references to it become -1 (a bad descriptor), later ones move."""
        out = Program()
        for i, c in enumerate(self.calls):
            if i == index:
                continue
            new = c.copy()
            new.args = [_shift_removed(a, index) for a in c.args]
            out.calls.append(new)
        return out

    def insert(self, index: int, call: Call) -> Program:
        """With `call` at `index` (its own references must point before `index`)."""
        out = Program()
        for i, c in enumerate(self.calls):
            if i == index:
                out.calls.append(call.copy())
            new = c.copy()
            if i >= index:
                new.args = [_shift_inserted(a, index) for a in c.args]
            out.calls.append(new)
        if index >= len(self.calls):
            out.calls.append(call.copy())
        return out

    def listing(self) -> str:
        """syzkaller-style text: `r0 = openat(0xffffffffffffff9c, &"/fz0", 0x42, 0x1a4)`."""
        used = {k for c in self.calls for a in c.args if (k := ret_ref(a)) is not None}
        lines = []
        for i, c in enumerate(self.calls):
            args = ", ".join(_show(a, c.data) for a in c.args)
            lhs = f"r{i} = " if i in used else ""
            lines.append(f"{lhs}{c.name}({args})")
        return "\n".join(lines)


def _shift_removed(a: Value, index: int) -> Value:
    k = ret_ref(a)
    if k is None:
        return a
    if k == index:
        return -1
    return f"@ret:{k - 1}" if k > index else a


def _shift_inserted(a: Value, index: int) -> Value:
    k = ret_ref(a)
    return f"@ret:{k + 1}" if k is not None and k >= index else a


def _show(a: Value, data: bytes | None) -> str:
    if isinstance(a, int):
        return hex(a) if a >= 0 else f"-{hex(-a)}"
    k = ret_ref(a)
    if k is not None:
        return f"r{k}"
    if a.startswith("@data") and data is not None:
        text = data.rstrip(b"\0").decode("latin-1")
        printable = text.isascii() and text.isprintable() and len(text) < 80
        shown = json.dumps(text) if printable else f"<{len(data)} bytes>"
        return "&" + shown + a[5:]
    return "&" + a[1:]


def to_wire(programs: list[Program], numbers: dict[str, int]) -> tuple[list[dict], list[int]]:
    """The executor batch for `programs` run one after the other, and where each starts.
    `numbers` maps names to the target architecture's syscall numbers."""
    calls: list[dict] = []
    starts: list[int] = []
    for p in programs:
        base = len(calls)
        starts.append(base)
        for c in p.calls:
            args = [f"@ret:{k + base}" if (k := ret_ref(a)) is not None else a for a in c.args]
            wire: dict[str, Any] = {"nr": numbers[c.name], "args": args}
            if c.data is not None:
                wire["data"] = c.data.hex()
            calls.append(wire)
    return calls, starts


def concat(programs: list[Program]) -> Program:
    """One program running `programs` in turn (their references rebased)."""
    out = Program()
    for p in programs:
        base = len(out.calls)
        for c in p.calls:
            new = c.copy()
            new.args = [f"@ret:{k + base}" if (k := ret_ref(a)) is not None else a for a in c.args]
            out.calls.append(new)
    return out

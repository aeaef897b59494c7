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
# The executor's other references: its input bytes and its scratch buffer, at an offset.
_POINTER = re.compile(r"^@(?:data|scratch)(?:\+\d{1,9})?$")
_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
#: What one program may hold: a whole crashing batch (minimization replays one as a program).
MAX_CALLS = 4096
MAX_ARGS = 6  # a syscall's registers
MAX_DATA = 16 << 20


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


def program_problem(raw: object) -> str | None:
    """What makes `raw` (a decoded JSON document) not a program, or None if it is one: an object
    with `calls`, a list of {name, args, data} where `name` is a known syscall, `args` up to six
    integers or executor references (`@data[+N]`, `@scratch[+N]`, `@ret:K` for an earlier
    call K) and `data` hex bytes."""
    if not isinstance(raw, dict) or not isinstance(raw.get("calls"), list):
        return 'expected an object {"calls": [...]}'
    calls = raw["calls"]
    if len(calls) > MAX_CALLS:
        return f"{len(calls)} calls, more than {MAX_CALLS}"
    for i, c in enumerate(calls):
        if not isinstance(c, dict):
            return f"call {i} is not an object"
        name = c.get("name")
        if not isinstance(name, str):
            return f"call {i} has no syscall name"
        if name not in DESCRIPTIONS:
            return f"call {i}: unknown syscall {name[:64]!r}"
        args = c.get("args", [])
        if not isinstance(args, list) or len(args) > MAX_ARGS:
            return f"call {i} ({name}): 'args' is not a list of at most {MAX_ARGS} values"
        for j, a in enumerate(args):
            if isinstance(a, int) and not isinstance(a, bool):
                continue
            if not isinstance(a, str) or not (_RET.match(a) or _POINTER.match(a)):
                return (
                    f"call {i} ({name}) argument {j}: {json.dumps(a)[:64]} is neither an "
                    "integer nor @data, @scratch or @ret:K"
                )
            k = ret_ref(a)
            if k is not None and k >= i:
                return f"call {i} ({name}) refers to later call {k}"
        data = c.get("data")
        if data is not None and not (
            isinstance(data, str) and len(data) <= 2 * MAX_DATA and _HEX.match(data)
        ):
            return f"call {i} ({name}): 'data' is not hex bytes (at most {MAX_DATA})"
    return None


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
        """The program in `text`; ValueError with one line saying what is wrong if it is not
        one (checked whole before anything runs it)."""
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise ValueError(f"not a fuzz program: not JSON ({e})") from None
        problem = program_problem(raw)
        if problem is not None:
            raise ValueError(f"not a fuzz program: {problem}")
        return cls([Call.from_dict(c) for c in raw["calls"]])

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

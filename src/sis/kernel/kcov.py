"""Kernel code coverage for fuzzers (Linux's KCOV, per task): while a task with coverage on is on
a CPU, every line transition it makes in kernel code is recorded as an edge.

The kernel is Python, so a "program counter" is a source line and an edge is a pair of lines in
one function; the tracer runs only during the traced task's time slices (the scheduler turns it
on around each slice), so other tasks' work never shows up. User-space code (the shell's
programs, the QMP executor itself) is not kernel code and is skipped.

Edge ids are stable across kernel processes (CRC of the module path and function name, mixed
with the two lines), so a fuzzer can keep its coverage across reboots."""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

_KERNEL_DIR = str(Path(__file__).resolve().parent)
#: Kernel-side directories that are not kernel code for coverage purposes.
_SKIPPED = (f"{_KERNEL_DIR}/shell/", f"{_KERNEL_DIR}/qmp/", __file__)

#: code object -> its function's stable id (0: not kernel code)
_FUNCTIONS: dict[CodeType, int] = {}


def _function_id(code: CodeType) -> int:
    fid = _FUNCTIONS.get(code)
    if fid is None:
        name = code.co_filename
        if not name.startswith(_KERNEL_DIR) or name.startswith(_SKIPPED):
            fid = 0
        else:
            rel = name[len(_KERNEL_DIR) + 1 :]
            fid = zlib.crc32(f"{rel}:{code.co_qualname}".encode()) or 1
        _FUNCTIONS[code] = fid
    return fid


class Coverage:
    """The edges one task reached since `reset()`."""

    def __init__(self) -> None:
        self.edges: set[int] = set()
        self._saved: Any = None

    def reset(self) -> set[int]:
        """The edges so far; starts a new collection."""
        edges, self.edges = self.edges, set()
        return edges

    def _call(self, frame: FrameType, event: str, arg: Any) -> Any:
        fid = _function_id(frame.f_code)
        if not fid:
            return None
        edges = self.edges
        prev = frame.f_lineno
        mix = (fid * 0x9E3779B1) & 0xFFFFFFFF

        def line(frame: FrameType, event: str, arg: Any) -> Any:
            nonlocal prev
            if event == "line":
                here = frame.f_lineno
                edges.add(mix ^ (prev << 16) ^ here)
                prev = here
            return line

        edges.add(mix ^ prev)  # entering (or resuming) the function is a location too
        return line

    def start(self) -> None:
        """Around a time slice of the traced task (the scheduler calls it)."""
        self._saved = sys.gettrace()
        sys.settrace(self._call)

    def stop(self) -> None:
        sys.settrace(self._saved)
        self._saved = None

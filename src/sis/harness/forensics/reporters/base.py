"""What every reporter shares: the reporter interface, title normalization and the choice of
the guilty frame by skipping common frames (the panic machinery, exception entry, locking,
scheduling, memory helpers: frames that are on the stack of every crash of a kind and so name
no bug)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sis.harness.forensics.lines import Line
from sis.harness.forensics.model import Crash, Frame


class Reporter(Protocol):
    os: str

    def parse(self, lines: Sequence[Line]) -> list[Crash]:
        """Every crash in the capture, in order."""
        ...

    def retitle(self, crash: Crash) -> Crash:
        """The crash with its guilty frame and title recomputed from its (new) frames."""
        ...


# Compiler-made clones name the same source function: `foo.cold`, `foo.isra.0`, ...
_CLONE_SUFFIX = re.compile(r"(?:\.(?:cold|isra|constprop|part|lto_priv|llvm|clone)(?:\.\d+)?)+$")
_OFFSET = re.compile(r"\+0x[0-9a-f]+(?:/0x[0-9a-f]+)?")
_HEX = re.compile(r"\b(?:0x)?([0-9a-f]{5,16})\b")
_TASK = re.compile(r"\[([^\]\s:]+):\d+\]")


def span_of(lines: Sequence[Line]) -> dict[str, Any]:
    """Where a report stands in its capture, and its raw text: the Crash fields every reporter
    fills from the lines it kept."""
    return {
        "start_line": lines[0].number,
        "end_line": lines[-1].number,
        "text": "\n".join(ln.raw for ln in lines),
    }


def clean_function(name: str) -> str:
    return _CLONE_SUFFIX.sub("", name)


def normalize_message(text: str) -> str:
    """A message made stable across runs: no offsets, addresses or PIDs, one space."""
    text = _OFFSET.sub("", text)
    text = _TASK.sub(r"[\1]", text)
    text = _HEX.sub(
        lambda m: "ADDR" if int(m.group(1), 16) >= 0x10000 and _looks_hex(m) else m.group(0), text
    )
    return " ".join(text.split())


def _looks_hex(m: re.Match[str]) -> bool:
    # A word of digits only is a decimal number (a size, a count), not an address.
    return m.group(0).startswith("0x") or not m.group(1).isdigit() or len(m.group(1)) >= 12


def compile_all(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


class AnyOf:
    """Several formats of one line, each with the same named groups: the first that matches."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(re.compile(p) for p in patterns)

    def match(self, text: str) -> re.Match[str] | None:
        for p in self.patterns:
            m = p.match(text)
            if m:
                return m
        return None


def without_names(pattern: str) -> str:
    """A pattern with its named groups made plain: many formats joined into one quick test."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


def guilty(frames: Sequence[Frame], skip: re.Pattern[str]) -> str | None:
    """The first reliable frame that is not a common one, as a clean function name."""
    for f in frames:
        if not f.reliable or not f.function:
            continue
        name = clean_function(f.function)
        if not skip.fullmatch(name):
            return name
    return None

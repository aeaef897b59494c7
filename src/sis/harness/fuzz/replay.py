"""Reproducers as files: `sis fuzz repro FILE` loads one before anything boots (the replay
itself is the `fuzz_repro` phase)."""

from __future__ import annotations

from pathlib import Path

from sis.harness.fuzz.program import Program


def load_program(path: Path) -> Program:
    """A reproducer or corpus file; ValueError (one line) if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    return Program.from_json(text)

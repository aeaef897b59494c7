"""`sis fuzz repro FILE`: run a reproducer on a freshly booted target, as many times as asked,
and say whether (and how) the kernel died."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sis.harness.fuzz.crash import CrashInfo
from sis.harness.fuzz.program import Program


@dataclass
class ReplayResult:
    program: Program
    crash: CrashInfo | None
    results: list[dict]
    runs: int


def load_program(path: Path) -> Program:
    """A reproducer or corpus file; ValueError (one line) if it is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    return Program.from_json(text)


def replay(
    program: Program, target: str, *, workdir: Path, append: str = "", repeat: int = 1
) -> ReplayResult:
    from sis.harness.fuzz.fuzzer import fuzz_session_for, make_channel

    session = fuzz_session_for(target, workdir, "repro", append)
    try:
        channel = make_channel(session, cover=False)
        channel.start()
        results: list[dict] = []
        for n in range(1, repeat + 1):
            res = channel.run([program])
            results = res.results[0] if res.results else []
            if res.crash is not None:
                return ReplayResult(program, res.crash, results, n)
        return ReplayResult(program, None, results, repeat)
    finally:
        session.poweroff()

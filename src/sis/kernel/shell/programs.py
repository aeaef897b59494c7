"""/bin: the registry of user programs. A program is `async def main(libc, argv) -> int`;
the shell starts it as its own process with `sis_spawn`. `userland()` hands the registry and
the C library to a machine (see sis.kernel.exec)."""

from __future__ import annotations

from collections.abc import Callable

from sis.kernel.exec import Program, ProgramInfo, Userland

__all__ = ["PROGRAMS", "Program", "ProgramInfo", "available", "lookup_program", "program"]

PROGRAMS: dict[str, ProgramInfo] = {}


def program(name: str, summary: str, feature: str | None = None) -> Callable[[Program], Program]:
    def register(fn: Program) -> Program:
        PROGRAMS[name] = ProgramInfo(name, summary, fn, feature)
        return fn

    return register


def lookup_program(path: str, features: frozenset[str] = frozenset()) -> Program | None:
    """The program `path` names, as a kernel with `features` would find it."""
    return Userland(PROGRAMS, lambda k, t: None).lookup(path, features)


def available(features: frozenset[str] | None = None) -> list[ProgramInfo]:
    """Programs in /bin, by name; with `features`, only those such a kernel has."""
    return sorted(
        (
            p
            for p in PROGRAMS.values()
            if p.feature is None or features is None or p.feature in features
        ),
        key=lambda p: p.name,
    )

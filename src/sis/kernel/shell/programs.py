"""/bin: the registry of user programs. A program is `async def main(libc, argv) -> int`;
the shell starts it as its own process with `sis_spawn`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Program = Callable[[Any, list[str]], Awaitable[int]]


@dataclass(frozen=True)
class ProgramInfo:
    name: str
    summary: str
    main: Program
    feature: str | None = None  # only present when the kernel has this feature


PROGRAMS: dict[str, ProgramInfo] = {}


def program(name: str, summary: str, feature: str | None = None) -> Callable[[Program], Program]:
    def register(fn: Program) -> Program:
        PROGRAMS[name] = ProgramInfo(name, summary, fn, feature)
        return fn

    return register


_features: frozenset[str] = frozenset()
_loaded = False


def set_features(features: frozenset[str]) -> None:
    """The running kernel's features decide which programs exist (e.g. `chaos`)."""
    global _features
    _features = features


def _load() -> None:
    # Importing the modules registers their programs (once, whatever was imported before).
    global _loaded
    _loaded = True
    from sis.kernel.shell import coreutils, netutils, sh, sysutils  # noqa: F401


def lookup_program(path: str) -> Program | None:
    if not _loaded:
        _load()
    info = PROGRAMS.get(path.removeprefix("/bin/"))
    if info is None or (info.feature is not None and info.feature not in _features):
        return None
    return info.main


def available() -> list[ProgramInfo]:
    if not _loaded:
        _load()
    return sorted(
        (p for p in PROGRAMS.values() if p.feature is None or p.feature in _features),
        key=lambda p: p.name,
    )

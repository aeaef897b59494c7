"""What the kernel can exec: the table of user programs (its /bin) and the runtime a new
process starts with (the C library), handed to the machine when it is assembled.

The kernel core never imports user space: whoever assembles a system (`sis kernel`'s entry
point, a test) passes a `Userland`, as a bootloader hands a kernel its initramfs. Without one
the kernel finds no init and panics, as Linux does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

Program = Callable[[Any, list[str]], Awaitable[int]]


@dataclass(frozen=True)
class ProgramInfo:
    name: str
    summary: str
    main: Program
    feature: str | None = None  # only present when the kernel has this feature


@dataclass(frozen=True)
class Userland:
    programs: Mapping[str, ProgramInfo]  # by name; a live mapping may gain programs later
    runtime: Callable[[Kernel, Task], Any]  # builds the first argument of a program's main
    init: Program | None = None  # pid 1

    def lookup(self, path: str, features: frozenset[str]) -> Program | None:
        """The program `path` (`ls` or `/bin/ls`) names, if this kernel's features allow it."""
        info = self.programs.get(path.removeprefix("/bin/"))
        if info is None or (info.feature is not None and info.feature not in features):
            return None
        return info.main

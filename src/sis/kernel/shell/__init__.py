"""User space: the C library, init, the shell and the programs of /bin. Everything here reaches
the kernel only through syscalls, like user programs on a real system; the kernel core never
imports it. `userland()` is what a machine is given to boot."""

from __future__ import annotations

# Importing the program modules registers them in PROGRAMS.
from sis.kernel.exec import Userland
from sis.kernel.shell import coreutils, netutils, sh, sysutils  # noqa: F401
from sis.kernel.shell.init import init_main
from sis.kernel.shell.libc import Libc
from sis.kernel.shell.programs import PROGRAMS


def userland() -> Userland:
    """/bin with every program registered, init, and the C library each process starts with."""
    return Userland(PROGRAMS, Libc, init_main)

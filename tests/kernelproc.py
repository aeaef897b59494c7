"""A `sis kernel` process driven by hand (no lab in between), for the tests of the kernel's own
command line, sockets and devices. The `kernels` fixture in tests/integration makes them."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qemu.qmp import QMPClient

from sis.harness.console import SIS_LOG_LINE, Console, connect_unix


def kernel_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sis.kernel", *args]


class KernelProcess:
    """A `sis kernel` process driven by hand: its console (and optionally a kernel-log line and
    QMP) on unix sockets, for tests of the kernel's own command line and devices."""

    def __init__(
        self,
        tmp: Path,
        *args: str,
        log: bool = False,
        qmp: bool = False,
        name: str = "k",
        death_patterns: Sequence[str] = ("KERNEL PANIC",),
    ) -> None:
        self.dir = tmp
        self.con_path = str(tmp / f"{name}-con.sock")
        self.log_path = str(tmp / f"{name}-log.sock")
        self.qmp_path = str(tmp / f"{name}-qmp.sock")
        argv = kernel_argv("-serial", f"unix:{self.con_path}", *args)
        if log:
            argv += ["-serial", f"unix:{self.log_path}"]
        if qmp:
            argv += ["-qmp", f"unix:{self.qmp_path}"]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.console = Console(
            connect_unix(self.con_path, 10),
            capture_path=tmp / f"{name}-console.log",
            death_patterns=death_patterns,
        )
        self.console.log_filter = SIS_LOG_LINE  # kernel log lines interleave on a single serial
        self.console.echo = True  # the SIS shell echoes what it is sent
        self.logcon = Console(connect_unix(self.log_path, 10), prompt=r"\Z\A") if log else None

    def boot(self) -> KernelProcess:
        self.console.wait_prompt(timeout=20)
        return self

    def run(self, command: str, timeout: float = 10):  # noqa: ANN201 - a CommandResult
        return self.console.run(command, timeout)

    def qmp(self, command: str, **arguments: Any) -> Any:
        """One QMP command on a connection of its own."""

        async def go() -> Any:
            client = QMPClient("test")
            await client.connect(self.qmp_path)
            try:
                return await client.execute(command, arguments or None)
            finally:
                with contextlib.suppress(EOFError, OSError):  # after quit the monitor is gone
                    await client.disconnect()

        return asyncio.run(go())

    def wait(self, timeout: float = 15) -> int:
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        """What the process wrote on stderr (once it has ended)."""
        return self.proc.stderr.read().decode() if self.proc.stderr else ""

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.console.close()
        if self.logcon:
            self.logcon.close()

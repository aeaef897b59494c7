"""Serial ports (UARTs) and the host side they are wired to: stdio, a unix socket or a TCP
socket (a listening server, like QEMU's `server=on,wait=off`), opened with the same `listen()`
as the QMP monitor: sockets 0600, and an address in use or a path that is not a stale socket
refused with one line.

Output written while no client is connected is kept in a bounded backlog and delivered when
one connects, so a harness that connects a moment after start misses nothing. A newer client
replaces an older one (a harness that crashed can reconnect)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable

from sis.kernel.config import ChardevSpec
from sis.kernel.qmp.address import Listener, TcpAddress, UnixAddress, listen

BACKLOG_LIMIT = 1 << 20
WRITE_BUFFER_LIMIT = 8 << 20
CTRL_A = 0x01


class SerialPort:
    def __init__(self, spec: ChardevSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self.on_input: Callable[[bytes], None] | None = None
        self.on_quit: Callable[[], None] | None = None  # stdio escape Ctrl-A x
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.dropped_bytes = 0
        self._backlog = bytearray()
        self._writer: asyncio.StreamWriter | None = None
        self._listener: Listener | None = None
        self._stdio_saved: list | None = None
        self._escape = False
        self._stdin_fd: int | None = None

    async def open(self) -> None:
        if self.spec.kind == "stdio":
            self._open_stdio()
        elif self.spec.kind == "unix":
            # Only a stale socket is replaced; a file or a live kernel's console is refused.
            self._listener = await listen(UnixAddress(self.spec.path or ""), self._client)
        elif self.spec.kind == "tcp":
            self._listener = await listen(
                TcpAddress(self.spec.host, self.spec.port or 0), self._client
            )

    def write(self, data: bytes) -> None:
        self.tx_bytes += len(data)
        if self.spec.kind == "stdio":
            try:
                os.write(sys.stdout.fileno(), data)
            except (BlockingIOError, BrokenPipeError, OSError):
                self.dropped_bytes += len(data)
            return
        if self.spec.kind == "null":
            return
        w = self._writer
        if w is None or w.is_closing():
            self._backlog += data
            if len(self._backlog) > BACKLOG_LIMIT:
                cut = len(self._backlog) - BACKLOG_LIMIT
                del self._backlog[:cut]
                self.dropped_bytes += cut
            return
        if w.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            self.dropped_bytes += len(data)  # a client that never reads must not eat our memory
            return
        w.write(data)

    def _deliver(self, data: bytes) -> None:
        self.rx_bytes += len(data)
        if self.on_input is not None and data:
            self.on_input(data)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        old, self._writer = self._writer, writer
        if old is not None:
            old.close()
        if self._backlog:
            writer.write(bytes(self._backlog))
            self._backlog.clear()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                self._deliver(data)
        except (ConnectionError, OSError, asyncio.CancelledError):
            pass  # the client went away, or the machine is shutting down
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()

    # -- stdio -----------------------------------------------------------------------------
    def _open_stdio(self) -> None:
        fd = sys.stdin.fileno()
        self._stdin_fd = fd
        if os.isatty(fd):
            import termios
            import tty

            self._stdio_saved = termios.tcgetattr(fd)
            tty.setraw(fd)
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._stdin_ready)

    def _stdin_ready(self) -> None:
        assert self._stdin_fd is not None
        try:
            data = os.read(self._stdin_fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # EOF: nothing more will come, the machine keeps running
            asyncio.get_running_loop().remove_reader(self._stdin_fd)
            return
        if self._stdio_saved is not None:
            data = self._filter_escape(data)
        self._deliver(data)

    def _filter_escape(self, data: bytes) -> bytes:
        """Ctrl-A x quits, Ctrl-A Ctrl-A sends a Ctrl-A (QEMU's stdio escape)."""
        out = bytearray()
        for b in data:
            if self._escape:
                self._escape = False
                if b in (ord("x"), ord("X")) and self.on_quit is not None:
                    self.on_quit()
                    continue
                out.append(b)
            elif b == CTRL_A:
                self._escape = True
            else:
                out.append(b)
        return bytes(out)

    async def close(self) -> None:
        if self._stdin_fd is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._stdin_fd)
            with contextlib.suppress(Exception):
                os.set_blocking(self._stdin_fd, True)
            if self._stdio_saved is not None:
                import termios

                termios.tcsetattr(self._stdin_fd, termios.TCSADRAIN, self._stdio_saved)
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer.drain()
            self._writer.close()
        if self._listener is not None:
            await self._listener.close()  # removes the socket it created, nothing else

"""Server addresses (`unix:PATH`, `tcp:HOST:PORT`) and listening on them: the one way the serial
ports and the QMP monitor open a listening socket.

A unix socket is created 0600 whatever the umask, and only a stale socket (a socket file nobody
accepts on) is replaced: a regular file or a live kernel's socket at the path is refused."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sis.contract import options

# AF_UNIX paths are limited by sockaddr_un.sun_path (108 bytes on Linux, including the NUL).
UNIX_PATH_MAX = 107
# Options QEMU users habitually append to a chardev address; SIS always listens and never waits
# for a client, so these are accepted and the opposite values refused.
_ACCEPTED_OPTIONS = {"server", "server=on", "nowait", "wait=off"}
SOCKET_MODE = 0o600

ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class AddressError(ValueError):
    """An address that cannot be parsed or listened on; the message is one line for the user."""


@dataclass(frozen=True)
class UnixAddress:
    path: str

    def __str__(self) -> str:
        return f"unix:{options.escape(self.path)}"


@dataclass(frozen=True)
class TcpAddress:
    host: str | None  # None: every interface, as QEMU does for an empty host
    port: int

    def __str__(self) -> str:
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        return f"tcp:{host}:{self.port}"


Address = UnixAddress | TcpAddress


def parse_address(address: str, what: str = "QMP") -> Address:
    """Parse a QEMU-style server address: `unix:PATH` or `tcp:HOST:PORT`.

    Raises AddressError with a message naming the address and the expected forms.
    """
    expected = "expected unix:PATH or tcp:HOST:PORT"
    kind, sep, rest = address.partition(":")
    if not sep:
        raise AddressError(f"bad {what} address {address!r}: {expected}")
    target, *opts = options.split(rest)
    for opt in opts:
        if opt not in _ACCEPTED_OPTIONS:
            raise AddressError(
                f"bad {what} address {address!r}: unsupported option {opt!r} "
                "(SIS always listens as a server and never waits)"
            )
    if kind == "unix":
        if not target:
            raise AddressError(f"bad {what} address {address!r}: empty socket path")
        if len(os.fsencode(target)) > UNIX_PATH_MAX:
            raise AddressError(
                f"bad {what} address {address!r}: socket path longer than {UNIX_PATH_MAX} bytes"
            )
        return UnixAddress(target)
    if kind == "tcp":
        host, sep, port_text = target.rpartition(":")
        if not sep:
            raise AddressError(f"bad {what} address {address!r}: {expected}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            port = int(port_text)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise AddressError(f"bad {what} address {address!r}: port must be a number 0-65535")
        return TcpAddress(host or None, port)
    raise AddressError(f"bad {what} address {address!r}: unknown kind {kind!r}, {expected}")


@dataclass
class Listener:
    """A listening server and what is needed to clean up after it."""

    server: asyncio.AbstractServer
    address: Address
    bound: str  # the address actually listened on (a tcp port 0 resolved)
    _inode: tuple[int, int] | None = None

    async def close(self) -> None:
        """Stop listening and remove the unix socket this listener created (not a successor's)."""
        self.server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), timeout=1.0)
        self.unlink()

    def unlink(self) -> None:
        if isinstance(self.address, UnixAddress) and self._inode is not None:
            with contextlib.suppress(OSError):
                st = os.stat(self.address.path)
                if (st.st_dev, st.st_ino) == self._inode:
                    os.unlink(self.address.path)
            self._inode = None


async def listen(address: Address, handler: ClientHandler, *, limit: int = 64 << 10) -> Listener:
    """Listen on `address`. Raises AddressError (one line) when the address is taken, is not
    a socket, or cannot be bound."""
    if isinstance(address, UnixAddress):
        path = address.path
        await remove_stale_socket(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # umask 0o177 around bind: the socket file is created 0600, never briefly wider. Nothing
        # else runs between the two umask calls (no await).
        old = os.umask(0o177)
        try:
            sock.bind(path)
        except OSError as e:
            sock.close()
            raise AddressError(f"cannot listen on {address}: {e.strerror or e}") from None
        finally:
            os.umask(old)
        try:
            os.chmod(path, SOCKET_MODE)
            st = os.stat(path)
            server = await asyncio.start_unix_server(handler, sock=sock, limit=limit)
        except OSError as e:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise AddressError(f"cannot listen on {address}: {e.strerror or e}") from None
        return Listener(server, address, str(address), (st.st_dev, st.st_ino))
    try:
        server = await asyncio.start_server(
            handler, host=address.host, port=address.port, limit=limit
        )
    except OSError as e:
        raise AddressError(f"cannot listen on {address}: {e.strerror or e}") from None
    sockname = server.sockets[0].getsockname()
    return Listener(server, address, str(TcpAddress(address.host or sockname[0], sockname[1])))


async def remove_stale_socket(path: str) -> None:
    """Remove a socket file nobody accepts on; refuse anything else at `path`."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise AddressError(f"cannot listen on unix:{path}: the path exists and is not a socket")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout=1.0)
    except OSError:  # includes TimeoutError: nobody listening, a leftover of a dead process
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    writer.close()
    raise AddressError(
        f"cannot listen on unix:{path}: socket in use (another process is listening there)"
    )

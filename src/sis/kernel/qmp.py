"""The QMP monitor of the reference kernel.

Speaks the QEMU Machine Protocol closely enough that `qemu.qmp.QMPClient` and other QEMU tooling
work unchanged: a greeting, capabilities negotiation with `qmp_capabilities`, then
`execute`/`return`/`error` exchanges (with the request `id` echoed) and asynchronous events with
QEMU's timestamp format. Several clients may be connected at once; events go to every client that
has finished negotiation. Input is a stream of JSON objects (QEMU does not require newlines, and
qemu.qmp sends none); malformed input is answered with an error and the connection stays usable.

The machine is reached only through `MachineControl`; the kernel adds its own commands with
`register()` (SIS extensions are named `x-sis-...`) and HMP verbs with `register_hmp()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import re
import stat
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "MachineControl",
    "QMPError",
    "QMPServer",
    "TcpAddress",
    "UnixAddress",
    "format_registers",
    "parse_address",
]

LogFn = Callable[[str, str, dict], None]
CommandHandler = Callable[[dict], "Awaitable[Any] | Any"]
HMPHandler = Callable[[str], str]

# AF_UNIX paths are limited by sockaddr_un.sun_path (108 bytes on Linux, including the NUL).
_UNIX_PATH_MAX = 107
# Options QEMU users habitually append to a chardev address; this monitor always listens and
# never waits for a client, so these are accepted and the opposite values refused.
_ACCEPTED_OPTIONS = {"server", "server=on", "nowait", "wait=off"}


class MachineControl(Protocol):
    """What the QMP server needs from the machine."""

    name: str | None

    def status(self) -> str:
        """`running`, `paused`, `guest-panicked`, `shutdown` or `prelaunch`."""
        ...

    def running(self) -> bool: ...

    def stop(self) -> None:
        """Pause the CPUs (the machine emits STOP through the server)."""
        ...

    def cont(self) -> None:
        """Resume (the machine emits RESUME)."""
        ...

    def system_reset(self) -> None:
        """Reset (the machine emits RESET)."""
        ...

    def system_powerdown(self) -> None:
        """ACPI-style request: the machine emits POWERDOWN, the guest shuts down later."""
        ...

    def quit(self) -> None:
        """End the process (the machine emits SHUTDOWN). Called after the reply is sent."""
        ...

    def set_link(self, name: str, up: bool) -> None:
        """Raise KeyError(name) if there is no such NIC."""
        ...

    def registers(self) -> dict[str, int]:
        """The current or faulting context: x0..x30, sp, pc, pstate."""
        ...

    def version(self) -> tuple[int, int, int]:
        """SIS version numbers, e.g. (0, 1, 0)."""
        ...


class QMPError(Exception):
    """Raised by a command handler; becomes `{"error": {"class": cls, "desc": desc}}`."""

    def __init__(self, desc: str, cls: str = "GenericError") -> None:
        super().__init__(desc)
        self.desc = desc
        self.cls = cls


# --- addresses ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnixAddress:
    path: str

    def __str__(self) -> str:
        return f"unix:{self.path}"


@dataclass(frozen=True)
class TcpAddress:
    host: str | None  # None: every interface, as QEMU does for an empty host
    port: int

    def __str__(self) -> str:
        host = self.host or ""
        if ":" in host:
            host = f"[{host}]"
        return f"tcp:{host}:{self.port}"


def parse_address(address: str) -> UnixAddress | TcpAddress:
    """Parse a QEMU-style server address: `unix:PATH` or `tcp:HOST:PORT`.

    Raises ValueError with a message naming the address and the expected forms.
    """
    expected = "expected unix:PATH or tcp:HOST:PORT"
    kind, sep, rest = address.partition(":")
    if not sep:
        raise ValueError(f"bad QMP address {address!r}: {expected}")
    target, *options = rest.split(",")
    for opt in options:
        if opt not in _ACCEPTED_OPTIONS:
            raise ValueError(
                f"bad QMP address {address!r}: unsupported option {opt!r} "
                "(the monitor always listens as a server and never waits)"
            )
    if kind == "unix":
        if not target:
            raise ValueError(f"bad QMP address {address!r}: empty socket path")
        if len(os.fsencode(target)) > _UNIX_PATH_MAX:
            raise ValueError(
                f"bad QMP address {address!r}: socket path longer than {_UNIX_PATH_MAX} bytes"
            )
        return UnixAddress(target)
    if kind == "tcp":
        host, sep, port_text = target.rpartition(":")
        if not sep:
            raise ValueError(f"bad QMP address {address!r}: {expected}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            port = int(port_text)
        except ValueError:
            port = -1
        if not 0 <= port <= 65535:
            raise ValueError(f"bad QMP address {address!r}: port must be a number 0-65535")
        return TcpAddress(host or None, port)
    raise ValueError(f"bad QMP address {address!r}: unknown kind {kind!r}, {expected}")


# --- framing: a stream of bytes -> JSON messages -------------------------------------------------


@dataclass
class _ParseError:
    desc: str


# Characters that may appear outside strings in a JSON text. Anything else can never become
# valid, so it is reported at once instead of waiting for a closing brace that may never come.
_JSON_BARE = frozenset(b" \t\r\n{}[],:0123456789+-.eEtruefalsn")
_WHITESPACE = frozenset(b" \t\r\n")
_STRING_SPECIAL = re.compile(rb'["\\\x00-\x1f]')


class JSONStreamSplitter:
    """Cuts a byte stream into complete JSON texts, like QEMU's JSON streamer.

    `feed()` yields the bytes of each complete top-level value, or a `_ParseError`. After an error
    the rest of the line is skipped: a newline is where a confused client most likely resumes.
    """

    def __init__(self, max_bytes: int, max_depth: int) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scalar = False  # a bare top-level token (number, keyword or garbage)
        self._skipping = False

    def _fail(self, desc: str) -> _ParseError:
        self._reset()
        self._skipping = True
        return _ParseError(desc)

    def feed(self, data: bytes) -> Iterator[bytes | _ParseError]:
        i, n = 0, len(data)
        while i < n:
            if self._skipping:
                j = data.find(b"\n", i)
                if j < 0:
                    return
                self._skipping = False
                i = j + 1
                continue
            if self._in_string:
                i = yield from self._scan_string(data, i)
                continue
            c = data[i]
            i += 1
            if self._depth == 0 and not self._scalar:
                if c in _WHITESPACE:
                    continue
                self._buf.append(c)
                if c in b"{[":
                    self._depth = 1
                elif c == 0x22:  # '"'
                    self._in_string = True
                elif c in b"}],:" or c not in _JSON_BARE:
                    yield self._fail(f"JSON parse error, stray '{chr(c)}'")
                else:
                    self._scalar = True
                continue
            if self._scalar:
                if c in _WHITESPACE or c in b'{}[]",:':
                    # The token ended; a structural character after it starts the next value.
                    token = bytes(self._buf)
                    self._reset()
                    yield token
                    if c not in _WHITESPACE:
                        i -= 1
                    continue
                if c not in _JSON_BARE:
                    yield self._fail(f"JSON parse error, stray '{chr(c)}'")
                    continue
                self._buf.append(c)
                if len(self._buf) > self.max_bytes:
                    yield self._fail(f"JSON parse error, message exceeds {self.max_bytes} bytes")
                continue
            # Inside an object or array.
            if c not in _JSON_BARE and c != 0x22:
                yield self._fail(f"JSON parse error, stray '{chr(c)}'")
                continue
            self._buf.append(c)
            if c == 0x22:
                self._in_string = True
            elif c in b"{[":
                self._depth += 1
                if self._depth > self.max_depth:
                    yield self._fail(
                        f"JSON parse error, nesting deeper than {self.max_depth} levels"
                    )
                    continue
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    message = bytes(self._buf)
                    self._reset()
                    yield message
                    continue
            if len(self._buf) > self.max_bytes:
                yield self._fail(f"JSON parse error, message exceeds {self.max_bytes} bytes")

    def _scan_string(self, data: bytes, i: int) -> Generator[bytes | _ParseError, None, int]:
        """Consume string content from `data[i:]`; return the index after what was used."""
        n = len(data)
        start = i
        while i < n:
            if self._escape:
                self._escape = False
                i += 1
                continue
            m = _STRING_SPECIAL.search(data, i)
            if m is None:
                i = n
                break
            i = m.start()
            c = data[i]
            if c == 0x5C:  # backslash
                self._escape = True
                i += 1
            elif c == 0x22:
                self._in_string = False
                i += 1
                break
            else:
                # Raw control characters are invalid in JSON strings; a newline here also means
                # the client gave up on this message, so resume right after it.
                self._reset()
                if c != 0x0A:
                    self._skipping = True
                yield _ParseError("JSON parse error, control character in string")
                return i + 1
        self._buf += data[start:i]
        if len(self._buf) > self.max_bytes:
            yield self._fail(f"JSON parse error, message exceeds {self.max_bytes} bytes")
            return i
        if not self._in_string and self._depth == 0:
            # A top-level string: a complete (if useless) JSON text.
            message = bytes(self._buf)
            self._reset()
            yield message
        return i


# --- the server --------------------------------------------------------------------------------

# Argument schema of built-in commands: name -> (JSON type, required).
_Schema = dict[str, tuple[str, bool]]
_TYPES: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}


@dataclass
class _Command:
    name: str
    handler: CommandHandler
    schema: _Schema | None = None  # None: arguments go to the handler unchecked
    after_reply: Callable[[], None] | None = None


@dataclass(eq=False)
class _Client:
    number: int
    peer: str
    writer: asyncio.StreamWriter
    splitter: JSONStreamSplitter
    negotiated: bool = False
    task: asyncio.Task | None = field(default=None, repr=False)


_GENERIC = "GenericError"
_NOT_FOUND = "CommandNotFound"


class QMPServer:
    """A QMP monitor serving one machine to any number of clients."""

    MAX_MESSAGE_BYTES = 1 << 20
    MAX_NESTING = 256
    # A client that stops reading while events keep coming is dropped rather than buffered forever.
    MAX_PENDING_OUTPUT = 8 << 20
    READ_CHUNK = 64 << 10

    def __init__(self, machine: MachineControl, *, log: LogFn | None = None) -> None:
        self._machine = machine
        self._log_fn = log
        self._commands: dict[str, _Command] = {}
        self._hmp: dict[str, HMPHandler] = {}
        self._clients: set[_Client] = set()
        self._next_client = 1
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._address: UnixAddress | TcpAddress | None = None
        self._bound: str | None = None
        self._unix_inode: tuple[int, int] | None = None
        self._install_builtins()

    # -- public API --

    def register(self, name: str, handler: CommandHandler) -> None:
        """Add a command. `handler(arguments)` may be sync or async; its return value (None
        becomes {}) is the reply. Raise QMPError for a QMP error; any other exception is reported
        as GenericError and the server keeps running."""
        if not name or not isinstance(name, str):
            raise ValueError("QMP command name must be a non-empty string")
        if name in self._commands:
            raise ValueError(f"QMP command {name!r} is already registered")
        self._commands[name] = _Command(name, handler)

    def register_hmp(self, command: str, handler: HMPHandler) -> None:
        """Add a human-monitor-command verb, e.g. "info foo". `handler(rest_of_line)` returns
        the text to show; exceptions are shown as "Error: ..." lines, as HMP does."""
        key = " ".join(command.split())
        if not key:
            raise ValueError("HMP command must be non-empty")
        if key in self._hmp:
            raise ValueError(f"HMP command {key!r} is already registered")
        self._hmp[key] = handler

    @property
    def bound_address(self) -> str | None:
        """The address actually listened on (a tcp port 0 resolved), or None before start()."""
        return self._bound

    @property
    def client_count(self) -> int:
        return len(self._clients)

    async def start(self, address: str) -> None:
        """Listen on `unix:PATH` or `tcp:HOST:PORT`. A stale unix socket is replaced; a live
        one, or a path that is not a socket, is refused with ValueError."""
        if self._server is not None:
            raise RuntimeError(f"QMP server already listening on {self._bound}")
        parsed = parse_address(address)
        self._loop = asyncio.get_running_loop()
        if isinstance(parsed, UnixAddress):
            await self._remove_stale_socket(parsed.path)
            try:
                self._server = await asyncio.start_unix_server(
                    self._serve, path=parsed.path, limit=self.READ_CHUNK
                )
            except OSError as e:
                raise ValueError(f"cannot listen on {address!r}: {e.strerror or e}") from e
            st = os.stat(parsed.path)
            self._unix_inode = (st.st_dev, st.st_ino)
            self._bound = str(parsed)
        else:
            try:
                self._server = await asyncio.start_server(
                    self._serve, host=parsed.host, port=parsed.port, limit=self.READ_CHUNK
                )
            except OSError as e:
                raise ValueError(f"cannot listen on {address!r}: {e.strerror or e}") from e
            sockname = self._server.sockets[0].getsockname()
            self._bound = str(TcpAddress(parsed.host or sockname[0], sockname[1]))
        self._address = parsed
        self._log("INFO", "listening", {"address": self._bound})

    def emit(self, event: str, data: dict | None = None) -> None:
        """Send an event to every negotiated client. Safe to call from any thread."""
        now = time.time()
        seconds = int(now)
        message: dict[str, Any] = {
            "event": event,
            "timestamp": {"seconds": seconds, "microseconds": int((now - seconds) * 1_000_000)},
        }
        if data is not None:
            message["data"] = data
        line = _encode(message)  # TypeError here is the caller's bug: say so at the call site
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        if current is loop:
            self._broadcast(event, line)
        else:
            # Another thread (or no loop running here): hand the write to the server's loop.
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._broadcast, event, line)

    async def close(self) -> None:
        """Stop listening, disconnect every client and remove the unix socket. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        me = asyncio.current_task()
        tasks = []
        for client in list(self._clients):
            client.writer.close()
            if client.task is not None and client.task is not me:
                client.task.cancel()
                tasks.append(client.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=1.0)
        if isinstance(self._address, UnixAddress):
            self._unlink_own_socket(self._address.path)
        self._log("INFO", "closed", {"address": self._bound})

    # -- connections --

    async def _remove_stale_socket(self, path: str) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ValueError(f"cannot listen on unix:{path}: the path exists and is not a socket")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout=1.0)
        except OSError:  # includes TimeoutError
            os.unlink(path)  # nobody listening: a leftover from a process that died
            return
        writer.close()
        raise ValueError(f"cannot listen on unix:{path}: another process is listening there")

    def _unlink_own_socket(self, path: str) -> None:
        # Only remove the socket this server created, not one a successor bound meanwhile.
        with contextlib.suppress(OSError):
            st = os.stat(path)
            if (st.st_dev, st.st_ino) == self._unix_inode:
                os.unlink(path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or "unix"
        client = _Client(
            number=self._next_client,
            peer=str(peer),
            writer=writer,
            splitter=JSONStreamSplitter(self.MAX_MESSAGE_BYTES, self.MAX_NESTING),
            task=asyncio.current_task(),
        )
        self._next_client += 1
        if self._server is None:  # closing: refuse quietly
            writer.close()
            return
        self._clients.add(client)
        self._log("INFO", "client_connected", {"client": client.number, "peer": client.peer})
        reason = "eof"
        try:
            await self._send(client, self._greeting())
            while True:
                chunk = await reader.read(self.READ_CHUNK)
                if not chunk:
                    break
                for item in client.splitter.feed(chunk):
                    await self._handle(client, item)
                    if writer.is_closing():
                        break
                if writer.is_closing():
                    reason = "closed"
                    break
        except (ConnectionError, OSError) as e:
            reason = type(e).__name__
        except asyncio.CancelledError:
            # Only close() cancels these tasks. Ending normally keeps asyncio's stream callback
            # from reporting the cancellation as an unhandled error.
            reason = "server closing"
        except Exception as e:  # a bug must cost one connection, never the monitor
            reason = f"internal error: {_one_line(e)}"
            self._log("ERROR", "client_failed", {"client": client.number, "error": reason})
        finally:
            self._clients.discard(client)
            writer.close()
            self._log("INFO", "client_disconnected", {"client": client.number, "reason": reason})

    async def _send(self, client: _Client, message: dict) -> None:
        if client.writer.is_closing():
            return
        client.writer.write(_encode(message))
        await client.writer.drain()

    async def _flush(self, client: _Client, timeout: float = 2.0) -> None:
        """Wait until the transport has handed everything written to the kernel."""
        transport = client.writer.transport
        deadline = time.monotonic() + timeout
        while (
            not transport.is_closing()
            and transport.get_write_buffer_size() > 0
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.005)

    def _broadcast(self, event: str, line: bytes) -> None:
        self._log("DEBUG", "event", {"event": event})
        for client in list(self._clients):
            if not client.negotiated or client.writer.is_closing():
                continue
            client.writer.write(line)
            pending = client.writer.transport.get_write_buffer_size()
            if pending > self.MAX_PENDING_OUTPUT:
                self._log(
                    "WARN", "client_dropped", {"client": client.number, "pending_bytes": pending}
                )
                client.writer.transport.abort()

    def _greeting(self) -> dict:
        return {"QMP": {"version": self._version_info(), "capabilities": []}}

    # -- dispatch --

    async def _handle(self, client: _Client, item: bytes | _ParseError) -> None:
        if isinstance(item, _ParseError):
            self._log("WARN", "parse_error", {"client": client.number, "desc": item.desc})
            await self._send(client, _error(_GENERIC, item.desc))
            return
        try:
            request = json.loads(item)
        except RecursionError:
            request = _ParseError("JSON parse error, nesting too deep")
        except UnicodeDecodeError:
            request = _ParseError("JSON parse error, invalid UTF-8 sequence")
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            request = _ParseError(f"JSON parse error, {msg[:1].lower()}{msg[1:]}")
        if isinstance(request, _ParseError):
            self._log("WARN", "parse_error", {"client": client.number, "desc": request.desc})
            await self._send(client, _error(_GENERIC, request.desc))
            return
        if not isinstance(request, dict):
            await self._send(client, _error(_GENERIC, "QMP input must be a JSON object"))
            return
        reply, command = await self._dispatch(client, request)
        if "id" in request:
            reply["id"] = request["id"]
        try:
            line = _encode(reply)
        except (TypeError, ValueError) as e:
            self._log("ERROR", "bad_reply", {"command": request.get("execute"), "error": str(e)})
            bad = _error(_GENERIC, "the command's result cannot be encoded as JSON")
            if "id" in request:
                bad["id"] = request["id"]
            line = _encode(bad)
        if not client.writer.is_closing():
            client.writer.write(line)
            await client.writer.drain()
        if command is not None and command.after_reply is not None and "return" in reply:
            await self._flush(client)
            try:
                command.after_reply()
            except Exception as e:
                self._log("ERROR", "command_failed", {"command": command.name, "error": str(e)})

    async def _dispatch(self, client: _Client, request: dict) -> tuple[dict, _Command | None]:
        name: str | None = None
        for key, value in request.items():
            if key == "execute":
                if not isinstance(value, str):
                    return _error(_GENERIC, "QMP input member 'execute' must be a string"), None
                name = value
            elif key == "arguments":
                if not isinstance(value, dict):
                    return _error(_GENERIC, "QMP input member 'arguments' must be an object"), None
            elif key != "id":
                return _error(_GENERIC, f"QMP input member '{key}' is unexpected"), None
        if name is None:
            return _error(_GENERIC, "QMP input lacks member 'execute'"), None
        arguments: dict = request.get("arguments", {})
        command = self._commands.get(name)
        if not client.negotiated and name != "qmp_capabilities":
            # QEMU answers anything but qmp_capabilities this way until negotiation is done.
            msg = "Expecting capabilities negotiation with 'qmp_capabilities'"
            return _error(_NOT_FOUND, msg), None
        if command is None:
            return _error(_NOT_FOUND, f"The command {name} has not been found"), None
        self._log("DEBUG", "command", {"client": client.number, "command": name})
        try:
            if command.schema is not None:
                _check_arguments(command.schema, arguments)
            if name == "qmp_capabilities":
                result = self._qmp_capabilities(client, arguments)
            else:
                result = command.handler(arguments)
                if inspect.isawaitable(result):
                    result = await result
        except QMPError as e:
            self._log("DEBUG", "command_error", {"command": name, "class": e.cls, "desc": e.desc})
            return _error(e.cls, e.desc), command
        except asyncio.CancelledError:
            raise
        except Exception as e:
            desc = _one_line(e)
            self._log("ERROR", "command_failed", {"command": name, "error": desc})
            return _error(_GENERIC, desc), command
        return {"return": {} if result is None else result}, command

    # -- built-in commands --

    def _install_builtins(self) -> None:
        m = self._machine

        def builtin(
            name: str,
            handler: CommandHandler,
            schema: _Schema | None = None,
            after_reply: Callable[[], None] | None = None,
        ) -> None:
            self._commands[name] = _Command(name, handler, schema or {}, after_reply)

        builtin("qmp_capabilities", lambda a: None, {"enable": ("array", False)})
        builtin("query-status", lambda a: self._status_info())
        builtin("query-version", lambda a: self._version_info())
        builtin("query-commands", lambda a: [{"name": n} for n in self._commands])
        builtin("query-name", lambda a: {"name": m.name} if m.name else {})
        builtin("stop", lambda a: m.stop())
        builtin("cont", self._cont)
        builtin("system_reset", lambda a: m.system_reset())
        builtin("system_powerdown", lambda a: m.system_powerdown())
        # The reply must reach the client before the machine ends the process.
        builtin("quit", lambda a: None, after_reply=m.quit)
        builtin(
            "set_link",
            lambda a: self._set_link(a["name"], a["up"]),
            {"name": ("string", True), "up": ("boolean", True)},
        )
        builtin(
            "human-monitor-command",
            lambda a: self._human_monitor_command(a["command-line"]),
            {"command-line": ("string", True), "cpu-index": ("int", False)},
        )

    def _qmp_capabilities(self, client: _Client, arguments: dict) -> None:
        if client.negotiated:
            raise QMPError(
                "Capabilities negotiation is already complete, command ignored", _NOT_FOUND
            )
        for i, cap in enumerate(arguments.get("enable", [])):
            if cap == "oob":
                raise QMPError("Capability oob not available")
            raise QMPError(f"Parameter 'enable[{i}]' does not accept value {cap!r}")
        client.negotiated = True

    def _status_info(self) -> dict:
        return {
            "status": self._machine.status(),
            "running": bool(self._machine.running()),
            "singlestep": False,
        }

    def _version_info(self) -> dict:
        major, minor, micro = self._machine.version()
        return {
            "qemu": {"micro": micro, "minor": minor, "major": major},
            "package": f"SIS {major}.{minor}.{micro}",
        }

    def _cont(self, arguments: dict) -> None:
        if self._machine.status() == "shutdown":
            raise QMPError("Resetting the Virtual Machine is required")
        self._machine.cont()

    def _set_link(self, name: str, up: bool) -> None:
        try:
            self._machine.set_link(name, up)
        except KeyError:
            raise QMPError(f"Device '{name}' not found") from None

    # -- the human monitor --

    def _hmp_builtins(self) -> dict[str, HMPHandler]:
        m = self._machine

        def info_status(rest: str) -> str:
            status = m.status()
            text = "VM status: " + ("running" if m.running() else "paused")
            if not m.running() and status != "paused":
                text += f" ({status})"
            return text + "\n"

        def info_version(rest: str) -> str:
            v = self._version_info()
            q = v["qemu"]
            return f"{q['major']}.{q['minor']}.{q['micro']} ({v['package']})\n"

        def set_link(rest: str) -> str:
            words = rest.split()
            if len(words) != 2 or words[1] not in ("on", "off"):
                return "Usage: set_link name on|off\n"
            self._set_link(words[0], words[1] == "on")
            return ""

        def do(action: Callable[[], None]) -> HMPHandler:
            def run(rest: str) -> str:
                action()
                return ""

            return run

        return {
            "info status": info_status,
            "info registers": lambda rest: format_registers(m.registers()),
            "info version": info_version,
            "info name": lambda rest: f"{m.name}\n" if m.name else "",
            "stop": do(m.stop),
            "cont": lambda rest: self._cont({}) or "",
            "c": lambda rest: self._cont({}) or "",
            "system_reset": do(m.system_reset),
            "system_powerdown": do(m.system_powerdown),
            "set_link": set_link,
        }

    def _human_monitor_command(self, line: str) -> str:
        words = line.split()
        if not words:
            return ""
        verbs = {**self._hmp_builtins(), **self._hmp}
        # The longest registered verb that matches the leading words wins ("info foo" over "info").
        for k in range(len(words), 0, -1):
            handler = verbs.get(" ".join(words[:k]))
            if handler is not None:
                break
        else:
            if words[0] in ("help", "?"):
                return _crlf("\n".join(sorted(verbs)) + "\n")
            if words == ["info"]:
                infos = sorted(v for v in verbs if v.startswith("info "))
                return _crlf("\n".join(infos) + "\n")
            shown = " ".join(words[:2]) if words[0] == "info" else words[0]
            return f"unknown command: '{shown}'\r\n"
        rest = line.strip()
        for word in words[:k]:
            rest = rest[len(word) :].lstrip()
        try:
            text = handler(rest)
        except QMPError as e:
            text = f"Error: {e.desc}\n"
        except Exception as e:
            self._log("ERROR", "hmp_failed", {"command": line, "error": _one_line(e)})
            text = f"Error: {_one_line(e)}\n"
        return _crlf(text or "")

    # -- logging --

    def _log(self, level: str, event: str, fields: dict) -> None:
        if self._log_fn is None:
            return
        with contextlib.suppress(Exception):  # logging must never take the monitor down
            self._log_fn(level, event, fields)


# --- helpers -----------------------------------------------------------------------------------


def format_registers(registers: dict[str, int]) -> str:
    """The `info registers` dump: x0..x30 four to a line, then sp, pc and pstate."""
    order = [f"x{i}" for i in range(31)]
    lines = []
    present = [r for r in order if r in registers]
    for i in range(0, len(present), 4):
        lines.append(
            " ".join(
                f"{r:>3}={registers[r] & 0xFFFF_FFFF_FFFF_FFFF:016x}" for r in present[i : i + 4]
            )
        )
    tail = []
    for r in ("sp", "pc"):
        if r in registers:
            tail.append(f"{r:>3}={registers[r] & 0xFFFF_FFFF_FFFF_FFFF:016x}")
    if "pstate" in registers:
        tail.append(f"pstate={registers['pstate'] & 0xFFFF_FFFF:08x}")
    known = set(order) | {"sp", "pc", "pstate"}
    tail += [
        f"{r}={v & 0xFFFF_FFFF_FFFF_FFFF:016x}" for r, v in registers.items() if r not in known
    ]
    if tail:
        lines.append(" ".join(tail))
    return "".join(line + "\n" for line in lines)


def _check_arguments(schema: _Schema, arguments: dict) -> None:
    for key in arguments:
        if key not in schema:
            raise QMPError(f"Parameter '{key}' is unexpected")
    for key, (type_name, required) in schema.items():
        if key not in arguments:
            if required:
                raise QMPError(f"Parameter '{key}' is missing")
            continue
        if not _TYPES[type_name](arguments[key]):
            raise QMPError(f"Invalid parameter type for '{key}', expected: {type_name}")


def _error(cls: str, desc: str) -> dict:
    return {"error": {"class": cls, "desc": desc}}


def _encode(message: dict) -> bytes:
    # One message a line, as QEMU sends them; ensure_ascii keeps the stream 7-bit clean.
    return json.dumps(message, separators=(", ", ": ")).encode() + b"\r\n"


def _crlf(text: str) -> str:
    # HMP output lines end in CRLF, as QEMU's monitor writes them.
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__

"""The QMP monitor of the reference kernel.

Speaks the QEMU Machine Protocol closely enough that `qemu.qmp.QMPClient` and other QEMU tooling
work unchanged: a greeting, capabilities negotiation with `qmp_capabilities`, then
`execute`/`return`/`error` exchanges (with the request `id` echoed) and asynchronous events with
QEMU's timestamp format. Several clients may be connected at once; events go to every client that
has finished negotiation. Malformed input is answered with an error and the connection stays
usable. Every command's arguments are checked against its schema before it runs, as QEMU's
generated marshallers do.

What is queued for a client is bounded: a reply larger than MAX_REPLY_BYTES becomes an error,
the server reads no further request from a client while its unsent output is above the
transport's high-water mark, and a client whose unsent output still passes MAX_PENDING_OUTPUT
(events keep coming while it does not read) is dropped with a logged reason.

The machine is reached only through `MachineControl`; the kernel adds its own commands with
`register()` (SIS extensions are named `x-sis-...`) and HMP verbs with `register_hmp()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sis.kernel.qmp.address import Listener, listen, parse_address
from sis.kernel.qmp.errors import GENERIC, NOT_FOUND, QMPError, one_line
from sis.kernel.qmp.framing import JSONStreamSplitter, ParseError, encode
from sis.kernel.qmp.hmp import HMPHandler, HumanMonitor

LogFn = Callable[[str, str, dict], None]
CommandHandler = Callable[[dict], "Awaitable[Any] | Any"]


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


# Argument schema of a command: name -> (JSON type, required).
Schema = dict[str, tuple[str, bool]]
TYPES: dict[str, Callable[[object], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def check_arguments(schema: Schema, arguments: dict, where: str = "") -> None:
    """QEMU's rules: no unknown member, every required one present, each of its JSON type
    (a boolean is not an integer). `where` prefixes member names inside nested objects."""
    for key in arguments:
        if key not in schema:
            raise QMPError(f"Parameter '{where}{key}' is unexpected")
    for key, (type_name, required) in schema.items():
        if key not in arguments:
            if required:
                raise QMPError(f"Parameter '{where}{key}' is missing")
            continue
        if not TYPES[type_name](arguments[key]):
            raise QMPError(f"Invalid parameter type for '{where}{key}', expected: {type_name}")


@dataclass
class _Command:
    name: str
    handler: CommandHandler
    schema: Schema
    after_reply: Callable[[], None] | None = None


@dataclass(eq=False)
class _Client:
    number: int
    peer: str
    writer: asyncio.StreamWriter
    splitter: JSONStreamSplitter
    negotiated: bool = False
    task: asyncio.Task | None = field(default=None, repr=False)

    def pending(self) -> int:
        transport = self.writer.transport
        return 0 if transport is None else transport.get_write_buffer_size()


class QMPServer:
    """A QMP monitor serving one machine to any number of clients."""

    MAX_MESSAGE_BYTES = 1 << 20
    MAX_NESTING = 256
    # The largest reply sent; a bigger result is answered with an error instead.
    MAX_REPLY_BYTES = 4 << 20
    # A client whose unsent output passes this (it stopped reading while events keep coming)
    # is dropped rather than buffered forever.
    MAX_PENDING_OUTPUT = 8 << 20
    READ_CHUNK = 64 << 10

    def __init__(self, machine: MachineControl, *, log: LogFn | None = None) -> None:
        self._machine = machine
        self._log_fn = log
        self._commands: dict[str, _Command] = {}
        self._hmp = HumanMonitor(
            machine,
            cont=lambda: self._cont({}),
            set_link=self._set_link,
            version=self._version_info,
            log=self._log,
        )
        self._clients: set[_Client] = set()
        self._next_client = 1
        self._listener: Listener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bound: str | None = None
        self.peak_queued_bytes = 0  # the most output ever queued for one client
        self._install_builtins()

    # -- public API --

    def register(self, name: str, handler: CommandHandler, schema: Schema | None = None) -> None:
        """Add a command taking the arguments `schema` describes (none if omitted); they are
        checked before `handler(arguments)` runs. The handler may be sync or async; its return
        value (None becomes {}) is the reply. Raise QMPError for a QMP error; any other exception
        is reported as GenericError and the server keeps running."""
        if not name or not isinstance(name, str):
            raise ValueError("QMP command name must be a non-empty string")
        if name in self._commands:
            raise ValueError(f"QMP command {name!r} is already registered")
        unknown = {t for t, _ in (schema or {}).values()} - TYPES.keys()
        if unknown:
            raise ValueError(f"QMP command {name!r}: unknown argument type {sorted(unknown)[0]!r}")
        self._commands[name] = _Command(name, handler, dict(schema or {}))

    def register_hmp(self, command: str, handler: HMPHandler) -> None:
        """Add a human-monitor-command verb, e.g. "info foo". `handler(rest_of_line)` returns
        the text to show; exceptions are shown as "Error: ..." lines, as HMP does."""
        self._hmp.register(command, handler)

    @property
    def bound_address(self) -> str | None:
        """The address actually listened on (a tcp port 0 resolved), or None before start()."""
        return self._bound

    @property
    def client_count(self) -> int:
        return len(self._clients)

    @property
    def queued_bytes(self) -> int:
        """Output written for clients and not yet taken by the host kernel."""
        return sum(c.pending() for c in self._clients)

    async def start(self, address: str) -> None:
        """Listen on `unix:PATH` or `tcp:HOST:PORT`. A stale unix socket is replaced; a live
        one, or a path that is not a socket, is refused with ValueError."""
        if self._listener is not None:
            raise RuntimeError(f"QMP server already listening on {self._bound}")
        parsed = parse_address(address)
        self._loop = asyncio.get_running_loop()
        self._listener = await listen(parsed, self._serve, limit=self.READ_CHUNK)
        self._bound = self._listener.bound
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
        line = encode(message)  # TypeError here is the caller's bug: say so at the call site
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
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.server.close()
        me = asyncio.current_task()
        tasks = []
        for client in list(self._clients):
            client.writer.close()
            if client.task is not None and client.task is not me:
                client.task.cancel()
                tasks.append(client.task)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await listener.close()
        self._log("INFO", "closed", {"address": self._bound})

    # -- connections --

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
        if self._listener is None:  # closing: refuse quietly
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
            reason = f"internal error: {one_line(e)}"
            self._log("ERROR", "client_failed", {"client": client.number, "error": reason})
        finally:
            self._clients.discard(client)
            writer.close()
            self._log("INFO", "client_disconnected", {"client": client.number, "reason": reason})

    async def _send(self, client: _Client, message: dict) -> None:
        await self._write(client, encode(message))

    async def _write(self, client: _Client, line: bytes) -> None:
        """Queue `line` for the client, then wait while its unsent output is above the
        high-water mark: a client that does not read gets no further request served."""
        if client.writer.is_closing():
            return
        client.writer.write(line)
        if self._over_limit(client):
            return
        await client.writer.drain()

    def _over_limit(self, client: _Client) -> bool:
        """Note the queue's size; drop a client whose unsent output passed MAX_PENDING_OUTPUT."""
        pending = client.pending()
        self.peak_queued_bytes = max(self.peak_queued_bytes, pending)
        if pending <= self.MAX_PENDING_OUTPUT:
            return False
        self._log(
            "WARN",
            "client_dropped",
            {
                "client": client.number,
                "reason": "not reading its output",
                "pending_bytes": pending,
            },
        )
        client.writer.transport.abort()  # frees what was queued at once
        return True

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
            self._over_limit(client)

    def _greeting(self) -> dict:
        return {"QMP": {"version": self._version_info(), "capabilities": []}}

    # -- dispatch --

    async def _handle(self, client: _Client, item: bytes | ParseError) -> None:
        if isinstance(item, ParseError):
            self._log("WARN", "parse_error", {"client": client.number, "desc": item.desc})
            await self._send(client, _error(GENERIC, item.desc))
            return
        try:
            request = json.loads(item)
        except RecursionError:
            request = ParseError("JSON parse error, nesting too deep")
        except UnicodeDecodeError:
            request = ParseError("JSON parse error, invalid UTF-8 sequence")
        except ValueError as e:
            msg = getattr(e, "msg", str(e))
            request = ParseError(f"JSON parse error, {msg[:1].lower()}{msg[1:]}")
        if isinstance(request, ParseError):
            self._log("WARN", "parse_error", {"client": client.number, "desc": request.desc})
            await self._send(client, _error(GENERIC, request.desc))
            return
        if not isinstance(request, dict):
            await self._send(client, _error(GENERIC, "QMP input must be a JSON object"))
            return
        reply, command = await self._dispatch(client, request)
        if "id" in request:
            reply["id"] = request["id"]
        try:
            line = encode(reply)
        except (TypeError, ValueError) as e:
            self._log("ERROR", "bad_reply", {"command": request.get("execute"), "error": str(e)})
            line = self._error_line(request, "the command's result cannot be encoded as JSON")
        if len(line) > self.MAX_REPLY_BYTES:
            self._log(
                "WARN",
                "reply_too_large",
                {"command": request.get("execute"), "bytes": len(line)},
            )
            desc = (
                f"the reply ({len(line)} bytes) exceeds the limit of {self.MAX_REPLY_BYTES} bytes"
            )
            reply, line = {}, self._error_line(request, desc)
        await self._write(client, line)
        if command is not None and command.after_reply is not None and "return" in reply:
            await self._flush(client)
            try:
                command.after_reply()
            except Exception as e:
                self._log("ERROR", "command_failed", {"command": command.name, "error": str(e)})

    @staticmethod
    def _error_line(request: dict, desc: str) -> bytes:
        bad = _error(GENERIC, desc)
        if "id" in request:
            bad["id"] = request["id"]
        return encode(bad)

    async def _dispatch(self, client: _Client, request: dict) -> tuple[dict, _Command | None]:
        name: str | None = None
        for key, value in request.items():
            if key == "execute":
                if not isinstance(value, str):
                    return _error(GENERIC, "QMP input member 'execute' must be a string"), None
                name = value
            elif key == "arguments":
                if not isinstance(value, dict):
                    return _error(GENERIC, "QMP input member 'arguments' must be an object"), None
            elif key != "id":
                return _error(GENERIC, f"QMP input member '{key}' is unexpected"), None
        if name is None:
            return _error(GENERIC, "QMP input lacks member 'execute'"), None
        arguments: dict = request.get("arguments", {})
        command = self._commands.get(name)
        if not client.negotiated and name != "qmp_capabilities":
            # QEMU answers anything but qmp_capabilities this way until negotiation is done.
            msg = "Expecting capabilities negotiation with 'qmp_capabilities'"
            return _error(NOT_FOUND, msg), None
        if command is None:
            return _error(NOT_FOUND, f"The command {name} has not been found"), None
        self._log("DEBUG", "command", {"client": client.number, "command": name})
        try:
            check_arguments(command.schema, arguments)
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
            desc = one_line(e)
            self._log("ERROR", "command_failed", {"command": name, "error": desc})
            return _error(GENERIC, desc), command
        return {"return": {} if result is None else result}, command

    # -- built-in commands --

    def _install_builtins(self) -> None:
        m = self._machine

        def builtin(
            name: str,
            handler: CommandHandler,
            schema: Schema | None = None,
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
            lambda a: self._hmp.run(a["command-line"]),
            {"command-line": ("string", True), "cpu-index": ("int", False)},
        )

    def _qmp_capabilities(self, client: _Client, arguments: dict) -> None:
        if client.negotiated:
            raise QMPError(
                "Capabilities negotiation is already complete, command ignored", NOT_FOUND
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

    # -- logging --

    def _log(self, level: str, event: str, fields: dict) -> None:
        if self._log_fn is None:
            return
        with contextlib.suppress(Exception):  # logging must never take the monitor down
            self._log_fn(level, event, fields)


def _error(cls: str, desc: str) -> dict:
    return {"error": {"class": cls, "desc": desc}}

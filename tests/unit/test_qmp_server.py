"""The reference kernel's QMP server, driven by qemu.qmp's own client and by raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from qemu.qmp import ExecuteError, QMPClient

from sis.kernel.qmp import QMPError, QMPServer

TIMEOUT = 10.0


@dataclass
class FakeMachine:
    """A MachineControl that records calls and emits the events a real machine would."""

    name: str | None = "vm0"
    state: str = "running"
    links: dict[str, bool] = field(default_factory=lambda: {"eth0": True})
    server: QMPServer | None = None
    quits: int = 0

    def status(self) -> str:
        return self.state

    def running(self) -> bool:
        return self.state == "running"

    def _emit(self, event: str, data: dict | None = None) -> None:
        assert self.server is not None
        self.server.emit(event, data)

    def stop(self) -> None:
        if self.state == "running":
            self.state = "paused"
            self._emit("STOP")

    def cont(self) -> None:
        if self.state != "running":
            self.state = "running"
            self._emit("RESUME")

    def system_reset(self) -> None:
        self._emit("RESET", {"guest": False, "reason": "host-qmp-system-reset"})

    def system_powerdown(self) -> None:
        self._emit("POWERDOWN")

    def quit(self) -> None:
        self.quits += 1
        self.state = "shutdown"
        self._emit("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})

    def set_link(self, name: str, up: bool) -> None:
        if name not in self.links:
            raise KeyError(name)
        self.links[name] = up

    def registers(self) -> dict[str, int]:
        regs = {f"x{i}": i for i in range(31)}
        regs.update(sp=0xFFFF_0000_0001_0000, pc=0x4000_1000, pstate=0x3C5)
        return regs

    def version(self) -> tuple[int, int, int]:
        return (0, 1, 0)


@dataclass
class Env:
    machine: FakeMachine
    server: QMPServer
    path: str
    log: list[tuple[str, str, dict]]


def run(test: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(test(), TIMEOUT)

    asyncio.run(bounded())


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **machine_fields: Any) -> AsyncIterator[Env]:
    machine = FakeMachine(**machine_fields)
    records: list[tuple[str, str, dict]] = []
    server = QMPServer(
        machine, log=lambda level, event, fields: records.append((level, event, fields))
    )
    machine.server = server
    path = str(tmp_path / "qmp.sock")
    await server.start(f"unix:{path}")
    try:
        yield Env(machine, server, path, records)
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def client(address: str | tuple[str, int]) -> AsyncIterator[QMPClient]:
    qmp = QMPClient("test")
    await qmp.connect(address)
    try:
        yield qmp
    finally:
        await qmp.disconnect()


class Raw:
    """A bare socket client, for what qemu.qmp would never send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting: dict = {}

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self) -> dict:
        line = await asyncio.wait_for(self.reader.readline(), 5)
        assert line.endswith(b"\r\n"), line
        return json.loads(line)

    async def execute(self, name: str, arguments: dict | None = None, id: Any = None) -> dict:
        msg: dict[str, Any] = {"execute": name}
        if arguments is not None:
            msg["arguments"] = arguments
        if id is not None:
            msg["id"] = id
        await self.send(json.dumps(msg).encode())
        return await self.recv()

    def close(self) -> None:
        self.writer.close()


async def raw(path: str, negotiate: bool = True) -> Raw:
    conn = Raw(*await asyncio.open_unix_connection(path))
    conn.greeting = await conn.recv()
    if negotiate:
        assert await conn.execute("qmp_capabilities") == {"return": {}}
    return conn


async def eventually(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)


# --- negotiation and built-in commands ---------------------------------------------------------


def test_qemu_client_connects_and_sees_a_qemu_style_greeting(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            assert qmp.greeting is not None
            version = qmp.greeting.QMP.version
            assert version["qemu"] == {"major": 0, "minor": 1, "micro": 0}
            assert str(version["package"]).startswith("SIS")
            assert qmp.greeting.QMP.capabilities == []

    run(test)


def test_query_status_follows_stop_and_cont_with_events(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            status = await qmp.execute("query-status")
            assert status == {"status": "running", "running": True, "singlestep": False}
            with qmp.listener(("STOP", "RESUME")) as listener:
                assert await qmp.execute("stop") == {}
                assert (await listener.get())["event"] == "STOP"
                assert (await qmp.execute("query-status"))["status"] == "paused"
                assert await qmp.execute("cont") == {}
                assert (await listener.get())["event"] == "RESUME"
            assert (await qmp.execute("query-status"))["running"] is True

    run(test)


def test_query_version_name_and_commands(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            env.server.register("x-sis-ping", lambda args: "pong")
            async with client(env.path) as qmp:
                version = await qmp.execute("query-version")
                assert version == {
                    "qemu": {"major": 0, "minor": 1, "micro": 0},
                    "package": "SIS 0.1.0",
                }
                assert await qmp.execute("query-name") == {"name": "vm0"}
                names = {c["name"] for c in await qmp.execute("query-commands")}
                assert {
                    "qmp_capabilities",
                    "query-status",
                    "query-version",
                    "query-commands",
                    "query-name",
                    "stop",
                    "cont",
                    "system_reset",
                    "system_powerdown",
                    "quit",
                    "set_link",
                    "human-monitor-command",
                    "x-sis-ping",
                } <= names
                env.machine.name = None
                assert await qmp.execute("query-name") == {}

    run(test)


def test_reset_and_powerdown_emit_their_events(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            with qmp.listener() as listener:
                assert await qmp.execute("system_reset") == {}
                reset = await listener.get()
                assert reset["event"] == "RESET"
                assert reset["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
                assert await qmp.execute("system_powerdown") == {}
                powerdown = await listener.get()
                assert powerdown["event"] == "POWERDOWN"
                assert "data" not in powerdown

    run(test)


def test_quit_replies_before_the_machine_shuts_down(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            with qmp.listener("SHUTDOWN") as listener:
                assert await qmp.execute("quit") == {}
                event = await listener.get()
            assert event["data"]["reason"] == "host-qmp-quit"
            assert env.machine.quits == 1
            status = await qmp.execute("query-status")
            assert status["status"] == "shutdown"
            with pytest.raises(ExecuteError) as err:
                await qmp.execute("cont")
            assert str(err.value) == "Resetting the Virtual Machine is required"

    run(test)


def test_set_link_changes_the_nic_and_reports_unknown_devices(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            assert await qmp.execute("set_link", {"name": "eth0", "up": False}) == {}
            assert env.machine.links["eth0"] is False
            await qmp.execute("set_link", {"name": "eth0", "up": True})
            assert env.machine.links["eth0"] is True

            with pytest.raises(ExecuteError) as err:
                await qmp.execute("set_link", {"name": "eth9", "up": False})
            assert err.value.error_class == "GenericError"
            assert str(err.value) == "Device 'eth9' not found"

            cases = [
                ({"name": "eth0"}, "Parameter 'up' is missing"),
                (
                    {"name": "eth0", "up": "no"},
                    "Invalid parameter type for 'up', expected: boolean",
                ),
                ({"name": "eth0", "up": True, "speed": 1}, "Parameter 'speed' is unexpected"),
            ]
            for arguments, desc in cases:
                with pytest.raises(ExecuteError) as err:
                    await qmp.execute("set_link", arguments)
                assert (err.value.error_class, str(err.value)) == ("GenericError", desc)

    run(test)


def test_guest_panicked_event_and_status(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            with qmp.listener("GUEST_PANICKED") as listener:
                before = time.time()
                env.machine.state = "guest-panicked"
                env.server.emit("GUEST_PANICKED", {"action": "pause"})
                event = await listener.get()
            assert event["data"] == {"action": "pause"}
            stamp = event["timestamp"]
            assert isinstance(stamp["seconds"], int) and isinstance(stamp["microseconds"], int)
            assert 0 <= stamp["microseconds"] < 1_000_000
            assert abs(stamp["seconds"] + stamp["microseconds"] / 1e6 - before) < 5
            status = await qmp.execute("query-status")
            assert status == {"status": "guest-panicked", "running": False, "singlestep": False}

    run(test)


# --- the human monitor -------------------------------------------------------------------------


def test_hmp_info_registers_and_status(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:

            async def hmp(line: str) -> str:
                out = await qmp.execute("human-monitor-command", {"command-line": line})
                assert isinstance(out, str)
                return out

            regs = await hmp("info registers")
            assert " x0=0000000000000000" in regs
            assert "x30=000000000000001e" in regs
            assert " sp=ffff000000010000" in regs
            assert " pc=0000000040001000" in regs
            assert "pstate=000003c5" in regs
            assert all(line.count("=") >= 1 for line in regs.split("\r\n") if line)
            assert regs.endswith("\r\n") and "\n" not in regs.replace("\r\n", "")

            assert await hmp("info status") == "VM status: running\r\n"
            assert await hmp("stop") == ""
            assert await hmp("info status") == "VM status: paused\r\n"
            env.machine.state = "guest-panicked"
            assert await hmp("info status") == "VM status: paused (guest-panicked)\r\n"

    run(test)


def test_hmp_unknown_commands_errors_and_extensions(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            env.server.register_hmp("info foo", lambda rest: f"foo says {rest or 'nothing'}\n")
            env.server.register_hmp("explode", lambda rest: 1 / 0)  # type: ignore[arg-type,return-value]
            async with client(env.path) as qmp:

                async def hmp(line: str) -> str:
                    return await qmp.execute("human-monitor-command", {"command-line": line})  # type: ignore[return-value]

                assert await hmp("xyz") == "unknown command: 'xyz'\r\n"
                assert await hmp("info xyz") == "unknown command: 'info xyz'\r\n"
                assert await hmp("info foo") == "foo says nothing\r\n"
                assert await hmp("  info   foo  a b ") == "foo says a b\r\n"
                assert await hmp("set_link eth9 off") == "Error: Device 'eth9' not found\r\n"
                assert (await hmp("explode")).startswith("Error: ZeroDivisionError")
                assert "info foo" in await hmp("info")
                assert await hmp("") == ""
                with pytest.raises(ExecuteError) as err:
                    await qmp.execute("human-monitor-command", {})
                assert str(err.value) == "Parameter 'command-line' is missing"
                assert await qmp.execute("query-status")  # still serving

    run(test)


# --- extension commands ------------------------------------------------------------------------


def test_extension_commands_return_values_and_map_errors(tmp_path: Path) -> None:
    async def slow(args: dict) -> dict:
        await asyncio.sleep(0.01)
        return {"slept": args.get("ms", 0)}

    def fail(args: dict) -> None:
        raise QMPError("syscall table locked", "DeviceNotActive")

    def crash(args: dict) -> None:
        raise RuntimeError("boom\non two lines")

    async def test() -> None:
        async with serving(tmp_path) as env:
            echo_schema = {"text": ("string", False), "n": ("array", False)}
            env.server.register("x-sis-echo", lambda args: args, echo_schema)
            env.server.register("x-sis-slow", slow, {"ms": ("int", False)})
            env.server.register("x-sis-none", lambda args: None)
            env.server.register("x-sis-list", lambda args: [1, "two"])
            env.server.register("x-sis-fail", fail)
            env.server.register("x-sis-crash", crash)
            env.server.register("x-sis-opaque", lambda args: object())
            with pytest.raises(ValueError, match="already registered"):
                env.server.register("x-sis-echo", lambda args: None)
            async with client(env.path) as qmp:
                text = {"text": "héllo ✓", "n": [1, {"deep": True}]}
                assert await qmp.execute("x-sis-echo", text) == text
                assert await qmp.execute("x-sis-echo") == {}
                assert await qmp.execute("x-sis-slow", {"ms": 10}) == {"slept": 10}
                assert await qmp.execute("x-sis-none") == {}
                assert await qmp.execute("x-sis-list") == [1, "two"]

                with pytest.raises(ExecuteError) as err:
                    await qmp.execute("x-sis-fail")
                assert err.value.error_class == "DeviceNotActive"
                assert str(err.value) == "syscall table locked"

                with pytest.raises(ExecuteError) as err:
                    await qmp.execute("x-sis-crash")
                assert err.value.error_class == "GenericError"
                assert str(err.value) == "RuntimeError: boom on two lines"

                with pytest.raises(ExecuteError) as err:
                    await qmp.execute("x-sis-opaque")
                assert err.value.error_class == "GenericError"

                assert (await qmp.execute("query-status"))["running"] is True
            assert ("ERROR", "command_failed") in [(lvl, ev) for lvl, ev, _ in env.log]

    run(test)


def test_a_slow_command_does_not_hold_up_other_clients_or_events(tmp_path: Path) -> None:
    async def test() -> None:
        release = asyncio.Event()

        async def wait(args: dict) -> str:
            await release.wait()
            return "released"

        async with serving(tmp_path) as env:
            env.server.register("x-sis-wait", wait)
            async with client(env.path) as first, client(env.path) as second:
                with first.listener("STOP") as listener:
                    pending = asyncio.ensure_future(first.execute("x-sis-wait"))
                    assert await second.execute("stop") == {}
                    assert (await listener.get())["event"] == "STOP"
                    assert not pending.done()
                    release.set()
                    assert await pending == "released"

    run(test)


def test_unknown_command_is_command_not_found(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            with pytest.raises(ExecuteError) as err:
                await qmp.execute("no-such-command")
            assert err.value.error_class == "CommandNotFound"
            assert str(err.value) == "The command no-such-command has not been found"
            assert await qmp.execute("query-name") == {"name": "vm0"}

    run(test)


# --- events and clients ------------------------------------------------------------------------


def test_events_reach_every_negotiated_client_and_no_other(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            waiting = await raw(env.path, negotiate=False)
            async with client(env.path) as first, client(env.path) as second:
                with first.listener() as l1, second.listener() as l2:
                    env.server.emit("STOP")
                    env.server.emit("RESUME")
                    for listener in (l1, l2):
                        assert (await listener.get())["event"] == "STOP"
                        assert (await listener.get())["event"] == "RESUME"
            # The un-negotiated client got nothing: its first message is its own reply.
            assert await waiting.execute("qmp_capabilities", id="n") == {"return": {}, "id": "n"}
            env.server.emit("RESET")
            assert (await waiting.recv())["event"] == "RESET"
            waiting.close()

    run(test)


def test_emit_from_another_thread(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env, client(env.path) as qmp:
            with qmp.listener("GUEST_PANICKED") as listener:
                thread = threading.Thread(
                    target=env.server.emit, args=("GUEST_PANICKED", {"action": "pause"})
                )
                thread.start()
                event = await listener.get()
                thread.join()
            assert event["data"] == {"action": "pause"}

    run(test)


def test_emit_rejects_data_that_is_not_json(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            with pytest.raises(TypeError):
                env.server.emit("STOP", {"when": object()})

    run(test)


def test_disconnect_and_reconnect(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            env.server.register("x-sis-slow", lambda args: asyncio.sleep(0.05, "late"))
            for _ in range(3):
                async with client(env.path) as qmp:
                    assert (await qmp.execute("query-status"))["running"] is True
            # Hang up mid-message, and mid-command: the server shrugs both off.
            half = await raw(env.path)
            await half.send(b'{"execute": "query-sta')
            half.close()
            busy = await raw(env.path)
            await busy.send(b'{"execute": "x-sis-slow"}')
            busy.close()
            await asyncio.sleep(0.1)
            await eventually(lambda: env.server.client_count == 0)
            async with client(env.path) as qmp:
                assert await qmp.execute("x-sis-slow") == "late"
            assert [ev for _, ev, _ in env.log].count("client_disconnected") >= 6

    run(test)


def test_a_client_that_stops_reading_is_dropped(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            env.server.MAX_PENDING_OUTPUT = 256 << 10
            stuck = await raw(env.path)
            async with client(env.path) as healthy:
                payload = {"blob": "x" * (64 << 10)}
                for _ in range(200):
                    env.server.emit("X-SIS-NOISE", payload)
                    await asyncio.sleep(0)
                await eventually(lambda: env.server.client_count == 1)
                assert (await healthy.execute("query-status"))["running"] is True
            assert "client_dropped" in [ev for _, ev, _ in env.log]
            stuck.close()

    run(test)


# --- malformed input on a raw socket -----------------------------------------------------------


def test_commands_before_negotiation_are_refused(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            conn = await raw(env.path, negotiate=False)
            assert conn.greeting["QMP"]["capabilities"] == []
            expecting = "Expecting capabilities negotiation with 'qmp_capabilities'"
            for name in ("query-status", "no-such-command"):
                reply = await conn.execute(name, id=1)
                assert reply == {"error": {"class": "CommandNotFound", "desc": expecting}, "id": 1}
            reply = await conn.execute("qmp_capabilities", {"enable": ["oob"]})
            assert reply["error"] == {
                "class": "GenericError",
                "desc": "Capability oob not available",
            }
            assert await conn.execute("qmp_capabilities") == {"return": {}}
            reply = await conn.execute("qmp_capabilities")
            assert reply["error"]["class"] == "CommandNotFound"
            assert reply["error"]["desc"].startswith("Capabilities negotiation is already complete")
            assert (await conn.execute("query-status"))["return"]["status"] == "running"
            conn.close()

    run(test)


def test_malformed_json_is_answered_and_the_connection_survives(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            conn = await raw(env.path)
            for bad in (b'{"execute": }\n', b"hello world\n", b"\xff\xfe\x00 junk\n", b"}\n"):
                await conn.send(bad)
                reply = await conn.recv()
                assert reply["error"]["class"] == "GenericError", bad
                assert reply["error"]["desc"].startswith("JSON parse error, "), bad
                assert "id" not in reply
                assert await conn.execute("query-name", id=bad.hex()) == {
                    "return": {"name": "vm0"},
                    "id": bad.hex(),
                }
            conn.close()

    run(test)


@pytest.mark.parametrize(
    ("message", "desc"),
    [
        (b"[1, 2]", "QMP input must be a JSON object"),
        (b'"just a string"', "QMP input must be a JSON object"),
        (b"42\n", "QMP input must be a JSON object"),
        (b'{"execute": 5}', "QMP input member 'execute' must be a string"),
        (
            b'{"execute": "stop", "arguments": [1]}',
            "QMP input member 'arguments' must be an object",
        ),
        (b'{"execute": "stop", "extra": 1}', "QMP input member 'extra' is unexpected"),
        (b'{"id": 7}', "QMP input lacks member 'execute'"),
    ],
)
def test_requests_that_are_not_commands(tmp_path: Path, message: bytes, desc: str) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            conn = await raw(env.path)
            await conn.send(message)
            reply = await conn.recv()
            assert reply["error"] == {"class": "GenericError", "desc": desc}
            assert (await conn.execute("query-status"))["return"]["running"] is True
            assert env.machine.state == "running"
            conn.close()

    run(test)


def test_a_huge_message_is_refused_once_and_the_connection_survives(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            conn = await raw(env.path)
            huge = b'{"execute": "' + b"a" * (3 * QMPServer.MAX_MESSAGE_BYTES) + b'"}\n'
            await conn.send(huge)
            reply = await conn.recv()
            assert reply["error"]["class"] == "GenericError"
            assert "exceeds" in reply["error"]["desc"]
            assert await conn.execute("query-name", id=2) == {"return": {"name": "vm0"}, "id": 2}
            conn.close()

    run(test)


def test_framing_needs_no_newlines_and_echoes_any_id(tmp_path: Path) -> None:
    async def test() -> None:
        async with serving(tmp_path) as env:
            conn = await raw(env.path)
            # Two requests in one write, then one split across writes.
            await conn.send(b'{"execute":"query-name","id":1}{"execute":"stop","id":{"seq":[2]}}')
            assert await conn.recv() == {"return": {"name": "vm0"}, "id": 1}
            first, second = await conn.recv(), await conn.recv()
            assert first["event"] == "STOP"  # the event precedes the reply, as in QEMU
            assert second == {"return": {}, "id": {"seq": [2]}}
            await conn.send(b'{"execute": "co')
            await asyncio.sleep(0.02)
            await conn.send(b'nt", "id": "a\\"}"}')
            assert (await conn.recv())["event"] == "RESUME"
            assert await conn.recv() == {"return": {}, "id": 'a"}'}
            conn.close()

    run(test)


# --- addresses and lifecycle -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_addresses(tmp_path: Path) -> None:
    async def test() -> None:
        machine = FakeMachine()
        port = _free_port()
        fixed = QMPServer(machine)
        await fixed.start(f"tcp:127.0.0.1:{port},server=on,wait=off")
        assert fixed.bound_address == f"tcp:127.0.0.1:{port}"
        any_port = QMPServer(machine)
        await any_port.start("tcp:127.0.0.1:0")
        assert any_port.bound_address is not None
        chosen = int(any_port.bound_address.rsplit(":", 1)[1])
        assert chosen > 0
        try:
            for p in (port, chosen):
                async with client(("127.0.0.1", p)) as qmp:
                    assert (await qmp.execute("query-status"))["status"] == "running"
        finally:
            await fixed.close()
            await any_port.close()

    run(test)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "qmp.sock",
        "serial:/tmp/x",
        "unix:",
        "unix:/tmp/x.sock,wait=on",
        "unix:/tmp/" + "a" * 200,
        "tcp:127.0.0.1",
        "tcp:127.0.0.1:http",
        "tcp:127.0.0.1:70000",
    ],
)
def test_bad_addresses_are_refused_clearly(address: str) -> None:
    async def test() -> None:
        with pytest.raises(ValueError, match="bad QMP address"):
            await QMPServer(FakeMachine()).start(address)

    run(test)


def test_unix_socket_lifecycle(tmp_path: Path) -> None:
    async def test() -> None:
        path = tmp_path / "qmp.sock"
        # A socket left behind by a dead process is replaced.
        leftover = socket.socket(socket.AF_UNIX)
        leftover.bind(str(path))
        leftover.close()
        server = QMPServer(FakeMachine())
        await server.start(f"unix:{path},server,nowait")
        assert server.bound_address == f"unix:{path}"

        # A live one is not.
        with pytest.raises(ValueError, match="another process is listening"):
            await QMPServer(FakeMachine()).start(f"unix:{path}")

        conn = await raw(str(path))
        await server.close()
        assert await asyncio.wait_for(conn.reader.read(), 5) == b""
        conn.close()
        assert not path.exists()
        await server.close()  # idempotent

        # Never delete something that is not a socket.
        path.write_text("precious")
        with pytest.raises(ValueError, match="not a socket"):
            await QMPServer(FakeMachine()).start(f"unix:{path}")
        assert path.read_text() == "precious"
        os.unlink(path)

    run(test)


def test_a_failing_log_callback_does_not_break_the_server(tmp_path: Path) -> None:
    def bad_log(level: str, event: str, fields: dict) -> None:
        raise RuntimeError("log sink gone")

    async def test() -> None:
        machine = FakeMachine()
        server = QMPServer(machine, log=bad_log)
        machine.server = server
        path = str(tmp_path / "qmp.sock")
        await server.start(f"unix:{path}")
        try:
            async with client(path) as qmp:
                assert await qmp.execute("stop") == {}
        finally:
            await server.close()

    run(test)

"""SIS's x-sis-* QMP commands on an in-process reference kernel: strict arguments, as QEMU
checks its own, and a bound on what one client can make the kernel hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from qemu.qmp import ExecuteError, QMPClient

from sis.kernel.__main__ import parse_command_line
from sis.kernel.machine import Machine
from sis.kernel.shell import userland

HUGE_BATCH = {"calls": [{"nr": 172, "output": 65536}] * 1024}  # 64 MiB asked, 128 MiB as hex


@contextlib.asynccontextmanager
async def kernel_with_qmp(tmp_path: Path) -> AsyncIterator[tuple[Machine, str]]:
    path = str(tmp_path / "qmp.sock")
    cfg = parse_command_line(["-serial", "null", "-nic", "none", "-qmp", f"unix:{path}"])
    machine = Machine(cfg, userland())
    runner = asyncio.create_task(machine.run())
    while machine.kernel is None or not machine.kernel.sched.tasks or machine.qmp is None:
        await asyncio.sleep(0.005)
        if runner.done():
            runner.result()
    try:
        yield machine, path
    finally:
        machine.request("quit")
        await asyncio.wait_for(runner, 10)


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


async def _error_of(qmp: QMPClient, command: str, args: dict | None = None) -> str:
    with pytest.raises(ExecuteError) as err:
        await qmp.execute(command, args)
    assert err.value.error_class == "GenericError"
    return str(err.value)


def test_arguments_are_checked_like_qemu(tmp_path: Path) -> None:
    async def test() -> None:
        async with kernel_with_qmp(tmp_path) as (_, path):
            qmp = QMPClient("test")
            await qmp.connect(path)
            try:
                ok = await qmp.execute("x-sis-syscall", {"calls": [{"nr": 172}], "timeout": 5})
                assert ok["results"][0]["ret"] > 0
                cases = [
                    ({"calls": [{"nr": 172}], "bogus": 1}, "Parameter 'bogus' is unexpected"),
                    (
                        {"calls": [{"nr": 172, "frob": 1}]},
                        "Parameter 'calls[0].frob' is unexpected",
                    ),
                    (
                        {"calls": [{"nr": True}]},
                        "Invalid parameter type for 'calls[0].nr', expected: int",
                    ),
                    (
                        {"calls": [{"nr": 172, "output": True}]},
                        "Invalid parameter type for 'calls[0].output', expected: int",
                    ),
                    (
                        {"calls": [{"nr": 64, "args": [1, False, 4]}]},
                        "Invalid parameter type for 'calls[0].args[1]'",
                    ),
                    (
                        {"calls": [{"nr": 172}], "timeout": "5"},
                        "Invalid parameter type for 'timeout', expected: number",
                    ),
                    ({"calls": [{"nr": 172}], "timeout": -1}, "Parameter 'timeout' must be"),
                    ({"calls": [{"nr": 172}], "timeout": True}, "expected: number"),
                    ({}, "Parameter 'calls' is missing"),
                    ({"calls": []}, "Parameter 'calls' must hold 1 to 1024"),
                    ({"calls": [{"nr": 172, "data": "zz"}]}, "'calls[0].data' must be a hex"),
                ]
                for args, expected in cases:
                    desc = await _error_of(qmp, "x-sis-syscall", args)
                    assert expected in desc, (args, desc)
                    assert "ValueError" not in desc and "Traceback" not in desc
                desc = await _error_of(qmp, "x-sis-metrics", {"verbose": True})
                assert desc == "Parameter 'verbose' is unexpected"
                assert (await qmp.execute("query-status"))["status"] == "running"
            finally:
                await qmp.disconnect()

    run(test())


def test_a_batch_cannot_ask_for_unbounded_output(tmp_path: Path) -> None:
    async def test() -> None:
        async with kernel_with_qmp(tmp_path) as (_, path):
            qmp = QMPClient("test")
            await qmp.connect(path)
            try:
                desc = await _error_of(qmp, "x-sis-syscall", HUGE_BATCH)
                assert "bytes of output" in desc
            finally:
                await qmp.disconnect()

    run(test())


def test_a_client_that_never_reads_does_not_grow_the_kernel(tmp_path: Path) -> None:
    async def test() -> None:
        async with kernel_with_qmp(tmp_path) as (machine, path):
            server = machine.qmp
            assert server is not None
            reader, writer = await asyncio.open_unix_connection(path)
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await reader.readline()  # greeting
            writer.write(b'{"execute": "qmp_capabilities"}')
            await reader.readline()
            # The biggest batches allowed (1 MiB of output each, 2 MiB as hex), and the huge
            # one, over and over; this client never reads another byte.
            big = {"calls": [{"nr": 172, "output": 65536}] * 16}
            for _ in range(6):
                for args in (big, HUGE_BATCH):
                    writer.write(
                        json.dumps({"execute": "x-sis-syscall", "arguments": args}).encode()
                    )
            await writer.drain()
            # Wait until the server has queued a reply it cannot send.
            for _ in range(2000):
                if server.queued_bytes >= 1 << 20:
                    break
                await asyncio.sleep(0.005)
            assert server.queued_bytes >= 1 << 20
            for _ in range(50):  # give it every chance to queue more
                await asyncio.sleep(0.01)
            bound = server.MAX_REPLY_BYTES + (1 << 20)
            assert server.queued_bytes <= bound
            assert server.peak_queued_bytes <= bound
            writer.close()
            for _ in range(2000):
                if server.client_count == 0:
                    break
                await asyncio.sleep(0.005)
            assert server.client_count == 0 and server.queued_bytes == 0

    run(test())


def test_a_reply_larger_than_the_limit_is_an_error(tmp_path: Path) -> None:
    async def test() -> None:
        async with kernel_with_qmp(tmp_path) as (machine, path):
            assert machine.qmp is not None
            machine.qmp.register("x-sis-blob", lambda a: "x" * (machine.qmp.MAX_REPLY_BYTES + 1))
            qmp = QMPClient("test")
            await qmp.connect(path)
            try:
                desc = await _error_of(qmp, "x-sis-blob")
                assert "exceeds the limit" in desc
                assert (await qmp.execute("query-status"))["status"] == "running"
            finally:
                await qmp.disconnect()

    run(test())

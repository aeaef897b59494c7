"""Listening on a unix or tcp address: the one path the console and the QMP monitor use."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from sis.kernel.qmp.address import AddressError, UnixAddress, listen


async def _nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def _run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 10))


def test_a_regular_file_at_the_path_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("precious\n")

    async def test() -> None:
        with pytest.raises(AddressError, match="not a socket"):
            await listen(UnixAddress(str(path)), _nothing)

    _run(test())
    assert path.read_text() == "precious\n"


def test_a_live_socket_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "live.sock")

    async def test() -> None:
        first = await listen(UnixAddress(path), _nothing)
        try:
            with pytest.raises(AddressError, match="socket in use"):
                await listen(UnixAddress(path), _nothing)
            assert os.path.exists(path)  # the first listener's socket is untouched
        finally:
            await first.close()
        assert not os.path.exists(path)

    _run(test())


def test_a_stale_socket_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "stale.sock")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(path)  # bound, never listening: what a killed process leaves behind
    dead.close()

    async def test() -> None:
        listener = await listen(UnixAddress(path), _nothing)
        await listener.close()

    _run(test())


def test_sockets_are_0600_whatever_the_umask(tmp_path: Path) -> None:
    path = str(tmp_path / "sock")
    mode_before = stat.S_IMODE(os.stat(tmp_path).st_mode)
    old = os.umask(0)
    try:

        async def test() -> None:
            listener = await listen(UnixAddress(path), _nothing)
            try:
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
                probe = tmp_path / "probe"
                probe.touch()  # the process umask is back as it was
                assert stat.S_IMODE(os.stat(probe).st_mode) == 0o666
            finally:
                await listener.close()

        _run(test())
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path).st_mode) == mode_before

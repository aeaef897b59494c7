"""NIC drivers: loopback, the in-process wire, the fault-injecting mock and the local hub."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from pathlib import Path

import pytest

from sis.kernel.drivers.nic import (
    BROADCAST_MAC,
    HubNic,
    LoopbackNic,
    MockNic,
    Wire,
    format_mac,
    make_mac,
    parse_mac,
)
from sis.kernel.errno import Errno, KernelError

MAC_A = parse_mac("52:54:00:00:00:0a")
MAC_B = parse_mac("52:54:00:00:00:0b")


def frame(dst: bytes, src: bytes, payload: bytes = b"x" * 46, ethertype: int = 0x88B5) -> bytes:
    return dst + src + ethertype.to_bytes(2, "big") + payload


async def settle(seconds: float = 0.02) -> None:
    await asyncio.sleep(seconds)


def collect(nic) -> list[bytes]:
    got: list[bytes] = []
    nic.on_receive = got.append
    return got


def test_mac_helpers():
    mac = make_mac()
    assert mac[:3] == b"\x52\x54\x00" and len(mac) == 6
    assert make_mac() == mac, "stable within a process (across reboots)"
    assert make_mac(1) != mac
    assert parse_mac(format_mac(mac)) == mac
    with pytest.raises(ValueError):
        parse_mac("52:54:00:00:00")


def test_loopback_returns_frames_on_the_next_loop_turn():
    async def main():
        lo = LoopbackNic()
        got = collect(lo)
        lo.send(frame(bytes(6), bytes(6)))
        assert got == [], "delivery is deferred, never re-entrant"
        await settle()
        assert len(got) == 1
        assert lo.stats.tx_packets == lo.stats.rx_packets == 1
        assert lo.stats.rx_bytes == lo.stats.tx_bytes == len(got[0])

    asyncio.run(main())


def test_wire_filters_unicast_for_other_stations_and_checks_size():
    async def main():
        wire = Wire()
        a, b = MockNic(MAC_A, wire), MockNic(MAC_B, wire)
        got = collect(b)
        a.send(frame(MAC_B, MAC_A))
        a.send(frame(BROADCAST_MAC, MAC_A))
        a.send(frame(parse_mac("52:54:00:99:99:99"), MAC_A))  # for nobody here
        await settle()
        assert len(got) == 2 and b.stats.rx_packets == 2
        with pytest.raises(KernelError) as e:
            a.send(frame(MAC_B, MAC_A, b"y" * 1501))
        assert e.value.errno is Errno.EMSGSIZE
        with pytest.raises(KernelError) as e:
            a.send(b"short")
        assert e.value.errno is Errno.EINVAL
        assert a.stats.tx_errors == 2

    asyncio.run(main())


def test_link_down_fails_sends_and_drops_arrivals():
    async def main():
        wire = Wire()
        a, b = MockNic(MAC_A, wire), MockNic(MAC_B, wire)
        got = collect(b)
        a.set_link(False)
        with pytest.raises(KernelError) as e:
            a.send(frame(MAC_B, MAC_A))
        assert e.value.errno is Errno.ENETDOWN
        assert a.stats.tx_errors == 1 and a.stats.tx_packets == 0
        a.set_link(True)
        b.set_link(False)
        a.send(frame(MAC_B, MAC_A))
        await settle()
        assert got == [] and b.stats.rx_dropped == 1 and b.stats.rx_packets == 0

    asyncio.run(main())


def run_lossy(seed: int, n: int = 200) -> tuple[list[int], dict[str, int]]:
    async def main():
        wire = Wire()
        a = MockNic(MAC_A, wire, seed=seed, loss_rate=0.3)
        b = MockNic(MAC_B, wire)
        got = collect(b)
        for i in range(n):
            a.send(frame(MAC_B, MAC_A, i.to_bytes(2, "big") * 23))
        await settle()
        return [int.from_bytes(f[14:16], "big") for f in got], a.faults.as_dict()

    return asyncio.run(main())


def test_mock_loss_is_seeded_and_reproducible():
    arrived, faults = run_lossy(seed=7)
    assert run_lossy(seed=7) == (arrived, faults)
    assert faults["lost"] == 200 - len(arrived)
    assert 30 <= faults["lost"] <= 90, "about 30% of 200"
    other, _ = run_lossy(seed=8)
    assert other != arrived


def test_mock_duplicate_corrupt_delay_and_send_failures():
    async def main():
        wire = Wire()
        a = MockNic(MAC_A, wire, duplicate_rate=1.0)
        b = MockNic(MAC_B, wire)
        got = collect(b)
        original = frame(MAC_B, MAC_A)
        a.send(original)
        await settle()
        assert got == [original, original] and a.faults.duplicated == 1

        got.clear()
        a.duplicate_rate, a.corrupt_rate = 0.0, 1.0
        a.send(original)
        await settle()
        assert len(got) == 1 and got[0] != original and got[0][:14] == original[:14]
        assert sum(bin(x ^ y).count("1") for x, y in zip(got[0], original, strict=True)) == 1
        assert a.faults.corrupted == 1

        got.clear()
        a.corrupt_rate, a.delay_s = 0.0, 0.1
        a.send(original)
        await settle(0.05)
        assert got == []
        await settle(0.1)
        assert got == [original] and a.faults.delayed == 1

        a.fail_send = Errno.EIO
        with pytest.raises(KernelError) as e:
            a.send(original)
        assert e.value.errno is Errno.EIO
        a.fail_send = None
        a.send_failure_rate = 1.0
        with pytest.raises(KernelError):
            a.send(original)
        assert a.faults.send_failures == 2 and a.stats.tx_errors == 2

    asyncio.run(main())


def test_send_fault_hook_is_what_chaos_uses():
    async def main():
        a = MockNic(MAC_A)
        a.fail_hook = lambda nic, f: Errno.ENETDOWN
        with pytest.raises(KernelError) as e:
            a.send(frame(MAC_B, MAC_A))
        assert e.value.errno is Errno.ENETDOWN and a.stats.tx_errors == 1
        a.fail_hook = lambda nic, f: None
        a.send(frame(MAC_B, MAC_A))
        assert a.stats.tx_packets == 1

    asyncio.run(main())


# -- the local hub ----------------------------------------------------------------------------------


@pytest.fixture
def hub_dir(tmp_path: Path) -> Path:
    base = tmp_path / "hub"
    base.mkdir(mode=0o700)
    return base


def test_hub_joins_nics_through_unix_sockets(hub_dir: Path):
    async def main():
        a = HubNic(7, MAC_A, base=hub_dir)
        b = HubNic(7, MAC_B, base=hub_dir)
        c = HubNic(8, parse_mac("52:54:00:00:00:0c"), base=hub_dir)  # another port: another segment
        got_b, got_c = collect(b), collect(c)
        assert stat.S_IMODE((hub_dir / "7").stat().st_mode) == 0o700
        assert stat.S_IMODE(a.path.stat().st_mode) == 0o600
        a.send(frame(BROADCAST_MAC, MAC_A))
        a.send(frame(MAC_B, MAC_A))
        await settle(0.1)
        assert len(got_b) == 2 and got_c == []
        assert a.peers() == [str(b.path)]
        b.close()
        assert not b.path.exists()
        for n in (a, c):
            n.close()
        assert not (hub_dir / "7").exists(), "the last station removes the port directory"

    asyncio.run(main())


def test_hub_removes_stale_sockets_of_dead_kernels(hub_dir: Path):
    async def main():
        a = HubNic(9, MAC_A, base=hub_dir)
        # A kernel that died leaves its socket file behind with nobody bound to it.
        dead = hub_dir / "9" / "525400dead00.sock"
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(str(dead))
        s.close()
        b = HubNic(9, MAC_B, base=hub_dir)
        got = collect(b)
        a.send(frame(BROADCAST_MAC, MAC_A))
        await settle(0.1)
        assert not dead.exists() and a.stale_removed == 1
        assert len(got) == 1, "live stations still get the frame"
        a.close()
        b.close()

    asyncio.run(main())


def test_hub_rebinds_over_its_own_stale_socket_and_refuses_a_live_one(hub_dir: Path):
    async def main():
        (hub_dir / "3").mkdir(mode=0o700)
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stale.bind(str(hub_dir / "3" / f"{MAC_A.hex()}.sock"))
        stale.close()
        a = HubNic(3, MAC_A, base=hub_dir)
        assert a.stale_removed == 1
        with pytest.raises(KernelError) as e:
            HubNic(3, MAC_A, base=hub_dir)
        assert e.value.errno is Errno.EADDRINUSE
        a.close()

    asyncio.run(main())


def test_hub_refuses_a_directory_others_can_reach(tmp_path: Path):
    async def main():
        base = tmp_path / "open"
        base.mkdir()
        os.chmod(base, 0o755)
        with pytest.raises(KernelError) as e:
            HubNic(1, MAC_A, base=base)
        assert e.value.errno is Errno.EACCES

    asyncio.run(main())


def test_hub_counts_drops_when_a_station_does_not_read(hub_dir: Path):
    async def main():
        a = HubNic(5, MAC_A, base=hub_dir)
        deaf = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        deaf.bind(str(hub_dir / "5" / "525400000099.sock"))
        try:
            for _ in range(3000):
                a.send(frame(BROADCAST_MAC, MAC_A, b"z" * 1000))
            assert a.stats.tx_dropped > 0
            assert a.stats.tx_packets == 3000, "the NIC sent them; the hub dropped some"
        finally:
            deaf.close()
            a.close()

    asyncio.run(main())


def test_hub_in_an_unusable_place_is_an_errno_not_a_crash(tmp_path: Path):
    async def main():
        with pytest.raises(KernelError) as e:
            HubNic(1, MAC_A, base=tmp_path / "missing" / "parent")
        assert e.value.errno is Errno.EIO

    asyncio.run(main())

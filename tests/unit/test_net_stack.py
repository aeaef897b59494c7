"""The network stack in-process: two stacks on one in-process wire (MockNics), the user-mode
gateway, the hub, UDP queues, fault knobs, link state and heap accounting of packet buffers."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from sis.kernel.config import NicSpec
from sis.kernel.drivers.nic import LoopbackNic, MockNic, Wire, parse_mac
from sis.kernel.errno import Errno, KernelError
from sis.kernel.mm.heap import Heap
from sis.kernel.net import NetStack, hub_network, icmp, ipv4, setup_network, slirp
from sis.kernel.net.arp import AddressProbe, host_candidates
from sis.kernel.net.ipv4 import aton
from sis.kernel.printk import Printk

NET = aton("10.0.9.0")
A_ADDR, B_ADDR = aton("10.0.9.1"), aton("10.0.9.2")
MAC_A = parse_mac("52:54:00:00:00:0a")
MAC_B = parse_mac("52:54:00:00:00:0b")


def make_stack(nic, addr: int | None, *, heap: Heap | None = None, network: int = NET) -> NetStack:
    stack = NetStack(heap or Heap(1 << 20), Printk(level="debug"))
    stack.add_interface(
        "lo", LoopbackNic(), network=aton("127.0.0.0"), prefix=8, addr=ipv4.LOOPBACK
    )
    stack.add_interface("eth0", nic, network=network, prefix=24, addr=addr)
    return stack


def pair(**knobs) -> tuple[NetStack, NetStack]:
    wire = Wire()
    a = make_stack(MockNic(MAC_A, wire, **knobs), A_ADDR)
    b = make_stack(MockNic(MAC_B, wire), B_ADDR)
    return a, b


def known_neighbours(a: NetStack, b: NetStack) -> None:
    """Skip ARP, so that only the packets a test sends cross the wire."""
    a.neighbours.learn(a.interfaces["eth0"], B_ADDR, MAC_B)
    b.neighbours.learn(b.interfaces["eth0"], A_ADDR, MAC_A)


async def settle(seconds: float = 0.02) -> None:
    await asyncio.sleep(seconds)


async def until(condition, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def echo_replies(sock) -> list[tuple[int, int, int, bytes]]:
    """(source, ttl, seq, data) of the echo replies queued on a raw ICMP socket."""
    out = []
    while (got := sock.recv()) is not None:
        packet, src, _ = got
        hdr, payload = ipv4.parse(packet)
        msg = icmp.parse(payload)
        if msg.type == icmp.ECHO_REPLY:
            out.append((src, hdr.ttl, msg.seq, msg.data))
    return out


def fake_kernel(heap_bytes: int = 4 << 20) -> SimpleNamespace:
    panics: list[str] = []
    return SimpleNamespace(
        heap=Heap(heap_bytes),
        chaos=None,
        bugs=frozenset(),
        printk=Printk(level="debug"),
        panics=panics,
        panic=lambda message, exc=None: panics.append(message),
    )


def events(stack: NetStack) -> list[str]:
    assert stack.log is not None
    return [r.event for r in stack.log.ring]


def test_icmp_echo_between_two_stacks():
    async def main():
        a, b = pair()
        sock = a.icmp_socket()
        sock.sendto(icmp.echo_request(0x1234, 1, b"hello"), (B_ADDR, 0))
        await settle()
        assert echo_replies(sock) == [(B_ADDR, 64, 1, b"hello")]
        assert b.stats["icmp_in_echos"] == 1 and b.stats["icmp_out_echo_reps"] == 1
        # ARP ran once each way and both ends remember the other.
        assert a.neighbours.lookup(a.interfaces["eth0"], B_ADDR) == MAC_B
        assert b.neighbours.lookup(b.interfaces["eth0"], A_ADDR) == MAC_A
        sock.close()

    asyncio.run(main())


def test_loopback_and_own_address_answer_through_lo():
    async def main():
        a, _ = pair()
        sock = a.icmp_socket()
        sock.sendto(icmp.echo_request(7, 1, b"lo"), (ipv4.LOOPBACK, 0))
        sock.sendto(icmp.echo_request(7, 2, b"me"), (A_ADDR, 0))
        await settle()
        assert sorted(echo_replies(sock)) == sorted(
            [(ipv4.LOOPBACK, 64, 1, b"lo"), (A_ADDR, 64, 2, b"me")]
        )
        assert a.interfaces["eth0"].nic.stats.tx_packets == 0, "nothing left the machine"
        assert a.interfaces["lo"].nic.stats.rx_packets == 4

    asyncio.run(main())


def test_user_network_gateway_answers_ping_udp_echo_and_refuses_the_outside():
    async def main():
        k = fake_kernel()
        stack = setup_network(k, NicSpec("user"), {})
        eth0 = stack.interfaces["eth0"]
        assert eth0.addr == slirp.GUEST and eth0.gateway == slirp.GATEWAY
        assert "addr_assigned" in events(stack) and "link_up" in events(stack)
        ping = stack.icmp_socket()
        ping.sendto(icmp.echo_request(1, 1, b"gw"), (slirp.GATEWAY, 0))
        await settle()
        assert echo_replies(ping) == [(slirp.GATEWAY, 64, 1, b"gw")]

        ping.sendto(icmp.echo_request(1, 2, b"out"), (aton("8.8.8.8"), 0))
        await settle()
        packet, src, _ = ping.recv()
        msg = icmp.parse(ipv4.parse(packet)[1])
        assert (src, msg.type, msg.code) == (slirp.GATEWAY, icmp.DEST_UNREACH, icmp.UNREACH_NET)

        u = stack.udp_socket()
        u.sendto(b"echo me", (slirp.GATEWAY, slirp.ECHO_PORT))
        await settle()
        assert u.recv() == (b"echo me", slirp.GATEWAY, slirp.ECHO_PORT)
        stack.close()
        assert k.heap.stats.current_bytes == 0

    asyncio.run(main())


def test_udp_queues_bounded_with_counted_drops():
    async def main():
        a, b = pair()
        rx = b.udp_socket()
        rx.bind(ipv4.ANY, 5000)
        rx.rcvbuf = 150  # room for three small datagrams (48 heap bytes each)
        tx = a.udp_socket()
        for i in range(6):
            tx.sendto(f"d{i}".encode(), (B_ADDR, 5000))
        await settle()
        got = []
        while (d := rx.recv()) is not None:
            got.append(d)
        assert [g[0] for g in got] == [b"d0", b"d1", b"d2"]
        assert all(g[1:] == (A_ADDR, tx.local_port) for g in got)
        assert rx.drops == 3 and b.stats["rcvbuf_errors"] == 3
        assert tx.local_port in range(49152, 65536)
        with pytest.raises(KernelError) as e:
            b.udp_socket().bind(ipv4.ANY, 5000)
        assert e.value.errno is Errno.EADDRINUSE
        with pytest.raises(KernelError) as e:
            b.udp_socket().bind(aton("10.9.9.9"), 5001)
        assert e.value.errno is Errno.EADDRNOTAVAIL

    asyncio.run(main())


def test_connected_udp_gets_econnrefused_from_port_unreachable():
    async def main():
        a, b = pair()
        known_neighbours(a, b)
        s = a.udp_socket()
        s.connect(B_ADDR, 9)  # nobody listens on port 9 of b
        s.sendto(b"anyone?", None)
        await settle()
        assert b.stats["udp_no_ports"] == 1
        with pytest.raises(KernelError) as e:
            s.take_error()
        assert e.value.errno is Errno.ECONNREFUSED
        with pytest.raises(KernelError) as e:
            a.udp_socket().sendto(b"x", None)
        assert e.value.errno is Errno.EDESTADDRREQ

    asyncio.run(main())


def lossy_run(seed: int) -> tuple[list[int], dict[str, int]]:
    async def main():
        a, b = pair(seed=seed, loss_rate=0.25)
        known_neighbours(a, b)
        sock = a.icmp_socket()
        for seq in range(1, 101):
            sock.sendto(icmp.echo_request(1, seq, b"p"), (B_ADDR, 0))
        await settle(0.05)
        return sorted(r[2] for r in echo_replies(sock)), a.interfaces["eth0"].nic.faults.as_dict()

    return asyncio.run(main())


def test_packet_loss_knob_is_seeded_and_reproducible():
    answered, faults = lossy_run(seed=42)
    assert lossy_run(seed=42) == (answered, faults)
    assert len(answered) == 100 - faults["lost"]
    assert 10 <= faults["lost"] <= 45
    assert lossy_run(seed=43)[0] != answered


def test_duplicates_are_answered_twice_and_corruption_is_caught_by_checksums():
    async def main():
        a, b = pair(duplicate_rate=1.0)
        known_neighbours(a, b)
        sock = a.icmp_socket()
        sock.sendto(icmp.echo_request(1, 1, b"twice"), (B_ADDR, 0))
        await settle()
        assert [r[2] for r in echo_replies(sock)] == [1, 1]

        nic = a.interfaces["eth0"].nic
        nic.duplicate_rate, nic.corrupt_rate = 0.0, 1.0
        for seq in range(20):
            sock.sendto(icmp.echo_request(1, seq, b"flip" * 10), (B_ADDR, 0))
        await settle()
        assert echo_replies(sock) == []
        caught = b.stats["ip_in_hdr_errors"] + b.stats["icmp_in_errors"]
        assert caught == nic.faults.corrupted == 20

    asyncio.run(main())


def test_link_down_gives_enetdown_drops_arrivals_and_is_remembered():
    async def main():
        k = fake_kernel()
        links: dict[str, bool] = {}
        stack = setup_network(k, NicSpec("user"), links)
        stack.set_link("net0", False)
        assert links == {"eth0": False} and "link_down" in events(stack)
        u = stack.udp_socket()
        with pytest.raises(KernelError) as e:
            u.sendto(b"x", (slirp.GATEWAY, 7))
        assert e.value.errno is Errno.ENETDOWN
        nic = stack.interfaces["eth0"].nic
        nic.inject(b"\xff" * 6 + slirp.GATEWAY_MAC + b"\x08\x06" + bytes(28))
        await settle()
        assert nic.stats.rx_dropped == 1
        with pytest.raises(KeyError):
            stack.set_link("eth7", False)
        with pytest.raises(KeyError):
            stack.set_link("lo", False)
        stack.close()

        # The next boot of the same machine starts with the link down.
        again = setup_network(k, NicSpec("user"), links)
        assert not again.interfaces["eth0"].nic.link_up
        again.set_link("eth0", True)
        assert links == {"eth0": True}
        again.close()

    asyncio.run(main())


def test_packet_buffers_come_from_the_heap_and_none_leak():
    async def main():
        heap_a, heap_b = Heap(1 << 20), Heap(1 << 20)
        wire = Wire()
        a = make_stack(MockNic(MAC_A, wire), A_ADDR, heap=heap_a)
        b = make_stack(MockNic(MAC_B, wire), B_ADDR, heap=heap_b)
        rx = b.udp_socket()
        rx.bind(ipv4.ANY, 6000)
        ping = a.icmp_socket()
        tx = a.udp_socket()
        for i in range(10):
            tx.sendto(b"u" * 100, (B_ADDR, 6000))
            ping.sendto(icmp.echo_request(1, i, b"i" * 56), (B_ADDR, 0))
        ping.sendto(icmp.echo_request(1, 99, b"nobody"), (aton("10.0.9.77"), 0))  # waits for ARP
        await settle()
        assert heap_b.usage_by_tag()["skb"] >= 10 * 142, "queued datagrams hold heap buffers"
        assert heap_a.usage_by_tag()["skb"] > 0, "echo replies and the packet waiting for ARP"
        assert b.stats["ip_in_receives"] >= 20
        for s in (rx, ping, tx):
            s.close()
        a.close()
        b.close()
        for heap in (heap_a, heap_b):
            assert heap.stats.current_bytes == 0, heap.usage_by_tag()
            assert heap.stats.allocs == heap.stats.deallocs
            heap.check()

    asyncio.run(main())


def test_heap_exhaustion_fails_sends_with_enomem_and_drops_arrivals():
    async def main():
        a, b = pair()
        known_neighbours(a, b)
        rx = b.udp_socket()
        rx.bind(ipv4.ANY, 6000)
        b.heap.fail_hook = lambda size, tag: tag == "skb"
        a.udp_socket().sendto(b"lost", (B_ADDR, 6000))
        await settle()
        assert rx.recv() is None
        assert b.interfaces["eth0"].rx_nomem == 1 and b.interfaces["eth0"].counters()["drops"] == 1
        a.heap.fail_hook = lambda size, tag: tag == "skb"
        with pytest.raises(KernelError) as e:
            a.udp_socket().sendto(b"x", (B_ADDR, 6000))
        assert e.value.errno is Errno.ENOMEM

    asyncio.run(main())


def test_unanswered_arp_tells_the_sender_host_unreachable():
    async def main():
        a, _ = pair()
        sock = a.icmp_socket()
        sock.sendto(icmp.echo_request(5, 1, b"?"), (aton("10.0.9.200"), 0))
        await until(lambda: sock.rxq)
        packet, src, _ = sock.recv()
        msg = icmp.parse(ipv4.parse(packet)[1])
        assert (src, msg.type, msg.code) == (A_ADDR, icmp.DEST_UNREACH, icmp.UNREACH_HOST)
        quoted_echo = msg.data[ipv4.HEADER_LEN : ipv4.HEADER_LEN + 8]
        assert struct.unpack("!BBHHH", quoted_echo)[3:] == (5, 1)
        assert a.stats["arp_failures"] == 1 and a.stats["arp_requests_out"] == 3
        assert a.neighbours.entries == {}

    asyncio.run(main())


def test_no_route_and_unassigned_address():
    async def main():
        a = make_stack(MockNic(MAC_A), None)
        u = a.udp_socket()
        with pytest.raises(KernelError) as e:
            u.sendto(b"x", (aton("192.168.1.1"), 53))
        assert e.value.errno is Errno.ENETUNREACH
        with pytest.raises(KernelError) as e:
            u.sendto(b"x", (B_ADDR, 53))
        assert e.value.errno is Errno.EADDRNOTAVAIL
        with pytest.raises(KernelError) as e:
            u.sendto(b"x" * 70000, (ipv4.LOOPBACK, 53))
        assert e.value.errno is Errno.EMSGSIZE

    asyncio.run(main())


def test_malformed_frames_are_counted_not_fatal():
    async def main():
        a, _ = pair()
        nic = a.interfaces["eth0"].nic
        bad = [
            MAC_A + MAC_B + b"\x08\x00" + b"\x45" + bytes(10),  # truncated IPv4
            MAC_A + MAC_B + b"\x08\x06" + b"\x00\x01",  # truncated ARP
            MAC_A + MAC_B + b"\x08\x00" + bytes(40),  # version 0
            MAC_A + MAC_B + b"\x86\xdd" + bytes(40),  # IPv6: not spoken here
        ]
        for f in bad:
            nic.inject(f)
        await settle()
        assert nic.stats.rx_errors == 3 and a.stats["rx_unknown_ethertype"] == 1
        assert a.heap.stats.current_bytes == 0

    asyncio.run(main())


def test_hub_addresses_are_probed_unique_even_when_they_collide():
    async def main():
        wire = Wire()
        network = hub_network(300)
        assert ipv4.ntoa(network) == "10.0.44.0"
        # Two MACs whose first candidate is the same host number.
        mac_a, mac_b = parse_mac("52:54:00:00:00:10"), parse_mac("52:54:00:00:01:0d")
        assert next(host_candidates(mac_a, network)) == next(host_candidates(mac_b, network))
        a = make_stack(MockNic(mac_a, wire), None, network=network)
        b = make_stack(MockNic(mac_b, wire), None, network=network)
        for s in (a, b):
            iface = s.interfaces["eth0"]
            s.start_probe(iface, AddressProbe(s, iface, host_candidates(iface.nic.mac, network)))
        assert a.interfaces["eth0"].addr is None and a.interfaces["eth0"].tentative is not None
        await until(lambda: not a.probes and not b.probes)
        addr_a, addr_b = a.interfaces["eth0"].addr, b.interfaces["eth0"].addr
        assert addr_a is not None and addr_b is not None and addr_a != addr_b
        for addr in (addr_a, addr_b):
            assert ipv4.same_subnet(addr, network, 24) and 2 <= addr & 0xFF <= 254

        # A third station that wants an address already held moves on too.
        c = make_stack(MockNic(parse_mac("52:54:00:00:02:0a"), wire), None, network=network)
        iface = c.interfaces["eth0"]
        c.start_probe(iface, AddressProbe(c, iface, iter([addr_a, addr_a + 100])))
        await until(lambda: not c.probes)
        assert iface.addr == addr_a + 100
        # and all three can reach each other.
        sock = c.icmp_socket()
        for seq, dst in enumerate((addr_a, addr_b), 1):
            sock.sendto(icmp.echo_request(3, seq, b"hi"), (dst, 0))
        await settle(0.1)
        assert sorted(r[0] for r in echo_replies(sock)) == sorted([addr_a, addr_b])

    asyncio.run(main())


def test_two_hub_stacks_in_one_process_ping_over_unix_sockets(tmp_path: Path, monkeypatch):
    hub = tmp_path / "hub"
    hub.mkdir(mode=0o700)
    monkeypatch.setenv("SIS_HUB_DIR", str(hub))

    async def main():
        ka, kb = fake_kernel(), fake_kernel()
        a = setup_network(ka, NicSpec("hub", 77), {})
        # Same process, same MAC seed: the second NIC finds the first bound and takes the next MAC.
        b = setup_network(kb, NicSpec("hub", 77), {})
        ea, eb = a.interfaces["eth0"], b.interfaces["eth0"]
        assert ea.nic.mac != eb.nic.mac
        assert len(list((hub / "77").glob("*.sock"))) == 2
        await until(lambda: ea.addr is not None and eb.addr is not None)
        assert ea.addr != eb.addr and ipv4.ntoa(ea.addr).startswith("10.0.77.")
        sock = a.icmp_socket()
        sock.sendto(icmp.echo_request(9, 1, b"over the hub"), (eb.addr, 0))
        await settle(0.1)
        assert echo_replies(sock) == [(eb.addr, 64, 1, b"over the hub")]
        assert a.totals()["tx_packets"] >= 1 and b.totals()["rx_packets"] >= 1
        info = a.info()
        assert [i["name"] for i in info["interfaces"]] == ["lo", "eth0"]
        assert info["sockets"][0]["proto"] == "icmp"
        a.close()
        b.close()
        assert not (hub / "77").exists()
        assert ka.heap.stats.current_bytes == 0 and kb.heap.stats.current_bytes == 0
        assert ka.panics == kb.panics == []

    asyncio.run(main())


def test_a_hub_that_cannot_be_joined_leaves_lo_and_an_error_log(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SIS_HUB_DIR", str(tmp_path / "no" / "such" / "dir"))

    async def main():
        k = fake_kernel()
        stack = setup_network(k, NicSpec("hub", 5), {})
        assert list(stack.interfaces) == ["lo"]
        errors = [r for r in k.printk.ring if r.level == "ERROR"]
        assert errors and errors[0].event == "nic_failed" and "hub port 5" in errors[0].message
        with pytest.raises(KeyError):
            stack.set_link("eth0", False)

    asyncio.run(main())

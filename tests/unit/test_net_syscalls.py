"""Sockets seen from user programs on an in-process kernel: argument validation, UDP over
the syscalls, blocking and timeouts, socket objects on the heap, and the netstat and ping
programs."""

from __future__ import annotations

import asyncio
import json
import re
import struct
import time

from kernelsim import run_program
from sis.kernel.errno import Errno
from sis.kernel.kmetrics import snapshot
from sis.kernel.net import ipv4
from sis.kernel.shell.programs import lookup_program
from sis.kernel.syscall.sysnet import (
    AF_INET,
    AF_INET6,
    AF_UNIX,
    MSG_DONTWAIT,
    MSG_PEEK,
    MSG_TRUNC,
    SO_RCVBUF,
    SO_RCVTIMEO,
    SO_TYPE,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_STREAM,
    SOL_SOCKET,
    pack_sockaddr_in,
    unpack_sockaddr_in,
)

E = Errno
# Through the registry, as the shell finds them (importing netutils first would register only
# its own programs).
ping_main = lookup_program("ping")
netstat_main = lookup_program("netstat")
ifconfig_main = lookup_program("ifconfig")
SOCKET, BIND, CONNECT, GETSOCKNAME, SENDTO, RECVFROM = 198, 200, 203, 204, 206, 207
SETSOCKOPT, GETSOCKOPT, SHUTDOWN, NETINFO = 208, 209, 210, 504
READ, WRITE, CLOSE = 63, 64, 57
USER = ["-nic", "user"]
LO = ipv4.LOOPBACK


def run(body, args=USER, **kw):
    results: dict = {}

    async def prog(libc, argv):
        await body(libc, results)
        return 0

    status, machine, out = run_program(prog, args=args, **kw)
    assert status == 0, out.text
    assert machine.panic_count == 0, out.text
    return results, machine, out


async def sockaddr(libc, addr: int, port: int) -> int:
    return await libc.put(pack_sockaddr_in(addr, port))


async def udp(libc, port: int = 0, addr: int = LO) -> int:
    fd = await libc.syscall(SOCKET, AF_INET, SOCK_DGRAM, 0)
    assert fd >= 0, fd
    if port:
        libc._reset()
        assert await libc.syscall(BIND, fd, await sockaddr(libc, addr, port), 16) == 0
    return fd


async def recv(libc, fd: int, size: int = 2048, flags: int = 0) -> tuple[int, bytes, tuple]:
    libc._reset()
    buf, sa, salen = (
        await libc._reserve(size),
        await libc._reserve(16),
        await libc.put(struct.pack("<i", 16)),
    )
    n = await libc.syscall(RECVFROM, fd, buf, size, flags, sa, salen)
    if n < 0:
        return n, b"", ()
    return n, libc.peek(buf, min(n, size)), unpack_sockaddr_in(libc.peek(sa, 16))


async def send(
    libc, fd: int, data: bytes, addr: int | None = LO, port: int = 0, flags: int = 0
) -> int:
    libc._reset()
    buf = await libc.put(data)
    sa = await sockaddr(libc, addr, port) if addr is not None else 0
    return await libc.syscall(SENDTO, fd, buf, len(data), flags, sa, 16 if sa else 0)


async def set_rcvtimeo(libc, fd: int, seconds: float) -> int:
    libc._reset()
    tv = await libc.put(struct.pack("<qq", int(seconds), int(seconds % 1 * 1e6)))
    return await libc.syscall(SETSOCKOPT, fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16)


def test_socket_argument_validation():
    async def body(libc, r):
        r["domain"] = await libc.syscall(SOCKET, 99, SOCK_DGRAM, 0)
        r["type"] = await libc.syscall(SOCKET, AF_INET, 7, 0)
        r["type_flags"] = await libc.syscall(SOCKET, AF_INET, SOCK_DGRAM | 0x100000, 0)
        r["protocol"] = await libc.syscall(SOCKET, AF_INET, SOCK_DGRAM, -1)
        r["inet6"] = await libc.syscall(SOCKET, AF_INET6, SOCK_DGRAM, 0)
        r["unix"] = await libc.syscall(SOCKET, AF_UNIX, SOCK_DGRAM, 0)
        r["tcp"] = await libc.syscall(SOCKET, AF_INET, SOCK_STREAM, 0)
        r["raw_tcp"] = await libc.syscall(SOCKET, AF_INET, SOCK_RAW, 6)
        r["udp_proto_icmp"] = await libc.syscall(SOCKET, AF_INET, SOCK_DGRAM, 1)
        r["udp"] = await libc.syscall(SOCKET, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 17)
        r["raw_icmp"] = await libc.syscall(SOCKET, AF_INET, SOCK_RAW, 1)

    r, m, _ = run(body)
    assert r["domain"] == -E.EAFNOSUPPORT
    assert r["type"] == r["type_flags"] == r["protocol"] == -E.EINVAL
    assert r["inet6"] == r["unix"] == -E.EAFNOSUPPORT
    assert r["tcp"] == r["raw_tcp"] == r["udp_proto_icmp"] == -E.EPROTONOSUPPORT
    assert r["udp"] >= 3 and r["raw_icmp"] >= 3
    v = m.kernel.validator
    assert v.rejections["socket"] == 4 and v.checks["socket"] > 11


def test_no_network_means_loopback_only():
    async def body(libc, r):
        r["fd"] = await libc.syscall(SOCKET, AF_INET, SOCK_DGRAM, 0)
        libc._reset()
        buf = await libc._reserve(4096)
        n = await libc.syscall(NETINFO, buf, 4096)
        r["info"] = json.loads(libc.peek(buf, n))

    r, _, _ = run(body, args=["-nic", "none"])
    assert r["fd"] >= 3  # sockets still work over lo, as on a machine without a NIC
    assert [i["name"] for i in r["info"]["interfaces"]] == ["lo"]


def test_udp_over_loopback_through_the_syscalls():
    async def body(libc, r):
        server = await udp(libc, 7000)
        client = await udp(libc)
        r["sent"] = await send(libc, client, b"ping over lo", LO, 7000)
        r["got"] = await recv(libc, server)
        libc._reset()
        sa, salen = await libc._reserve(16), await libc.put(struct.pack("<i", 16))
        assert await libc.syscall(GETSOCKNAME, client, sa, salen) == 0
        r["client_name"] = unpack_sockaddr_in(libc.peek(sa, 16))
        # Reply to whoever sent it, then peek, truncate and read.
        _, _, (_, src, sport) = r["got"]
        await send(libc, server, b"0123456789", src, sport)
        r["peek"] = await recv(libc, client, flags=MSG_PEEK)
        r["trunc"] = await recv(libc, client, size=4, flags=MSG_TRUNC)
        r["empty"] = await recv(libc, client, flags=MSG_DONTWAIT)
        await send(libc, client, b"", LO, 7000)
        r["zero_length"] = await recv(libc, server)
        r["in_use"] = await libc.syscall(BIND, await udp(libc), await sockaddr(libc, LO, 7000), 16)

    r, _, _ = run(body)
    assert r["sent"] == len(b"ping over lo")
    n, data, (family, src, sport) = r["got"]
    assert (n, data, family, src) == (12, b"ping over lo", AF_INET, LO)
    assert r["client_name"][2] == sport and sport >= 49152
    assert r["peek"][:2] == (10, b"0123456789")
    assert r["trunc"][:2] == (10, b"0123"), "MSG_TRUNC returns the real length"
    assert r["empty"][0] == -E.EAGAIN
    assert r["zero_length"] == (0, b"", (AF_INET, LO, sport)), "an empty datagram has a sender"
    assert r["in_use"] == -E.EADDRINUSE


def test_sockaddr_and_descriptor_errors():
    async def body(libc, r):
        fd = await udp(libc)
        libc._reset()
        r["short"] = await libc.syscall(BIND, fd, await sockaddr(libc, LO, 1), 8)
        libc._reset()
        inet6 = await libc.put(struct.pack("<H", AF_INET6) + bytes(26))
        r["family"] = await libc.syscall(BIND, fd, inet6, 28)
        libc._reset()
        r["not_local"] = await libc.syscall(
            BIND, fd, await sockaddr(libc, ipv4.aton("10.9.9.9"), 1), 16
        )
        r["null"] = await libc.syscall(BIND, fd, 0, 16)
        r["notsock"] = await libc.syscall(RECVFROM, 0, await libc._reserve(16), 16, 0, 0, 0)
        r["no_dest"] = await send(libc, fd, b"x", None)
        r["shutdown_unconnected"] = await libc.syscall(SHUTDOWN, fd, 0)
        r["badflags"] = await libc.syscall(RECVFROM, fd, await libc._reserve(16), 16, 0x1, 0, 0)
        await libc.close(fd)
        r["closed"] = await libc.syscall(RECVFROM, fd, await libc._reserve(16), 16, 0, 0, 0)

    r, _, _ = run(body)
    assert r["short"] == -E.EINVAL
    assert r["family"] == -E.EAFNOSUPPORT
    assert r["not_local"] == -E.EADDRNOTAVAIL
    assert r["null"] == -E.EFAULT
    assert r["notsock"] == -E.ENOTSOCK
    assert r["no_dest"] == -E.EDESTADDRREQ
    assert r["shutdown_unconnected"] == -E.ENOTCONN
    assert r["badflags"] == -E.EINVAL
    assert r["closed"] == -E.EBADF


def test_blocking_receive_timeout_and_wakeup():
    async def body(libc, r):
        fd = await udp(libc, 7100)
        assert await set_rcvtimeo(libc, fd, 0.2) == 0
        started = time.monotonic()
        r["timeout"] = (await recv(libc, fd))[0]
        r["waited"] = time.monotonic() - started
        # A datagram arriving while the task sleeps in recvfrom wakes it.
        assert await set_rcvtimeo(libc, fd, 5) == 0
        stack = libc._k.net
        sender = stack.udp_socket()
        asyncio.get_running_loop().call_later(0.1, sender.sendto, b"wake up", (LO, 7100))
        started = time.monotonic()
        r["woken"] = await recv(libc, fd)
        r["woke_after"] = time.monotonic() - started
        sender.close()
        libc._reset()
        val, vlen = await libc._reserve(16), await libc.put(struct.pack("<i", 16))
        assert await libc.syscall(GETSOCKOPT, fd, SOL_SOCKET, SO_RCVTIMEO, val, vlen) == 0
        r["rcvtimeo"] = struct.unpack("<qq", libc.peek(val, 16))
        libc._reset()
        val, vlen = await libc._reserve(4), await libc.put(struct.pack("<i", 4))
        assert await libc.syscall(GETSOCKOPT, fd, SOL_SOCKET, SO_TYPE, val, vlen) == 0
        r["type"] = struct.unpack("<i", libc.peek(val, 4))[0]

    r, _, _ = run(body)
    assert r["timeout"] == -E.EAGAIN and 0.18 <= r["waited"] < 2
    assert r["woken"][1] == b"wake up" and 0.05 <= r["woke_after"] < 2
    assert r["rcvtimeo"] == (5, 0) and r["type"] == SOCK_DGRAM


def test_connected_socket_read_write_and_queue_limit():
    async def body(libc, r):
        server = await udp(libc, 7200)
        libc._reset()
        small = await libc.put(struct.pack("<i", 100))
        assert await libc.syscall(SETSOCKOPT, server, SOL_SOCKET, SO_RCVBUF, small, 4) == 0
        client = await udp(libc)
        libc._reset()
        assert await libc.syscall(CONNECT, client, await sockaddr(libc, LO, 7200), 16) == 0
        for i in range(10):
            libc._reset()
            data = await libc.put(b"msg%d" % i)
            assert await libc.syscall(WRITE, client, data, 4) == 4
        await libc.sleep(0.05)
        info = await netinfo(libc)
        r["server"] = next(s for s in info["sockets"] if s["local"].endswith(":7200"))
        libc._reset()
        buf = await libc._reserve(64)
        r["read"] = libc.peek(buf, await libc.syscall(READ, server, buf, 64))

    r, _, _ = run(body)
    assert r["read"] == b"msg0"
    s = r["server"]
    assert s["queued"] + s["drops"] == 10 and s["drops"] > 0, (
        "a 256-byte buffer holds few datagrams"
    )


async def netinfo(libc) -> dict:
    libc._reset()
    buf = await libc._reserve(65536)
    n = await libc.syscall(NETINFO, buf, 65536)
    assert n > 0
    return json.loads(libc.peek(buf, n))


def test_socket_objects_and_packet_buffers_on_the_heap():
    async def body(libc, r):
        heap = libc._k.heap
        base = heap.usage_by_tag()
        r["base_socket"], r["base_skb"] = base.get("socket", 0), base.get("skb", 0)
        fds = [await udp(libc, 7300 + i) for i in range(3)]
        client = await udp(libc)
        for i in range(3):
            await send(libc, client, b"x" * 500, LO, 7300 + i)
        await libc.sleep(0.05)
        used = heap.usage_by_tag()
        r["socket"], r["skb"] = used.get("socket", 0), used.get("skb", 0)
        libc._reset()
        tiny = await libc._reserve(8)
        r["erange"] = await libc.syscall(NETINFO, tiny, 8)
        for fd in [*fds, client]:
            await libc.close(fd)
        after = heap.usage_by_tag()
        r["after_socket"], r["after_skb"] = after.get("socket", 0), after.get("skb", 0)

    r, _, _ = run(body)
    assert r["socket"] - r["base_socket"] == 4 * 768
    assert r["skb"] - r["base_skb"] >= 3 * 542
    assert r["after_socket"] == r["base_socket"] and r["after_skb"] == r["base_skb"] == 0
    assert r["erange"] == -E.ERANGE


def test_ping_the_gateway_then_netstat_and_metrics():
    async def body(libc, r):
        r["ping"] = await ping_main(libc, ["ping", "-c", "3", "-i", "0.05", "10.0.2.2"])
        fd = await udp(libc, 5353)
        r["netstat"] = await netstat_main(libc, ["netstat"])
        r["ifconfig"] = await ifconfig_main(libc, ["ifconfig"])
        await libc.close(fd)
        r["metrics"] = snapshot(libc._k)

    r, _, out = run(body)
    text = out.text
    assert r["ping"] == r["netstat"] == r["ifconfig"] == 0
    assert re.search(r"(?m)^64 bytes from 10\.0\.2\.2: icmp_seq=1 ttl=64 time=\d+\.\d{3} ms$", text)
    assert "3 packets transmitted, 3 received, 0% packet loss" in text
    assert re.search(r"(?m)^rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms$", text)
    eth0 = re.search(
        r"(?m)^Interface eth0 UP  addr 10\.0\.2\.15/24 mac 52:54:00(:[0-9a-f]{2}){3}  "
        r"rx_packets=(\d+) rx_bytes=(\d+) tx_packets=(\d+) tx_bytes=(\d+) drops=0",
        text,
    )
    assert eth0 and int(eth0.group(2)) >= 3 and int(eth0.group(4)) >= 3
    assert re.search(r"(?m)^Interface lo UP  addr 127\.0\.0\.1/8 ", text)
    assert re.search(r"(?m)^Proto +Recv-Q +Local Address +Foreign Address", text)
    assert re.search(r"(?m)^udp +0  127\.0\.0\.1:5353 +\*:\*", text)
    assert "inet 10.0.2.15  netmask 255.255.255.0  gateway 10.0.2.2" in text
    m = r["metrics"]
    assert m["net_tx_packets"] >= 3 and m["net_rx_packets"] >= 3 and m["net_rx_bytes"] > 0


def test_ping_failures_are_reported_and_exit_non_zero():
    async def body(libc, r):
        r["unreach"] = await ping_main(libc, ["ping", "-c", "1", "-W", "2", "10.0.2.99"])
        libc._k.machine.set_link("net0", False)  # what QMP set_link does
        r["down"] = await ping_main(libc, ["ping", "-c", "2", "-i", "0.05", "10.0.2.2"])
        r["netstat"] = await netstat_main(libc, ["netstat"])
        libc._k.machine.set_link("net0", True)
        r["usage"] = await ping_main(libc, ["ping"])
        r["name"] = await ping_main(libc, ["ping", "example.org"])

    r, m, out = run(body)
    text = out.text
    assert r["unreach"] == 1 and "From 10.0.2.15 icmp_seq=1 Destination Host Unreachable" in text
    assert r["down"] == 1
    assert text.count("ping: 10.0.2.2: Network is down (ENETDOWN)") == 2
    assert "2 packets transmitted, 0 received, 100% packet loss" in text
    assert re.search(r"(?m)^Interface eth0 DOWN ", text)
    assert r["usage"] == r["name"] == 2 and "ping: example.org: Name or service not known" in text
    assert m.nic_link == {"eth0": True}
    dmesg = "\n".join(m.kernel.printk.dmesg())
    assert "eth0: link down" in dmesg and "eth0: link up" in dmesg


def test_chaos_network_fail_strikes_at_nic_send():
    async def body(libc, r):
        r["before"] = await ping_main(libc, ["ping", "-c", "1", "10.0.2.2"])  # resolves ARP too
        await libc.kctl("chaos.mode=network_fail")
        await libc.kctl("chaos.rate=100")
        r["during"] = await ping_main(libc, ["ping", "-c", "2", "-i", "0.05", "10.0.2.2"])
        r["chaos"] = await libc.kinfo("chaos")
        r["eth0"] = next(i for i in (await netinfo(libc))["interfaces"] if i["name"] == "eth0")

    r, _, out = run(body, args=[*USER, "-features", "chaos"])
    assert r["before"] == 0 and r["during"] == 1
    assert out.text.count("ping: 10.0.2.2: Network is down (ENETDOWN)") == 2
    assert r["chaos"]["network_failures"] == 2
    assert r["eth0"]["nic_tx_errors"] == 2

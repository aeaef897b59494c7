"""Network programs: netstat, ping, ifconfig. Like any user program they reach the network
only through syscalls: sockets with `struct sockaddr_in` in their own memory, and
`sis_netinfo` for interface and socket tables."""

from __future__ import annotations

import json
import struct
import time

from sis.contract.syscalls import (
    AF_INET,
    IPPROTO_ICMP,
    SO_RCVTIMEO,
    SOCK_RAW,
    SOL_SOCKET,
    pack_sockaddr_in,
)
from sis.kernel.errno import Errno
from sis.kernel.shell.libc import Libc, SysError
from sis.kernel.shell.programs import program

ICMP_ECHO_REPLY, ICMP_DEST_UNREACH, ICMP_ECHO = 0, 3, 8
UNREACH_TEXT = {
    0: "Destination Net Unreachable",
    1: "Destination Host Unreachable",
    3: "Destination Port Unreachable",
}
PING_MAX_DATA = 1472


# -- user-space helpers (what libc's inet_aton and iputils' in_cksum do) -----------------------


def inet_aton(text: str) -> int | None:
    if text == "localhost":
        text = "127.0.0.1"
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        return None
    return int.from_bytes(bytes(int(p) for p in parts), "big")


def inet_ntoa(addr: int) -> str:
    return ".".join(str(b) for b in addr.to_bytes(4, "big"))


def in_cksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, data: bytes) -> bytes:
    body = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq) + data
    return body[:2] + in_cksum(body).to_bytes(2, "big") + body[4:]


async def netinfo(libc: Libc) -> dict:
    size = 16 << 10
    while True:
        libc._reset()
        buf = await libc._reserve(size)
        ret = await libc.sys.sis_netinfo(buf, size)
        if ret == -Errno.ERANGE and size < 16 << 20:
            size *= 4
            continue
        if ret < 0:
            raise SysError(-ret, "netinfo")
        return json.loads(libc.peek(buf, ret))


# -- netstat --------------------------------------------------------------------------------------


def interface_line(i: dict) -> str:
    state = "UP" if i["up"] else "DOWN"
    if i["addr"] is None:
        addr = "none"
    else:
        addr = f"{i['addr']}/{i['prefix']}" + (" tentative" if i["tentative"] else "")
    return (
        f"Interface {i['name']} {state}  addr {addr} mac {i['mac']}  "
        f"rx_packets={i['rx_packets']} rx_bytes={i['rx_bytes']} "
        f"tx_packets={i['tx_packets']} tx_bytes={i['tx_bytes']} "
        f"drops={i['drops']} errors={i['errors']}"
    )


@program(
    "netstat", "netstat [-s]: interfaces and their counters, open sockets (-s: protocol counters)"
)
async def netstat_main(libc: Libc, argv: list[str]) -> int:
    args = argv[1:]
    if any(a not in ("-s", "-n", "-a") for a in args):
        await libc.eprint("usage: netstat [-s]")
        return 2
    try:
        info = await netinfo(libc)
    except SysError as e:
        await libc.eprint(e.line("netstat"))
        return 1
    if "-s" in args:
        lines = [f"{k}={v}" for k, v in sorted(info["stats"].items())] or ["no protocol counters"]
        await libc.print("\n".join(lines))
        return 0
    lines = [interface_line(i) for i in info["interfaces"]] or ["No network interfaces"]
    lines.append(
        f"{'Proto':<6} {'Recv-Q':>6}  {'Local Address':<22} {'Foreign Address':<22} "
        f"{'Drops':>5} {'PID':>5}"
    )
    for s in info["sockets"]:
        lines.append(
            f"{s['proto']:<6} {s['queued']:>6}  {s['local']:<22} {s['remote']:<22} "
            f"{s['drops']:>5} {s['pid']:>5}"
        )
    await libc.print("\n".join(lines))
    return 0


@program("ifconfig", "network interfaces in detail")
async def ifconfig_main(libc: Libc, argv: list[str]) -> int:
    try:
        info = await netinfo(libc)
    except SysError as e:
        await libc.eprint(e.line("ifconfig"))
        return 1
    blocks = []
    for i in info["interfaces"]:
        flags = ("UP,RUNNING" if i["up"] else "DOWN") + (
            ",LOOPBACK" if i["kind"] == "loopback" else ",BROADCAST"
        )
        lines = [f"{i['name']}: flags=<{flags}>  mtu {i['mtu']}  ({i['device']})"]
        if i["addr"] is not None:
            mask = inet_ntoa((0xFFFFFFFF << (32 - i["prefix"])) & 0xFFFFFFFF)
            lines.append(
                f"        inet {i['addr']}  netmask {mask}"
                + ("  (tentative)" if i["tentative"] else "")
                + (f"  gateway {i['gateway']}" if i["gateway"] else "")
            )
        lines += [
            f"        ether {i['mac']}",
            f"        RX packets {i['nic_rx_packets']}  bytes {i['nic_rx_bytes']}",
            f"        RX errors {i['nic_rx_errors']}  dropped {i['nic_rx_dropped'] + i['rx_nomem']}",
            f"        TX packets {i['nic_tx_packets']}  bytes {i['nic_tx_bytes']}",
            f"        TX errors {i['nic_tx_errors']}  dropped {i['nic_tx_dropped']}",
        ]
        blocks.append("\n".join(lines))
    await libc.print("\n\n".join(blocks) if blocks else "No network interfaces")
    return 0


# -- ping -----------------------------------------------------------------------------------------


class _PingUsage(ValueError):
    pass


def _parse_ping(args: list[str]) -> tuple[int, float, float, int, str]:
    count, timeout, interval, size = 4, 1.0, 1.0, 56
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-c", "-W", "-i", "-s"):
            if i + 1 >= len(args):
                raise _PingUsage(f"option requires an argument -- '{a[1]}'")
            value = args[i + 1]
            try:
                if a == "-c":
                    count = int(value)
                    if count < 1:
                        raise ValueError
                elif a == "-s":
                    size = int(value)
                    if not 8 <= size <= PING_MAX_DATA:
                        raise ValueError
                else:
                    number = float(value)
                    if not 0.001 <= number <= 3600:
                        raise ValueError
                    if a == "-W":
                        timeout = number
                    else:
                        interval = number
            except ValueError:
                raise _PingUsage(f"invalid argument: '{value}'") from None
            i += 2
            continue
        if a.startswith("-") and a != "-":
            raise _PingUsage(f"invalid option -- '{a[1:]}'")
        rest.append(a)
        i += 1
    if len(rest) != 1:
        raise _PingUsage("usage error: Destination address required")
    return count, timeout, interval, size, rest[0]


class _Pinger:
    def __init__(self, libc: Libc, fd: int, dest: int, ident: int, size: int) -> None:
        self.libc = libc
        self.fd = fd
        self.dest = dest
        self.ident = ident
        self.size = size
        self.transmitted = 0
        self.received: set[int] = set()
        self.duplicates = 0
        self.errors = 0
        self.rtts: list[float] = []

    async def send(self, seq: int) -> SysError | None:
        libc = self.libc
        # The send time travels in the payload, as in iputils: a late reply still has its RTT.
        # The clock is read like clock_gettime through the vDSO, without a syscall.
        stamp = struct.pack("<q", time.monotonic_ns())
        data = (stamp + bytes(range(8, 256)) * 8)[: self.size]
        libc._reset()
        msg = await libc.put(echo_request(self.ident, seq, data))
        addr = await libc.put(pack_sockaddr_in(self.dest, 0))
        self.transmitted += 1
        ret = await libc.sys.sendto(self.fd, msg, 8 + self.size, 0, addr, 16)
        return SysError(-ret, inet_ntoa(self.dest)) if ret < 0 else None

    async def wait(self, seconds: float, want: int | None) -> None:
        """Print replies for `seconds`, or until the reply to `want` arrives."""
        libc = self.libc
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            libc._reset()
            tv = await libc.put(struct.pack("<qq", int(left), max(1, int(left % 1 * 1e6))))
            await libc.sys.setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16)
            buf = await libc._reserve(65536)
            n = await libc.sys.recvfrom(self.fd, buf, 65536, 0, 0, 0)
            if n == -Errno.EAGAIN:
                return
            if n < 0:
                raise SysError(-n, "recvfrom")
            if await self._packet(libc.peek(buf, n)) == want and want is not None:
                return

    async def _packet(self, packet: bytes) -> int | None:
        """Print what a received IP packet says about our echoes; its sequence number or None."""
        if len(packet) < 28:
            return None
        ihl = (packet[0] & 0xF) * 4
        ttl = packet[8]
        src = inet_ntoa(int.from_bytes(packet[12:16], "big"))
        icmp = packet[ihl:]
        if len(icmp) < 8:
            return None
        type_, _code, _sum, ident, seq = struct.unpack_from("!BBHHH", icmp)
        if type_ == ICMP_ECHO_REPLY and ident == self.ident:
            now = time.monotonic_ns()
            rtt = (now - struct.unpack_from("<q", icmp, 8)[0]) / 1e6 if len(icmp) >= 16 else 0.0
            dup = seq in self.received
            if dup:
                self.duplicates += 1
            else:
                self.received.add(seq)
                self.rtts.append(rtt)
            await self.libc.print(
                f"{len(icmp)} bytes from {src}: icmp_seq={seq} ttl={ttl} "
                f"time={rtt:.3f} ms" + (" (DUP!)" if dup else "")
            )
            return seq
        if type_ == ICMP_DEST_UNREACH and len(icmp) >= 8 + 28:
            quoted = icmp[8:]
            qihl = (quoted[0] & 0xF) * 4
            if len(quoted) >= qihl + 8 and quoted[9] == 1:
                qtype, _c, _s, qident, qseq = struct.unpack_from("!BBHHH", quoted, qihl)
                if qtype == ICMP_ECHO and qident == self.ident:
                    self.errors += 1
                    text = UNREACH_TEXT.get(_code, f"Destination Unreachable (code {_code})")
                    await self.libc.print(f"From {src} icmp_seq={qseq} {text}")
                    return qseq
        return None

    def summary(self, target: str, elapsed_ms: int) -> str:
        got = len(self.received)
        loss = (self.transmitted - got) * 100 / self.transmitted if self.transmitted else 0.0
        extra = (f"+{self.duplicates} duplicates, " if self.duplicates else "") + (
            f"+{self.errors} errors, " if self.errors else ""
        )
        lines = [
            f"--- {target} ping statistics ---",
            f"{self.transmitted} packets transmitted, {got} received, {extra}{loss:g}% packet loss, "
            f"time {elapsed_ms}ms",
        ]
        if self.rtts:
            avg = sum(self.rtts) / len(self.rtts)
            mdev = (sum((r - avg) ** 2 for r in self.rtts) / len(self.rtts)) ** 0.5
            lines.append(
                f"rtt min/avg/max/mdev = {min(self.rtts):.3f}/{avg:.3f}/{max(self.rtts):.3f}/"
                f"{mdev:.3f} ms"
            )
        return "\n".join(lines)


@program("ping", "ping [-c N] [-W TIMEOUT] [-i INTERVAL] [-s SIZE] ADDR: ICMP echo")
async def ping_main(libc: Libc, argv: list[str]) -> int:
    try:
        count, timeout, interval, size, target = _parse_ping(argv[1:])
    except _PingUsage as e:
        await libc.eprint(
            f"ping: {e}\nusage: ping [-c N] [-W TIMEOUT] [-i INTERVAL] [-s SIZE] ADDR"
        )
        return 2
    dest = inet_aton(target)
    if dest is None:
        await libc.eprint(f"ping: {target}: Name or service not known")
        return 2
    fd = await libc.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
    if fd < 0:
        await libc.eprint(SysError(-fd, target).line("ping"))
        return 2
    pinger = _Pinger(libc, fd, dest, await libc.getpid() & 0xFFFF, size)
    addr = inet_ntoa(dest)
    await libc.print(f"PING {target} ({addr}) {size}({size + 28}) bytes of data.")
    start = time.monotonic()
    try:
        for seq in range(1, count + 1):
            sent_at = time.monotonic()
            err = await pinger.send(seq)
            if err is not None:
                await libc.eprint(err.line("ping"))
            last = seq == count
            if err is None and last:
                await pinger.wait(timeout, seq)
            elif not last:
                await pinger.wait(max(0.0, interval - (time.monotonic() - sent_at)), None)
    except SysError as e:
        await libc.eprint(e.line("ping"))
    finally:
        await libc.close(fd)
    elapsed_ms = int((time.monotonic() - start) * 1000)
    await libc.print("\n" + pinger.summary(target, elapsed_ms))
    return 0 if pinger.received else 1

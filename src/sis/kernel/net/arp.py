"""ARP (RFC 826): the neighbour table that maps IPv4 addresses on a link to MAC addresses,
with a queue of packets waiting for an answer, and address probing (RFC 5227) so that
kernels joining the same hub each claim an address nobody else holds."""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sis.kernel.drivers.nic import BROADCAST_MAC, format_mac
from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import KernelError
from sis.kernel.net import ipv4
from sis.kernel.net.ether import ETH_P_ARP, ETH_P_IP

if TYPE_CHECKING:
    from asyncio import TimerHandle

    from sis.kernel.net.skb import Skb
    from sis.kernel.net.stack import Interface, NetStack

ARP_REQUEST, ARP_REPLY = 1, 2
_PACKET = struct.Struct("!HHBBH6s4s6s4s")
REACHABLE_S = 60.0  # an entry is trusted this long, then resolved again
RESOLVE_TRIES = 3
RESOLVE_INTERVAL_S = 0.25
PENDING_MAX = 64  # packets held per unresolved neighbour; more are dropped
PROBE_COUNT = 2
PROBE_INTERVAL_S = 0.05
PROBE_WAIT_S = 0.1  # after the last probe, how long silence means the address is free
PROBE_ATTEMPTS = 32


@dataclass(frozen=True)
class ArpPacket:
    oper: int
    sha: bytes
    spa: int
    tha: bytes
    tpa: int

    def pack(self) -> bytes:
        return _PACKET.pack(
            1,
            ETH_P_IP,
            6,
            4,
            self.oper,
            self.sha,
            self.spa.to_bytes(4, "big"),
            self.tha,
            self.tpa.to_bytes(4, "big"),
        )

    @classmethod
    def parse(cls, data: bytes) -> ArpPacket:
        if len(data) < _PACKET.size:
            raise ValueError("truncated ARP packet")
        htype, ptype, hlen, plen, oper, sha, spa, tha, tpa = _PACKET.unpack_from(data)
        if (htype, ptype, hlen, plen) != (1, ETH_P_IP, 6, 4) or oper not in (
            ARP_REQUEST,
            ARP_REPLY,
        ):
            raise ValueError("not an Ethernet/IPv4 ARP packet")
        return cls(oper, sha, int.from_bytes(spa, "big"), tha, int.from_bytes(tpa, "big"))


@dataclass(eq=False)
class Neighbour:
    iface: Interface
    addr: int
    mac: bytes | None = None
    confirmed: float = 0.0
    pending: deque[Skb] = field(default_factory=deque)
    tries: int = 0
    timer: TimerHandle | None = None

    @property
    def state(self) -> str:
        if self.mac is None:
            return "incomplete"
        return "reachable" if time.monotonic() - self.confirmed < REACHABLE_S else "stale"


class NeighbourTable:
    def __init__(self, stack: NetStack) -> None:
        self.stack = stack
        self.entries: dict[tuple[str, int], Neighbour] = {}
        self.conflicts = 0

    def lookup(self, iface: Interface, addr: int) -> bytes | None:
        nb = self.entries.get((iface.name, addr))
        if nb is None or nb.mac is None or nb.state != "reachable":
            return None
        return nb.mac

    def queue(self, iface: Interface, addr: int, skb: Skb) -> None:
        """Hold an IP packet (in `skb`) until `addr` resolves; ask for it if nobody is asking."""
        nb = self.entries.get((iface.name, addr))
        if nb is None:
            nb = self.entries[(iface.name, addr)] = Neighbour(iface, addr)
        if len(nb.pending) >= PENDING_MAX:
            old = nb.pending.popleft()
            old.free()
            self.stack.count("arp_queue_drops")
        nb.pending.append(skb)
        if nb.timer is None:
            nb.tries = 0
            self._solicit(nb)

    def _solicit(self, nb: Neighbour) -> None:
        nb.timer = None
        if nb.tries >= RESOLVE_TRIES:
            self._failed(nb)
            return
        nb.tries += 1
        iface = nb.iface
        src = iface.addr or 0
        request = ArpPacket(ARP_REQUEST, iface.nic.mac, src, bytes(6), nb.addr)
        self.stack.send_frame(iface, BROADCAST_MAC, ETH_P_ARP, request.pack(), quiet=True)
        self.stack.count("arp_requests_out")
        nb.timer = self.stack.call_later(RESOLVE_INTERVAL_S, self._solicit, nb)

    def _failed(self, nb: Neighbour) -> None:
        """Nobody answered: drop what waited, telling local senders the host is unreachable."""
        self.entries.pop((nb.iface.name, nb.addr), None)
        self.stack.count("arp_failures")
        while nb.pending:
            skb = nb.pending.popleft()
            packet = skb.data
            skb.free()
            self.stack.count("ip_out_no_routes")
            self.stack.local_unreachable(nb.iface, packet)

    def learn(self, iface: Interface, addr: int, mac: bytes) -> None:
        nb = self.entries.get((iface.name, addr))
        if nb is None:
            nb = self.entries[(iface.name, addr)] = Neighbour(iface, addr)
        nb.mac = mac
        nb.confirmed = time.monotonic()
        if nb.timer is not None:
            self.stack.cancel_timer(nb.timer)
            nb.timer = None
        while nb.pending:
            skb = nb.pending.popleft()
            self.stack.xmit_skb(iface, mac, ETH_P_IP, skb)

    def input(self, iface: Interface, payload: bytes) -> None:
        pkt = ArpPacket.parse(payload)
        self.stack.count("arp_in")
        own = iface.nic.mac
        if pkt.sha == own:
            return  # our own broadcast, repeated back by the hub
        probe = self.stack.probes.get(iface.name)
        if probe is not None:
            probe.observe(pkt)
        if iface.addr is not None and pkt.spa == iface.addr:
            self.conflicts += 1
            self.stack.log_warn(
                "addr_conflict",
                f"{iface.name}: {ipv4.ntoa(iface.addr)} also claimed by {format_mac(pkt.sha)}",
                iface=iface.name,
                addr=ipv4.ntoa(iface.addr),
                mac=format_mac(pkt.sha),
            )
            return
        if pkt.spa and iface.on_link(pkt.spa):
            if (iface.addr is not None and pkt.tpa == iface.addr) or (
                iface.name,
                pkt.spa,
            ) in self.entries:
                self.learn(iface, pkt.spa, pkt.sha)
        if pkt.oper == ARP_REQUEST and iface.addr is not None and pkt.tpa == iface.addr:
            reply = ArpPacket(ARP_REPLY, own, iface.addr, pkt.sha, pkt.spa)
            self.stack.send_frame(iface, pkt.sha, ETH_P_ARP, reply.pack(), quiet=True)
            self.stack.count("arp_replies_out")

    def announce(self, iface: Interface) -> None:
        """Gratuitous ARP: tell the segment which MAC holds our address."""
        if iface.addr is None:
            return
        pkt = ArpPacket(ARP_REQUEST, iface.nic.mac, iface.addr, bytes(6), iface.addr)
        self.stack.send_frame(iface, BROADCAST_MAC, ETH_P_ARP, pkt.pack(), quiet=True)

    def flush(self, iface: Interface | None = None) -> None:
        """Forget entries (of one interface, or all) and free the packets they held."""
        for key, nb in list(self.entries.items()):
            if iface is not None and nb.iface is not iface:
                continue
            if nb.timer is not None:
                self.stack.cancel_timer(nb.timer)
            while nb.pending:
                nb.pending.popleft().free()
            del self.entries[key]

    def info(self) -> list[dict[str, object]]:
        return [
            {
                "iface": nb.iface.name,
                "addr": ipv4.ntoa(nb.addr),
                "mac": format_mac(nb.mac) if nb.mac else None,
                "state": nb.state,
                "pending": len(nb.pending),
            }
            for nb in self.entries.values()
        ]


def host_candidates(mac: bytes, network: int, low: int = 2, high: int = 254) -> Iterator[int]:
    """Addresses to try on a /24, derived from the MAC: the same NIC asks for the same address
    first after a reboot, and two NICs that collide go on to different candidates."""
    span = high - low + 1
    rng = Rng(int.from_bytes(mac, "big"))
    first = low + int.from_bytes(mac[3:], "big") % span
    tried = {first}
    yield network | first
    while len(tried) < span:
        host = low + rng.randrange(span)
        if host not in tried:
            tried.add(host)
            yield network | host


class AddressProbe:
    """Claim an address on a link: ask twice whether anyone has it (ARP probes from 0.0.0.0),
    wait, and take it if nobody answered; on an answer, or a probe for the same address from
    another station, try the next candidate."""

    def __init__(self, stack: NetStack, iface: Interface, candidates: Iterator[int]) -> None:
        self.stack = stack
        self.iface = iface
        self.candidates = candidates
        self.candidate: int | None = None
        self.attempts = 0
        self.sent = 0
        self.timer: TimerHandle | None = None
        self.paused = False

    def start(self) -> None:
        self.candidate = next(self.candidates, None)
        self.attempts += 1
        if self.candidate is None or self.attempts > PROBE_ATTEMPTS:
            self.stack.probe_failed(self.iface)
            return
        self.iface.tentative = self.candidate
        self.sent = 0
        self.stack.log_debug(
            "addr_probe",
            f"{self.iface.name}: probing {ipv4.ntoa(self.candidate)}",
            iface=self.iface.name,
            addr=ipv4.ntoa(self.candidate),
        )
        self._step()

    def _step(self) -> None:
        self.timer = None
        assert self.candidate is not None
        if not self.iface.nic.link_up:
            self.paused = True  # resumed when the link comes up
            return
        if self.sent < PROBE_COUNT:
            pkt = ArpPacket(ARP_REQUEST, self.iface.nic.mac, 0, bytes(6), self.candidate)
            try:
                self.stack.send_frame(self.iface, BROADCAST_MAC, ETH_P_ARP, pkt.pack())
            except KernelError:
                self.paused = True
                return
            self.sent += 1
            self.timer = self.stack.call_later(
                PROBE_INTERVAL_S if self.sent < PROBE_COUNT else PROBE_WAIT_S, self._step
            )
            return
        self.stack.probe_done(self.iface, self.candidate)

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            self.sent = 0
            self._step()

    def observe(self, pkt: ArpPacket) -> None:
        if self.candidate is None:
            return
        taken = pkt.spa == self.candidate
        rival = pkt.oper == ARP_REQUEST and pkt.spa == 0 and pkt.tpa == self.candidate
        if taken or rival:
            self.stack.log_debug(
                "addr_in_use",
                f"{self.iface.name}: {ipv4.ntoa(self.candidate)} "
                f"{'in use by' if taken else 'also probed by'} {format_mac(pkt.sha)}",
                iface=self.iface.name,
                addr=ipv4.ntoa(self.candidate),
            )
            self.cancel()
            self.start()

    def cancel(self) -> None:
        if self.timer is not None:
            self.stack.cancel_timer(self.timer)
            self.timer = None

"""The far end of `-nic user`: a tiny stand-in for QEMU's slirp router on 10.0.2.0/24.

It answers ARP for the gateway 10.0.2.2, ICMP echo to the gateway, and UDP echo (port 7) on
the gateway. Nothing leaves the machine: a packet for any other address comes back as ICMP
"destination net unreachable" from the gateway, so a user sees why instead of a silent loss.
It is outside the guest, so it uses no kernel heap."""

from __future__ import annotations

from collections import Counter

from sis.kernel.drivers.nic import Wire, parse_mac
from sis.kernel.net import ether, icmp, ipv4, udp
from sis.kernel.net.arp import ARP_REPLY, ARP_REQUEST, ArpPacket
from sis.kernel.net.ether import ETH_P_ARP, ETH_P_IP
from sis.kernel.net.ipv4 import IPPROTO_ICMP, IPPROTO_UDP

NETWORK = ipv4.aton("10.0.2.0")
PREFIX = 24
GATEWAY = ipv4.aton("10.0.2.2")
GUEST = ipv4.aton("10.0.2.15")
GATEWAY_MAC = parse_mac("52:55:0a:00:02:02")  # what QEMU's slirp uses
ECHO_PORT = 7


class SlirpGateway:
    def __init__(self, wire: Wire, *, addr: int = GATEWAY, mac: bytes = GATEWAY_MAC) -> None:
        self.wire = wire
        self.addr = addr
        self.mac = mac
        self.stats: Counter[str] = Counter()
        self._ident = 0
        wire.attach(self.receive)

    def receive(self, frame: bytes) -> None:
        try:
            eth, payload = ether.parse(frame)
            if eth.dst not in (self.mac, ether.BROADCAST_MAC):
                return
            if eth.ethertype == ETH_P_ARP:
                self._arp(payload)
            elif eth.ethertype == ETH_P_IP:
                self._ip(eth.src, payload)
        except ValueError:
            self.stats["malformed"] += 1

    def _send(self, dst_mac: bytes, ethertype: int, payload: bytes) -> None:
        self.wire.carry(self.receive, ether.build(dst_mac, self.mac, ethertype, payload))

    def _arp(self, payload: bytes) -> None:
        pkt = ArpPacket.parse(payload)
        if pkt.oper == ARP_REQUEST and pkt.tpa == self.addr:
            reply = ArpPacket(ARP_REPLY, self.mac, self.addr, pkt.sha, pkt.spa)
            self._send(pkt.sha, ETH_P_ARP, reply.pack())
            self.stats["arp_replies"] += 1

    def _reply_ip(self, dst_mac: bytes, src: int, dst: int, proto: int, payload: bytes) -> None:
        self._ident += 1
        self._send(dst_mac, ETH_P_IP, ipv4.build(src, dst, proto, payload, self._ident))

    def _ip(self, src_mac: bytes, packet: bytes) -> None:
        hdr, payload = ipv4.parse(packet)
        if hdr.dst != self.addr:
            if not ipv4.same_subnet(hdr.dst, NETWORK, PREFIX) and hdr.dst != ipv4.BROADCAST:
                # Routed to the outside world, which this machine does not reach.
                self.stats["unreachable"] += 1
                self._reply_ip(
                    src_mac,
                    self.addr,
                    hdr.src,
                    IPPROTO_ICMP,
                    icmp.unreachable(icmp.UNREACH_NET, packet[: hdr.total_len]),
                )
            return
        if hdr.proto == IPPROTO_ICMP:
            msg = icmp.parse(payload)
            if msg.type == icmp.ECHO_REQUEST:
                self.stats["echo_replies"] += 1
                self._reply_ip(
                    src_mac,
                    self.addr,
                    hdr.src,
                    IPPROTO_ICMP,
                    icmp.build(icmp.ECHO_REPLY, 0, msg.ident, msg.seq, msg.data),
                )
        elif hdr.proto == IPPROTO_UDP:
            uh, data = udp.parse(hdr.src, hdr.dst, payload)
            if uh.dport == ECHO_PORT:
                self.stats["udp_echoes"] += 1
                self._reply_ip(
                    src_mac,
                    self.addr,
                    hdr.src,
                    IPPROTO_UDP,
                    udp.build(self.addr, hdr.src, ECHO_PORT, uh.sport, data),
                )
            else:
                self.stats["port_unreachable"] += 1
                self._reply_ip(
                    src_mac,
                    self.addr,
                    hdr.src,
                    IPPROTO_ICMP,
                    icmp.unreachable(icmp.UNREACH_PORT, packet[: hdr.total_len]),
                )

    def close(self) -> None:
        self.wire.detach(self.receive)

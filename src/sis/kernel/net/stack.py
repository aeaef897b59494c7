"""The network stack: interfaces, routing, the IPv4 receive and transmit paths, the ICMP echo
responder and UDP demultiplexing.

Receive: a NIC hands a frame to `_rx`, which copies it into a heap packet buffer and passes
it up (ARP to the neighbour table, IPv4 to ICMP or UDP); whoever keeps the packet (a socket
queue) keeps the buffer, otherwise it is freed before `_rx` returns. Transmit: a socket asks
for a route and a source address, then `ip_send` builds the packet in a heap buffer and hands
it to the NIC, or parks it with the neighbour table until the next hop's MAC is known.

Everything runs on the kernel's event loop between CPU time slices, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sis.kernel.drivers.nic import BROADCAST_MAC, Nic, format_mac
from sis.kernel.errno import Errno, KernelError
from sis.kernel.net import ether, icmp, ipv4, udp
from sis.kernel.net.arp import AddressProbe, NeighbourTable
from sis.kernel.net.ether import ETH_P_ARP, ETH_P_IP
from sis.kernel.net.ipv4 import IPPROTO_ICMP, IPPROTO_UDP
from sis.kernel.net.skb import Skb
from sis.kernel.net.socket import IcmpRawSocket, Socket, UdpSocket

if TYPE_CHECKING:
    from sis.kernel.mm.heap import Heap
    from sis.kernel.printk import Printk

EPHEMERAL_PORTS = range(49152, 65536)
LINK_ALIASES = {"net0": "eth0"}  # QEMU names the first NIC net0


@dataclass(eq=False)
class Interface:
    name: str
    nic: Nic
    network: int = 0
    prefix: int = 0
    addr: int | None = None
    gateway: int | None = None
    tentative: int | None = None  # the address being probed, not usable yet
    rx_nomem: int = 0  # frames dropped because no packet buffer could be allocated

    @property
    def loopback(self) -> bool:
        return self.nic.kind == "loopback"

    @property
    def broadcast(self) -> int:
        return self.network | (~ipv4.netmask(self.prefix) & 0xFFFFFFFF)

    def on_link(self, addr: int) -> bool:
        return self.prefix > 0 and ipv4.same_subnet(addr, self.network, self.prefix)

    def counters(self) -> dict[str, int]:
        s = self.nic.stats
        return {
            "rx_packets": s.rx_packets,
            "rx_bytes": s.rx_bytes,
            "tx_packets": s.tx_packets,
            "tx_bytes": s.tx_bytes,
            "drops": s.rx_dropped + s.tx_dropped + self.rx_nomem,
            "errors": s.rx_errors + s.tx_errors,
        }


class NetStack:
    def __init__(
        self,
        heap: Heap,
        log: Printk | None = None,
        *,
        on_bug: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.heap = heap
        self.log = log
        self.on_bug = on_bug
        self.interfaces: dict[str, Interface] = {}
        self.neighbours = NeighbourTable(self)
        self.probes: dict[str, AddressProbe] = {}
        self.sockets: list[Socket] = []
        self.udp_ports: dict[int, UdpSocket] = {}
        self.stats: Counter[str] = Counter()
        self.links: dict[str, bool] = {}  # QMP link state, shared with the machine across reboots
        self.closed = False
        self._ident = itertools.count(1)
        self._next_port = EPHEMERAL_PORTS.start
        self._timers: set[asyncio.TimerHandle] = set()
        self._extra_close: list[Callable[[], None]] = []

    # -- logging and counters -----------------------------------------------------------------
    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] += n

    def log_info(self, event: str, message: str, **fields: object) -> None:
        if self.log is not None:
            self.log.info("net", event, message, **fields)

    def log_warn(self, event: str, message: str, **fields: object) -> None:
        if self.log is not None:
            self.log.warn("net", event, message, **fields)

    def log_debug(self, event: str, message: str, **fields: object) -> None:
        if self.log is not None:
            self.log.debug("net", event, message, **fields)

    # -- timers (cancelled together at close) -------------------------------------------------
    def call_later(
        self, delay_s: float, fn: Callable[..., object], *args: Any
    ) -> asyncio.TimerHandle:
        def fire() -> None:
            self._timers.discard(handle)
            if not self.closed:
                self._guarded(fn, *args)

        handle = asyncio.get_running_loop().call_later(delay_s, fire)
        self._timers.add(handle)
        return handle

    def cancel_timer(self, handle: asyncio.TimerHandle) -> None:
        handle.cancel()
        self._timers.discard(handle)

    def _guarded(self, fn: Callable[..., object], *args: Any) -> None:
        """Run a callback from the event loop: a Python exception in it is a kernel bug."""
        try:
            fn(*args)
        except Exception as e:
            if self.on_bug is None:
                raise
            self.on_bug(f"unhandled {type(e).__name__} in the network stack: {e}", e)

    # -- interfaces ---------------------------------------------------------------------------
    def add_interface(
        self,
        name: str,
        nic: Nic,
        *,
        network: int = 0,
        prefix: int = 0,
        addr: int | None = None,
        gateway: int | None = None,
    ) -> Interface:
        iface = Interface(name, nic, network=network, prefix=prefix, gateway=gateway)
        self.interfaces[name] = iface
        nic.on_receive = lambda frame: self._guarded(self._rx, iface, frame)
        if addr is not None:
            self.assign(iface, addr)
        return iface

    def assign(self, iface: Interface, addr: int) -> None:
        iface.addr = addr
        iface.tentative = None
        self.log_info(
            "addr_assigned",
            f"{iface.name}: address {ipv4.ntoa(addr)}/{iface.prefix}",
            iface=iface.name,
            addr=ipv4.ntoa(addr),
            prefix=iface.prefix,
            mac=format_mac(iface.nic.mac),
        )

    def start_probe(self, iface: Interface, probe: AddressProbe) -> None:
        self.probes[iface.name] = probe
        probe.start()

    def probe_done(self, iface: Interface, addr: int) -> None:
        self.probes.pop(iface.name, None)
        self.assign(iface, addr)
        self.neighbours.announce(iface)

    def probe_failed(self, iface: Interface) -> None:
        self.probes.pop(iface.name, None)
        iface.tentative = None
        if self.log is not None:
            self.log.error(
                "net", "addr_failed", f"{iface.name}: no free address on the link", iface=iface.name
            )

    def link_name(self, name: str) -> str:
        """The interface a QMP device name refers to; KeyError if none."""
        name = LINK_ALIASES.get(name, name)
        iface = self.interfaces.get(name)
        if iface is None or iface.loopback:
            raise KeyError(name)
        return name

    def set_link(self, name: str, up: bool) -> None:
        """QMP set_link: a down link fails sends with ENETDOWN and drops what arrives."""
        iface = self.interfaces[self.link_name(name)]
        self.links[iface.name] = up
        if iface.nic.link_up == up:
            return
        iface.nic.set_link(up)
        self.log_info(
            "link_up" if up else "link_down",
            f"{iface.name}: link {'up' if up else 'down'}",
            iface=iface.name,
        )
        if up:
            probe = self.probes.get(iface.name)
            if probe is not None:
                probe.resume()
            else:
                with contextlib.suppress(KernelError):
                    self.neighbours.announce(iface)

    # -- routing ------------------------------------------------------------------------------
    def is_local(self, addr: int) -> bool:
        return ipv4.is_loopback(addr) or any(i.addr == addr for i in self.interfaces.values())

    def is_broadcast(self, addr: int) -> bool:
        return addr == ipv4.BROADCAST or any(
            not i.loopback and i.prefix and addr == i.broadcast for i in self.interfaces.values()
        )

    def check_local(self, addr: int) -> None:
        """bind(): EADDRNOTAVAIL unless the address is one of ours (or INADDR_ANY)."""
        if addr != ipv4.ANY and not self.is_local(addr):
            raise KernelError(Errno.EADDRNOTAVAIL, f"{ipv4.ntoa(addr)} is not a local address")

    def _lo(self) -> Interface:
        for iface in self.interfaces.values():
            if iface.loopback:
                return iface
        raise KernelError(Errno.ENETUNREACH, "no loopback interface")

    def route(self, dst: int) -> tuple[Interface, int]:
        """The interface and next hop for `dst`. Raises ENETUNREACH."""
        if self.is_local(dst):
            return self._lo(), dst
        for iface in self.interfaces.values():
            if not iface.loopback and (iface.on_link(dst) or dst == ipv4.BROADCAST):
                return iface, dst
        for iface in self.interfaces.values():
            if iface.gateway is not None:
                return iface, iface.gateway
        raise KernelError(Errno.ENETUNREACH, f"no route to {ipv4.ntoa(dst)}")

    def select_source(self, dst: int, bound: int = ipv4.ANY) -> tuple[Interface, int, int]:
        """(interface, next hop, source address) for a packet to `dst`. ENETUNREACH when there
        is no route, ENETDOWN when its link is down, EADDRNOTAVAIL while the interface has no
        address yet (still probing)."""
        iface, hop = self.route(dst)
        if not iface.nic.link_up:
            raise KernelError(Errno.ENETDOWN, f"{iface.name}: link is down")
        if bound != ipv4.ANY and not ipv4.is_loopback(bound):
            return iface, hop, bound
        if iface.loopback:
            return iface, hop, dst if not ipv4.is_loopback(dst) else ipv4.LOOPBACK
        if iface.addr is None:
            raise KernelError(Errno.EADDRNOTAVAIL, f"{iface.name} has no address yet")
        return iface, hop, iface.addr

    # -- transmit -----------------------------------------------------------------------------
    def ip_send(
        self, iface: Interface, hop: int, src: int, dst: int, proto: int, payload: bytes
    ) -> None:
        """Build an IPv4 packet and send it toward `hop`. Raises EMSGSIZE, ENOMEM, ENETDOWN,
        EIO; a packet waiting for address resolution counts as sent."""
        packet = ipv4.build(src, dst, proto, payload, next(self._ident))
        if len(packet) > iface.nic.mtu:
            raise KernelError(
                Errno.EMSGSIZE,
                f"{len(packet)} bytes exceeds the MTU {iface.nic.mtu} of {iface.name}",
            )
        skb = self._alloc(packet)
        self.count("ip_out_requests")
        if iface.loopback:
            mac: bytes | None = iface.nic.mac
        elif hop == ipv4.BROADCAST or hop == iface.broadcast:
            mac = BROADCAST_MAC
        else:
            mac = self.neighbours.lookup(iface, hop)
        if mac is None:
            self.neighbours.queue(iface, hop, skb)
            return
        self.xmit_skb(iface, mac, ETH_P_IP, skb, quiet=False)

    def _alloc(self, data: bytes) -> Skb:
        try:
            return Skb(self.heap, data)
        except KernelError:
            self.count("tx_nomem")
            raise

    def xmit_skb(
        self, iface: Interface, dst_mac: bytes, ethertype: int, skb: Skb, *, quiet: bool = True
    ) -> None:
        """Frame the packet in `skb`, hand it to the NIC and free the buffer. With `quiet`, a
        send failure is counted instead of raised (nobody is waiting to hear about it)."""
        try:
            iface.nic.send(ether.build(dst_mac, iface.nic.mac, ethertype, skb.data))
        except KernelError:
            if not quiet:
                raise
            self.count("tx_errors_quiet")
        finally:
            skb.free()

    def send_frame(
        self,
        iface: Interface,
        dst_mac: bytes,
        ethertype: int,
        payload: bytes,
        *,
        quiet: bool = False,
    ) -> None:
        try:
            skb = self._alloc(payload)
        except KernelError:
            if quiet:
                return
            raise
        self.xmit_skb(iface, dst_mac, ethertype, skb, quiet=quiet)

    def local_unreachable(self, iface: Interface, packet: bytes) -> None:
        """A packet we sent could not be delivered (no ARP answer): tell local sockets, as an
        ICMP host-unreachable from our own address would."""
        try:
            hdr, _ = ipv4.parse(packet)
        except ValueError:
            return
        if iface.addr is None or not self.is_local(hdr.src):
            return
        message = icmp.unreachable(icmp.UNREACH_HOST, packet)
        with contextlib.suppress(KernelError):
            lo, _ = self.route(hdr.src)
            self.ip_send(lo, hdr.src, iface.addr, hdr.src, IPPROTO_ICMP, message)

    # -- receive ------------------------------------------------------------------------------
    def _rx(self, iface: Interface, frame: bytes) -> None:
        if self.closed:
            return
        try:
            skb = Skb(self.heap, frame)
        except KernelError:
            iface.rx_nomem += 1
            self.count("rx_nomem")
            return
        kept = False
        try:
            eth, payload = ether.parse(frame)
            if eth.ethertype == ETH_P_ARP:
                self.neighbours.input(iface, payload)
            elif eth.ethertype == ETH_P_IP:
                kept = self._ip_input(iface, skb, payload)
            else:
                self.count("rx_unknown_ethertype")
        except ValueError:
            iface.nic.stats.rx_errors += 1
            self.count("rx_malformed")
        finally:
            if not kept:
                skb.free()

    def _ip_input(self, iface: Interface, skb: Skb, packet: bytes) -> bool:
        """Returns True when a socket kept `skb`."""
        self.count("ip_in_receives")
        try:
            hdr, payload = ipv4.parse(packet)
        except ValueError:
            self.count("ip_in_hdr_errors")
            iface.nic.stats.rx_errors += 1
            return False
        broadcast = self.is_broadcast(hdr.dst)
        if not (self.is_local(hdr.dst) or broadcast):
            self.count("ip_in_addr_errors")  # not for us (a hub repeats everything)
            return False
        if hdr.proto == IPPROTO_ICMP:
            self._icmp_input(hdr, payload, packet[: hdr.total_len], broadcast)
            return False
        if hdr.proto == IPPROTO_UDP:
            return self._udp_input(hdr, payload, skb, packet[: hdr.total_len], broadcast)
        self.count("ip_in_unknown_protos")
        return False

    def _icmp_input(
        self, hdr: ipv4.IpHeader, payload: bytes, packet: bytes, broadcast: bool
    ) -> None:
        try:
            msg = icmp.parse(payload)
        except ValueError:
            self.count("icmp_in_errors")
            return
        self.count("icmp_in_msgs")
        for sock in list(self.sockets):
            if isinstance(sock, IcmpRawSocket) and sock.accepts(hdr.src, hdr.dst):
                try:
                    copy = Skb(self.heap, packet)
                except KernelError:
                    sock.drops += 1
                    self.count("rx_nomem")
                    continue
                if not sock.enqueue(copy, packet, hdr.src, 0):
                    copy.free()
        if msg.type == icmp.ECHO_REQUEST and not broadcast:
            self.count("icmp_in_echos")
            reply = icmp.build(icmp.ECHO_REPLY, 0, msg.ident, msg.seq, msg.data)
            try:
                iface, hop, _ = self.select_source(hdr.src)
                self.ip_send(iface, hop, hdr.dst, hdr.src, IPPROTO_ICMP, reply)
                self.count("icmp_out_echo_reps")
            except KernelError:
                self.count("icmp_out_errors")
        elif msg.type == icmp.DEST_UNREACH:
            self._icmp_error(msg)

    def _icmp_error(self, msg: icmp.IcmpMessage) -> None:
        """An ICMP error about a UDP datagram we sent: report it on the connected socket."""
        quoted = msg.data
        if len(quoted) < ipv4.HEADER_LEN + 8 or quoted[9] != IPPROTO_UDP:
            return
        ihl = (quoted[0] & 0xF) * 4
        if len(quoted) < ihl + 4:
            return
        dst = int.from_bytes(quoted[16:20], "big")
        sport = int.from_bytes(quoted[ihl : ihl + 2], "big")
        dport = int.from_bytes(quoted[ihl + 2 : ihl + 4], "big")
        sock = self.udp_ports.get(sport)
        if sock is not None and sock.remote == (dst, dport):
            err = {
                icmp.UNREACH_NET: Errno.ENETUNREACH,
                icmp.UNREACH_HOST: Errno.EHOSTUNREACH,
                icmp.UNREACH_PORT: Errno.ECONNREFUSED,
            }.get(msg.code, Errno.EHOSTUNREACH)
            sock.set_error(err)

    def _udp_input(
        self, hdr: ipv4.IpHeader, datagram: bytes, skb: Skb, packet: bytes, broadcast: bool
    ) -> bool:
        try:
            uh, payload = udp.parse(hdr.src, hdr.dst, datagram)
        except ValueError:
            self.count("udp_in_errors")
            return False
        self.count("udp_in_datagrams")
        sock = self.udp_ports.get(uh.dport)
        if sock is None or not sock.accepts(hdr.src, uh.sport, hdr.dst):
            self.count("udp_no_ports")
            if not broadcast:
                with contextlib.suppress(KernelError):
                    iface, hop, _ = self.select_source(hdr.src)
                    self.ip_send(
                        iface,
                        hop,
                        hdr.dst,
                        hdr.src,
                        IPPROTO_ICMP,
                        icmp.unreachable(icmp.UNREACH_PORT, packet),
                    )
            return False
        return sock.enqueue(skb, payload, hdr.src, uh.sport)

    # -- sockets ------------------------------------------------------------------------------
    def udp_socket(self, owner_pid: int = 0) -> UdpSocket:
        return UdpSocket(self, owner_pid)

    def icmp_socket(self, owner_pid: int = 0) -> IcmpRawSocket:
        return IcmpRawSocket(self, owner_pid)

    def udp_bind(self, sock: UdpSocket, port: int) -> int:
        """Claim a UDP port (0: the next free ephemeral one). EADDRINUSE / EAGAIN."""
        if port:
            if port in self.udp_ports:
                raise KernelError(Errno.EADDRINUSE, f"UDP port {port} is in use")
        else:
            for _ in range(len(EPHEMERAL_PORTS)):
                candidate = self._next_port
                self._next_port = (
                    candidate + 1 if candidate + 1 < EPHEMERAL_PORTS.stop else EPHEMERAL_PORTS.start
                )
                if candidate not in self.udp_ports:
                    port = candidate
                    break
            else:
                raise KernelError(Errno.EAGAIN, "no free ephemeral UDP port")
        self.udp_ports[port] = sock
        return port

    def unregister(self, sock: Socket) -> None:
        with contextlib.suppress(ValueError):
            self.sockets.remove(sock)
        if isinstance(sock, UdpSocket) and self.udp_ports.get(sock.local_port) is sock:
            del self.udp_ports[sock.local_port]

    # -- reporting ----------------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        out = {
            "rx_packets": 0,
            "tx_packets": 0,
            "rx_bytes": 0,
            "tx_bytes": 0,
            "drops": 0,
            "errors": 0,
        }
        for iface in self.interfaces.values():
            for key, value in iface.counters().items():
                out[key] += value
        return out

    def info(self) -> dict[str, Any]:
        """Interfaces, sockets, neighbours and protocol counters, JSON-ready (netstat, ifconfig)."""
        ifaces = []
        for iface in self.interfaces.values():
            addr = iface.addr if iface.addr is not None else iface.tentative
            ifaces.append(
                {
                    "name": iface.name,
                    "kind": iface.nic.kind,
                    "device": iface.nic.describe(),
                    "up": iface.nic.link_up,
                    "mac": format_mac(iface.nic.mac),
                    "mtu": iface.nic.mtu,
                    "addr": ipv4.ntoa(addr) if addr is not None else None,
                    "prefix": iface.prefix,
                    "tentative": iface.addr is None and iface.tentative is not None,
                    "gateway": ipv4.ntoa(iface.gateway) if iface.gateway is not None else None,
                    **iface.counters(),
                    **{f"nic_{k}": v for k, v in iface.nic.stats.as_dict().items()},
                    "rx_nomem": iface.rx_nomem,
                }
            )
        return {
            "interfaces": ifaces,
            "sockets": [s.info() for s in self.sockets],
            "neighbours": self.neighbours.info(),
            "stats": dict(self.stats),
            "totals": self.totals(),
        }

    def on_close(self, fn: Callable[[], None]) -> None:
        self._extra_close.append(fn)

    def close(self) -> None:
        """Shut down: cancel timers, free every buffer, close the NICs (the hub socket goes)."""
        if self.closed:
            return
        for probe in self.probes.values():
            probe.cancel()
        self.probes.clear()
        self.neighbours.flush()
        for sock in list(self.sockets):
            sock.close()
        self.closed = True
        for handle in list(self._timers):
            handle.cancel()
        self._timers.clear()
        for iface in self.interfaces.values():
            iface.nic.close()
        for fn in self._extra_close:
            fn()


__all__ = ["Interface", "NetStack"]

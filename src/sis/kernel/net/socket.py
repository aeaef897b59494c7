"""Kernel socket objects: UDP sockets and raw ICMP sockets, each with a bounded receive queue
of packet buffers. What user space sees (descriptors, sockaddr structs, blocking) is in
syscall/sysnet.py; these objects only queue, send and account."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sis.kernel.errno import Errno, KernelError
from sis.kernel.net import ipv4, udp
from sis.kernel.net.ipv4 import IPPROTO_ICMP, IPPROTO_UDP

if TYPE_CHECKING:
    from sis.kernel.net.skb import Skb
    from sis.kernel.net.stack import NetStack

DEFAULT_RCVBUF = 64 << 10
MIN_RCVBUF, MAX_RCVBUF = 256, 4 << 20
UDP_MAX_PAYLOAD = 65507
SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2


@dataclass
class Datagram:
    skb: Skb
    payload: bytes
    src: int
    sport: int


class Socket:
    proto = "?"

    def __init__(self, stack: NetStack, owner_pid: int = 0) -> None:
        self.stack = stack
        self.owner_pid = owner_pid
        self.local_addr = ipv4.ANY
        self.local_port = 0
        self.remote: tuple[int, int] | None = None
        self.rxq: deque[Datagram] = deque()
        self.rx_queued = 0  # heap bytes held by the queue
        self.rcvbuf = DEFAULT_RCVBUF
        self.broadcast = False
        self.drops = 0
        self.rx_datagrams = 0
        self.tx_datagrams = 0
        self.error: Errno | None = None
        self.notify: Callable[[], None] | None = None  # wakes tasks blocked on this socket
        self.shut_rd = False
        self.shut_wr = False
        self.closed = False
        stack.sockets.append(self)

    # -- receive side (called by the stack) -------------------------------------------------
    def enqueue(self, skb: Skb, payload: bytes, src: int, sport: int) -> bool:
        """Queue a received packet; False (and counted as a drop) when the queue is full.
        On True the socket owns `skb`."""
        if self.closed or self.shut_rd or self.rx_queued + skb.truesize > self.rcvbuf:
            self.drops += 1
            self.stack.count("rcvbuf_errors")
            return False
        self.rxq.append(Datagram(skb, payload, src, sport))
        self.rx_queued += skb.truesize
        self.rx_datagrams += 1
        self._wake()
        return True

    def set_error(self, err: Errno) -> None:
        self.error = err
        self._wake()

    def _wake(self) -> None:
        if self.notify is not None:
            self.notify()

    # -- user side ----------------------------------------------------------------------------
    @property
    def readable(self) -> bool:
        return bool(self.rxq) or self.error is not None or self.shut_rd or self.closed

    def take_error(self) -> None:
        if self.error is not None:
            err, self.error = self.error, None
            raise KernelError(err, "error reported by the network")

    def recv(self, peek: bool = False) -> tuple[bytes, int, int] | None:
        """(payload, source address, source port) of the oldest datagram, or None."""
        if not self.rxq:
            return None
        if peek:
            d = self.rxq[0]
            return d.payload, d.src, d.sport
        d = self.rxq.popleft()
        self.rx_queued -= d.skb.truesize
        d.skb.free()
        return d.payload, d.src, d.sport

    def bind(self, addr: int, port: int) -> None:
        raise NotImplementedError

    def connect(self, addr: int | None, port: int) -> None:
        raise NotImplementedError

    def sendto(self, data: bytes, dest: tuple[int, int] | None) -> int:
        raise NotImplementedError

    def _destination(self, dest: tuple[int, int] | None) -> tuple[int, int]:
        if self.shut_wr:
            raise KernelError(Errno.EPIPE, "socket shut down for writing")
        if dest is None:
            if self.remote is None:
                raise KernelError(Errno.EDESTADDRREQ, "no destination address")
            dest = self.remote
        if self.stack.is_broadcast(dest[0]) and not self.broadcast:
            raise KernelError(Errno.EACCES, "broadcast needs SO_BROADCAST")
        return dest

    def shutdown(self, how: int) -> None:
        if how in (SHUT_RD, SHUT_RDWR):
            self.shut_rd = True
        if how in (SHUT_WR, SHUT_RDWR):
            self.shut_wr = True
        self._wake()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        while self.rxq:
            self.rxq.popleft().skb.free()
        self.rx_queued = 0
        self.stack.unregister(self)
        self._wake()
        self.notify = None

    def info(self) -> dict[str, object]:
        remote = f"{ipv4.ntoa(self.remote[0])}:{self.remote[1]}" if self.remote else "*:*"
        return {
            "proto": self.proto,
            "local": f"{ipv4.ntoa(self.local_addr)}:{self.local_port or '*'}",
            "remote": remote,
            "recv_q": self.rx_queued,
            "queued": len(self.rxq),
            "rcvbuf": self.rcvbuf,
            "drops": self.drops,
            "rx": self.rx_datagrams,
            "tx": self.tx_datagrams,
            "pid": self.owner_pid,
        }


class UdpSocket(Socket):
    proto = "udp"

    def bind(self, addr: int, port: int) -> None:
        if self.local_port:
            raise KernelError(Errno.EINVAL, "socket is already bound")
        self.stack.check_local(addr)
        self.local_port = self.stack.udp_bind(self, port)
        self.local_addr = addr

    def _autobind(self) -> None:
        if not self.local_port:
            self.local_port = self.stack.udp_bind(self, 0)

    def connect(self, addr: int | None, port: int) -> None:
        if addr is None:  # AF_UNSPEC: dissolve the association
            self.remote = None
            return
        if port == 0:
            raise KernelError(Errno.EINVAL, "destination port 0")
        self.stack.route(addr)
        self._autobind()
        self.remote = (addr, port)

    def sendto(self, data: bytes, dest: tuple[int, int] | None) -> int:
        addr, port = self._destination(dest)
        if self.remote is not None and dest is None:
            self.take_error()
        if port == 0:
            raise KernelError(Errno.EINVAL, "destination port 0")
        if len(data) > UDP_MAX_PAYLOAD:
            raise KernelError(
                Errno.EMSGSIZE, f"{len(data)} bytes is more than a UDP datagram holds"
            )
        self._autobind()
        iface, hop, src = self.stack.select_source(addr, self.local_addr)
        datagram = udp.build(src, addr, self.local_port, port, data)
        self.stack.ip_send(iface, hop, src, addr, IPPROTO_UDP, datagram)
        self.tx_datagrams += 1
        return len(data)

    def accepts(self, src: int, sport: int, dst: int) -> bool:
        if self.local_addr not in (ipv4.ANY, dst) and not self.stack.is_broadcast(dst):
            return False
        return self.remote is None or self.remote == (src, sport)


class IcmpRawSocket(Socket):
    """SOCK_RAW with IPPROTO_ICMP, as `ping` uses it: user space writes whole ICMP messages
    (checksum included) and reads whole IP packets (header included) of every ICMP message
    that arrives for this host."""

    proto = "icmp"

    def bind(self, addr: int, port: int) -> None:
        self.stack.check_local(addr)
        self.local_addr = addr

    def connect(self, addr: int | None, port: int) -> None:
        if addr is None:
            self.remote = None
            return
        self.stack.route(addr)
        self.remote = (addr, 0)

    def sendto(self, data: bytes, dest: tuple[int, int] | None) -> int:
        addr, _ = self._destination(dest)
        if len(data) < 8:
            raise KernelError(Errno.EINVAL, "an ICMP message has an 8-byte header")
        iface, hop, src = self.stack.select_source(addr, self.local_addr)
        self.stack.ip_send(iface, hop, src, addr, IPPROTO_ICMP, data)
        self.tx_datagrams += 1
        return len(data)

    def accepts(self, src: int, dst: int) -> bool:
        if self.local_addr not in (ipv4.ANY, dst):
            return False
        return self.remote is None or self.remote[0] == src

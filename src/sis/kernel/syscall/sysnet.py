"""Socket syscalls: socket, bind, connect, getsockname, getpeername, sendto, recvfrom,
setsockopt, getsockopt, shutdown, and SIS's `sis_netinfo` (interfaces and sockets as JSON for
netstat and ifconfig, like /proc/net).

AF_INET only: SOCK_DGRAM is UDP, SOCK_RAW with IPPROTO_ICMP is what ping uses. Addresses are
`struct sockaddr_in` in user memory (family in host order, port and address in network
order). A descriptor refers to a `SocketFile`, whose kernel object comes from the heap; a
blocking receive sleeps on the socket's wait queue until a packet, a timeout (SO_RCVTIMEO)
or a signal."""

from __future__ import annotations

import json
import stat as st
import struct
import time
from typing import TYPE_CHECKING, Any

from sis.contract.syscalls import (  # noqa: F401 - the socket ABI, re-exported for tests
    AF_INET,
    AF_INET6,
    AF_UNIX,
    AF_UNSPEC,
    IPPROTO_ICMP,
    IPPROTO_IP,
    IPPROTO_UDP,
    MSG_CONFIRM,
    MSG_DONTROUTE,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_PEEK,
    MSG_TRUNC,
    NR,
    SO_BROADCAST,
    SO_ERROR,
    SO_RCVBUF,
    SO_RCVTIMEO,
    SO_RCVTIMEO_NEW,
    SO_REUSEADDR,
    SO_SNDTIMEO,
    SO_SNDTIMEO_NEW,
    SO_TYPE,
    SOCK_CLOEXEC,
    SOCK_DGRAM,
    SOCK_NONBLOCK,
    SOCK_RAW,
    SOCK_STREAM,
    SOL_SOCKET,
    pack_sockaddr_in,
    unpack_sockaddr_in,
)
from sis.kernel.errno import Errno, KernelError
from sis.kernel.file import O_NONBLOCK, O_RDWR, OpenFile, pack_stat
from sis.kernel.mm.user import PROT_READ, PROT_WRITE
from sis.kernel.net.socket import MAX_RCVBUF, MIN_RCVBUF
from sis.kernel.proc.sched import SIGNALLED, WaitQueue
from sis.kernel.syscall.table import syscall
from sis.kernel.syscall.validate import s32

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.net.socket import Socket
    from sis.kernel.proc.task import Task

SOCKADDR_IN_LEN = 16
MAX_SOCKADDR_LEN = 128
SOCKET_OBJ_BYTES = 768  # struct socket + struct sock: what each open socket costs the heap
SYS_NETINFO = NR["sis_netinfo"]


class SocketFile(OpenFile):
    """An open socket: the stack's socket object plus what the descriptor layer needs."""

    kind = "socket"

    def __init__(self, k: Kernel, sock: Socket, sock_type: int, kobj: int, flags: int) -> None:
        super().__init__(O_RDWR | (flags & O_NONBLOCK))
        self.k = k
        self.sock = sock
        self.sock_type = sock_type
        self.kobj = kobj
        self.rcvtimeo: float | None = None
        self.sndtimeo: float | None = None
        self.reuseaddr = False
        self.wq = WaitQueue(k.sched, "sk_wait")
        sock.notify = self.wq.wake_all

    async def read(self, task: Any, count: int) -> bytes:
        data, _src, _port, _full = await receive(self.k, self, count, 0)
        return data

    async def write(self, task: Any, data: bytes) -> int:
        return self.sock.sendto(data, None)

    def fstat(self) -> bytes:
        return pack_stat(
            ino=self.kobj & 0xFFFFFFFF, mode=st.S_IFSOCK | 0o777, nlink=1, size=0, blocks=0
        )

    def release(self) -> None:
        self.sock.close()
        self.wq.wake_all()
        self.k.heap.free(self.kobj)


def _socket_file(t: Task, fd: int) -> SocketFile:
    f = t.files.get(fd)
    if not isinstance(f, SocketFile):
        raise KernelError(Errno.ENOTSOCK, f"fd {fd} is not a socket")
    if f.sock.closed:
        raise KernelError(Errno.EBADF, f"fd {fd}: socket is closed")
    return f


def _stack(k: Kernel) -> Any:
    if k.net is None:
        raise KernelError(Errno.EAFNOSUPPORT, "the kernel has no network stack (-nic none)")
    return k.net


def read_sockaddr(
    k: Kernel, t: Task, ptr: int, addrlen: int, *, unspec_ok: bool = False
) -> tuple[int, int] | None:
    """The (address, port) of a user `struct sockaddr_in`; None for AF_UNSPEC where allowed."""
    k.validator.check("socket", 0 < addrlen <= MAX_SOCKADDR_LEN, Errno.EINVAL, f"addrlen {addrlen}")
    k.validator.pointer(t, ptr, min(addrlen, SOCKADDR_IN_LEN), PROT_READ, "addr")
    family, addr, port = unpack_sockaddr_in(
        t.mm.copy_from_user(ptr, min(addrlen, SOCKADDR_IN_LEN)).ljust(8, b"\0")
    )
    if family == AF_UNSPEC and unspec_ok:
        return None
    k.validator.check("socket", family == AF_INET, Errno.EAFNOSUPPORT, f"address family {family}")
    k.validator.check(
        "socket", addrlen >= SOCKADDR_IN_LEN, Errno.EINVAL, f"addrlen {addrlen} < {SOCKADDR_IN_LEN}"
    )
    return addr, port


def write_sockaddr(k: Kernel, t: Task, ptr: int, lenptr: int, addr: int, port: int) -> None:
    """Store a sockaddr_in at `ptr`, truncated to the caller's *lenptr; *lenptr = its size."""
    k.validator.pointer(t, lenptr, 4, PROT_READ | PROT_WRITE, "addrlen")
    (room,) = struct.unpack("<i", t.mm.copy_from_user(lenptr, 4))
    k.validator.check("socket", room >= 0, Errno.EINVAL, f"addrlen {room}")
    data = pack_sockaddr_in(addr, port)[:room]
    if data:
        k.validator.pointer(t, ptr, len(data), PROT_WRITE, "addr")
        t.mm.copy_to_user(ptr, data)
    t.mm.copy_to_user(lenptr, struct.pack("<i", SOCKADDR_IN_LEN))


async def receive(k: Kernel, f: SocketFile, count: int, flags: int) -> tuple[bytes, int, int, int]:
    """Wait for a datagram: (data truncated to `count`, source address, source port, full
    length). EAGAIN when non-blocking or timed out, EINTR on a signal; b"" after shutdown."""
    sock = f.sock
    nonblock = bool(flags & MSG_DONTWAIT or f.flags & O_NONBLOCK)
    deadline = None if f.rcvtimeo is None else time.monotonic() + f.rcvtimeo
    while True:
        if sock.closed:
            raise KernelError(Errno.EBADF, "socket closed while waiting")
        sock.take_error()
        got = sock.recv(peek=True)
        if got is not None:
            payload, src, sport = got
            if not flags & MSG_PEEK:
                sock.recv()
            return payload[:count], src, sport, len(payload)
        if sock.shut_rd:
            return b"", 0, 0, 0
        if nonblock:
            raise KernelError(Errno.EAGAIN, "no datagram queued")
        timeout = None if deadline is None else deadline - time.monotonic()
        if timeout is not None and timeout <= 0:
            raise KernelError(Errno.EAGAIN, "receive timed out")
        if await k.sched.block(f.wq, timeout, channel="sk_wait") == SIGNALLED:
            raise KernelError(Errno.EINTR, "interrupted while waiting for a datagram")


# -- the calls --------------------------------------------------------------------------------------


@syscall("socket")
async def sys_socket(k: Kernel, t: Task, domain: int, sock_type: int, protocol: int) -> int:
    domain, sock_type, protocol = s32(domain), s32(sock_type), s32(protocol)
    v = k.validator
    v.check(
        "socket", domain in (AF_UNIX, AF_INET, AF_INET6), Errno.EAFNOSUPPORT, f"domain {domain}"
    )
    base = sock_type & 0xF
    v.check(
        "socket", base in (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW), Errno.EINVAL, f"type {sock_type:#x}"
    )
    v.check(
        "socket",
        sock_type & ~(0xF | SOCK_NONBLOCK | SOCK_CLOEXEC) == 0,
        Errno.EINVAL,
        f"unknown type flags {sock_type & ~0xF:#x}",
    )
    v.check("socket", protocol >= 0, Errno.EINVAL, f"protocol {protocol}")
    if domain != AF_INET:
        raise KernelError(Errno.EAFNOSUPPORT, "only AF_INET is implemented")
    stack = _stack(k)
    if base == SOCK_DGRAM and protocol in (IPPROTO_IP, IPPROTO_UDP):
        make = stack.udp_socket
    elif base == SOCK_RAW and protocol == IPPROTO_ICMP:
        make = stack.icmp_socket
    else:
        what = {
            SOCK_STREAM: "SOCK_STREAM (no TCP)",
            SOCK_DGRAM: "SOCK_DGRAM",
            SOCK_RAW: "SOCK_RAW",
        }[base]
        raise KernelError(Errno.EPROTONOSUPPORT, f"{what} with protocol {protocol}")
    kobj = k.heap.alloc(SOCKET_OBJ_BYTES, "socket")
    sock = make(t.pid)
    f = SocketFile(k, sock, base, kobj, sock_type & SOCK_NONBLOCK)
    try:
        return t.files.install(f)
    except KernelError:
        f.release()
        raise


@syscall("bind")
async def sys_bind(k: Kernel, t: Task, fd: int, addr: int, addrlen: int) -> int:
    f = _socket_file(t, fd)
    sa = read_sockaddr(k, t, addr, addrlen)
    assert sa is not None
    f.sock.bind(*sa)
    return 0


@syscall("connect")
async def sys_connect(k: Kernel, t: Task, fd: int, addr: int, addrlen: int) -> int:
    """For datagram sockets: set (or with AF_UNSPEC clear) the default destination and accept
    datagrams only from it."""
    f = _socket_file(t, fd)
    sa = read_sockaddr(k, t, addr, addrlen, unspec_ok=True)
    if sa is None:
        f.sock.connect(None, 0)
    else:
        f.sock.connect(*sa)
    return 0


@syscall("getsockname")
async def sys_getsockname(k: Kernel, t: Task, fd: int, addr: int, addrlen: int) -> int:
    f = _socket_file(t, fd)
    write_sockaddr(k, t, addr, addrlen, f.sock.local_addr, f.sock.local_port)
    return 0


@syscall("getpeername")
async def sys_getpeername(k: Kernel, t: Task, fd: int, addr: int, addrlen: int) -> int:
    f = _socket_file(t, fd)
    if f.sock.remote is None:
        raise KernelError(Errno.ENOTCONN, "socket is not connected")
    write_sockaddr(k, t, addr, addrlen, *f.sock.remote)
    return 0


@syscall("sendto")
async def sys_sendto(
    k: Kernel, t: Task, fd: int, buf: int, length: int, flags: int, dest: int, addrlen: int
) -> int:
    f = _socket_file(t, fd)
    target = read_sockaddr(k, t, dest, addrlen) if dest else None
    data = t.mm.copy_from_user(buf, length)
    return f.sock.sendto(data, target)


@syscall("recvfrom")
async def sys_recvfrom(
    k: Kernel, t: Task, fd: int, buf: int, length: int, flags: int, src: int, addrlen: int
) -> int:
    f = _socket_file(t, fd)
    if src:
        k.validator.check("pointer", addrlen != 0, Errno.EFAULT, "src_addr without addrlen")
    data, addr, port, full = await receive(k, f, length, flags)
    t.mm.copy_to_user(buf, data)
    if src and (full or addr):  # an empty datagram still has a sender; EOF has none
        write_sockaddr(k, t, src, addrlen, addr, port)
    return full if flags & MSG_TRUNC else len(data)


def _timeval(k: Kernel, raw: bytes) -> float | None:
    sec, usec = struct.unpack("<qq", raw)
    k.validator.check(
        "socket", sec >= 0 and 0 <= usec < 1_000_000, Errno.EINVAL, f"timeval {sec}.{usec}"
    )
    value = sec + usec / 1e6
    return value or None  # zero means wait forever


@syscall("setsockopt")
async def sys_setsockopt(
    k: Kernel, t: Task, fd: int, level: int, optname: int, optval: int, optlen: int
) -> int:
    f = _socket_file(t, fd)
    level, optname = s32(level), s32(optname)
    k.validator.check("socket", level == SOL_SOCKET, Errno.EINVAL, f"option level {level}")
    timeouts = (SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW)
    need = 16 if optname in timeouts else 4
    k.validator.check(
        "socket", need <= optlen <= 4096, Errno.EINVAL, f"optlen {optlen} (need {need})"
    )
    k.validator.pointer(t, optval, need, PROT_READ, "optval")
    raw = t.mm.copy_from_user(optval, need)
    if optname in timeouts:
        value = _timeval(k, raw)
        if optname in (SO_RCVTIMEO, SO_RCVTIMEO_NEW):
            f.rcvtimeo = value
        else:
            f.sndtimeo = value  # sends never block here; kept for getsockopt
        return 0
    (number,) = struct.unpack("<i", raw)
    if optname == SO_RCVBUF:
        f.sock.rcvbuf = max(
            MIN_RCVBUF, min(MAX_RCVBUF, 2 * max(0, number))
        )  # doubled, as Linux does
    elif optname == SO_BROADCAST:
        f.sock.broadcast = number != 0
    elif optname == SO_REUSEADDR:
        f.reuseaddr = number != 0
    else:
        k.validator.check("socket", False, Errno.EINVAL, f"unsupported socket option {optname}")
    return 0


@syscall("getsockopt")
async def sys_getsockopt(
    k: Kernel, t: Task, fd: int, level: int, optname: int, optval: int, optlen: int
) -> int:
    f = _socket_file(t, fd)
    level, optname = s32(level), s32(optname)
    k.validator.check("socket", level == SOL_SOCKET, Errno.EINVAL, f"option level {level}")
    if optname in (SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW):
        value = f.rcvtimeo if optname in (SO_RCVTIMEO, SO_RCVTIMEO_NEW) else f.sndtimeo
        value = value or 0.0
        data = struct.pack("<qq", int(value), round(value % 1 * 1e6))
    else:
        numbers = {
            SO_TYPE: f.sock_type,
            SO_RCVBUF: f.sock.rcvbuf,
            SO_BROADCAST: int(f.sock.broadcast),
            SO_REUSEADDR: int(f.reuseaddr),
        }
        if optname == SO_ERROR:
            err, f.sock.error = f.sock.error, None
            numbers[SO_ERROR] = int(err or 0)
        k.validator.check(
            "socket", optname in numbers, Errno.EINVAL, f"unsupported socket option {optname}"
        )
        data = struct.pack("<i", numbers[optname])
    k.validator.pointer(t, optlen, 4, PROT_READ | PROT_WRITE, "optlen")
    (room,) = struct.unpack("<i", t.mm.copy_from_user(optlen, 4))
    k.validator.check("socket", room >= 0, Errno.EINVAL, f"optlen {room}")
    data = data[:room]
    if data:
        k.validator.pointer(t, optval, len(data), PROT_WRITE, "optval")
        t.mm.copy_to_user(optval, data)
    t.mm.copy_to_user(optlen, struct.pack("<i", len(data)))
    return 0


@syscall("shutdown")
async def sys_shutdown(k: Kernel, t: Task, fd: int, how: int) -> int:
    f = _socket_file(t, fd)
    how = s32(how)
    k.validator.check("socket", how in (0, 1, 2), Errno.EINVAL, f"how {how}")
    if f.sock.remote is None:
        raise KernelError(Errno.ENOTCONN, "datagram socket is not connected")
    f.sock.shutdown(how)
    return 0


@syscall("sis_netinfo")
async def sys_sis_netinfo(k: Kernel, t: Task, buf: int, length: int) -> int:
    """Interfaces (state, addresses, counters), sockets and neighbours as JSON, like /proc/net."""
    info = (
        k.net.info()
        if k.net is not None
        else {"interfaces": [], "sockets": [], "neighbours": [], "stats": {}, "totals": {}}
    )
    data = json.dumps(info, separators=(",", ":")).encode()
    if len(data) > length:
        raise KernelError(Errno.ERANGE, f"{len(data)} bytes needed")
    t.mm.copy_to_user(buf, data)
    return len(data)

"""ioctl: the requests of `sis.contract.syscalls.IOCTLS` on the files they apply to — the
console TTY (termios, process group, window size, line discipline), any descriptor (FIONREAD,
FIONBIO, FIOASYNC, close-on-exec), regular files (FIGETBSZ), the root disk /dev/vda (size,
sector and block sizes, flush) and sockets (the interfaces: names, indexes, flags, addresses,
MTU, hardware address).

The request is an `unsigned int`, as in Linux: the upper half of the register is ignored. A
request the kernel does not know, or one that does not apply to the file, is ENOTTY."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sis.contract.bugs import NULL_DEREF_IOCTL
from sis.contract.syscalls import (
    ARPHRD_ETHER,
    ARPHRD_LOOPBACK,
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_RUNNING,
    IFF_UP,
    IFNAMSIZ,
    IFREQ_SIZE,
    IOCTL_BY_NR,
    N_TTY,
    O_ASYNC,
    SECTOR_SIZE,
    WINSIZE_FORMAT,
    Ioctl,
    pack_sockaddr_in,
)
from sis.kernel import bugs
from sis.kernel.errno import Errno, KernelError
from sis.kernel.file import O_NONBLOCK, OpenFile, TtyFile
from sis.kernel.net import ipv4
from sis.kernel.syscall.sysfile import BlockDevFile, FsFile
from sis.kernel.syscall.sysnet import SocketFile
from sis.kernel.syscall.table import syscall

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.net.stack import Interface
    from sis.kernel.proc.task import Task

#: the contract's `applies_to` for each kind of open file
_APPLIES = {"tty": "tty", "file": "file", "dir": "file", "blk": "blk", "socket": "sock"}
IFCONF_FORMAT = "<i4xQ"  # struct ifconf: length, padding, pointer to the ifreq array

Handler = Callable[["Kernel", "Task", int, OpenFile, Ioctl, int], int]
HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return register


@syscall("ioctl")
async def sys_ioctl(k: Kernel, t: Task, fd: int, request: int, argp: int) -> int:
    f = t.files.get(fd)
    spec = IOCTL_BY_NR.get(request & 0xFFFF_FFFF)
    if spec is None or not applies(spec, f):
        raise KernelError(Errno.ENOTTY, f"ioctl {request & 0xFFFF_FFFF:#x} on a {f.kind} file")
    if NULL_DEREF_IOCTL in k.bugs and spec.nr == k.planted.placement.ioctl_nr:
        bugs.ioctl_driver_private(f)
    return HANDLERS[spec.name](k, t, fd, f, spec, argp)


def applies(spec: Ioctl, f: OpenFile) -> bool:
    return spec.applies_to == "any" or _APPLIES.get(f.kind) == spec.applies_to


def _put_int(t: Task, argp: int, value: int, fmt: str = "<i") -> int:
    t.mm.copy_to_user(argp, struct.pack(fmt, value))
    return 0


def _get_int(t: Task, argp: int) -> int:
    return int(struct.unpack("<i", t.mm.copy_from_user(argp, 4))[0])


# -- the console TTY -----------------------------------------------------------------------------
def _tty(f: OpenFile) -> Any:
    assert isinstance(f, TtyFile)
    return f.tty


@handles("TCGETS")
def tcgets(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    t.mm.copy_to_user(argp, _tty(f).termios())
    return 0


@handles("TCSETS", "TCSETSW", "TCSETSF")
def tcsets(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    # Output is written synchronously, so TCSETSW has nothing to drain; TCSETSF also
    # discards unread input.
    data = t.mm.copy_from_user(argp, spec.size)
    _tty(f).set_termios(data, flush_input=spec.name == "TCSETSF")
    return 0


@handles("TIOCGPGRP")
def tiocgpgrp(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, _tty(f).fg_pgid)


@handles("TIOCSPGRP")
def tiocspgrp(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    pgid = _get_int(t, argp)
    if pgid < 0:
        raise KernelError(Errno.EINVAL, f"process group {pgid}")
    _tty(f).fg_pgid = pgid
    return 0


@handles("TIOCOUTQ")
def tiocoutq(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, 0)  # the serial port takes every byte at once


@handles("TIOCGWINSZ")
def tiocgwinsz(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    t.mm.copy_to_user(argp, struct.pack(WINSIZE_FORMAT, *_tty(f).winsize))
    return 0


@handles("TIOCSWINSZ")
def tiocswinsz(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    _tty(f).winsize = struct.unpack(WINSIZE_FORMAT, t.mm.copy_from_user(argp, 8))
    return 0


@handles("TIOCGETD")
def tiocgetd(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, N_TTY)


@handles("TIOCSETD")
def tiocsetd(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    ldisc = _get_int(t, argp)
    if ldisc != N_TTY:
        raise KernelError(Errno.EINVAL, f"line discipline {ldisc}: only N_TTY (0) exists")
    return 0


# -- any descriptor --------------------------------------------------------------------------------
@handles("FIONREAD")
def fionread(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    if isinstance(f, TtyFile):
        n = f.tty.input_pending()
    elif isinstance(f, FsFile) and not f.is_dir:
        n = max(0, k.fs.stat(f.ino).size - f.offset)
    elif isinstance(f, SocketFile):
        n = len(f.sock.rxq[0].payload) if f.sock.rxq else 0  # the next datagram, as UDP's
    else:
        raise KernelError(Errno.ENOTTY, f"FIONREAD on a {f.kind} file")
    return _put_int(t, argp, min(n, 0x7FFF_FFFF))


@handles("FIONBIO")
def fionbio(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    f.flags = f.flags | O_NONBLOCK if _get_int(t, argp) else f.flags & ~O_NONBLOCK
    return 0


@handles("FIOASYNC")
def fioasync(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    # No descriptor has an owner (there is no F_SETOWN), so no SIGIO is ever due: the flag is
    # recorded and reported, and nothing more.
    f.flags = f.flags | O_ASYNC if _get_int(t, argp) else f.flags & ~O_ASYNC
    return 0


@handles("FIOCLEX", "FIONCLEX")
def fioclex(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    if spec.name == "FIOCLEX":
        t.files.cloexec.add(fd)
    else:
        t.files.cloexec.discard(fd)
    return 0


@handles("FIGETBSZ")
def figetbsz(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, k.fs.dev.block_size)


# -- the root disk ---------------------------------------------------------------------------------
def _disk(f: OpenFile) -> BlockDevFile:
    assert isinstance(f, BlockDevFile)
    return f


@handles("BLKROGET")
def blkroget(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, int(bool(_disk(f).dev.read_only)))


@handles("BLKGETSIZE")
def blkgetsize(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, _disk(f).size // SECTOR_SIZE, "<Q")  # unsigned long, in sectors


@handles("BLKGETSIZE64")
def blkgetsize64(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, _disk(f).size, "<Q")


@handles("BLKSSZGET")
def blksszget(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, SECTOR_SIZE)


@handles("BLKPBSZGET", "BLKBSZGET", "BLKIOMIN")
def blkbszget(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    # The device reads and writes whole 4 KiB blocks: physical sector, soft block size and
    # minimum I/O are all one block.
    return _put_int(t, argp, _disk(f).dev.block_size, "<I")


@handles("BLKIOOPT")
def blkioopt(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    return _put_int(t, argp, 0, "<I")  # no preferred I/O size beyond the minimum


@handles("BLKFLSBUF")
def blkflsbuf(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    k.fs.sync()  # write what the file system holds for the device, then flush the device
    _disk(f).dev.flush()
    return 0


# -- sockets: the network interfaces ---------------------------------------------------------------
def _interfaces(k: Kernel) -> list[Interface]:
    return list(k.net.interfaces.values()) if k.net is not None else []


def _ifreq(k: Kernel, t: Task, argp: int) -> tuple[bytes, Interface]:
    """The caller's struct ifreq and the interface its name names (ENODEV if none)."""
    req = t.mm.copy_from_user(argp, IFREQ_SIZE)
    name = req[:IFNAMSIZ].split(b"\0", 1)[0].decode("ascii", "replace")
    for iface in _interfaces(k):
        if iface.name == name:
            return req, iface
    raise KernelError(Errno.ENODEV, f"no interface {name!r}")


def _reply(t: Task, argp: int, req: bytes, union: bytes) -> int:
    """Write the ifreq back with its union (the 24 bytes after the name) filled in."""
    t.mm.copy_to_user(argp, req[:IFNAMSIZ] + union.ljust(IFREQ_SIZE - IFNAMSIZ, b"\0"))
    return 0


def _address(iface: Interface) -> int:
    if iface.addr is None:
        raise KernelError(Errno.EADDRNOTAVAIL, f"{iface.name} has no IPv4 address")
    return iface.addr


@handles("SIOCGIFNAME")
def siocgifname(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req = t.mm.copy_from_user(argp, IFREQ_SIZE)
    (index,) = struct.unpack_from("<i", req, IFNAMSIZ)
    ifaces = _interfaces(k)
    if not 1 <= index <= len(ifaces):
        raise KernelError(Errno.ENODEV, f"no interface with index {index}")
    name = ifaces[index - 1].name.encode().ljust(IFNAMSIZ, b"\0")
    t.mm.copy_to_user(argp, name + req[IFNAMSIZ:])
    return 0


@handles("SIOCGIFINDEX")
def siocgifindex(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    return _reply(t, argp, req, struct.pack("<i", _interfaces(k).index(iface) + 1))


@handles("SIOCGIFFLAGS")
def siocgifflags(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    flags = IFF_LOOPBACK if iface.loopback else IFF_BROADCAST | IFF_MULTICAST
    if iface.nic.link_up:
        flags |= IFF_UP | IFF_RUNNING
    return _reply(t, argp, req, struct.pack("<H", flags))


@handles("SIOCGIFADDR")
def siocgifaddr(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    return _reply(t, argp, req, pack_sockaddr_in(_address(iface), 0))


@handles("SIOCGIFNETMASK")
def siocgifnetmask(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    _address(iface)
    return _reply(t, argp, req, pack_sockaddr_in(ipv4.netmask(iface.prefix), 0))


@handles("SIOCGIFBRDADDR")
def siocgifbrdaddr(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    _address(iface)
    return _reply(t, argp, req, pack_sockaddr_in(0 if iface.loopback else iface.broadcast, 0))


@handles("SIOCGIFMTU")
def siocgifmtu(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    return _reply(t, argp, req, struct.pack("<i", iface.nic.mtu))


@handles("SIOCGIFHWADDR")
def siocgifhwaddr(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    req, iface = _ifreq(k, t, argp)
    family = ARPHRD_LOOPBACK if iface.loopback else ARPHRD_ETHER
    return _reply(t, argp, req, struct.pack("<H", family) + iface.nic.mac.ljust(14, b"\0"))


@handles("SIOCGIFCONF")
def siocgifconf(k: Kernel, t: Task, fd: int, f: OpenFile, spec: Ioctl, argp: int) -> int:
    """Every interface with an IPv4 address, as name + sockaddr_in records. A NULL buffer asks
    for the length needed; otherwise as many records as fit, and the length used."""
    length, buf = struct.unpack(IFCONF_FORMAT, t.mm.copy_from_user(argp, 16))
    records = [
        iface.name.encode().ljust(IFNAMSIZ, b"\0")
        + pack_sockaddr_in(iface.addr, 0).ljust(IFREQ_SIZE - IFNAMSIZ, b"\0")
        for iface in _interfaces(k)
        if iface.addr is not None
    ]
    if buf == 0:
        used = IFREQ_SIZE * len(records)
    else:
        if length < 0:
            raise KernelError(Errno.EINVAL, f"ifc_len {length}")
        fit = records[: length // IFREQ_SIZE]
        if fit:
            t.mm.copy_to_user(buf, b"".join(fit))
        used = IFREQ_SIZE * len(fit)
    t.mm.copy_to_user(argp, struct.pack("<i", used))
    return 0

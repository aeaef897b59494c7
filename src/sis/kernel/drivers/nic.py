"""Network interface cards: the trait and its implementations.

A NIC moves whole Ethernet frames (dst MAC, src MAC, ethertype, payload). `send(frame)` puts
one on the medium or fails with an errno (ENETDOWN when the link is down, EIO, EMSGSIZE);
frames that arrive for this NIC (its MAC, broadcast or multicast) are handed to `on_receive`.
Each NIC counts what it moved and what it dropped.

* `LoopbackNic`: every frame sent comes back to the sender (`lo`).
* `VirtualNic`: joined to an in-process `Wire`, an Ethernet segment inside one kernel process
  (QEMU's user-mode network is one: the NIC on one end, the slirp gateway on the other).
* `MockNic`: a `VirtualNic` with seeded fault injection for tests: packet loss, delay,
  duplication, corruption, send failures.
* `HubNic`: joins kernels started on the same host into one segment for `-nic hub,port=N`.
  Each NIC binds a unix datagram socket in a private per-port directory and sends every frame
  to every other socket there, as a hub repeats to all ports. No central process: a kernel
  that dies leaves a socket nobody listens on, which the next sender removes.

Delivery is always deferred to the event loop (never a call back into the sender), so the
network stack is never re-entered from inside its own transmit path.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno as std_errno
import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import Errno, KernelError

ETH_HLEN = 14
ETH_MTU = 1500
BROADCAST_MAC = b"\xff" * 6
# One datagram per frame; a hub NIC never reads more than this many per wake-up so that a busy
# segment cannot starve the CPUs of the kernel.
HUB_RX_BATCH = 64
# How long a listing of the hub directory is trusted; directory mtimes can be coarse.
HUB_RESCAN_S = 0.25
HUB_DIR_ENV = "SIS_HUB_DIR"

FrameHandler = Callable[[bytes], None]
# Fault hook (chaos): called before each send; returns an errno to fail the send with (or raises
# KernelError itself), or None to let the frame go.
SendFaultHook = Callable[["Nic", bytes], Errno | None]


def format_mac(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise ValueError(f"bad MAC address {text!r}")
    return bytes(int(p, 16) for p in parts)


_process_seed: int | None = None


def make_mac(index: int = 0) -> bytes:
    """A locally administered MAC in QEMU's range 52:54:00:xx:xx:xx, random per process
    (seeded from pid and start time) and stable across reboots of the same process."""
    global _process_seed
    if _process_seed is None:
        _process_seed = (os.getpid() << 40) ^ time.time_ns()
    tail = Rng(_process_seed + index).next_u64() & 0xFFFFFF
    return b"\x52\x54\x00" + tail.to_bytes(3, "big")


@dataclass
class NicStats:
    rx_packets: int = 0
    rx_bytes: int = 0
    tx_packets: int = 0
    tx_bytes: int = 0
    rx_dropped: int = 0  # arrived but not taken (link down, no receiver)
    tx_dropped: int = 0  # accepted but lost on the way (a hub peer's queue was full)
    rx_errors: int = 0  # malformed frames
    tx_errors: int = 0  # sends refused with an errno (link down, I/O error, injected fault)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _defer(delay_s: float, fn: Callable[..., object], *args: object) -> None:
    loop = asyncio.get_running_loop()
    if delay_s > 0:
        loop.call_later(delay_s, fn, *args)
    else:
        loop.call_soon(fn, *args)


class Nic:
    """The NIC trait, with the bookkeeping every implementation shares. Subclasses provide
    `_transmit(frame)`, which puts a frame on the medium (or raises KernelError)."""

    kind = "nic"

    def __init__(self, mac: bytes, *, mtu: int = ETH_MTU) -> None:
        if len(mac) != 6:
            raise ValueError("a MAC address is 6 bytes")
        self.mac = bytes(mac)
        self.mtu = mtu
        self.link_up = True
        self.promiscuous = False
        self.on_receive: FrameHandler | None = None
        self.stats = NicStats()
        self.fail_hook: SendFaultHook | None = None
        # Called when a send fails after the checks (planted bug net_wedge, contract section 9).
        self.on_send_error: Callable[[Nic], None] | None = None
        self.closed = False

    def send(self, frame: bytes) -> None:
        """Transmit one frame. Raises KernelError(ENETDOWN, EIO, EMSGSIZE, EINVAL)."""
        if self.closed or not self.link_up:
            self.stats.tx_errors += 1
            raise KernelError(Errno.ENETDOWN, "link is down")
        if len(frame) < ETH_HLEN:
            self.stats.tx_errors += 1
            raise KernelError(Errno.EINVAL, f"runt frame of {len(frame)} bytes")
        if len(frame) > ETH_HLEN + self.mtu:
            self.stats.tx_errors += 1
            raise KernelError(Errno.EMSGSIZE, f"frame of {len(frame)} bytes exceeds MTU {self.mtu}")
        try:
            if self.fail_hook is not None:
                err = self.fail_hook(self, frame)
                if err is not None:
                    raise KernelError(err, "injected NIC send failure")
            self._transmit(bytes(frame))
        except KernelError:
            self.stats.tx_errors += 1
            if self.on_send_error is not None:
                self.on_send_error(self)
            raise
        self.stats.tx_packets += 1
        self.stats.tx_bytes += len(frame)

    def _transmit(self, frame: bytes) -> None:
        raise NotImplementedError

    def _deliver(self, frame: bytes) -> None:
        """A frame arrived from the medium: filter by address like hardware, then hand it up."""
        if self.closed:
            return
        if len(frame) < ETH_HLEN:
            self.stats.rx_errors += 1
            return
        dst = frame[:6]
        if dst != self.mac and not dst[0] & 1 and not self.promiscuous:
            return  # unicast for another station: filtered, not counted
        if not self.link_up or self.on_receive is None:
            self.stats.rx_dropped += 1
            return
        self.stats.rx_packets += 1
        self.stats.rx_bytes += len(frame)
        self.on_receive(frame)

    def set_link(self, up: bool) -> None:
        self.link_up = up

    def close(self) -> None:
        self.closed = True
        self.on_receive = None

    def describe(self) -> str:
        return self.kind


class LoopbackNic(Nic):
    """`lo`: what is sent is received, on the next turn of the event loop."""

    kind = "loopback"

    def __init__(self, mtu: int = 65536) -> None:
        super().__init__(bytes(6), mtu=mtu)

    def _transmit(self, frame: bytes) -> None:
        _defer(0.0, self._deliver, frame)


class Wire:
    """An Ethernet segment inside one process: every frame reaches every other station."""

    def __init__(self) -> None:
        self.stations: list[FrameHandler] = []

    def attach(self, rx: FrameHandler) -> None:
        self.stations.append(rx)

    def detach(self, rx: FrameHandler) -> None:
        with contextlib.suppress(ValueError):
            self.stations.remove(rx)

    def carry(self, sender: FrameHandler, frame: bytes, delay_s: float = 0.0) -> None:
        for rx in list(self.stations):
            if rx != sender:
                _defer(delay_s, rx, frame)


class VirtualNic(Nic):
    """A NIC on an in-process `Wire`."""

    kind = "virtual"

    def __init__(self, mac: bytes, wire: Wire, *, mtu: int = ETH_MTU) -> None:
        super().__init__(mac, mtu=mtu)
        self.wire = wire
        wire.attach(self._deliver)

    def _transmit(self, frame: bytes) -> None:
        self.wire.carry(self._deliver, frame)

    def inject(self, frame: bytes) -> None:
        """Make a frame arrive as if from the wire (tests)."""
        _defer(0.0, self._deliver, frame)

    def close(self) -> None:
        super().close()
        self.wire.detach(self._deliver)


@dataclass
class InjectedFaults:
    lost: int = 0
    delayed: int = 0
    duplicated: int = 0
    corrupted: int = 0
    send_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class MockNic(VirtualNic):
    """A `VirtualNic` that misbehaves on demand, reproducibly for a given seed.

    * `loss_rate`: probability (0..1) that a sent frame never arrives;
    * `delay_s`: time each frame spends on the wire;
    * `duplicate_rate` / `corrupt_rate`: probability that a frame arrives twice / with one
      payload byte flipped (the checksums of the layers above should catch it);
    * `fail_send`: an errno every send fails with (e.g. Errno.EIO), or None;
    * `send_failure_rate`: probability that a send fails with `failure_errno`.
    `faults` counts what was actually injected.
    """

    kind = "mock"

    def __init__(
        self,
        mac: bytes,
        wire: Wire | None = None,
        *,
        seed: int = 0,
        loss_rate: float = 0.0,
        delay_s: float = 0.0,
        duplicate_rate: float = 0.0,
        corrupt_rate: float = 0.0,
        fail_send: Errno | None = None,
        send_failure_rate: float = 0.0,
        failure_errno: Errno = Errno.EIO,
        mtu: int = ETH_MTU,
    ) -> None:
        super().__init__(mac, wire if wire is not None else Wire(), mtu=mtu)
        self.loss_rate = loss_rate
        self.delay_s = delay_s
        self.duplicate_rate = duplicate_rate
        self.corrupt_rate = corrupt_rate
        self.fail_send = fail_send
        self.send_failure_rate = send_failure_rate
        self.failure_errno = failure_errno
        self.faults = InjectedFaults()
        self._rng = Rng(seed)

    def _transmit(self, frame: bytes) -> None:
        if self.fail_send is not None:
            self.faults.send_failures += 1
            raise KernelError(self.fail_send, "injected send failure")
        if self._rng.chance(self.send_failure_rate):
            self.faults.send_failures += 1
            raise KernelError(self.failure_errno, "injected send failure")
        if self._rng.chance(self.loss_rate):
            self.faults.lost += 1
            return
        copies = 1
        if self._rng.chance(self.duplicate_rate):
            self.faults.duplicated += 1
            copies = 2
        if len(frame) > ETH_HLEN and self._rng.chance(self.corrupt_rate):
            self.faults.corrupted += 1
            pos = ETH_HLEN + self._rng.randrange(len(frame) - ETH_HLEN)
            flipped = bytearray(frame)
            flipped[pos] ^= 1 << self._rng.randrange(8)
            frame = bytes(flipped)
        if self.delay_s > 0:
            self.faults.delayed += 1
        for _ in range(copies):
            self.wire.carry(self._deliver, frame, self.delay_s)

    def describe(self) -> str:
        return f"mock seed={self._rng.seed}"


# -- the local hub --------------------------------------------------------------------------------


def hub_base_dir() -> Path:
    """Where hub ports live: $SIS_HUB_DIR, or /tmp/sis-hub-<uid>."""
    override = os.environ.get(HUB_DIR_ENV)
    return Path(override) if override else Path("/tmp") / f"sis-hub-{os.getuid()}"


def _private_dir(path: Path) -> None:
    """Create `path` mode 0700, or check that an existing one is ours and private: another
    user's directory (or a symlink planted in /tmp) must not receive our frames."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise KernelError(Errno.EEXIST, f"{path} exists and is not a directory")
    if st.st_uid != os.getuid():
        raise KernelError(Errno.EACCES, f"{path} belongs to uid {st.st_uid}, not {os.getuid()}")
    if st.st_mode & 0o077:
        raise KernelError(
            Errno.EACCES, f"{path} is accessible by others (mode {st.st_mode & 0o777:o})"
        )


class HubNic(Nic):
    """A NIC on a local hub port: `<base>/<port>/<mac>.sock`, one unix datagram socket each."""

    kind = "hub"

    def __init__(
        self, port: int, mac: bytes, *, base: Path | str | None = None, mtu: int = ETH_MTU
    ) -> None:
        super().__init__(mac, mtu=mtu)
        self.port = port
        self.base = Path(base) if base is not None else hub_base_dir()
        self.directory = self.base / str(port)
        self.path = self.directory / f"{mac.hex()}.sock"
        self.stale_removed = 0
        self._peers: list[str] = []
        self._scan_key: tuple[int, float] | None = None
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._bind()
        except OSError as e:
            self._sock.close()
            raise KernelError(
                Errno.EIO, f"hub port {port} at {self.directory}: {e.strerror or e}"
            ) from None
        except BaseException:
            self._sock.close()
            raise
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    def _bind(self) -> None:
        for _ in range(3):
            _private_dir(self.base)
            _private_dir(self.directory)
            try:
                self._sock.bind(str(self.path))
            except FileNotFoundError:
                continue  # the port directory was just removed by a kernel leaving it
            except OSError as e:
                if e.errno != std_errno.EADDRINUSE:
                    raise KernelError(Errno.EIO, f"cannot bind {self.path}: {e.strerror}") from None
                if not self._is_stale(str(self.path)):
                    raise KernelError(Errno.EADDRINUSE, f"{self.path} is in use") from None
                self._remove_stale(str(self.path))
                continue
            os.chmod(self.path, 0o600)
            return
        raise KernelError(Errno.EIO, f"cannot bind {self.path}")

    def _is_stale(self, path: str) -> bool:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return True
        except OSError:
            return False
        finally:
            probe.close()
        return False

    def _remove_stale(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
            self.stale_removed += 1
        self._scan_key = None

    def peers(self) -> list[str]:
        """Sockets of the other stations on this port (re-read when the directory changes)."""
        try:
            mtime = self.directory.stat().st_mtime_ns
        except FileNotFoundError:
            return []
        now = time.monotonic()
        if (
            self._scan_key is None
            or self._scan_key[0] != mtime
            or now - self._scan_key[1] > HUB_RESCAN_S
        ):
            own = self.path.name
            with os.scandir(self.directory) as it:
                self._peers = sorted(
                    e.path for e in it if e.name.endswith(".sock") and e.name != own
                )
            self._scan_key = (mtime, now)
        return self._peers

    def _transmit(self, frame: bytes) -> None:
        for peer in list(self.peers()):
            try:
                self._sock.sendto(frame, peer)
            except (ConnectionRefusedError, FileNotFoundError):
                self._remove_stale(peer)  # a kernel that died without closing its NIC
            except (BlockingIOError, InterruptedError):
                self.stats.tx_dropped += 1  # that station's queue is full: a hub drops too
            except OSError as e:
                if e.errno == std_errno.ENOBUFS:
                    self.stats.tx_dropped += 1
                else:
                    raise KernelError(Errno.EIO, f"hub send to {peer}: {e.strerror}") from None

    def _readable(self) -> None:
        for _ in range(HUB_RX_BATCH):
            try:
                frame = self._sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.stats.rx_errors += 1
                return
            self._deliver(frame)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            self.directory.rmdir()  # only succeeds when we were the last station

    def describe(self) -> str:
        return f"hub port={self.port}"

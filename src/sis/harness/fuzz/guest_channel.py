"""The executor channel for real kernels: `/sbin/sis-executor` inside the guest (built into the
linux-busybox image, `sis.harness.images.fuzz_executor`) runs batches of raw syscalls sent over a
virtio-serial port, the guest twin of the reference kernel's `x-sis-syscall`.

The profile adds the port when its `fuzz_executor` placeholder is on; `guest_overrides()`
gives a Session the placeholders (and the unix socket QEMU listens on for the port). While a
batch runs, the Session's serial lines and QMP events are watched: a panic or oops on the
console, pvpanic's GUEST_PANICKED or QEMU's exit ends the wait at once, and the crash is
titled by forensics as on the reference kernel. No answer in time is a hang.

The wire format is fixed-size little-endian records (see guest/sis_executor.c)."""

from __future__ import annotations

import atexit
import contextlib
import errno
import shutil
import socket
import struct
import time
from pathlib import Path

from sis.contract.syscall_args import DESCRIPTIONS
from sis.harness import sockdir
from sis.harness.fuzz.channel import BatchResult
from sis.harness.fuzz.crash import CrashInfo, identify
from sis.harness.fuzz.program import Program, ret_ref
from sis.harness.session import Session, State
from sis.harness.targets.profile import Profile

PORT_NAME = "org.sis.fuzz"
VERSION = 1
MAGIC_Q = 0x51534953  # "SISQ"
MAGIC_A = 0x41534953  # "SISA"
#: A blocked call is interrupted (EINTR) after this long (SIS: 1 ms; TCG is slower).
CALL_TIMEOUT = 0.005
#: The executor kills a batch's child after this long; the lab waits a little longer.
BATCH_TIMEOUT = 10.0
HELLO_TIMEOUT = 30.0
MAX_CALLS = 4096  # a whole crashing batch as one program, when minimizing
MAX_OUTPUT = 1 << 20
MAX_DATA = 16 << 20  # input bytes of a whole batch
SCRATCH = 64 << 10

_HEADER = struct.Struct("<6I")
_CALL = struct.Struct("<4I")
_ARG = struct.Struct("<IIq")
_RESULT = struct.Struct("<qII")
#: uname's machine -> the descriptions' architecture
ARCHES = {"x86_64": "linux-x86_64", "aarch64": "linux-arm64", "riscv64": "linux-riscv64"}
STATUS = {1: "killed by signal", 2: "exited with status", 3: "timed out at call"}
#: Programs speak SIS's (arm64's) open flags; x86_64 and riscv64 (asm-generic/fcntl.h) number
#: four of them otherwise: SIS bit -> their bit (O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE).
X86_64_OPEN_FLAGS = {0o40000: 0o200000, 0o100000: 0o400000, 0o200000: 0o40000, 0o400000: 0o100000}
GENERIC_FCNTL_ARCHES = frozenset({"linux-x86_64", "linux-riscv64"})
#: calls whose argument at this index holds open flags
OPEN_FLAGS_ARG = {"openat": 2}


def arch_open_flags(value: int, arch: str) -> int:
    """Generic open flags as `arch` numbers them."""
    if arch not in GENERIC_FCNTL_ARCHES or not isinstance(value, int):
        return value
    out = value & ~sum(X86_64_OPEN_FLAGS)
    for generic, native in X86_64_OPEN_FLAGS.items():
        if value & generic:
            out |= native
    return out


class ExecutorError(Exception):
    """The executor could not be reached or spoke out of turn (the lab's problem, not the
    kernel's)."""


def has_port(profile: Profile) -> bool:
    return "fuzz_executor" in profile.variables("default")


def no_port(profile: Profile) -> str:
    """What to do about a profile that cannot be fuzzed, as one sentence."""
    return (
        f"{profile.name} cannot be fuzzed because its profile has no fuzz executor port: add "
        f"the `fuzz_executor` placeholder and its virtio-serial port to {profile.path or 'it'}, "
        "as the linux-busybox profile does"
    )


def guest_overrides(profile: Profile, socket_dir: Path) -> dict[str, str]:
    """The placeholders that give a boot of `profile` the executor's port."""
    if not has_port(profile):
        raise ValueError(no_port(profile))
    return {"fuzz_executor": "on", "fuzz_sock": str(socket_dir / "fuzz.sock")}


def ensure_executor_image(profile: Profile) -> None:
    """Make sure a linux-busybox image has the executor (built in on first use)."""
    image = profile.image
    if image.get("builder") != "linux-busybox":
        return  # the user's own image: its /init must start the executor itself
    from sis.harness.images import ImageError, target_image

    try:
        target_image(profile.arch, image.get("dir"), profile.path, fuzz_executor=True)
    except ImageError as e:
        raise ValueError(f"the fuzz executor cannot be built into the image: {e}") from None


class GuestChannel:
    """Batches through the guest's executor; the same interface as QmpChannel."""

    def __init__(self, session: Session, sock_path: str) -> None:
        self.session = session
        self.sock_path = sock_path
        self.sock: socket.socket | None = None
        self.seq = 0
        self.arch = ARCHES.get(session.profile.arch, "linux-x86_64")
        self.machine = ""
        self._buf = b""

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.session.ensure_shell()
        self._connect()

    def restart(self) -> None:
        self._close()
        self.session.restart()
        self._connect()

    def stop(self) -> None:
        """Done with the channel: its socket is closed (the session belongs to its job)."""
        self._close()

    def _close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        self._buf = b""

    def _connect(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.sock_path)
                break
            except OSError as e:
                s.close()
                if time.monotonic() > deadline:
                    raise ExecutorError(
                        f"{self.session.name}: cannot connect to the fuzz port "
                        f"{self.sock_path}: {e.strerror or e}"
                    ) from None
                time.sleep(0.05)
        self.sock = s
        self._buf = b""
        # The executor starts in the background at boot: hello until it answers.
        header = self._exchange(b"", 0, HELLO_TIMEOUT, hello=True)
        if header is None:
            self._close()
            raise ExecutorError(
                f"{self.session.name}: no fuzz executor answered on the virtio-serial port "
                f"{PORT_NAME} within {HELLO_TIMEOUT:.0f} s (is it in the image? "
                "`sis image build linux-busybox --fuzz-executor`)"
            )
        version = header[4]
        machine = self._recv(64, time.monotonic() + 5)
        if version != VERSION or machine is None:
            raise ExecutorError(
                f"the guest's fuzz executor speaks version {version}, not {VERSION}"
            )
        self.machine = machine.rstrip(b"\0").decode("ascii", "replace")
        self.arch = ARCHES.get(self.machine, self.arch)

    # -- batches ----------------------------------------------------------------------------------
    def run(self, programs: list[Program]) -> BatchResult:
        body, starts, total = self._encode(programs)
        started = time.perf_counter()
        if self.sock is None:
            raise ExecutorError("the fuzz channel is not started")
        header = self._exchange(body, total, BATCH_TIMEOUT + 5)
        out = BatchResult()
        flat: list[dict] = []
        if header is not None:
            done, status, info = header[2], header[3], header[4]
            for _ in range(done):
                raw = self._recv(_RESULT.size, time.monotonic() + 5)
                if raw is None:
                    header = None
                    break
                ret, flags, out_len = _RESULT.unpack(raw)
                result: dict = {"ret": ret}
                if ret < 0:
                    result["errno"] = errno.errorcode.get(-ret, f"E{-ret}")
                if flags & 1:
                    result["interrupted"] = True
                if out_len:
                    data = self._recv(out_len, time.monotonic() + 5)
                    if data is None:
                        header = None
                        break
                    result["output"] = data.hex()
                flat.append(result)
            if header is not None and status:
                # Not the kernel's fault: a program killed its own process (kill(getpid()),
                # munmap of the executor's code) or blocked past the batch timeout.
                out.executor_status = f"{STATUS.get(status, 'status')} {info}"
        out.seconds = time.perf_counter() - started
        ends = starts[1:] + [total]
        out.results = [flat[a:b] for a, b in zip(starts, ends, strict=True)]
        if header is None:
            # The guest answers only at the end of a batch: which call it died in is not
            # known (crash_at stays None), and minimization tries every program.
            out.crash = self._death()
        return out

    def _encode(self, programs: list[Program]) -> tuple[bytes, list[int], int]:
        parts: list[bytes] = []
        starts: list[int] = []
        total = output = data_bytes = 0
        for p in programs:
            base = total
            starts.append(base)
            for c in p.calls:
                nr = DESCRIPTIONS[c.name].numbers.get(self.arch)
                if nr is None:
                    raise ValueError(f"syscall {c.name} does not exist on {self.arch}")
                values = list(c.args)
                flags = OPEN_FLAGS_ARG.get(c.name.split("$", 1)[0])
                if flags is not None and flags < len(values) and isinstance(values[flags], int):
                    values[flags] = arch_open_flags(values[flags], self.arch)
                args = b"".join(_arg(a, base) for a in values)
                args += _ARG.pack(0, 0, 0) * (6 - len(c.args))
                data = c.data or b""
                data_bytes += len(data)
                parts.append(_CALL.pack(nr, len(c.args), len(data), 0) + args + data)
                total += 1
        if not 0 < total <= MAX_CALLS or output > MAX_OUTPUT or data_bytes > MAX_DATA:
            raise ValueError(
                f"a batch holds 1 to {MAX_CALLS} calls and {MAX_DATA} input bytes, not "
                f"{total} and {data_bytes}"
            )
        return b"".join(parts), starts, total

    def _exchange(
        self, body: bytes, ncalls: int, timeout: float, *, hello: bool = False
    ) -> tuple[int, ...] | None:
        """Send one request, return the reply's header (None: the guest died or hung)."""
        assert self.sock is not None
        self.seq += 1
        header = _HEADER.pack(
            MAGIC_Q, self.seq, ncalls, int(CALL_TIMEOUT * 1e6), int(BATCH_TIMEOUT * 1000), 0
        )
        deadline = time.monotonic() + timeout
        try:
            self.sock.sendall(header + body)
        except OSError:
            return None
        while True:
            # A hello is resent every second until the executor is up to read it.
            until = min(deadline, time.monotonic() + 1.0) if hello else deadline
            raw = self._recv(_HEADER.size, until)
            if raw is None:
                if hello and time.monotonic() < deadline and self._alive():
                    self.seq += 1
                    with contextlib.suppress(OSError):
                        self.sock.sendall(_HEADER.pack(MAGIC_Q, self.seq, 0, 0, 0, 0))
                    continue
                return None
            reply = _HEADER.unpack(raw)
            if reply[0] != MAGIC_A:
                raise ExecutorError(f"the fuzz executor answered out of step ({reply[0]:#x})")
            if reply[1] == self.seq:
                return reply
            if hello and reply[2] == 0:  # an answer to an earlier hello: take the next
                self._recv(64, time.monotonic() + 5)
                continue
            raise ExecutorError(f"the fuzz executor answered request {reply[1]}, not {self.seq}")

    def _recv(self, n: int, deadline: float) -> bytes | None:
        """n bytes, or None if the deadline passes or the guest dies first."""
        assert self.sock is not None
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not self._alive():
                return None
            self.sock.settimeout(min(left, 0.1))
            try:
                chunk = self.sock.recv(1 << 16)
            except TimeoutError:
                continue
            except OSError:
                return None
            if not chunk:
                return None
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _alive(self) -> bool:
        if self.session.state in (State.CRASHED, State.GONE):
            return False
        qmp = self.session.qmp
        return not (qmp is not None and any(ev.name == "GUEST_PANICKED" for ev in qmp.events))

    def _death(self) -> CrashInfo:
        time.sleep(0.5)  # the oops or panic report may still be arriving
        state = self.session.state
        if state is State.CRASHED or not self._alive():
            return identify(self.session, "panic", "the kernel died during the batch")
        if not self.session.alive():
            return identify(self.session, "lost", "QEMU went away")
        return identify(self.session, "hang", "the batch did not finish in time")


def _arg(a: object, base: int) -> bytes:
    if isinstance(a, int):
        a &= (1 << 64) - 1  # a register holds 64 bits, whatever a mutation made of it
        return _ARG.pack(0, 0, a if a < 1 << 63 else a - (1 << 64))
    assert isinstance(a, str)
    k = ret_ref(a)
    if k is not None:
        return _ARG.pack(3, 0, k + base)
    name, _, off = a.partition("+")
    kind = {"@data": 1, "@scratch": 2}.get(name)
    if kind is None or (off and not off.isdigit()):
        raise ValueError(f"not an executor argument: {a!r}")
    return _ARG.pack(kind, 0, int(off or 0))


def socket_dir() -> Path:
    """A short private directory for the port's socket (unix paths stop at 107 bytes)."""
    path = sockdir.socket_dir("sis-fz-")
    atexit.register(shutil.rmtree, path, True)  # QEMU leaves its socket file behind
    return path

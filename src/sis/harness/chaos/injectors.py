"""Fault injectors behind one interface, chosen by what the target can do.

* The reference kernel (capability `chaos`): its `chaos` command — mode, rate and seed — so a
  fault strikes at the real call sites, and the same seed replays the same faults.
* Any QEMU guest, through QMP (docs: ../shared/notes/QEMU-FACTS.md): a `blkdebug` node spliced
  under the disk at run time with `blockdev-reopen` (EIO, ENOSPC), `block_set_io_throttle`
  (slow I/O), `set_link` (network down), the virtio balloon (memory pressure), the profile's
  `panic` command (a panic).
* Every target: a power cut (the process is killed: nothing is synced) and a frozen machine
  (`stop`/`cont`).

A target that lacks what a fault needs gets `Unavailable` with the reason, and the experiment
is skipped with it."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Protocol

from sis.contract.chaos import MODES
from sis.harness.qmp import QMPError
from sis.harness.session import State, TargetDied

if TYPE_CHECKING:
    from sis.harness.session import Session

#: Where the raw-block workload writes on a guest disk (see workload.py): faults aimed at the
#: disk strike inside this region, so the lab's own reads elsewhere are not what fails.
RAW_BASE_BLOCK = 256
RAW_BLOCKS = 64
BLOCK = 4096
BLKDEBUG_NODE = "sis-chaos-blkdebug"
CLEAR_ATTEMPTS = 5


class Unavailable(Exception):
    """The target cannot have this fault injected (the reason says what it lacks)."""


class InjectionError(Exception):
    """The lab could not inject or clear a fault (an ERROR, not the kernel's fault)."""


class Injector(Protocol):
    fault: str
    how: str  # one line: what this injector does on this target

    def inject(self, rate: int | None, seed: int) -> str: ...
    def clear(self) -> str: ...


def injector_for(fault: str, session: Session) -> Injector:
    caps = session.capabilities
    devices = session.profile.devices
    if fault == "power_cut":
        return PowerCut(session)
    if fault == "freeze":
        return Freeze(session)
    if "chaos" in caps and fault in MODES:
        return KernelChaos(session, fault)
    if session.profile.kind != "qemu":
        raise Unavailable(f"target lacks chaos (no way to inject {fault})")
    need = {
        "disk_full": ("disk", ("disk_node", "disk_file_node")),
        "disk_fail": ("disk", ("disk_node", "disk_file_node")),
        "slow_io": ("disk", ("disk",)),
        "network_fail": ("link_control", ("nic",)),
        "memory_pressure": ("balloon", ()),
        "random_panic": ("panic_trigger", ()),
    }[fault]
    capability, ids = need
    if capability not in caps:
        raise Unavailable(f"target lacks {capability} (needed for {fault})")
    missing = [i for i in ids if i not in devices]
    if missing:
        raise Unavailable(f"profile names no device {', '.join(missing)} (needed for {fault})")
    if fault in ("disk_full", "disk_fail"):
        return Blkdebug(session, fault)
    if fault == "slow_io":
        return Throttle(session)
    if fault == "network_fail":
        return LinkDown(session)
    if fault == "memory_pressure":
        return Balloon(session)
    return PanicCommand(session)


def _qmp(session: Session, command: str, arguments: dict | None = None) -> object:
    qmp = session.qmp
    if qmp is None:
        raise InjectionError(f"{command}: the target has no QMP monitor")
    try:
        return qmp.execute(command, arguments, timeout=10)
    except QMPError as e:
        raise InjectionError(str(e)) from None


def blocks_hit(rate: int | None, seed: int) -> list[int]:
    """The workload blocks a disk fault strikes on a QEMU guest: `rate`% of them, by seed."""
    count = max(1, round(RAW_BLOCKS * (rate or 25) / 100))
    return sorted(random.Random(seed).sample(range(RAW_BLOCKS), count))


class KernelChaos:
    """The reference kernel's own injection (contract section 6)."""

    def __init__(self, session: Session, mode: str) -> None:
        self.session = session
        self.fault = mode
        self.how = f"`chaos mode {mode}` in the kernel"

    def inject(self, rate: int | None, seed: int) -> str:
        rate = 30 if rate is None else rate
        # Seed and rate first, mode last: once the mode is set, the kernel may fail any call.
        for command in (f"chaos seed {seed}", f"chaos rate {rate}"):
            r = self.session.run(command, timeout=10)
            if r.status != 0:
                raise InjectionError(f"`{command}` failed: {r.output.strip()}")
        self.session.run(f"chaos mode {self.fault}", timeout=10)
        return f"chaos mode {self.fault}, rate {rate}%, seed {seed}"

    def clear(self) -> str:
        # Out of band first: QMP needs no program to start under the fault.
        qmp = self.session.qmp
        if qmp is not None:
            try:
                qmp.execute("x-sis-chaos", {"mode": "none", "rate": 0}, timeout=10)
                return "x-sis-chaos mode none"
            except QMPError:
                pass  # an older kernel, or a dead one: the shell says which
        # A command may itself meet the fault (its spawn may get ENOMEM): try again.
        last = ""
        for _ in range(CLEAR_ATTEMPTS):
            r = self.session.run("chaos mode none", timeout=10)
            if r.status == 0:
                self.session.run("chaos rate 0", timeout=10)
                return "chaos mode none"
            last = r.output.strip()
        raise InjectionError(f"`chaos mode none` kept failing: {last}")


class Blkdebug:
    """EIO or ENOSPC on writes (and, for disk_fail, reads) of some workload blocks: a blkdebug
    node spliced between the disk's format and file nodes, switched with blockdev-reopen."""

    def __init__(self, session: Session, fault: str) -> None:
        self.session = session
        self.fault = fault
        self.errno = 28 if fault == "disk_full" else 5
        self.how = f"QEMU blkdebug errno {self.errno} under {session.profile.devices['disk_node']}"

    def _reopen(self, file_node: str) -> None:
        node = self.session.profile.devices["disk_node"]
        _qmp(
            self.session,
            "blockdev-reopen",
            {"options": [{"driver": "raw", "node-name": node, "file": file_node}]},
        )

    def _targets(self, rate: int | None, seed: int) -> tuple[list[int], str]:
        """Disk blocks the fault strikes, and how to name them. On an ext4 disk the file
        system decides where data, metadata and its journal go: `rate`% of all its blocks,
        by seed, so that the journal and the files' blocks are hit alike."""
        if "ext4_disk" not in self.session.capabilities:
            blocks = blocks_hit(rate, seed)
            return [RAW_BASE_BLOCK + b for b in blocks], f"{len(blocks)} of {RAW_BLOCKS} workload"
        r = self.session.run("cat /sys/block/vda/size", timeout=10)
        word = r.output.strip()
        if r.status != 0 or not word.isdigit():
            raise InjectionError(f"cannot read the disk's size: {word[-100:]}")
        total = int(word) * 512 // BLOCK
        count = max(1, round(total * (rate or 25) / 100))
        return sorted(random.Random(seed).sample(range(total), count)), f"{count} of {total} disk"

    def inject(self, rate: int | None, seed: int) -> str:
        blocks, which = self._targets(rate, seed)
        events = ("write_aio",) if self.fault == "disk_full" else ("write_aio", "read_aio")
        rules = [
            {"event": e, "errno": self.errno, "sector": b * BLOCK // 512}
            for b in blocks
            for e in events
        ]
        _qmp(
            self.session,
            "blockdev-add",
            {
                "driver": "blkdebug",
                "node-name": BLKDEBUG_NODE,
                "image": self._below(),
                "inject-error": rules,
            },
        )
        try:
            self._reopen(BLKDEBUG_NODE)
        except InjectionError:
            _qmp(self.session, "blockdev-del", {"node-name": BLKDEBUG_NODE})
            raise
        return f"blkdebug errno {self.errno} on {which} blocks"

    def _below(self) -> str:
        """The node under the disk's format node: its file, or the write log's node when the
        disk is logged (blkdebug goes above it, or the failed writes would be logged)."""
        return (
            self.session.overrides.get("disk_under")
            or self.session.profile.devices["disk_file_node"]
        )

    def clear(self) -> str:
        self._reopen(self._below())
        _qmp(self.session, "blockdev-del", {"node-name": BLKDEBUG_NODE})
        return "blkdebug node removed"


class Throttle:
    """Slow I/O: the disk throttled to a few operations a second."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.fault = "slow_io"
        self.qom = f"/machine/peripheral/{session.profile.devices['disk']}/virtio-backend"
        self.how = f"block_set_io_throttle on {self.qom}"

    def _limits(self, iops: int, bps: int) -> None:
        args = {"id": self.qom, "bps": bps, "bps_rd": 0, "bps_wr": 0}
        args |= {"iops": iops, "iops_rd": 0, "iops_wr": 0}
        _qmp(self.session, "block_set_io_throttle", args)

    def inject(self, rate: int | None, seed: int) -> str:
        iops = max(2, 100 - (rate or 80))  # the higher the rate, the slower the disk
        self._limits(iops, 256 << 10)
        return f"disk throttled to {iops} IO/s, 256 KiB/s"

    def clear(self) -> str:
        self._limits(0, 0)
        return "throttle lifted"


class LinkDown:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.fault = "network_fail"
        self.nic = session.profile.devices["nic"]
        self.how = f"QMP set_link {self.nic} down"

    def inject(self, rate: int | None, seed: int) -> str:
        _qmp(self.session, "set_link", {"name": self.nic, "up": False})
        return f"link {self.nic} down"

    def clear(self) -> str:
        _qmp(self.session, "set_link", {"name": self.nic, "up": True})
        return f"link {self.nic} up"


class Balloon:
    """Memory pressure: the balloon takes `rate`% of the guest's memory away."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.fault = "memory_pressure"
        self.how = "QMP balloon"
        self.full: int | None = None

    def inject(self, rate: int | None, seed: int) -> str:
        actual = _qmp(self.session, "query-balloon")
        self.full = int(actual["actual"]) if isinstance(actual, dict) else None
        if not self.full:
            raise InjectionError("query-balloon gave no size")
        target = max(64 << 20, self.full * (100 - (rate or 50)) // 100)
        _qmp(self.session, "balloon", {"value": target})
        time.sleep(1.0)  # the guest gives pages back asynchronously
        return f"balloon {self.full >> 20} -> {target >> 20} MiB"

    def clear(self) -> str:
        if self.full:
            _qmp(self.session, "balloon", {"value": self.full})
        return "balloon deflated"


class PanicCommand:
    """A panic on demand, the profile's way (Linux: sysrq `c`)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.fault = "random_panic"
        self.how = f"`{session.profile.map_command('panic')}`"

    def inject(self, rate: int | None, seed: int) -> str:
        try:
            self.session.run("panic", timeout=15)
        except TargetDied:
            pass
        return "panic triggered"

    def clear(self) -> str:
        return "nothing to clear (the restart is the rollback)"


class PowerCut:
    """The power goes: the process is killed, nothing is synced. Clearing powers on again."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.fault = "power_cut"
        self.how = "SIGKILL of the machine process (no sync, no shutdown)"

    def inject(self, rate: int | None, seed: int) -> str:
        self.session.kill()
        return "power cut"

    def clear(self) -> str:
        if self.session.state is State.OFF:
            self.session.start()
        return "powered on"


class Freeze:
    """The whole machine stops (QMP `stop`), then continues."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.fault = "freeze"
        self.how = "QMP stop / cont"

    def inject(self, rate: int | None, seed: int) -> str:
        _qmp(self.session, "stop")
        return "machine stopped"

    def clear(self) -> str:
        _qmp(self.session, "cont")
        return "machine continued"

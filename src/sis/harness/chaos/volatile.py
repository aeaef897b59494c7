"""The chaos disk of a QEMU guest as a disk with a volatile write cache.

Killing QEMU loses nothing by itself: every write QEMU made is already in the host's page cache,
flushed by the guest or not, so a power cut could never lose what the guest forgot to flush.
So when the chaos experiments run on a guest whose disk can be logged (QEMU's `blklogwrites`,
the profile's `write_log` and `disk_under` placeholders), every write, flush and FUA of a boot
goes to a log, and when that boot loses power (a power cut, a power cycle) the disk is put back
as a disk with a volatile write cache may keep it: everything up to the last completed flush,
plus the FUA writes since. That is the harshest state a real disk may leave (the crash-point
experiment checks every other one). A clean poweroff, a crash and a reset keep what was
written: the disk never lost power.

The reference kernel has no need of it: its disk writes reach the image at once and what its
kernel keeps in memory dies with its process; the crash-point experiment covers its log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sis.harness.chaos.crashpoints import power_loss_state, sparse_copy
from sis.harness.chaos.crashrun import QEMU_LOG_SECTOR, LoggedDisk, logged_disk, replays_to
from sis.harness.chaos.writelog import LogFormatError, apply_entries, read_log
from sis.harness.targets.base import TargetError
from sis.harness.targets.profile import Profile

if TYPE_CHECKING:
    from sis.harness.session import Session

__all__ = ["CachedDisk", "PowerLoss", "cache_overrides"]


def cache_overrides(profile: Profile, preset: str, log: Path) -> dict[str, str]:
    """Placeholder values that log a QEMU guest's disk to `log` ({} for any other target)."""
    values = logged_disk(profile, preset, log) or {}
    return values if "write_log" in values else {}


@dataclass(frozen=True)
class PowerLoss:
    """What one power loss did to the disk."""

    boot: int
    writes: int  # writes the boot logged
    dropped: int  # writes that were not yet durable, undone
    error: str = ""  # why the cache could not be modelled (the disk was left as it was)

    def describe(self) -> str:
        if self.error:
            return (
                f"boot {self.boot}: the disk's unflushed writes could not be dropped: {self.error}"
            )
        return (
            f"boot {self.boot}: the volatile write cache lost {self.dropped} of {self.writes} "
            "writes (not yet flushed)"
        )


class CachedDisk:
    """Attached to a Session (`session.disk_cache`): told when a boot starts and when the power
    goes. `directory` holds the boot's log and the disk as the boot found it."""

    def __init__(self, session: Session, directory: Path) -> None:
        self.session = session
        self.disk = LoggedDisk(directory)
        self.losses: list[PowerLoss] = []
        self._boot = 0
        self._running = False  # a boot started since the last stop

    def booting(self) -> None:
        """Before a boot: the disk as it is now is where the boot's log starts (QEMU starts a new
        log each time it opens it)."""
        image = self.session.prepare_disk()
        if image is None:
            return
        try:
            self.disk.directory.mkdir(parents=True, exist_ok=True)
            sparse_copy(image, self.disk.base)
            self.disk.log.write_bytes(b"")  # QEMU opens the log, it does not create it
        except OSError as e:
            raise TargetError(f"cannot keep the disk's state at boot: {e.strerror or e}") from None
        self._boot = self.session.boot_count + 1
        self._running = True

    def stopped(self, power_lost: bool) -> str:
        """After the guest's process is gone: with `power_lost`, undo what its disk had not
        made durable. Otherwise (or when no boot ran since the last stop) the disk stays."""
        if not self._running:
            return ""
        self._running = False
        if not power_lost:
            return ""
        try:
            loss = self._drop_unflushed()
        except OSError as e:
            loss = PowerLoss(self._boot, 0, 0, f"cannot rewrite the disk: {e.strerror or e}")
        self.losses.append(loss)
        return loss.describe()

    def _drop_unflushed(self) -> PowerLoss:
        image = self.session.disk_path()
        if not self.disk.base.exists() or not image.exists():
            return PowerLoss(self._boot, 0, 0, "no disk or no copy of it from the boot's start")
        if self.disk.log.exists() and self.disk.log.stat().st_size == 0:
            return PowerLoss(self._boot, 0, 0)  # the boot wrote nothing: QEMU left it empty
        try:
            log = read_log(self.disk.log, unwritten_super=QEMU_LOG_SECTOR)
        except LogFormatError as e:
            return PowerLoss(self._boot, 0, 0, f"the write log cannot be read: {e}")
        writes = [e for e in log.entries if e.is_write]
        # The whole log over the boot's disk must give the disk as the cut left it: a log that
        # missed writes would make the dropped ones a guess.
        missed = replays_to(log, self.disk.base, image, self.disk.directory)
        if missed:
            return PowerLoss(self._boot, len(writes), 0, missed)
        state = power_loss_state(log)
        kept = {*range(state.durable), *state.extra}
        # Rewritten in place (the scratch disk keeps its inode: the target knows it by it).
        sparse_copy(self.disk.base, image)
        with open(image, "r+b") as f:
            apply_entries(f, [log.entries[i] for i in sorted(kept)], log.sectorsize)
        dropped = sum(1 for e in writes if e.index not in kept)
        return PowerLoss(self._boot, len(writes), dropped)

"""A real kernel under QEMU as a lab target, as its profile describes it."""

from __future__ import annotations

import contextlib
import shlex
import shutil
import time
from pathlib import Path

from sis.harness.qmp import QMPError
from sis.harness.targets.base import TargetError
from sis.harness.targets.process import ProcessTarget
from sis.harness.targets.scratch import copy_new, scratch_disk

INSTALL_HINT = (
    "install it with `make qemu-deps` (Debian: qemu-system-x86 linux-image-amd64 busybox-static)"
)


SNAPSHOT_TIMEOUT_S = 60.0
#: QEMU before this version does not save a riscv64 hart's timer in a migration file: on a
#: resumed guest a CPU takes no timer interrupt again (no ticks, no watchdogs, console output
#: deferred to a tick that never comes). Fixed upstream after 10.1 ("Save stimer and vstimer
#: in CPU vmstate", "Save timers array in RISC-V mtimer VMState").
RISCV64_TIMER_MIGRATES = (10, 2)


def snapshot_hazard(arch: str | None, version: tuple[int, int]) -> str:
    """Why a snapshot of this machine would not resume as it was ("" when it would)."""
    if arch == "riscv64" and version < RISCV64_TIMER_MIGRATES:
        return (
            f"QEMU {version[0]}.{version[1]} loses a riscv64 CPU's timer when it loads a "
            "snapshot (fixed after 10.1): resets reboot instead"
        )
    return ""


class QemuTarget(ProcessTarget):
    def executable(self) -> list[str]:
        binary = self.profile.binary or "qemu-system-x86_64"
        path = shutil.which(binary)
        if path is None:
            raise TargetError(f"{binary} not found: {INSTALL_HINT}")
        return [path]

    def values(self) -> dict[str, str]:
        image = self.profile.image
        if image.get("builder") == "linux-busybox":
            from sis.harness.images import ImageError, target_image

            try:
                built = target_image(self.profile.arch, image.get("dir"), self.profile.path)
            except ImageError as e:
                raise TargetError(str(e)) from None
            # Each VM gets its own scratch disk.
            disk = self._scratch_copy(built.disk)
            if built.crash_module:  # /proc/sis_crash: the crash_forensics suite can run
                self.capabilities.add("crash_module")
            return {
                "vmlinux": str(built.vmlinux),
                "initramfs": str(built.initramfs),
                "disk": str(disk),
            }
        paths = {
            k: str(v)
            for k, v in image.items()
            if k in ("vmlinux", "kernel", "initramfs", "initrd", "disk")
        }
        if "disk" in paths:
            # The user's disk is their master copy: each VM of a run writes its own copy.
            paths["disk"] = str(self._scratch_copy(Path(paths["disk"])))
        return paths

    def _scratch_copy(self, source: Path) -> Path:
        try:
            return scratch_disk(self._path("disk.img"), lambda disk: copy_new(source, disk))
        except OSError as e:
            raise TargetError(f"cannot copy the disk {source}: {e.strerror or e}") from None

    # -- snapshots: a migration file of the running machine plus a copy of its disk ---------------
    def _snapshot_paths(self) -> tuple[Path, Path]:
        return self._path("snapshot.state"), self._path("snapshot.disk")

    def save_snapshot(self) -> None:
        """Save the running machine (memory and devices, by migration to a file) and its disk,
        so `start(restore=True)` resumes exactly here. The guest is paused meanwhile."""
        if self.qmp is None or "disk" not in self._values:
            raise TargetError(f"{self.name}: a snapshot needs QMP and a disk image")
        try:
            v = self.qmp.execute("query-version").get("qemu", {})
            hazard = snapshot_hazard(self.profile.arch, (int(v["major"]), int(v["minor"])))
        except (QMPError, KeyError, TypeError, ValueError, AttributeError):
            hazard = ""  # a QEMU that does not say: as before
        if hazard:
            raise TargetError(f"{self.name}: {hazard}")
        state, disk = self._snapshot_paths()
        self.qmp.execute("stop")
        try:
            self.qmp.execute("migrate", {"uri": f"exec:cat > {shlex.quote(str(state))}"})
            deadline = time.monotonic() + SNAPSHOT_TIMEOUT_S
            while True:
                status = self.qmp.execute("query-migrate").get("status")
                if status == "completed":
                    break
                if status in ("failed", "cancelled") or time.monotonic() > deadline:
                    raise TargetError(f"{self.name}: saving the snapshot {status or 'timed out'}")
                time.sleep(0.01)
            # Stopped, the machine has flushed its disk: the copy matches the saved memory.
            shutil.copyfile(self._values["disk"], disk)
        except QMPError as e:
            raise TargetError(f"{self.name}: saving the snapshot: {e}") from None
        finally:
            with contextlib.suppress(QMPError):
                self.qmp.execute("cont")

    def restore_args(self, values: dict[str, str]) -> list[str]:
        state, disk = self._snapshot_paths()
        if not state.exists() or not disk.exists() or "disk" not in values:
            raise TargetError(f"{self.name}: no snapshot to restore")
        shutil.copyfile(disk, values["disk"])
        return ["-incoming", f"exec:cat {shlex.quote(str(state))}"]

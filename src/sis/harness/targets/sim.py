"""The reference kernel as a lab target: `python -m sis.kernel` with a fresh disk image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sis.harness.targets.base import TargetError
from sis.harness.targets.process import ProcessTarget
from sis.harness.targets.scratch import scratch_disk

SCRATCH_DISK_SIZE = "64M"


class SimTarget(ProcessTarget):
    def executable(self) -> list[str]:
        return [sys.executable, "-m", "sis.kernel"]

    def values(self) -> dict[str, str]:
        try:
            disk = scratch_disk(self._path("disk.img"), _create_disk)
        except OSError as e:
            raise TargetError(f"cannot create {self._path('disk.img')}: {e}") from None
        return {"disk": str(disk)}


def _create_disk(disk: Path) -> None:
    # Made by the kernel's own tool, as a user would: the lab never imports the kernel.
    argv = [sys.executable, "-m", "sis", "disk", "create", str(disk), "--size", SCRATCH_DISK_SIZE]
    made = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if made.returncode != 0:
        why = (made.stderr or made.stdout).strip().splitlines()
        raise TargetError(f"cannot create {disk}: {why[-1] if why else made.returncode}")

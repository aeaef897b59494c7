"""The reference kernel as a lab target: `python -m sis.kernel` with a fresh disk image."""

from __future__ import annotations

import subprocess
import sys

from sis.harness.targets.base import TargetError
from sis.harness.targets.process import ProcessTarget

SCRATCH_DISK_SIZE = "64M"


class SimTarget(ProcessTarget):
    def executable(self) -> list[str]:
        return [sys.executable, "-m", "sis.kernel"]

    def values(self) -> dict[str, str]:
        disk = self._path("disk.img")
        if not disk.exists():
            # Made by the kernel's own tool, as a user would: the lab never imports the kernel.
            made = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "sis",
                    "disk",
                    "create",
                    str(disk),
                    "--size",
                    SCRATCH_DISK_SIZE,
                ],
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            if made.returncode != 0:
                why = (made.stderr or made.stdout).strip().splitlines()
                raise TargetError(f"cannot create {disk}: {why[-1] if why else made.returncode}")
        return {"disk": str(disk)}

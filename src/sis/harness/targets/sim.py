"""The reference kernel as a lab target: `python -m sis.kernel` with a fresh disk image."""

from __future__ import annotations

import sys

from sis.harness.targets.process import ProcessTarget


class SimTarget(ProcessTarget):
    def executable(self) -> list[str]:
        return [sys.executable, "-m", "sis.kernel"]

    def values(self) -> dict[str, str]:
        disk = self._path("disk.img")
        if not disk.exists():
            from sis.kernel.fs.tools import create_disk

            create_disk(disk, 64 << 20)
        return {"disk": str(disk)}

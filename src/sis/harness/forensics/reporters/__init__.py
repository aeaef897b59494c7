"""One reporter per OS: Linux (x86_64, arm64), the SIS reference kernel, firmware (U-Boot)."""

from __future__ import annotations

from sis.harness.forensics.reporters.base import Reporter
from sis.harness.forensics.reporters.firmware import FirmwareReporter
from sis.harness.forensics.reporters.linux import LinuxReporter
from sis.harness.forensics.reporters.sis import SisReporter

REPORTERS: dict[str, Reporter] = {
    "linux": LinuxReporter(),
    "sis": SisReporter(),
    "firmware": FirmwareReporter(),
}

__all__ = ["REPORTERS", "Reporter"]

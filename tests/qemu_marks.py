"""The mark for tests that boot the amd64 linux-busybox guest: skipped, with the install hint,
where QEMU or a Debian kernel is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

needs_linux_busybox = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None or not list(Path("/boot").glob("vmlinuz-*-amd64")),
    reason="qemu-system-x86_64 or a Debian kernel not installed (make qemu-deps)",
)

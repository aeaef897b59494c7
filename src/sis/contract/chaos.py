"""Contract section 6: chaos modes, and what the `chaos` command prints."""

from __future__ import annotations

MODES: tuple[str, ...] = (
    "none",
    "disk_full",
    "disk_fail",
    "network_fail",
    "memory_pressure",
    "random_panic",
    "slow_io",
)
FEATURE = "chaos"  # the -features name that enables the command and the injection code
USAGE = "Usage: chaos <mode|rate|seed|stats|reset>"
# `chaos stats` lines (label, key of the kernel's counters), in the order printed.
STATS_LINES: tuple[tuple[str, str], ...] = (
    ("Disk full", "disk_full"),
    ("Disk failures", "disk_failures"),
    ("Network failures", "network_failures"),
    ("Alloc failures", "alloc_failures"),
    ("Slow I/O", "slow_io"),
    ("Panics", "panics"),
)

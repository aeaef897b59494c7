"""Contract section 9: planted bugs, the known misbehaviours a reference kernel can be started
with (`-append sis.bug=NAME[,NAME...]`) so that every readiness job proves it catches what it
claims. The names, what each does wrong, and the job meant to catch it."""

from __future__ import annotations

from dataclasses import dataclass

CMDLINE_KEY = "sis.bug"  # -append "sis.bug=fsync_lies,net_wedge"
BOOT_LOG_EVENT = "planted_bug"  # the WARN record at boot, one per active bug
VERSION_KEY = "bugs"  # `version --json` lists the active bugs under this key


def boot_log_message(name: str) -> str:
    """The message of the WARN record a kernel logs at boot for each active bug."""
    return f"planted bug active: {name}"


@dataclass(frozen=True)
class PlantedBug:
    name: str
    wrong: str  # what the kernel does wrong
    caught_by: str  # the job (and fault) that must catch it


FSYNC_LIES = "fsync_lies"
ENOSPC_PANIC = "enospc_panic"
NET_WEDGE = "net_wedge"
OOM_HANG = "oom_hang"
LEAK_ON_SPAWN = "leak_on_spawn"
PWRITE_OVERFLOW = "pwrite_overflow"
NULL_DEREF_IOCTL = "null_deref_ioctl"

BUGS: tuple[PlantedBug, ...] = (
    PlantedBug(
        FSYNC_LIES,
        "fsync/fdatasync/sync return 0 without committing the journal",
        "chaos (power_cut, disk_fail): acknowledged bytes lost",
    ),
    PlantedBug(
        ENOSPC_PANIC,
        "a full disk during journal commit panics instead of returning ENOSPC",
        "chaos (disk_full): the kernel died where it must degrade",
    ),
    PlantedBug(
        NET_WEDGE,
        "after a NIC send failure the interface never carries traffic again",
        "chaos (network_fail): steady state not restored",
    ),
    PlantedBug(
        OOM_HANG,
        "a failed allocation in the spawn path retries forever",
        "chaos (memory_pressure): hung",
    ),
    PlantedBug(
        LEAK_ON_SPAWN,
        "every spawn leaks 4 KiB of kernel heap",
        "soak: a leak, with its slope",
    ),
    PlantedBug(
        PWRITE_OVERFLOW,
        "pwrite64 with offset + count past 2^63 reaches an unchecked path and panics",
        "fuzz: a crash, minimized to a short reproducer",
    ),
    PlantedBug(
        NULL_DEREF_IOCTL,
        "ioctl TIOCGETD on a TTY dereferences a missing line-discipline object (a panic "
        "through the ioctl handler)",
        "fuzz and crash forensics: the panic's title names the guilty function",
    ),
)
BY_NAME: dict[str, PlantedBug] = {b.name: b for b in BUGS}
NAMES: tuple[str, ...] = tuple(BY_NAME)

LEAK_BYTES_PER_SPAWN = 4096  # leak_on_spawn
# null_deref_ioctl: the function a panic's title must name (its symbol ends with this name).
NULL_DEREF_IOCTL_FUNCTION = "tty_ioctl_get_ldisc_private"


class UnknownBug(ValueError):
    """A name in sis.bug= that is not a planted bug; the message is one line."""


def parse(value: str) -> tuple[str, ...]:
    """`fsync_lies,net_wedge` -> the names, in contract order, without duplicates.
    Raises UnknownBug naming the first unknown one."""
    wanted = [w.strip() for w in value.split(",") if w.strip()]
    for w in wanted:
        if w not in BY_NAME:
            raise UnknownBug(f"unknown planted bug {w!r} (known: {', '.join(NAMES)})")
    return tuple(n for n in NAMES if n in wanted)

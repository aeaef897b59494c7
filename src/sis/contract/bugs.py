"""Contract section 9: planted bugs, the known misbehaviours a reference kernel can be started
with (`-append "sis.bug=NAME[,NAME...] sis.bug_seed=N"`) so that every readiness job proves it
catches what it claims. The names, what each does wrong, the job meant to catch it, and where
each trigger sits for a seed: the seed moves every trigger within a written-down range, so a
detector tuned to one placement misses the others.

Readiness jobs (chaos, soak, fuzz, forensics, the crash probe) must not import this module
(an import-linter contract says so): what they find, they find without knowing the bugs."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sis.contract.syscalls import IOCTLS

CMDLINE_KEY = "sis.bug"  # -append "sis.bug=fsync_lies,net_wedge"
SEED_KEY = "sis.bug_seed"  # -append "sis.bug_seed=7": where the triggers sit
DEFAULT_SEED = 0  # the placement without sis.bug_seed
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
        "on a drawn share of calls, fsync/fdatasync/sync return 0 and mark the dirty blocks "
        "clean without writing them: acknowledged data never reaches the disk",
        "chaos (power_cut, disk_fail): acknowledged bytes lost",
    ),
    PlantedBug(
        ENOSPC_PANIC,
        "a full disk during journal commit panics instead of returning ENOSPC",
        "chaos (disk_full): the kernel died where it must degrade",
    ),
    PlantedBug(
        NET_WEDGE,
        "after a drawn number of failed NIC sends the interface never carries traffic again",
        "chaos (network_fail): steady state not restored",
    ),
    PlantedBug(
        OOM_HANG,
        "from a drawn number of failed spawn allocations on, the spawn path retries forever",
        "chaos (memory_pressure): hung",
    ),
    PlantedBug(
        LEAK_ON_SPAWN,
        "every P-th spawn leaks S bytes of kernel heap (S and P drawn by the seed)",
        "soak: a leak, with its slope",
    ),
    PlantedBug(
        PWRITE_OVERFLOW,
        "pwrite64 keeps the end of the write in a k-bit field (k drawn); an end at or past 2^k "
        "reaches an unchecked path and panics",
        "fuzz: a crash, minimized to a short reproducer",
    ),
    PlantedBug(
        NULL_DEREF_IOCTL,
        "one ioctl request (drawn from the kernel's table) dereferences a missing driver-private "
        "object: a panic through the ioctl handler",
        "fuzz and crash forensics: the panic's title names the guilty function",
    ),
)
BY_NAME: dict[str, PlantedBug] = {b.name: b for b in BUGS}
NAMES: tuple[str, ...] = tuple(BY_NAME)

# null_deref_ioctl: the function a panic's title must name (its symbol ends with this name).
NULL_DEREF_IOCTL_FUNCTION = "ioctl_driver_private"
# pwrite_overflow's guilty function.
PWRITE_OVERFLOW_FUNCTION = "pwrite_store_end_unchecked"

# -- where the triggers sit: every range a seed draws from (docs/contract.md section 9) -----------
PWRITE_FIELD_BITS = (33, 62)  # k: the end offset is kept in a k-bit field
LEAK_BYTES = (1024, 8192)  # S, a multiple of LEAK_BYTES_STEP
LEAK_BYTES_STEP = 256
LEAK_PERIOD = (1, 3)  # P: every P-th spawn leaks
FSYNC_LIE_PERIOD = (1, 4)  # n: one call in n lies (a share of 25% to 100%), from a drawn phase
NET_WEDGE_FAILED_SENDS = (1, 4)  # the N-th failed NIC send wedges the interface
OOM_HANG_FAILURES = (1, 3)  # from the N-th failed spawn allocation on, the retry never ends
#: null_deref_ioctl draws from the kernel's whole ioctl table less these: the reference shell
#: makes them itself for every command it starts, so a bug there would stop every job alike.
IOCTLS_THE_SHELL_MAKES = ("TIOCSPGRP",)


@dataclass(frozen=True)
class Placement:
    """Where each planted bug's trigger sits for one seed."""

    seed: int
    pwrite_field_bits: int
    ioctl_request: str  # a name of sis.contract.syscalls.IOCTLS
    leak_bytes: int
    leak_period: int
    fsync_lie_period: int
    fsync_lie_phase: int  # the calls that lie: number % period == phase (counted from 0)
    net_wedge_failed_sends: int
    oom_hang_failures: int

    @property
    def ioctl_nr(self) -> int:
        return next(i.nr for i in IOCTLS if i.name == self.ioctl_request)

    def describe(self) -> dict[str, object]:
        """Each bug's trigger in words a reader of the matrix can check."""
        return {
            PWRITE_OVERFLOW: f"pwrite64 end >= 2^{self.pwrite_field_bits}",
            NULL_DEREF_IOCTL: f"ioctl {self.ioctl_request} ({self.ioctl_nr:#x})",
            LEAK_ON_SPAWN: f"{self.leak_bytes} bytes every {self.leak_period} spawn(s)",
            FSYNC_LIES: f"1 call in {self.fsync_lie_period} (phase {self.fsync_lie_phase})",
            NET_WEDGE: f"wedged at failed send #{self.net_wedge_failed_sends}",
            OOM_HANG: f"hangs from failed spawn allocation #{self.oom_hang_failures}",
            ENOSPC_PANIC: "any journal commit that meets a full disk",
        }


def _draw(seed: int, bug: str) -> random.Random:
    # One stream per bug: adding a bug or a draw to one never moves another's trigger.
    return random.Random(f"{SEED_KEY}={seed}/{bug}")


def placement(seed: int = DEFAULT_SEED) -> Placement:
    """The triggers for `seed` (the same on every machine and Python version)."""
    leak = _draw(seed, LEAK_ON_SPAWN)
    lo, hi = LEAK_BYTES
    leak_bytes = leak.randrange(lo, hi + 1, LEAK_BYTES_STEP)
    leak_period = leak.randint(*LEAK_PERIOD)
    fsync = _draw(seed, FSYNC_LIES)
    period = fsync.randint(*FSYNC_LIE_PERIOD)
    return Placement(
        seed=seed,
        pwrite_field_bits=_draw(seed, PWRITE_OVERFLOW).randint(*PWRITE_FIELD_BITS),
        ioctl_request=_draw(seed, NULL_DEREF_IOCTL).choice(
            [i.name for i in IOCTLS if i.name not in IOCTLS_THE_SHELL_MAKES]
        ),
        leak_bytes=leak_bytes,
        leak_period=leak_period,
        fsync_lie_period=period,
        fsync_lie_phase=fsync.randrange(period),
        net_wedge_failed_sends=_draw(seed, NET_WEDGE).randint(*NET_WEDGE_FAILED_SENDS),
        oom_hang_failures=_draw(seed, OOM_HANG).randint(*OOM_HANG_FAILURES),
    )


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


def parse_seed(value: str) -> int:
    """`sis.bug_seed=N`: a decimal integer 0..2^63-1. Raises UnknownBug with a one-line message."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or int(text) >= 1 << 63:
        raise UnknownBug(f"{SEED_KEY}={value!r} is not a whole number 0..2^63-1")
    return int(text)

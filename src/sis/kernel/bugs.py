"""Planted bugs (contract section 9, `-append sis.bug=NAME[,NAME...]`): the reference kernel
misbehaving in known ways, so that each readiness job can prove it catches what it claims.

Every misbehaviour lives here. A call site elsewhere in the kernel is one test of the active set
(`if NAME in k.bugs:`), usually on an error path, and calls in; without `sis.bug` the set is
empty and nothing here runs."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, NoReturn

from sis.contract.bugs import BOOT_LOG_EVENT, LEAK_BYTES_PER_SPAWN, NAMES, boot_log_message
from sis.kernel.errno import Errno, KernelError

if TYPE_CHECKING:
    from sis.kernel.drivers.nic import Nic
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task
    from sis.kernel.tty import Tty

OOM_RETRY_S = 0.1
OOM_RETRY_BYTES = 1536  # the task_struct the retry asks for again


def log_active(k: Kernel) -> None:
    """One WARN record per active bug at boot: no run with a planted bug passes for a clean one."""
    for name in active(k):
        k.printk.warn("kernel", BOOT_LOG_EVENT, boot_log_message(name), bug=name)


def active(k: Kernel) -> list[str]:
    """The active bugs, in contract order (`version --json` lists them)."""
    return [n for n in NAMES if n in k.bugs]


# -- fsync_lies ------------------------------------------------------------------------------------
def fsync_lies() -> int:
    """fsync, fdatasync and sync acknowledge without committing the journal: the data stays in
    the buffer cache, and a power cut loses it."""
    return 0


# -- enospc_panic ----------------------------------------------------------------------------------
def journal_commit_error(k: Kernel, err: KernelError) -> None:
    """A journal commit failed. Correct code returns the errno; this one treats a full disk as
    impossible and stops the kernel (an ext4 `BUG_ON` where `-ENOSPC` was due)."""
    if err.errno is Errno.ENOSPC:
        k.panic(f"kernel BUG in journal commit: no space for the transaction ({err.detail})")


# -- net_wedge -------------------------------------------------------------------------------------
def nic_send_error(nic: Nic) -> None:
    """A send failed. The driver's error path stops the transmit queue and disables receive, and
    nothing ever restarts them: the link still says UP, but no frame leaves or arrives."""

    def stopped_queue(frame: bytes) -> None:
        nic.stats.tx_dropped += 1

    nic._transmit = stopped_queue  # type: ignore[method-assign]
    nic.on_receive = None  # what arrives is dropped (counted as rx_dropped)


# -- oom_hang --------------------------------------------------------------------------------------
async def spawn_retry_forever(k: Kernel, t: Task, first: KernelError) -> NoReturn:
    """A spawn failed for want of memory. The retry loop tests the first attempt's error, never
    the retry's, so it never ends; the task sleeps uninterruptibly between tries (signals wait
    for a return that never comes), which is how the shell hangs."""
    err: KernelError | None = first
    deferred: set[int] = set()
    while err is not None:
        deferred |= t.pending  # TASK_UNINTERRUPTIBLE: a pending signal does not end the wait
        t.pending.clear()
        await k.sched.block(None, OOM_RETRY_S, channel="spawn_oom_retry")
        try:
            k.heap.free(k.heap.alloc(OOM_RETRY_BYTES, "task_struct"))
        except KernelError:
            pass
    raise AssertionError("not reached")  # pragma: no cover


# -- leak_on_spawn ---------------------------------------------------------------------------------
def leak_on_spawn(k: Kernel) -> None:
    """Every spawn allocates an accounting record and no path ever frees it."""
    k.heap.alloc(LEAK_BYTES_PER_SPAWN, "spawn_acct")


# -- pwrite_overflow -------------------------------------------------------------------------------
def pwrite_store_end_unchecked(offset: int, count: int) -> None:
    """pwrite64 stores the new end of the write (offset + count) in a signed 64-bit position
    without checking it; past 2^63 the store fails in kernel code, which is a panic."""
    struct.pack("<q", offset + count)


# -- null_deref_ioctl ------------------------------------------------------------------------------
def tty_ldisc_ref(tty: Tty) -> Any:
    """The line discipline object of a TTY: the console has none (its discipline is built in)."""
    return getattr(tty, "ldisc", None)


def tty_ioctl_get_ldisc_private(tty: Tty) -> int:
    """TIOCGETD asks the line discipline object for its number without checking that there is
    one: a NULL dereference in the ioctl handler."""
    ldisc = tty_ldisc_ref(tty)
    return int(ldisc.ops.num)

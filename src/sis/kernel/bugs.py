"""Planted bugs (contract section 9, `-append "sis.bug=NAME[,NAME...] sis.bug_seed=N"`): the
reference kernel misbehaving in known ways, so that each readiness job can prove it catches what
it claims. The seed places each trigger (`Placement`): which ioctl, how wide a field, how many
calls or packets before the misbehaviour shows.

Every misbehaviour lives here. A call site elsewhere in the kernel is one test of the active set
(`if NAME in k.bugs:`), usually on an error path, and calls in; without `sis.bug` the set is
empty and nothing here runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from sis.contract.bugs import BOOT_LOG_EVENT, NAMES, Placement, boot_log_message
from sis.kernel.errno import Errno, KernelError

if TYPE_CHECKING:
    from sis.kernel.drivers.nic import Nic
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

OOM_RETRY_S = 0.1
OOM_RETRY_BYTES = 1536  # the task_struct the retry asks for again


@dataclass
class PlantedState:
    """Where the triggers sit for this boot, and the counters that reach them."""

    placement: Placement
    spawns: int = 0
    sync_calls: int = 0  # fsync, fdatasync and sync, counted from 0
    failed_sends: int = 0
    spawn_alloc_failures: int = 0


def log_active(k: Kernel) -> None:
    """One WARN record per active bug at boot: no run with a planted bug passes for a clean one."""
    for name in active(k):
        k.printk.warn("kernel", BOOT_LOG_EVENT, boot_log_message(name), bug=name)


def active(k: Kernel) -> list[str]:
    """The active bugs, in contract order (`version --json` lists them)."""
    return [n for n in NAMES if n in k.bugs]


# -- fsync_lies ------------------------------------------------------------------------------------
def fsync_lies(k: Kernel) -> bool:
    """Whether this fsync, fdatasync or sync lies: one call in `period`, from a drawn phase. A
    lying call marks the dirty blocks clean without committing them, and returns success: the
    running kernel still reads the data from its cache, but it never reaches the disk (no
    later sync writes a block it believes clean), so a power cycle loses it."""
    st = k.planted
    n, st.sync_calls = st.sync_calls, st.sync_calls + 1
    if n % st.placement.fsync_lie_period != st.placement.fsync_lie_phase:
        return False
    if k.fs is not None:
        k.fs.cache.mark_clean()
    return True


# -- enospc_panic ----------------------------------------------------------------------------------
def journal_commit_error(k: Kernel, err: KernelError) -> None:
    """A journal commit failed. Correct code returns the errno; this one treats a full disk as
    impossible and stops the kernel (an ext4 `BUG_ON` where `-ENOSPC` was due)."""
    if err.errno is Errno.ENOSPC:
        k.panic(f"kernel BUG in journal commit: no space for the transaction ({err.detail})")


# -- net_wedge -------------------------------------------------------------------------------------
def nic_send_error_handler(k: Kernel) -> Callable[[Nic], None]:
    """The NIC's send-error path. Each failure uses up a transmit descriptor that is never given
    back; at the N-th the ring is empty, the queue stops and receive is disabled, and nothing
    ever restarts them: the link still says UP, but no frame leaves or arrives."""

    def on_send_error(nic: Nic) -> None:
        k.planted.failed_sends += 1
        if k.planted.failed_sends >= k.planted.placement.net_wedge_failed_sends:
            wedge(nic)

    return on_send_error


def wedge(nic: Nic) -> None:
    def stopped_queue(frame: bytes) -> None:
        nic.stats.tx_dropped += 1

    nic._transmit = stopped_queue  # type: ignore[method-assign]
    nic.on_receive = None  # what arrives is dropped (counted as rx_dropped)


# -- oom_hang --------------------------------------------------------------------------------------
async def spawn_alloc_failed(k: Kernel, t: Task, err: KernelError) -> None:
    """A spawn failed for want of memory. The first failures return ENOMEM as they should; from
    the N-th on (the threshold the seed draws), the spawn path enters its retry loop."""
    k.planted.spawn_alloc_failures += 1
    if k.planted.spawn_alloc_failures >= k.planted.placement.oom_hang_failures:
        await spawn_retry_forever(k, t, err)


async def spawn_retry_forever(k: Kernel, t: Task, first: KernelError) -> NoReturn:
    """The retry loop tests the first attempt's error, never the retry's, so it never ends; the
    task sleeps uninterruptibly between tries (signals wait for a return that never comes),
    which is how the shell hangs."""
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
    """Every P-th spawn allocates an S-byte accounting record that no path ever frees."""
    st = k.planted
    st.spawns += 1
    if st.spawns % st.placement.leak_period == 0:
        k.heap.alloc(st.placement.leak_bytes, "spawn_acct")


# -- pwrite_overflow -------------------------------------------------------------------------------
def pwrite_store_end_unchecked(k: Kernel, offset: int, count: int) -> None:
    """pwrite64 stores the new end of the write (offset + count) in a k-bit position field
    without the range check that belongs before it; an end at or past 2^k trips the store's
    own assertion in kernel code, which is a panic."""
    bits = k.planted.placement.pwrite_field_bits
    end = offset + count
    if end >> bits:
        raise OverflowError(f"file end {end:#x} does not fit the {bits}-bit position field")


# -- null_deref_ioctl ------------------------------------------------------------------------------
def ioctl_driver_private(f: Any) -> int:
    """The handler of one request asks the open file's driver-private object for its operations
    without checking that there is one (these files have none): a NULL dereference in the ioctl
    handler."""
    private = getattr(f, "private_data", None)
    return int(private.ops.flags)

"""The syscall path: from the trap to the handler and back, with validation first, counters,
chaos injection, signal delivery and preemption at exit. A Python exception escaping a handler
is a kernel bug: it panics the kernel, as an oops in a syscall would."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sis.kernel.errno import Errno, KernelError
from sis.kernel.proc.sched import KernelHalt
from sis.kernel.proc.task import TaskExit

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

_MASK64 = (1 << 64) - 1

# Handlers register themselves in the table when their modules are imported.
from sis.kernel.syscall import sysfile, sysioctl, sysmem, sysnet, sysproc  # noqa: E402, F401
from sis.kernel.syscall.table import SYSCALLS  # noqa: E402


async def dispatch(k: Kernel, task: Task) -> int:
    regs = task.regs.x
    nr = regs[8]
    k.syscalls += 1
    try:
        k.validator.number(nr)
        sc = SYSCALLS.get(nr)
        if sc is None:
            raise KernelError(Errno.ENOSYS, f"no syscall {nr}")
        if k.chaos is not None:
            k.chaos.at_syscall(task, sc.name)
        values = k.validator.arguments(task, sc, regs[: len(sc.args)])
        ret = await sc.handler(k, task, *values)
    except KernelError as e:
        ret = -int(e.errno)
    except (TaskExit, KernelHalt, GeneratorExit):
        raise
    except Exception as e:
        name = SYSCALLS[nr].name if nr in SYSCALLS else str(nr)
        k.panic(f"unhandled {type(e).__name__} in syscall {name}: {e}", exc=e, task=task)
        raise  # not reached: panic() does not return
    regs[0] = ret & _MASK64
    k.sched.check_signals(task)
    await k.sched.maybe_preempt(task)
    return ret

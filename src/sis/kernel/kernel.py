"""The kernel proper: owns the subsystems of one boot (log, heap, page frames, scheduler,
console TTY, file system, network) and the process lifecycle. A reboot builds a new Kernel;
the machine (devices, disk image, sockets) stays."""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

from sis.contract.bugs import LEAK_ON_SPAWN
from sis.kernel import bugs
from sis.kernel.boot import boot_sequence
from sis.kernel.errno import Errno, KernelError
from sis.kernel.exec import Program, Userland
from sis.kernel.file import FdTable, TtyFile
from sis.kernel.mm.heap import Heap
from sis.kernel.mm.user import AddressSpace, FramePool, SegmentationFault
from sis.kernel.panic import handle_panic
from sis.kernel.printk import Printk
from sis.kernel.proc.sched import KernelHalt, Scheduler, WaitQueue
from sis.kernel.proc.task import Task, TaskState
from sis.kernel.syscall.entry import dispatch
from sis.kernel.syscall.validate import Validator
from sis.kernel.tty import Tty

if TYPE_CHECKING:
    from sis.kernel.machine import Machine

TASK_STRUCT_BYTES = 1536
KERNEL_STACK_BYTES = 16 << 10


class Kernel:
    def __init__(self, machine: Machine, boot_count: int = 0) -> None:
        cfg = machine.cfg
        self.machine = machine
        self.cfg = cfg
        self.boot_count = boot_count
        self.clock_ns = machine.timer.monotonic_ns
        self.boot_ns = self.clock_ns()
        self.printk = Printk(
            fmt=cfg.log_format, level=cfg.log_level, quiet=cfg.quiet, clock_ns=self.clock_ns
        )
        # Half of -m is the kernel heap arena, the rest page frames for user memory.
        heap_bytes = cfg.memory_bytes // 2
        self.heap = Heap(heap_bytes)
        self.frames = FramePool(cfg.memory_bytes - heap_bytes)
        self.sched = Scheduler(cfg.cpus, on_exit=self._task_exited, on_task_fault=self._task_fault)
        self.validator = Validator()
        self.tty = Tty(self.sched, machine.console_write, self.signal_group)
        self.child_wait: dict[int, WaitQueue] = {}
        self.syscalls = 0
        self.vfs = {"opens": 0, "reads": 0, "writes": 0}
        self.panicking = False
        self.fs: Any = None
        self.net: Any = None
        self.chaos: Any = None
        # Planted bugs (contract section 9): empty unless -append sis.bug=...
        self.bugs: frozenset[str] = cfg.bugs
        self.planted = bugs.PlantedState(cfg.bug_placement)  # where their triggers sit
        # User space as the machine was given it; None boots to a panic (no init).
        self.userland: Userland | None = getattr(machine, "userland", None)

    # -- boot ------------------------------------------------------------------------------------
    async def boot(self) -> None:
        await boot_sequence(self)

    def uptime_s(self) -> float:
        return (self.clock_ns() - self.boot_ns) / 1e9

    # -- processes -------------------------------------------------------------------------------
    def spawn(
        self,
        program: Program,
        argv: list[str],
        *,
        parent: Task | None = None,
        files: FdTable | None = None,
        pgid: int | None = None,
        cwd: Any = None,
    ) -> Task:
        """Create a user process running `program(libc, argv)`, where libc is the userland's
        runtime for the new task. Raises KernelError(ENOMEM)."""
        if self.userland is None:
            raise KernelError(Errno.ENOEXEC, "no user space to run programs with")
        if LEAK_ON_SPAWN in self.bugs:
            bugs.leak_on_spawn(self)
        kobjs = [self.heap.alloc(TASK_STRUCT_BYTES, "task_struct")]
        try:
            kobjs.append(self.heap.alloc(KERNEL_STACK_BYTES, "kernel_stack"))
        except KernelError:
            self.heap.free(kobjs[0])
            raise
        pid = self.sched.next_pid()
        task = Task(
            pid=pid,
            name=argv[0] if argv else "?",
            coro=None,
            ppid=parent.pid if parent else 0,
            pgid=pgid if pgid is not None else pid,
            argv=list(argv),
            kobjs=kobjs,
        )
        task.mm = AddressSpace(self.frames)
        task.files = files if files is not None else (parent.files.fork() if parent else FdTable())
        task.cwd = cwd if cwd is not None else (parent.cwd if parent else None)
        task.regs.sp = task.mm.regions[-1].end - 16
        libc = self.userland.runtime(self, task)
        task.coro = self._user_entry(task, libc, program, argv)
        self.child_wait[pid] = WaitQueue(self.sched, f"wait4:{pid}")
        self.sched.add(task)
        self.printk.debug("proc", "spawn", f"pid {pid} {task.name}", pid=pid, ppid=task.ppid)
        return task

    async def _user_entry(self, task: Task, libc: Any, program: Program, argv: list[str]) -> int:
        status = await program(libc, argv)
        return status if isinstance(status, int) else 0

    def console_files(self) -> FdTable:
        table = FdTable()
        tty = TtyFile(self.tty)
        for fd in (0, 1, 2):
            table.install_at(fd, tty)
        return table

    def find_task(self, pid: int) -> Task | None:
        return self.sched.tasks.get(pid)

    def signal_group(self, pgid: int, sig: int) -> None:
        for task in list(self.sched.tasks.values()):
            if task.pgid == pgid and task.alive:
                self.sched.signal(task, sig)

    def _task_exited(self, task: Task) -> None:
        if task.pid == 1 and not self.sched.halted:
            # As Linux: nothing can go on without init (no shell, no reaper of orphans).
            status = task.exit_status or 0
            code = status - 128 if status > 128 else status << 8  # as wait() reports it
            handle_panic(self, f"Attempted to kill init! exitcode={code:#010x}", None, task)
            return
        task.files.close_all()
        task.mm.release()
        for addr in task.kobjs:
            self.heap.free(addr)
        task.kobjs.clear()
        self.printk.debug(
            "proc",
            "exit",
            f"pid {task.pid} exited with {task.exit_status}",
            pid=task.pid,
            status=task.exit_status,
        )
        for child in self.sched.tasks.values():
            if child.ppid == task.pid:
                child.ppid = 1  # orphans go to init
                if child.state is TaskState.ZOMBIE:
                    self._wake_parent(child)
        self._wake_parent(task)

    def _wake_parent(self, task: Task) -> None:
        parent = self.sched.tasks.get(task.ppid)
        if parent is None or not parent.alive:
            self.reap(task)
        else:
            self.child_wait[parent.pid].wake_all()

    def reap(self, task: Task) -> None:
        self.sched.tasks.pop(task.pid, None)
        self.child_wait.pop(task.pid, None)

    def _task_fault(self, task: Task, exc: BaseException) -> None:
        if isinstance(exc, SegmentationFault):
            self.printk.warn(
                "proc", "segfault", f"{task.name}[{task.pid}]: segfault: {exc}", pid=task.pid
            )
        else:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self.printk.error(
                "proc",
                "user_fault",
                f"{task.name}[{task.pid}] killed: {type(exc).__name__}: {exc}",
                pid=task.pid,
                at=f"{where.filename.rsplit('/', 1)[-1]}:{where.lineno}",
            )

    # -- syscalls --------------------------------------------------------------------------------
    async def syscall_entry(self, task: Task) -> int:
        return await dispatch(self, task)

    # -- power and panic -------------------------------------------------------------------------
    def power(self, action: str) -> None:
        """`poweroff` or `reboot` from inside the kernel: flush, then hand over to the machine."""
        if self.fs is not None:
            try:
                self.fs.sync()
            except KernelError as e:
                self.printk.error("fs", "sync_failed", f"sync before {action} failed: {e}")
        self.printk.info(
            "reboot", action, "Power down" if action == "poweroff" else "Restarting system"
        )
        self.sched.halted = True
        self.machine.request(action)

    def panic(
        self, message: str, exc: BaseException | None = None, task: Task | None = None
    ) -> None:
        """Print the panic report, halt every CPU, tell the machine. Never returns."""
        handle_panic(self, message, exc=exc, task=task or self.sched.current)
        raise KernelHalt(message)

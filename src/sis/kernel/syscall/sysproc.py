"""Process syscalls: identity, exit and wait, signals, sleep, spawn, uname, reboot, and SIS's
own calls (spawn, panic, kernel info). ioctl has its own module, sysioctl."""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

from sis.contract.bugs import OOM_HANG
from sis.contract.syscalls import (
    REBOOT_CMD_HALT,
    REBOOT_CMD_POWER_OFF,
    REBOOT_CMD_RESTART,
    REBOOT_MAGIC1,
    REBOOT_MAGIC2,
    SIG_DFL,
    SIG_IGN,
    SPAWN_NEWPGRP,
    WNOHANG,
)
from sis.kernel import bugs
from sis.kernel.buildinfo import build_info
from sis.kernel.errno import Errno, KernelError
from sis.kernel.kinfo import kernel_control, kernel_info
from sis.kernel.proc.sched import SIGNALLED, KernelHalt
from sis.kernel.proc.task import NSIG, TaskExit, TaskState
from sis.kernel.syscall.table import syscall

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task


@syscall("exit")
async def sys_exit(k: Kernel, t: Task, status: int) -> int:
    raise TaskExit(status & 0xFF)


@syscall("exit_group")
async def sys_exit_group(k: Kernel, t: Task, status: int) -> int:
    raise TaskExit(status & 0xFF)


@syscall("getpid")
async def sys_getpid(k: Kernel, t: Task) -> int:
    return t.pid


@syscall("getppid")
async def sys_getppid(k: Kernel, t: Task) -> int:
    return t.ppid


@syscall("gettid")
async def sys_gettid(k: Kernel, t: Task) -> int:
    return t.pid


@syscall("getuid")
async def sys_getuid(k: Kernel, t: Task) -> int:
    return 0


@syscall("getpgid")
async def sys_getpgid(k: Kernel, t: Task, pid: int) -> int:
    target = t if pid == 0 else k.find_task(pid)
    if target is None:
        raise KernelError(Errno.ESRCH)
    return target.pgid


@syscall("setpgid")
async def sys_setpgid(k: Kernel, t: Task, pid: int, pgid: int) -> int:
    target = t if pid == 0 else k.find_task(pid)
    if target is None or (target is not t and target.ppid != t.pid):
        raise KernelError(Errno.ESRCH)
    if pgid < 0:
        raise KernelError(Errno.EINVAL)
    target.pgid = pgid or target.pid
    return 0


@syscall("kill")
async def sys_kill(k: Kernel, t: Task, pid: int, sig: int) -> int:
    if pid in (0, -1):
        targets = [
            x
            for x in k.sched.tasks.values()
            if x.alive and x.pid > 1 and (pid == -1 or x.pgid == t.pgid) and x is not t
        ]
    else:
        target = k.find_task(pid)
        if target is None or not target.alive:
            raise KernelError(Errno.ESRCH, f"no process {pid}")
        if target.pid == 1 and sig != 0:
            raise KernelError(Errno.EPERM, "init cannot be signalled")
        targets = [target]
    for x in targets:
        k.sched.signal(x, sig)
    k.printk.debug("signal", "kill", f"pid {t.pid} sent signal {sig} to {pid}", sig=sig)
    return 0


@syscall("rt_sigaction")
async def sys_rt_sigaction(
    k: Kernel, t: Task, sig: int, act: int, oldact: int, setsize: int
) -> int:
    """Only SIG_DFL and SIG_IGN: user programs here have no signal handlers of their own."""
    if setsize != 8:  # sizeof(sigset_t), checked first as Linux does
        raise KernelError(Errno.EINVAL, f"sigset size {setsize}, not 8")
    if sig in (0, 9, 19) or sig > NSIG:
        raise KernelError(Errno.EINVAL)
    if oldact:
        t.mm.copy_to_user(oldact, struct.pack("<Q", SIG_IGN if sig in t.ignored else SIG_DFL))
    if act:
        (handler,) = struct.unpack("<Q", t.mm.copy_from_user(act, 8))
        if handler == SIG_IGN:
            t.ignored.add(sig)
        elif handler == SIG_DFL:
            t.ignored.discard(sig)
        else:
            raise KernelError(Errno.EINVAL, "only SIG_DFL and SIG_IGN are supported")
    return 0


@syscall("nanosleep")
async def sys_nanosleep(k: Kernel, t: Task, req: int, rem: int) -> int:
    sec, nsec = struct.unpack("<qq", t.mm.copy_from_user(req, 16))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise KernelError(Errno.EINVAL, "bad timespec")
    deadline = k.uptime_s() + sec + nsec / 1e9
    if await k.sched.sleep(sec + nsec / 1e9) == SIGNALLED:
        if rem:
            left = max(0.0, deadline - k.uptime_s())
            t.mm.copy_to_user(rem, struct.pack("<qq", int(left), int(left % 1 * 1e9)))
        raise KernelError(Errno.EINTR)
    return 0


@syscall("sched_yield")
async def sys_sched_yield(k: Kernel, t: Task) -> int:
    await k.sched.yield_now()
    return 0


@syscall("wait4")
async def sys_wait4(k: Kernel, t: Task, pid: int, wstatus: int, options: int, rusage: int) -> int:
    while True:
        children = [
            c for c in k.sched.tasks.values() if c.ppid == t.pid and (pid == -1 or c.pid == pid)
        ]
        if not children:
            raise KernelError(Errno.ECHILD)
        done = next((c for c in children if c.state is TaskState.ZOMBIE), None)
        if done is not None:
            k.reap(done)
            if wstatus:
                t.mm.copy_to_user(wstatus, struct.pack("<i", (done.exit_status or 0) << 8))
            return done.pid
        if options & WNOHANG:
            return 0
        if await k.sched.block(k.child_wait[t.pid], channel="wait4") == SIGNALLED:
            raise KernelError(Errno.EINTR)


@syscall("uname")
async def sys_uname(k: Kernel, t: Task, buf: int) -> int:
    info = build_info()
    fields = [
        "SIS",
        k.cfg.name or "sis",
        f"{info.version}-{info.short_commit}",
        f"#1 SMP {info.build_timestamp}",
        "aarch64",
        "(none)",
    ]
    t.mm.copy_to_user(buf, b"".join(f.encode()[:64].ljust(65, b"\0") for f in fields))
    return 0


@syscall("reboot")
async def sys_reboot(k: Kernel, t: Task, magic1: int, magic2: int, cmd: int, _arg: int) -> int:
    if magic1 & 0xFFFFFFFF != REBOOT_MAGIC1 or magic2 & 0xFFFFFFFF != REBOOT_MAGIC2:
        raise KernelError(Errno.EINVAL, "bad reboot magic")
    actions = {
        REBOOT_CMD_RESTART: "reboot",
        REBOOT_CMD_POWER_OFF: "poweroff",
        REBOOT_CMD_HALT: "poweroff",
    }
    if cmd & 0xFFFFFFFF not in actions:
        raise KernelError(Errno.EINVAL, f"unknown reboot command {cmd:#x}")
    k.power(actions[cmd & 0xFFFFFFFF])
    raise KernelHalt("power")


# -- SIS calls (numbers above Linux's table, below 512) ---------------------------------------


@syscall("sis_spawn")
async def sys_sis_spawn(k: Kernel, t: Task, path: str, argv_ptr: int, flags: int) -> int:
    """posix_spawn for programs of the kernel's /bin: argv is a NULL-terminated char*[]."""
    argv: list[str] = []
    for i in range(256):
        (p,) = struct.unpack("<Q", t.mm.copy_from_user(argv_ptr + 8 * i, 8))
        if p == 0:
            break
        argv.append(t.mm.strncpy_from_user(p, 4095).decode("utf-8", "surrogateescape"))
    else:
        raise KernelError(Errno.E2BIG, "argv has more than 255 entries")
    program = k.userland.lookup(path, k.cfg.features) if k.userland is not None else None
    if program is None:
        raise KernelError(Errno.ENOENT, f"no program {path}")
    try:
        child = k.spawn(
            program, argv or [path], parent=t, pgid=None if flags & SPAWN_NEWPGRP else t.pgid
        )
    except KernelError as e:
        if OOM_HANG in k.bugs and e.errno is Errno.ENOMEM:
            await bugs.spawn_alloc_failed(k, t, e)
        raise
    return child.pid


@syscall("sis_panic")
async def sys_sis_panic(k: Kernel, t: Task, message: str) -> int:
    k.panic(message or "panic requested from user space", task=t)
    return 0  # not reached


@syscall("sis_kinfo")
async def sys_sis_kinfo(k: Kernel, t: Task, topic: str, buf: int, length: int) -> int:
    """Kernel state for user-space tools (ps, memstats, dmesg, ...) as JSON, like /proc files."""
    data = json.dumps(kernel_info(k, topic), separators=(",", ":")).encode()
    if len(data) > length:
        raise KernelError(Errno.ERANGE, f"{len(data)} bytes needed")
    t.mm.copy_to_user(buf, data)
    return len(data)


@syscall("sis_kctl")
async def sys_sis_kctl(k: Kernel, t: Task, command: str) -> int:
    """Kernel settings from user space (logctl, metricsctl, chaos), like writes to /proc/sys."""
    kernel_control(k, command)
    return 0

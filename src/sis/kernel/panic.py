"""The panic path: an unrecoverable error prints the report of contract section 7 on the
console, saves a crash dump, emits a FATAL log record and the QMP event GUEST_PANICKED,
and halts every CPU. What happens next (stay halted, reboot, exit) is the machine's choice."""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING

from sis.kernel.symbols import address_of, resolve

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

RULE = "=" * 72
RECENT_LOGS = 15
DEBUGGING_STEPS = (
    "1. Read PANIC INFORMATION and the top of STACK TRACE: that is where it died.",
    "2. STACK TRACE names each function; `sis kernel symbols` prints the symbol map of this",
    "   build, to resolve addresses that show `?` or come from a raw dump.",
    "3. RECENT LOGS show what the kernel did just before; `dmesg` after reboot shows more.",
    "4. Reproduce with the same -append and chaos seed; the crash dump has the full state.",
)
COMMON_CAUSES = (
    "- A bug in a syscall handler or driver (an unexpected exception in kernel code).",
    "- Heap exhaustion or corruption (see heap figures in SYSTEM STATE).",
    "- Injected faults: chaos mode random_panic, or an unhandled disk/network error path.",
    "- A deliberate `panic` command.",
)


def _frames(exc: BaseException | None) -> list[tuple[types.CodeType, int]]:
    """Kernel frames, innermost first: the exception's traceback, then the stack that led to
    the panic call (without the panic machinery itself)."""
    frames: list[tuple[types.CodeType, int]] = []
    caught_in = None
    if exc is not None and exc.__traceback__ is not None:
        tbs = _walk_tb(exc.__traceback__)
        caught_in = tbs[0].tb_frame
        frames.extend((tb.tb_frame.f_code, tb.tb_lasti) for tb in reversed(tbs))
    f = sys._getframe(1)
    while f is not None and (
        f.f_code.co_filename == __file__ or f.f_code.co_qualname == "Kernel.panic"
    ):
        f = f.f_back
    if f is not None and f is caught_in:
        f = f.f_back  # already listed, at the line that raised
    while f is not None:
        frames.append((f.f_code, f.f_lasti))
        f = f.f_back
    return [(c, o) for c, o in frames if address_of(c, o) is not None]


def _walk_tb(tb: types.TracebackType | None) -> list[types.TracebackType]:
    out = []
    while tb is not None:
        out.append(tb)
        tb = tb.tb_next
    return out


def _crash_dir(k: Kernel) -> Path:
    """Where dumps go: $SIS_CRASH_DIR, else beside the disk image, else a private directory
    in the temp directory. A directory the kernel creates is 0700: dumps hold recent logs."""
    env = os.environ.get("SIS_CRASH_DIR")
    if env:
        return _private_dir(Path(env), fix_mode=False)
    if k.cfg.drive is not None:
        return Path(k.cfg.drive.file).resolve().parent
    import tempfile  # the panic path only: boot does not pay for it

    tmp = Path(tempfile.gettempdir())
    try:
        return _private_dir(tmp / "sis-crash", fix_mode=True)
    except PermissionError:
        # /tmp is shared: another user's sis-crash is not ours to write into.
        return _private_dir(tmp / f"sis-crash-{os.getuid()}", fix_mode=True)


def _private_dir(path: Path, *, fix_mode: bool) -> Path:
    """Create `path` as 0700 if it is missing. With `fix_mode` an existing one must be a real
    directory of this user and is made 0700 (older kernels left it 0755)."""
    try:
        path.mkdir(mode=0o700, parents=True)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
        return path
    except FileExistsError:
        pass
    if fix_mode:
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            raise PermissionError(f"{path} is not a directory of this user")
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(path, 0o700)
    return path


def _write_private(path: Path, text: str) -> None:
    """Write a new file readable by its owner only, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", closefd=False) as f:
            f.write(text)
    finally:
        os.close(fd)


def handle_panic(k: Kernel, message: str, exc: BaseException | None, task: Task | None) -> None:
    if k.sched.stopping:
        # Cleanup code of a kernel being reset or powered off: there is no kernel left to
        # panic, and the machine has already chosen what comes next.
        return
    write = k.machine.panic_write
    if k.panicking:
        write(f"\r\nRECURSIVE PANIC: {message}\r\nSystem halted.\r\n".encode())
        k.sched.halted = True
        k.machine.on_panic(message)
        return
    k.panicking = True
    k.sched.halted = True
    k.machine.panic_count += 1
    try:
        report, dump = build_report(k, message, exc, task)
    except Exception as inner:  # the panic handler itself failed
        write(
            f"\r\nRECURSIVE PANIC: {type(inner).__name__} while reporting: {message}\r\n"
            "System halted.\r\n".encode()
        )
        k.machine.on_panic(message)
        return
    write(("\r\n" + "\r\n".join(report) + "\r\n").encode("utf-8", "replace"))
    k.printk.fatal(
        "panic", "kernel_panic", message, location=dump["location"], crash_dump=dump.get("path", "")
    )
    k.machine.on_panic(message)


def build_report(
    k: Kernel, message: str, exc: BaseException | None, task: Task | None
) -> tuple[list[str], dict]:
    import traceback  # the panic path only: boot does not pay for it

    from sis.kernel.buildinfo import build_info

    frames = _frames(exc)
    trace: list[tuple[int, str]] = []
    for code, offset in frames[:32]:
        addr = address_of(code, offset) or 0
        sym = resolve(addr)
        trace.append((addr, f"{sym[0]}+0x{sym[1]:x}" if sym else "?"))
    location = trace[0][1] if trace else "unknown"
    if exc is not None:
        where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        if where is not None:
            location = f"{location} ({Path(where.filename).name}:{where.lineno})"
    regs = (
        dict(task.regs.as_dict())
        if task is not None
        else {f"x{i}": 0 for i in range(31)} | {"sp": 0, "pc": 0}
    )
    if trace:
        regs["pc"] = trace[0][0]
        regs["x30"] = trace[1][0] if len(trace) > 1 else 0
    if task is not None and len(task.kobjs) > 1:
        regs["sp"] = task.kobjs[1] + 16 * 1024 - 16 * len(frames)
    info = build_info()
    h = k.heap.stats
    lines = [
        RULE,
        "!!! KERNEL PANIC !!!",
        RULE,
        "",
        "PANIC INFORMATION:",
        f"  Location: {location}",
        f"  Message:  {message}",
    ]
    if task is not None:
        lines.append(f"  Task:     {task.name} (pid {task.pid}) on CPU {task.cpu}")
    if exc is not None:
        lines.append(f"  Exception: {type(exc).__name__}: {exc}")
    lines += ["", "REGISTER DUMP:"]
    names = [f"x{i}" for i in range(31)]
    for i in range(0, 31, 4):
        lines.append(
            "  "
            + "  ".join(f"{n:>3}: {regs.get(n, 0) & (2**64 - 1):016x}" for n in names[i : i + 4])
        )
    lines.append(
        f"   sp: {regs.get('sp', 0) & (2**64 - 1):016x}   pc: {regs.get('pc', 0) & (2**64 - 1):016x}"
    )
    lines += [
        "",
        "SYSTEM STATE:",
        f"  Uptime: {k.uptime_s():.6f} s",
        f"  Heap: {h.current_bytes} bytes current, {h.peak_bytes} peak, {h.allocs} allocs, "
        f"{h.deallocs} deallocs, {h.failures} failures",
        f"  Tasks: {len(k.sched.tasks)}  CPUs: {len(k.sched.cpus)}  Syscalls: {k.syscalls}",
        f"  Version: {info.headline()}",
        "",
        "RECENT LOGS:",
    ]
    lines += [f"  {r.human()}" for r in list(k.printk.ring)[-RECENT_LOGS:]]
    lines += ["", "STACK TRACE:"]
    lines += [f"  #{i}: {addr:016x} {sym}" for i, (addr, sym) in enumerate(trace)] or [
        "  (no kernel frames)"
    ]
    lines += [
        "",
        "DEBUGGING STEPS:",
        *(f"  {s}" for s in DEBUGGING_STEPS),
        "",
        "COMMON CAUSES:",
        *(f"  {c}" for c in COMMON_CAUSES),
        "",
        "CRASH DUMP:",
    ]
    dump = {
        "message": message,
        "location": location,
        "uptime_s": k.uptime_s(),
        "time": time.time(),
        "task": None if task is None else {"pid": task.pid, "name": task.name, "argv": task.argv},
        "exception": None if exc is None else "".join(traceback.format_exception(exc)),
        "registers": regs,
        "stack": [{"address": f"{a:016x}", "symbol": s} for a, s in trace],
        "recent_logs": [r.json() for r in k.printk.ring],
        "build": info.as_dict(),
        "heap": vars(h).copy(),
        "name": k.cfg.name,
    }
    try:
        directory = _crash_dir(k)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = (
            directory
            / f"sis-crash-{k.cfg.name or 'sis'}-{stamp}-{os.getpid()}-{k.machine.panic_count}.json"
        )
        _write_private(path, json.dumps(dump, indent=1, default=str))
        dump["path"] = str(path)
        lines.append(f"  Saved to {path}")
    except OSError as e:
        lines.append(f"  Not saved: {e.strerror or e}")
    lines += ["", "System halted."]
    return lines, dump

"""Kernel state for user space (the `sis_kinfo` syscall, SIS's /proc) and kernel settings
from user space (`sis_kctl`, SIS's /proc/sys)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sis.contract.bugs import VERSION_KEY as BUGS_KEY
from sis.kernel import bugs
from sis.kernel.buildinfo import build_info
from sis.kernel.errno import Errno, KernelError
from sis.kernel.kmetrics import prometheus, snapshot

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel


def kernel_info(k: Kernel, topic: str) -> Any:
    if topic == "version":
        b = build_info()
        return {
            "headline": b.headline(),
            "git_commit": b.git_commit,
            "git_branch": b.git_branch,
            "git_dirty": b.git_dirty,
            "build_timestamp": b.build_timestamp,
            "python_version": b.python_version,
            "version": b.version,
            "features": sorted(k.cfg.features),
            "profile": k.cfg.preset,
            "target": "sis-reference-kernel",
            BUGS_KEY: bugs.active(k),
        }
    if topic == "ps":
        return [
            {
                "pid": t.pid,
                "ppid": t.ppid,
                "pgid": t.pgid,
                "state": t.state.value,
                "cpu": t.cpu,
                "cpu_ms": t.cpu_ns // 1_000_000,
                "wchan": t.wait_channel,
                "argv": t.argv or [t.name],
            }
            for t in sorted(k.sched.tasks.values(), key=lambda t: t.pid)
        ]
    if topic == "mem":
        h = k.heap.stats
        return {
            "heap_current_bytes": h.current_bytes,
            "heap_peak_bytes": h.peak_bytes,
            "heap_size_bytes": k.heap.size,
            "heap_largest_free": k.heap.largest_free_block(),
            "heap_fragmentation": k.heap.fragmentation(),
            "heap_allocs": h.allocs,
            "heap_deallocs": h.deallocs,
            "heap_failures": h.failures,
            "pages_used": k.frames.used,
            "pages_total": k.frames.total,
            "page_failures": k.frames.failures,
        }
    if topic == "uptime":
        return {"uptime_s": k.uptime_s(), "tasks": len(k.sched.tasks), "boot": k.boot_count}
    if topic == "dmesg":
        return k.printk.dmesg()
    if topic == "log":
        p = k.printk
        return {"format": p.format, "level": p.level, "records": p.seq, "ring_size": p.ring.maxlen}
    if topic == "syscalls":
        return {"total": k.syscalls, "validation": k.validator.snapshot()}
    if topic == "chaos":
        if k.chaos is None:
            raise KernelError(Errno.ENODEV, "the kernel was started without -features chaos")
        return k.chaos.info()
    if topic == "metrics":
        return snapshot(k) | {"enabled": k.sched.timing_enabled}
    if topic == "metrics.prometheus":
        return prometheus(k)
    raise KernelError(Errno.ENOENT, f"no kernel information topic {topic!r}")


def kernel_control(k: Kernel, command: str) -> None:
    key, sep, value = command.partition("=")
    if not sep:
        raise KernelError(Errno.EINVAL, f"expected key=value, got {command!r}")
    if key == "log.format":
        if value not in ("json", "human"):
            raise KernelError(Errno.EINVAL, "log format is json or human")
        k.printk.format = value
        k.printk.info("printk", "format_changed", f"log format set to {value}", format=value)
    elif key == "log.level":
        try:
            k.printk.set_level(value)
        except ValueError as e:
            raise KernelError(Errno.EINVAL, str(e)) from None
    elif key == "metrics":
        if value not in ("on", "off"):
            raise KernelError(Errno.EINVAL, "metrics is on or off")
        k.sched.timing_enabled = value == "on"
    elif key.startswith("chaos."):
        if k.chaos is None:
            raise KernelError(Errno.ENODEV, "the kernel was started without -features chaos")
        what = key.removeprefix("chaos.")
        if what == "mode":
            k.chaos.set_mode(value)
        elif what in ("rate", "seed"):
            try:
                number = int(value, 0)
            except ValueError:
                raise KernelError(Errno.EINVAL, f"{what} must be a number") from None
            (k.chaos.set_rate if what == "rate" else k.chaos.set_seed)(number)
        elif what == "reset":
            k.chaos.reset()
        else:
            raise KernelError(Errno.EINVAL, f"unknown chaos setting {what!r}")
    else:
        raise KernelError(Errno.EINVAL, f"unknown kernel setting {key!r}")

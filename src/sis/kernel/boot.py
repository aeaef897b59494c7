"""The boot sequence, from power-on to init (pid 1) on the console."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sis.contract.chaos import FEATURE as CHAOS_FEATURE
from sis.kernel import bugs
from sis.kernel.buildinfo import build_info

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel


async def boot_sequence(k: Kernel) -> None:
    cfg = k.cfg
    p = k.printk
    p.sinks.append(k.machine.log_write)
    info = build_info()
    p.info(
        "kernel",
        "version",
        f"{info.headline()} python {info.python_version}",
        name=cfg.name or "sis",
        boot=k.boot_count,
    )
    cmdline = " ".join(f"{key}={v}" if v else key for key, v in cfg.cmdline.items())
    p.info("kernel", "cmdline", f"Command line: {cmdline}")
    p.info(
        "mm",
        "memory",
        f"Memory: {cfg.memory_bytes >> 20} MiB, heap arena {k.heap.size >> 20} MiB, "
        f"{k.frames.total} page frames",
        total_bytes=cfg.memory_bytes,
    )
    p.info(
        "smp",
        "cpus_online",
        f"Brought up {cfg.cpus} CPU{'s' if cfg.cpus > 1 else ''}",
        cpus=cfg.cpus,
    )
    p.info("tty", "console", f"console [ttyS0] enabled on {cfg.serials[0]}")
    if len(cfg.serials) > 1:
        p.info("tty", "log_console", f"kernel log on ttyS1 ({cfg.serials[1]})")
    if cfg.features:
        p.info("kernel", "features", f"features: {','.join(sorted(cfg.features))}")
    if k.bugs:
        bugs.log_active(k)
    if CHAOS_FEATURE in cfg.features:
        k.machine.attach_chaos(k)
    k.machine.mount_root(k)
    k.machine.attach_network(k)
    init = k.userland.init if k.userland is not None else None
    if init is None:
        # As Linux: "No working init found".
        raise RuntimeError("no working init found (the machine was given no user space)")
    k.sched.start()
    p.info("kernel", "init", "Run /sbin/init as init process")
    k.spawn(init, ["init"], files=k.console_files())
    p.info(
        "kernel",
        "boot_complete",
        f"boot completed in {k.uptime_s() * 1000:.1f} ms",
        boot_ms=round(k.uptime_s() * 1000, 1),
    )

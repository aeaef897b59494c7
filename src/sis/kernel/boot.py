"""The boot sequence, from power-on to init (pid 1) on the console."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from sis.contract.bugs import ENOSPC_PANIC
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
        from sis.kernel.chaos import ChaosEngine

        k.chaos = ChaosEngine(k)
    mount_root(k)
    attach_network(k)
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


def mount_root(k: Kernel) -> None:
    """The machine's root disk as the root file system (behind the chaos layer when chaos is
    on, with the planted bug's hook when asked for)."""
    from sis.kernel.fs.filesystem import FileSystem

    disk = k.machine.root_disk()
    if k.chaos is not None:
        from sis.kernel.chaos import ChaosBlockDevice

        disk = ChaosBlockDevice(disk, k.chaos)
    k.fs = FileSystem.mount(disk)
    if k.chaos is not None:
        k.fs.space_hook = k.chaos.at_space  # disk_full strikes where space is consumed
    if ENOSPC_PANIC in k.bugs:
        k.fs.commit_error_hook = functools.partial(bugs.journal_commit_error, k)
    s = k.fs.statfs()
    drive = k.cfg.drive
    k.printk.info(
        "fs",
        "mounted",
        f"root file system mounted on / from {drive.file if drive else 'ramdisk'}",
        blocks=s.total_blocks,
        free_blocks=s.free_blocks,
        read_only=disk.read_only,
    )


def attach_network(k: Kernel) -> None:
    """The network stack over the machine's NIC (loopback only without one)."""
    from sis.kernel.net import setup_network

    if k.cfg.nic.kind == "none":
        k.printk.info("net", "no_nic", "no network interface (loopback only)")
    k.net = setup_network(k, k.cfg.nic, k.machine.nic_link)

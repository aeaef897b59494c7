"""The boot sequence, from power-on to the shell on the console, and init (pid 1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.shell.libc import Libc


async def boot_sequence(k: Kernel) -> None:
    from sis.kernel.buildinfo import build_info
    from sis.kernel.shell.programs import set_features

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
    set_features(cfg.features)
    if "chaos" in cfg.features:
        k.machine.attach_chaos(k)
    k.machine.mount_root(k)
    k.machine.attach_network(k)
    k.sched.start()
    p.info("kernel", "init", "Run /sbin/init as init process")
    k.spawn(init_main, ["init"], files=k.console_files())
    p.info(
        "kernel",
        "boot_complete",
        f"boot completed in {k.uptime_s() * 1000:.1f} ms",
        boot_ms=round(k.uptime_s() * 1000, 1),
    )


async def init_main(libc: Libc, argv: list[str]) -> int:
    """pid 1: start the shell on the console, restart it if it exits, reap orphans."""
    from sis.kernel.shell.libc import SysError

    while True:
        try:
            shell = await libc.spawn("sh", ["sh"], new_group=True)
        except SysError as e:
            await libc.eprint(f"init: cannot start the shell: {e}")
            await libc.sleep(1)
            continue
        while True:
            try:
                pid, _ = await libc.wait(-1)
            except SysError:
                break
            if pid == shell:
                break

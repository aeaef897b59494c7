"""System programs: help, version, echo, ps, sleep, kill, memstats, uptime, dmesg, logctl,
panic, reboot, poweroff, syscall, sysstat."""

from __future__ import annotations

import json

from sis.contract import chaos as chaos_contract
from sis.contract.console import HELP_HEADER
from sis.contract.syscalls import REBOOT_CMD_POWER_OFF, REBOOT_CMD_RESTART
from sis.kernel.errno import errno_name
from sis.kernel.proc.task import SIGTERM, signal_number
from sis.kernel.shell.libc import Libc, SysError
from sis.kernel.shell.programs import available, program


@program("help", "list the available commands")
async def help_main(libc: Libc, argv: list[str]) -> int:
    info = await libc.kinfo("version")
    assert isinstance(info, dict)
    lines = [HELP_HEADER]
    lines += [f"  {p.name:<10} {p.summary}" for p in available(frozenset(info["features"]))]
    lines += [
        "  cd         change the working directory (shell builtin)",
        "  exit       restart the shell (shell builtin)",
        "Shell: CMD &, CMD > FILE, CMD >> FILE, CMD1; CMD2, echo $?, Ctrl-C",
    ]
    await libc.print("\n".join(lines))
    return 0


@program("version", "kernel version and build information (--json)")
async def version_main(libc: Libc, argv: list[str]) -> int:
    info = await libc.kinfo("version")
    assert isinstance(info, dict)
    if "--json" in argv[1:]:
        await libc.print(json.dumps(info, separators=(", ", ": ")))
        return 0
    await libc.print(info["headline"])
    for key in (
        "git_commit",
        "git_branch",
        "git_dirty",
        "build_timestamp",
        "python_version",
        "features",
        "profile",
        "target",
        "bugs",
    ):
        value = info[key]
        if isinstance(value, list):
            value = ",".join(value) or "none"
        await libc.print(f"  {key + ':':<17} {value}")
    return 0


@program("echo", "print the arguments")
async def echo_main(libc: Libc, argv: list[str]) -> int:
    args = argv[1:]
    newline = True
    if args[:1] == ["-n"]:
        newline, args = False, args[1:]
    try:
        await libc.write(1, " ".join(args) + ("\n" if newline else ""))
    except SysError as e:
        await libc.eprint(e.line("echo"))
        return 1
    return 0


@program("ps", "list tasks")
async def ps_main(libc: Libc, argv: list[str]) -> int:
    tasks = await libc.kinfo("ps")
    assert isinstance(tasks, list)
    out = [
        f"{'PID':>5} {'PPID':>5} {'PGID':>5} {'STATE':<5} {'CPU':>3} {'TIME':>8}  {'WCHAN':<10} CMD"
    ]
    for t in tasks:
        out.append(
            f"{t['pid']:>5} {t['ppid']:>5} {t['pgid']:>5} {t['state']:<5} {t['cpu']:>3} "
            f"{t['cpu_ms']:>6}ms  {t['wchan'] or '-':<10} {' '.join(t['argv'])}"
        )
    await libc.print("\n".join(out))
    return 0


@program("sleep", "sleep SECONDS")
async def sleep_main(libc: Libc, argv: list[str]) -> int:
    if len(argv) != 2:
        await libc.eprint("usage: sleep SECONDS")
        return 2
    try:
        seconds = float(argv[1])
        if seconds < 0 or seconds != seconds or seconds > 10**9:
            raise ValueError
    except ValueError:
        await libc.eprint(f"sleep: {argv[1]}: invalid time interval")
        return 2
    await libc.sleep(seconds)
    return 0


@program("kill", "kill [-SIG] PID...")
async def kill_main(libc: Libc, argv: list[str]) -> int:
    args = argv[1:]
    sig = SIGTERM
    if args and args[0].startswith("-") and len(args) > 1:
        num = signal_number(args[0][1:])
        if num is None:
            await libc.eprint(f"kill: {args[0][1:]}: invalid signal specification")
            return 2
        sig, args = num, args[1:]
    if not args:
        await libc.eprint("usage: kill [-SIG] PID...")
        return 2
    status = 0
    for a in args:
        try:
            await libc.kill(int(a), sig)
        except ValueError:
            await libc.eprint(f"kill: {a}: arguments must be process IDs")
            status = 1
        except SysError as e:
            await libc.eprint(e.line("kill"))
            status = 1
    return status


@program("memstats", "kernel heap and memory statistics")
async def memstats_main(libc: Libc, argv: list[str]) -> int:
    m = await libc.kinfo("mem")
    assert isinstance(m, dict)
    mib = 1 << 20
    await libc.print(
        f"Heap: {m['heap_current_bytes'] / mib:.2f} MiB current, {m['heap_peak_bytes'] / mib:.2f} MiB peak "
        f"(arena {m['heap_size_bytes'] / mib:.0f} MiB, largest free block {m['heap_largest_free'] / mib:.2f} MiB, "
        f"fragmentation {m['heap_fragmentation']:.1%})\n"
        f"allocs={m['heap_allocs']} deallocs={m['heap_deallocs']} failures={m['heap_failures']}\n"
        f"Pages: {m['pages_used']} used of {m['pages_total']} ({m['pages_used'] * 4} KiB), "
        f"failures={m['page_failures']}"
    )
    return 0


@program("uptime", "time since boot")
async def uptime_main(libc: Libc, argv: list[str]) -> int:
    u = await libc.kinfo("uptime")
    assert isinstance(u, dict)
    secs = u["uptime_s"]
    await libc.print(
        f"Uptime: {secs:.2f} seconds ({int(secs // 3600)}:{int(secs % 3600 // 60):02d}:"
        f"{int(secs % 60):02d}), {u['tasks']} tasks, boot #{u['boot']}"
    )
    return 0


@program("dmesg", "print the kernel log ring buffer")
async def dmesg_main(libc: Libc, argv: list[str]) -> int:
    lines = await libc.kinfo("dmesg")
    assert isinstance(lines, list)
    if lines:
        await libc.print("\n".join(lines))
    return 0


@program("logctl", "logctl [json|human|level LEVEL]: kernel log settings")
async def logctl_main(libc: Libc, argv: list[str]) -> int:
    args = argv[1:]
    try:
        if not args or args == ["status"]:
            s = await libc.kinfo("log")
            assert isinstance(s, dict)
            await libc.print(
                f"Log format: {s['format']}\nLog level: {s['level'].lower()}\n"
                f"Records: {s['records']} (ring holds {s['ring_size']})"
            )
            return 0
        if args in (["json"], ["human"]):
            await libc.kctl(f"log.format={args[0]}")
            await libc.print(f"Log format: {args[0]}")
            return 0
        if len(args) == 2 and args[0] == "level":
            await libc.kctl(f"log.level={args[1]}")
            await libc.print(f"Log level: {args[1].lower()}")
            return 0
    except SysError as e:
        await libc.eprint(f"logctl: {' '.join(args)}: {e}")
        return 1
    await libc.eprint("usage: logctl [status|json|human|level fatal|error|warn|info|debug|trace]")
    return 2


@program("panic", "panic [MESSAGE]: crash the kernel on purpose")
async def panic_main(libc: Libc, argv: list[str]) -> int:
    message = " ".join(argv[1:]) or "manual panic from the shell"
    await libc.panic(message)
    return 1


@program("reboot", "restart the machine")
async def reboot_main(libc: Libc, argv: list[str]) -> int:
    await libc.sync()
    await libc.reboot(REBOOT_CMD_RESTART)
    return 0


@program("poweroff", "power the machine off")
async def poweroff_main(libc: Libc, argv: list[str]) -> int:
    await libc.sync()
    await libc.reboot(REBOOT_CMD_POWER_OFF)
    return 0


@program("syscall", "syscall NR [ARG...]: issue a raw syscall (decimal or 0x-hex arguments)")
async def syscall_main(libc: Libc, argv: list[str]) -> int:
    try:
        values = [int(a, 0) for a in argv[1:]]
    except ValueError:
        await libc.eprint("usage: syscall NR [ARG...]  (numbers in decimal or 0x-hex)")
        return 2
    if not 1 <= len(values) <= 7:
        await libc.eprint("usage: syscall NR [ARG...]  (at most 6 arguments)")
        return 2
    ret = await libc.syscall(values[0], *values[1:])
    await libc.print(f"{ret} ({errno_name(ret)})" if ret < 0 else str(ret))
    return 0 if ret >= 0 else 1


@program("sysstat", "syscall validation counters")
async def sysstat_main(libc: Libc, argv: list[str]) -> int:
    s = await libc.kinfo("syscalls")
    assert isinstance(s, dict)
    out = [f"Syscalls: {s['total']}", f"{'CLASS':<10} {'CHECKS':>10} {'REJECTED':>10}"]
    for cls, c in s["validation"].items():
        out.append(f"{cls:<10} {c['checks']:>10} {c['rejections']:>10}")
    await libc.print("\n".join(out))
    return 0


@program("chaos", "chaos <mode|rate|seed|stats|reset>: fault injection", feature="chaos")
async def chaos_main(libc: Libc, argv: list[str]) -> int:
    args = argv[1:]
    try:
        if len(args) == 2 and args[0] == "mode":
            await libc.kctl(f"chaos.mode={args[1]}")
            await libc.print(f"Chaos mode set to: {args[1]}")
            return 0
        if len(args) == 2 and args[0] == "rate":
            await libc.kctl(f"chaos.rate={args[1]}")
            await libc.print(f"Failure rate set to {int(args[1], 0)}%")
            return 0
        if len(args) == 2 and args[0] == "seed":
            await libc.kctl(f"chaos.seed={args[1]}")
            await libc.print(f"Chaos seed set to {args[1]}")
            return 0
        if args == ["reset"]:
            await libc.kctl("chaos.reset=1")
            await libc.print("Chaos statistics reset")
            return 0
        if args == ["stats"]:
            s = await libc.kinfo("chaos")
            assert isinstance(s, dict)
            lines = [
                "Chaos Statistics:",
                f"  Mode: {s['mode']}",
                f"  Failure rate: {s['rate']}%",
                f"  Seed: {s['seed']}",
            ]
            lines += [f"  {label}: {s[key]}" for label, key in chaos_contract.STATS_LINES]
            await libc.print("\n".join(lines))
            return 0
    except (SysError, ValueError) as e:
        await libc.eprint(f"chaos: {' '.join(args)}: {e}")
        return 1
    await libc.print(f"{chaos_contract.USAGE}\n  modes: " + " ".join(chaos_contract.MODES))
    return 0 if not args else 2


@program("metricsctl", "metricsctl --format json|prometheus|simple | on|off|status")
async def metricsctl_main(libc: Libc, argv: list[str]) -> int:
    args = argv[1:]
    fmt = None
    if len(args) == 2 and args[0] == "--format":
        fmt = args[1]
    elif len(args) == 1 and args[0].startswith("--format="):
        fmt = args[0].split("=", 1)[1]
    try:
        if fmt == "json":
            m = await libc.kinfo("metrics")
            assert isinstance(m, dict)
            m.pop("enabled", None)
            await libc.print(json.dumps(m, separators=(",", ":")))
            return 0
        if fmt == "simple":
            m = await libc.kinfo("metrics")
            assert isinstance(m, dict)
            m.pop("enabled", None)
            await libc.print("\n".join(f"{k}={v}" for k, v in m.items()))
            return 0
        if fmt == "prometheus":
            text = await libc.kinfo("metrics.prometheus")
            await libc.write(1, str(text))
            return 0
        if args in (["on"], ["off"]):
            await libc.kctl(f"metrics={args[0]}")
            await libc.print(f"Metrics collection {args[0]}")
            return 0
        if args == ["status"] or not args:
            m = await libc.kinfo("metrics")
            assert isinstance(m, dict)
            await libc.print(
                f"Metrics collection {'on' if m['enabled'] else 'off'}, "
                f"{m['ctx_switch_count']} context switches timed"
            )
            return 0
    except SysError as e:
        await libc.eprint(f"metricsctl: {' '.join(args)}: {e}")
        return 1
    await libc.eprint("usage: metricsctl --format json|prometheus|simple | on|off|status")
    return 2

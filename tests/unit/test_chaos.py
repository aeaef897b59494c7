"""Chaos (contract section 6): faults injected at the real call sites, counted, replayable."""

import pytest

from kernelsim import run_program
from sis.kernel.file import O_CREAT, O_WRONLY
from sis.kernel.shell.libc import SysError


def test_chaos_command_exists_only_with_the_feature():
    async def prog(libc, argv):
        try:
            await libc.wait(await libc.spawn("chaos", ["chaos"]))
        except SysError:  # ENOENT: no such program in this kernel
            return 0
        return 1

    assert run_program(prog)[0] == 0
    assert run_program(prog, args=["-features", "chaos"])[0] == 1


def test_chaos_command_contract():
    async def prog(libc, argv):
        # The console is not a disk: the command output survives the faults it turns on.
        for args in (
            ["chaos"],
            ["chaos", "rate", "50"],
            ["chaos", "seed", "3"],
            ["chaos", "mode", "disk_full"],
            ["chaos", "stats"],
            ["chaos", "reset"],
            ["chaos", "mode", "none"],
        ):
            await libc.wait(await libc.spawn("chaos", args))
        return 0

    _, _, out = run_program(prog, args=["-features", "chaos"])
    text = out.text
    assert "Usage: chaos <mode|rate|seed|stats|reset>" in text
    for mode in (
        "none",
        "disk_full",
        "disk_fail",
        "network_fail",
        "memory_pressure",
        "random_panic",
        "slow_io",
    ):
        assert mode in text
    assert "Chaos mode set to: disk_full" in text and "Failure rate set to 50%" in text
    for line in (
        "Chaos Statistics:",
        "Mode: disk_full",
        "Failure rate: 50%",
        "Disk full:",
        "Disk failures:",
        "Network failures:",
        "Alloc failures:",
        "Slow I/O:",
        "Panics:",
    ):
        assert line in text


def _workload(mode, seed):
    async def prog(libc, argv):
        await libc.kctl(f"chaos.seed={seed}")
        await libc.kctl("chaos.rate=30")
        await libc.kctl(f"chaos.mode={mode}")
        results = []
        for i in range(40):
            try:
                fd = await libc.open(f"/f{i}", O_WRONLY | O_CREAT, 0o644)
                await libc.write(fd, b"x" * 100)
                await libc.fsync(fd)
                await libc.close(fd)
                results.append("ok")
            except Exception as e:
                results.append(str(e))
        await libc.kctl("chaos.mode=none")
        prog.results = results
        return 0

    status, m, _ = run_program(prog, args=["-features", "chaos"])
    return prog.results, m.kernel.chaos.stats, m


@pytest.mark.parametrize(
    "mode, errno, counter",
    [
        ("disk_full", "ENOSPC", "disk_full"),
        ("disk_fail", "EIO", "disk_failures"),
        ("memory_pressure", "ENOMEM", "alloc_failures"),
    ],
)
def test_faults_reach_programs_as_errnos_and_are_counted(mode, errno, counter):
    results, stats, m = _workload(mode, seed=42)
    failures = [r for r in results if r != "ok"]
    assert failures and all(errno in r for r in failures), failures[:3]
    assert getattr(stats, counter) >= len(failures)
    assert m.panic_count == 0


def test_the_same_seed_replays_the_same_faults():
    a, _, _ = _workload("disk_full", seed=7)
    b, _, _ = _workload("disk_full", seed=7)
    c, _, _ = _workload("disk_full", seed=8)
    assert a == b and a != c


def test_random_panic_panics():
    async def prog(libc, argv):
        await libc.kctl("chaos.rate=100")
        await libc.kctl("chaos.mode=random_panic")
        await libc.getpid()
        return 0

    _, m, out = run_program(prog, args=["-features", "chaos"])
    assert m.panic_count == 1 and "chaos: random panic" in out.text


def test_network_fail_fails_sends():
    async def prog(libc, argv):
        await libc.kctl("chaos.rate=100")
        await libc.kctl("chaos.mode=network_fail")
        pid = await libc.spawn("ping", ["ping", "-c", "2", "-W", "1", "10.0.2.2"])
        _, status = await libc.wait(pid)
        return status

    status, m, out = run_program(prog, args=["-features", "chaos", "-nic", "user"])
    assert status != 0 and m.kernel.chaos.stats.network_failures >= 1
    assert "Unreachable" in out.text or "ENETDOWN" in out.text


def test_disk_full_strikes_the_file_system_not_the_console():
    async def prog(libc, argv):
        fd = await libc.open("/old", O_WRONLY | O_CREAT, 0o644)
        await libc.kctl("chaos.rate=100")
        await libc.kctl("chaos.mode=disk_full")
        failures = []
        await libc.print("console still works")  # a TTY write consumes no disk space
        for op in (
            lambda: libc.open("/new", O_WRONLY | O_CREAT, 0o644),
            lambda: libc.mkdir("/dir"),
            lambda: libc.write(fd, b"data"),
        ):
            try:
                await op()
            except SysError as e:
                failures.append(e.errno.name)
        await libc.kctl("chaos.mode=none")
        await libc.write(fd, b"data")
        await libc.fsync(fd)
        prog.failures = failures
        return 0

    status, m, out = run_program(prog, args=["-features", "chaos"])
    assert status == 0 and "console still works" in out.text
    assert prog.failures == ["ENOSPC"] * 3
    assert m.kernel.chaos.stats.disk_full == 3


def test_a_panicked_kernel_injects_no_more_faults_and_panics_once():
    async def prog(libc, argv):
        await libc.kctl("chaos.rate=100")
        await libc.kctl("chaos.mode=random_panic")
        try:
            await libc.getpid()  # the panic
        finally:
            await libc.getpid()  # cleanup on the way out: the kernel is already gone

    _, m, out = run_program(prog, args=["-features", "chaos"])
    assert m.panic_count == 1 and m.kernel.chaos.stats.panics == 1
    assert "RECURSIVE PANIC" not in out.text

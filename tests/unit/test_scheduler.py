"""Tasks, the scheduler and the panic path, on an in-process kernel."""

import pytest

from kernelsim import run_program
from sis.kernel.syscall import entry, table  # noqa: F401 - importing entry registers every handler


def test_context_switches_are_timed_and_spread_over_cpus():
    async def prog(libc, argv):
        pids = [await libc.spawn("sleep", ["sleep", "0.01"]) for _ in range(6)]
        for pid in pids:
            await libc.wait(pid)
        return 0

    status, m, _ = run_program(prog, args=["-smp", "2"])
    sched = m.kernel.sched
    assert status == 0
    assert sched.ctx_switch.count > 10 and sched.ctx_switch.percentile(50) > 0
    assert all(cpu.dispatches > 0 for cpu in sched.cpus)


def test_smp_off_has_one_cpu():
    async def prog(libc, argv):
        return 0

    _, m, _ = run_program(prog, args=["-smp", "1"])
    assert len(m.kernel.sched.cpus) == 1


def test_exit_status_and_signals_through_wait():
    async def prog(libc, argv):
        pid = await libc.spawn("sleep", ["sleep", "100"])
        await libc.kill(pid, 9)
        _, killed = await libc.wait(pid)
        pid = await libc.spawn("cat", ["cat", "/missing"])
        _, failed = await libc.wait(pid)
        return 0 if (killed, failed) == (137, 1) else 1

    status, _, out = run_program(prog)
    assert status == 0, out.text


def test_memory_is_returned_when_tasks_exit():
    async def prog(libc, argv):
        for _ in range(20):
            await libc.wait(await libc.spawn("echo", ["echo", "x"]))
        return 0

    _, m, _ = run_program(prog)
    k = m.kernel
    live = {t.pid for t in k.sched.tasks.values()}
    # Only init, the shell and this test program hold task structs and stacks now.
    assert k.heap.usage_by_tag().get("task_struct", 0) <= len(live) * 1536 + 64
    assert k.heap.stats.allocs - k.heap.stats.deallocs < 40


def test_heap_exhaustion_is_enomem_for_spawn():
    async def prog(libc, argv):
        from sis.kernel.shell.libc import SysError

        try:
            for _ in range(100_000):
                await libc.spawn("sleep", ["sleep", "100"])
        except SysError as e:
            return 0 if e.errno == 12 else 2
        return 1

    status, m, _ = run_program(prog, args=["-m", "16M"], timeout=60)
    assert status == 0 and m.kernel.heap.stats.failures >= 1
    assert m.panic_count == 0


def test_an_exception_in_kernel_code_panics(monkeypatch):
    async def broken(k, t):
        raise ZeroDivisionError("bug in getpid")

    monkeypatch.setitem(table.SYSCALLS, 172, table.Syscall(172, "getpid", (), broken))

    async def prog(libc, argv):
        await libc.syscall(172)
        return 0

    status, m, out = run_program(prog)
    assert m.panic_count == 1 and status != 0
    assert (
        "KERNEL PANIC" in out.text and "unhandled ZeroDivisionError in syscall getpid" in out.text
    )
    assert "System halted." in out.text
    assert m.status() == "guest-panicked"


def test_a_fault_in_a_user_program_kills_only_that_program():
    async def crashing(libc, argv):
        libc.task.mm.store(0x10, b"boom")  # a store to the zero page
        return 0

    async def prog(libc, argv):
        from sis.kernel.shell.programs import PROGRAMS, ProgramInfo

        PROGRAMS["crasher"] = ProgramInfo("crasher", "test", crashing)
        try:
            pid = await libc.spawn("crasher", ["crasher"])
            _, status = await libc.wait(pid)
        finally:
            del PROGRAMS["crasher"]
        return 0 if status == 139 else 1

    status, m, out = run_program(prog)
    assert status == 0 and m.panic_count == 0
    assert "segfault" in out.text


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_recent_logs_are_in_the_panic_report(fmt):
    async def prog(libc, argv):
        await libc.kctl(f"log.format={fmt}")
        await libc.syscall(501, await libc.cstr("test panic"))
        return 0

    _, m, out = run_program(prog)
    report = out.text[out.text.index("RECENT LOGS:") : out.text.index("STACK TRACE:")]
    assert "kernel" in report and len(report.splitlines()) > 3


def test_uptime_and_log_timestamps_come_from_the_timer_device():
    from sis.kernel.drivers.mock import MockClock

    clock = MockClock()

    async def prog(libc, argv):
        clock.advance(3600 * 10**9)  # an hour passes in one step
        info = await libc.kinfo("uptime")
        await libc.kctl("log.format=human")  # logs a record stamped by the same clock
        return 0 if info["uptime_s"] >= 3600 else 1

    status, m, _ = run_program(prog, timer=clock)
    assert status == 0
    assert m.kernel.printk.ring[-1].ts_us >= 3600 * 10**6

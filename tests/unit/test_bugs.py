"""Planted bugs (contract section 9): each misbehaves with `-append sis.bug=NAME` and not without;
the shell's `echo` builtin and the one-prefix spawn error (found while hardening the lab)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kernelsim import run_program
from sis.contract import bugs as contract
from sis.contract.syscalls import O_CREAT, O_RDWR, O_WRONLY, TIOCGETD
from sis.kernel.__main__ import main, parse_command_line
from sis.kernel.config import ConfigError
from sis.kernel.drivers.block import FileBlockDevice
from sis.kernel.errno import KernelError
from sis.kernel.fs.filesystem import FileSystem
from sis.kernel.fs.tools import create_disk
from sis.kernel.fs.vfs import resolve
from sis.kernel.machine import Machine
from sis.kernel.shell import userland
from sis.kernel.shell.libc import SysError

BUG = "sis.bug="


def _append(*bugs: str) -> list[str]:
    return ["-append", BUG + ",".join(bugs)] if bugs else []


# -- the command line, version, boot log -----------------------------------------------------------


def test_unknown_bug_is_a_one_line_error_at_start(capsys):
    with pytest.raises(ConfigError, match="unknown planted bug 'nope'"):
        parse_command_line(["-append", "sis.bug=fsync_lies,nope"])
    assert main(["-append", "sis.bug=nope"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown planted bug 'nope'" in err and "fsync_lies" in err


def test_every_contract_bug_is_accepted():
    cfg = parse_command_line(_append(*contract.NAMES))
    assert cfg.bugs == frozenset(contract.NAMES)
    assert parse_command_line([]).bugs == frozenset()


@pytest.mark.parametrize("bugs", [(), ("net_wedge", "fsync_lies")])
def test_version_json_lists_the_bugs_and_boot_log_warns(bugs):
    async def prog(libc, argv):
        prog.info = await libc.kinfo("version")
        return 0

    _, _, out = run_program(prog, args=_append(*bugs))
    assert prog.info["bugs"] == [n for n in contract.NAMES if n in bugs]  # contract order
    for name in contract.NAMES:
        line = f"[WARN] kernel: planted bug active: {name}"
        assert (line in out.text) == (name in bugs)


# -- fsync_lies ------------------------------------------------------------------------------------


def _write_fsync_then_power_cut(tmp_path: Path, *bugs: str) -> bytes | None:
    """Write and fsync a file, then pull the plug (QMP quit: no unmount, no sync); returns what
    a fresh mount of the image finds."""
    image = tmp_path / "disk.img"
    create_disk(image, 16 << 20)

    async def prog(libc, argv):
        fd = await libc.open("/acked", O_WRONLY | O_CREAT, 0o644)
        await libc.write(fd, b"acknowledged" * 100)
        await libc.fsync(fd)  # returns 0 in both cases: the data is "acknowledged"
        await libc.close(fd)
        return 0

    status, _, _ = run_program(prog, args=["-drive", f"file={image}", *_append(*bugs)])
    assert status == 0
    dev = FileBlockDevice(image, read_only=True)
    try:
        fs = FileSystem.mount(dev)
        try:
            ino = resolve(fs, "/acked", fs.ROOT_INO)
        except KernelError:  # ENOENT
            return None
        return fs.read(ino, 0, 1 << 20)
    finally:
        dev.close()


@pytest.fixture
def two_dirs(tmp_path):
    (tmp_path / "clean").mkdir()
    (tmp_path / "bug").mkdir()
    return tmp_path / "clean", tmp_path / "bug"


def test_fsync_survives_a_power_cut_only_without_the_bug(two_dirs):
    clean, bug = two_dirs
    assert _write_fsync_then_power_cut(clean) == b"acknowledged" * 100
    assert _write_fsync_then_power_cut(bug, "fsync_lies") is None  # the create never reached disk


def test_sync_and_fdatasync_lie_too(tmp_path):
    async def prog(libc, argv):
        k = prog.k
        fd = await libc.open("/f", O_RDWR | O_CREAT, 0o644)
        await libc.write(fd, b"x")
        before = k.fs.journal.commits
        await libc.sys.fdatasync(fd)
        await libc.sync()
        prog.commits = k.fs.journal.commits - before
        return 0

    for bugs, expect in (((), 1), (("fsync_lies",), 0)):
        _run_with_kernel(prog, _append(*bugs))
        assert prog.commits == expect


def _run_with_kernel(prog, args):
    """run_program, with the kernel reachable as `prog.k` from inside the program."""

    async def wrapper(libc, argv):
        prog.k = libc._k
        return await prog(libc, argv)

    return run_program(wrapper, args=args)


# -- enospc_panic ----------------------------------------------------------------------------------


def _disk_full_at_commit(*bugs: str):
    async def prog(libc, argv):
        fd = await libc.open("/f", O_WRONLY | O_CREAT, 0o644)
        await libc.write(fd, b"data" * 1000)  # dirty, in the running transaction
        await libc.kctl("chaos.rate=100")
        await libc.kctl("chaos.mode=disk_full")  # the journal commit is where space runs out
        try:
            await libc.fsync(fd)
            prog.result = "ok"
        except SysError as e:
            prog.result = e.errno.name
        return 0

    prog.result = None
    _, m, out = run_program(prog, args=["-features", "chaos", *_append(*bugs)])
    return prog.result, m, out


def test_enospc_at_journal_commit_is_an_errno_without_the_bug_a_panic_with_it():
    result, m, _ = _disk_full_at_commit()
    assert result == "ENOSPC" and m.panic_count == 0
    result, m, out = _disk_full_at_commit("enospc_panic")
    assert result is None and m.panic_count == 1
    assert "KERNEL PANIC" in out.text and "kernel BUG in journal commit" in out.text
    assert re.search(r"#\d+: [0-9a-f]{16} bugs\.journal_commit_error\+", out.text)


# -- net_wedge -------------------------------------------------------------------------------------


def _ping_after_network_fail(*bugs: str) -> tuple[int, int, Any]:
    async def prog(libc, argv):
        async def ping() -> int:
            pid = await libc.spawn("ping", ["ping", "-c", "1", "-W", "1", "10.0.2.2"])
            return (await libc.wait(pid))[1]

        before = await ping()
        await libc.kctl("chaos.rate=100")
        await libc.kctl("chaos.mode=network_fail")
        await ping()  # fails: the fault
        await libc.kctl("chaos.mode=none")
        prog.before, prog.after = before, await ping()
        return 0

    _, m, _ = run_program(prog, args=["-features", "chaos", "-nic", "user", *_append(*bugs)])
    return prog.before, prog.after, m


def test_network_recovers_after_network_fail_only_without_net_wedge():
    before, after, m = _ping_after_network_fail()
    assert (before, after) == (0, 0)
    before, after, m = _ping_after_network_fail("net_wedge")
    assert before == 0 and after != 0 and m.panic_count == 0
    eth0 = m.kernel.net.interfaces["eth0"]
    assert eth0.nic.link_up  # it still says UP: only traffic tells


# -- leak_on_spawn ---------------------------------------------------------------------------------


def _heap_growth_over_spawns(n: int, *bugs: str) -> int:
    async def prog(libc, argv):
        async def spawn_and_wait() -> None:
            await libc.wait(await libc.spawn("uptime", ["uptime"]))

        await spawn_and_wait()  # warm up: the first spawn maps what later ones reuse
        before = (await libc.kinfo("mem"))["heap_current_bytes"]
        for _ in range(n):
            await spawn_and_wait()
        prog.growth = (await libc.kinfo("mem"))["heap_current_bytes"] - before
        return 0

    run_program(prog, args=_append(*bugs))
    return prog.growth


def test_leak_on_spawn_leaks_4k_per_spawn():
    assert _heap_growth_over_spawns(10) == 0
    assert _heap_growth_over_spawns(10, "leak_on_spawn") == 10 * contract.LEAK_BYTES_PER_SPAWN


# -- pwrite_overflow -------------------------------------------------------------------------------


def _pwrite_near_2_63(*bugs: str):
    async def prog(libc, argv):
        fd = await libc.open("/f", O_RDWR | O_CREAT, 0o644)
        buf = await libc.put(b"x" * 64)
        prog.ret = await libc.sys.pwrite64(fd, buf, 64, (1 << 63) - 16)
        return 0

    prog.ret = None
    _, m, out = run_program(prog, args=_append(*bugs))
    return prog.ret, m, out


def test_pwrite_past_2_63_is_efbig_without_the_bug_a_panic_with_it():
    ret, m, _ = _pwrite_near_2_63()
    assert ret == -27 and m.panic_count == 0  # EFBIG
    ret, m, out = _pwrite_near_2_63("pwrite_overflow")
    assert ret is None and m.panic_count == 1
    assert "in syscall pwrite64" in out.text
    assert re.search(r"Location: bugs\.pwrite_store_end_unchecked\+0x", out.text)


def test_pwrite_within_range_is_untouched_by_the_bug():
    async def prog(libc, argv):
        fd = await libc.open("/f", O_RDWR | O_CREAT, 0o644)
        prog.ret = await libc.sys.pwrite64(fd, await libc.put(b"abc"), 3, 4096)
        return 0

    _, m, _ = run_program(prog, args=_append("pwrite_overflow"))
    assert prog.ret == 3 and m.panic_count == 0


# -- null_deref_ioctl ------------------------------------------------------------------------------


def _tiocgetd(*bugs: str):
    async def prog(libc, argv):
        argp = await libc.put(b"\xff" * 4)
        prog.ret = await libc.sys.ioctl(0, TIOCGETD, argp)
        prog.ldisc = int.from_bytes(libc.peek(argp, 4), "little", signed=True)
        return 0

    prog.ret = prog.ldisc = None
    _, m, out = run_program(prog, args=_append(*bugs))
    return prog.ret, prog.ldisc, m, out


def test_tiocgetd_reports_n_tty_without_the_bug_and_panics_in_the_ioctl_handler_with_it():
    ret, ldisc, m, _ = _tiocgetd()
    assert (ret, ldisc, m.panic_count) == (0, 0, 0)
    ret, _, m, out = _tiocgetd("null_deref_ioctl")
    assert ret is None and m.panic_count == 1
    fn = contract.NULL_DEREF_IOCTL_FUNCTION
    location = re.search(r"Location: (\S+)", out.text)
    assert location and location.group(1).split("+")[0].endswith("." + fn)
    trace = out.text.split("STACK TRACE:")[1].split("DEBUGGING STEPS:")[0]
    frames = re.findall(r"#(\d+): [0-9a-f]{16} (\S+?)\+0x", trace)
    names = [name for _, name in frames]
    assert names[0].endswith("." + fn)  # the guilty frame on top
    assert "syscall.sysproc.sys_ioctl" in names  # reached through the ioctl handler
    assert names.index("syscall.sysproc.sys_ioctl") > 0
    assert "NoneType" in out.text  # the missing object


# -- oom_hang and the shell ------------------------------------------------------------------------


class Console:
    """A booted in-process kernel with init and the shell on its console."""

    def __init__(self, args: list[str]) -> None:
        cfg = parse_command_line(["-serial", "null", "-nic", "none", *args])
        self.machine = Machine(cfg, userland())
        self.out = bytearray()
        self.machine.serials[0].write = self.out.extend  # type: ignore[method-assign]

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace").replace("\r\n", "\n")

    async def until(self, ok: Callable[[], bool], timeout: float = 10) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while not ok():
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    async def run(self, line: str, timeout: float = 10) -> str | None:
        """Type a line; the output up to the next prompt, or None if none came (hung)."""
        start = len(self.out)
        assert self.machine.kernel is not None
        self.machine.kernel.tty.receive(line.encode() + b"\n")
        if not await self.until(lambda: b"sis> " in self.out[start:], timeout):
            return None
        text = self.out[start:].decode("utf-8", "replace").replace("\r\n", "\n")
        return text.split("\n", 1)[1].rsplit("sis> ", 1)[0].strip()


def _with_console(args: list[str], body: Callable[[Console], Awaitable[None]]) -> None:
    async def go() -> None:
        c = Console(args)
        runner = asyncio.create_task(c.machine.run())
        try:
            assert await c.until(lambda: b"sis> " in c.out), c.text[-2000:]
            await body(c)
        finally:
            c.machine.request("quit")
            await asyncio.wait_for(runner, 5)

    asyncio.run(go())


def test_echo_is_a_builtin_that_prints_under_memory_pressure_and_spawn_errors_have_one_prefix():
    async def body(c: Console) -> None:
        assert await c.run("chaos rate 100") is not None
        assert await c.run("chaos mode memory_pressure") is not None
        assert await c.run("echo hi") == "hi"
        assert await c.run("echo marker$?") == "marker0"
        assert await c.run("uptime") == "uptime: Cannot allocate memory (ENOMEM)"
        assert await c.run("echo status=$?") == "status=126"
        assert await c.run("echo -n x > /f") is not None  # redirection: the open may fail
        assert c.machine.panic_count == 0

    _with_console(["-features", "chaos"], body)


@pytest.mark.parametrize("bugged", [False, True])
def test_oom_hang_hangs_the_shell_in_the_spawn_retry(bugged):
    async def body(c: Console) -> None:
        k = c.machine.kernel
        assert k is not None
        await c.run("chaos rate 100")
        await c.run("chaos mode memory_pressure")
        out = await c.run("uptime", timeout=3 if bugged else 10)
        if not bugged:
            assert out == "uptime: Cannot allocate memory (ENOMEM)"
            return
        assert out is None  # no prompt came back
        sh = next(t for t in k.sched.tasks.values() if t.name == "sh")
        assert sh.wait_channel == "spawn_oom_retry"
        # Memory comes back and the retries succeed, yet the loop never ends.
        k.chaos.set_mode("none")
        allocs = k.heap.stats.allocs
        assert await c.until(lambda: k.heap.stats.allocs >= allocs + 3)
        assert sh.wait_channel == "spawn_oom_retry" and "sis> " not in c.text.rsplit("uptime", 1)[1]
        k.tty.receive(b"\x03")  # Ctrl-C does not help either
        assert await c.until(lambda: k.heap.stats.allocs >= allocs + 5)
        assert sh.wait_channel == "spawn_oom_retry" and sh.alive

    args = ["-features", "chaos", *(_append("oom_hang") if bugged else [])]
    _with_console(args, body)

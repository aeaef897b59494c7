"""Planted bugs (contract section 9): each misbehaves with `-append sis.bug=NAME` and not without,
at the trigger `sis.bug_seed=N` places (tests cover several seeds per bug); the shell's `echo`
builtin and the one-prefix spawn error (found while hardening the lab)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernelsim import run_program
from sis.contract import bugs as contract
from sis.contract.syscalls import (
    AF_INET,
    IOCTL_BY_NAME,
    IOCTLS,
    O_CREAT,
    O_RDWR,
    O_WRONLY,
    SOCK_DGRAM,
)
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


def _append(*bugs: str, seed: int | None = None) -> list[str]:
    words = [BUG + ",".join(bugs)] if bugs else []
    if seed is not None:
        words.append(f"{contract.SEED_KEY}={seed}")
    return ["-append", " ".join(words)] if words else []


def seeds_where(test: Callable[[contract.Placement], bool], n: int = 1) -> list[int]:
    """The first `n` seeds whose placement passes `test`."""
    return [s for s in range(10_000) if test(contract.placement(s))][:n]


def spread(field: str, values: list[int]) -> list[int]:
    """One seed for each of these values of a placement field (the range's ends included)."""
    return [seeds_where(lambda p, v=v: getattr(p, field) == v)[0] for v in values]


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


@pytest.mark.parametrize("value", ["x", "-1", "1.5", str(1 << 63), ""])
def test_a_bad_seed_is_a_one_line_error_at_start(value, capsys):
    with pytest.raises(ConfigError, match="sis.bug_seed="):
        parse_command_line(["-append", f"sis.bug=fsync_lies sis.bug_seed={value}"])
    assert main(["-append", f"sis.bug_seed={value}"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_the_seed_places_every_trigger_within_its_written_range():
    placements = [contract.placement(s) for s in range(300)]
    assert contract.placement() == contract.placement(contract.DEFAULT_SEED) == placements[0]
    assert contract.placement(7) == contract.placement(7)  # the same everywhere, every time
    ranges = {
        "pwrite_field_bits": contract.PWRITE_FIELD_BITS,
        "leak_bytes": contract.LEAK_BYTES,
        "leak_period": contract.LEAK_PERIOD,
        "fsync_lie_period": contract.FSYNC_LIE_PERIOD,
        "net_wedge_failed_sends": contract.NET_WEDGE_FAILED_SENDS,
        "oom_hang_failures": contract.OOM_HANG_FAILURES,
    }
    for field, (lo, hi) in ranges.items():
        seen = {getattr(p, field) for p in placements}
        assert min(seen) == lo and max(seen) == hi, field  # the whole range is reached
    assert all(p.leak_bytes % contract.LEAK_BYTES_STEP == 0 for p in placements)
    assert all(0 <= p.fsync_lie_phase < p.fsync_lie_period for p in placements)
    drawn = {p.ioctl_request for p in placements}
    assert drawn == {i.name for i in IOCTLS} - set(contract.IOCTLS_THE_SHELL_MAKES)
    cfg = parse_command_line(["-append", "sis.bug=oom_hang sis.bug_seed=42"])
    assert cfg.bug_placement == contract.placement(42)
    assert parse_command_line([]).bug_placement == contract.placement(contract.DEFAULT_SEED)


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


FILES = 4


def _write_fsync_then_power_cut(tmp_path: Path, args: list[str]) -> list[bool]:
    """Write and fsync FILES files, then pull the plug (QMP quit: no unmount, no sync); returns
    which of them a fresh mount of the image finds intact."""
    image = tmp_path / "disk.img"
    create_disk(image, 16 << 20)
    data = [f"acknowledged {i} ".encode() * 100 for i in range(FILES)]

    async def prog(libc, argv):
        for i in range(FILES):
            fd = await libc.open(f"/acked{i}", O_WRONLY | O_CREAT, 0o644)
            await libc.write(fd, data[i])
            await libc.fsync(fd)  # returns 0 in both cases: the data is "acknowledged"
            await libc.close(fd)
        return 0

    status, _, _ = run_program(prog, args=["-drive", f"file={image}", *args])
    assert status == 0
    dev = FileBlockDevice(image, read_only=True)
    try:
        fs = FileSystem.mount(dev)
        intact = []
        for i in range(FILES):
            try:
                ino = resolve(fs, f"/acked{i}", fs.ROOT_INO)
            except KernelError:  # ENOENT
                intact.append(False)
                continue
            intact.append(fs.read(ino, 0, 1 << 20) == data[i])
        return intact
    finally:
        dev.close()


@pytest.mark.parametrize("period", [1, 2, 3, 4])
def test_fsync_lies_on_the_drawn_share_of_calls_and_a_power_cut_loses_those(tmp_path, period):
    for seed in seeds_where(lambda p: p.fsync_lie_period == period, 2):
        phase = contract.placement(seed).fsync_lie_phase
        (tmp_path / str(seed)).mkdir()
        intact = _write_fsync_then_power_cut(tmp_path / str(seed), _append("fsync_lies", seed=seed))
        assert intact == [i % period != phase for i in range(FILES)], (seed, period, phase)
    (tmp_path / "clean").mkdir()
    assert _write_fsync_then_power_cut(tmp_path / "clean", _append(seed=3)) == [True] * FILES


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

    (every_call,) = seeds_where(lambda p: p.fsync_lie_period == 1)
    for bugs, expect in (((), 1), (("fsync_lies",), 0)):
        _run_with_kernel(prog, _append(*bugs, seed=every_call))
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


def _pings_around_failed_sends(args: list[str]) -> tuple[list[int], Any]:
    """Ping, then one ping under a 100% send fault at a time; after each, the fault is cleared
    and a ping says whether the network still works. Returns the statuses after each fault."""

    async def prog(libc, argv):
        async def ping() -> int:
            pid = await libc.spawn("ping", ["ping", "-c", "1", "-W", "1", "10.0.2.2"])
            return (await libc.wait(pid))[1]

        assert await ping() == 0
        prog.after = []
        for _ in range(contract.NET_WEDGE_FAILED_SENDS[1]):
            await libc.kctl("chaos.rate=100")
            await libc.kctl("chaos.mode=network_fail")
            await ping()  # fails: the fault
            await libc.kctl("chaos.mode=none")
            prog.after.append(await ping())
        return 0

    _, m, _ = run_program(prog, args=["-features", "chaos", "-nic", "user", *args])
    return prog.after, m


@pytest.mark.parametrize("wedge_at", [1, 2, 4])
def test_net_wedge_wedges_at_the_drawn_failed_send_and_not_before(wedge_at):
    (seed,) = spread("net_wedge_failed_sends", [wedge_at])
    after, m = _pings_around_failed_sends(_append("net_wedge", seed=seed))
    failed_sends = m.kernel.planted.failed_sends
    sends_per_faulty_ping = failed_sends // len(after)
    assert sends_per_faulty_ping >= 1
    working = [s == 0 for s in after]
    # Recovered while fewer than N sends had failed; never again once the N-th did.
    n_working = sum(working)
    assert working == [True] * n_working + [False] * (len(after) - n_working)
    assert n_working == (wedge_at - 1) // sends_per_faulty_ping
    eth0 = m.kernel.net.interfaces["eth0"]
    assert eth0.nic.link_up  # it still says UP: only traffic tells


def test_network_recovers_after_every_failure_without_net_wedge():
    after, m = _pings_around_failed_sends(_append(seed=1))
    assert after == [0] * contract.NET_WEDGE_FAILED_SENDS[1] and m.panic_count == 0


# -- leak_on_spawn ---------------------------------------------------------------------------------


def _heap_growth_over_spawns(n: int, args: list[str]) -> int:
    async def prog(libc, argv):
        async def spawn_and_wait() -> None:
            await libc.wait(await libc.spawn("uptime", ["uptime"]))

        await spawn_and_wait()  # warm up: the first spawn maps what later ones reuse
        before = (await libc.kinfo("mem"))["heap_current_bytes"]
        for _ in range(n):
            await spawn_and_wait()
        prog.growth = (await libc.kinfo("mem"))["heap_current_bytes"] - before
        return 0

    run_program(prog, args=args)
    return prog.growth


@pytest.mark.parametrize("period", [1, 2, 3])
def test_leak_on_spawn_leaks_the_drawn_size_every_drawn_period(period):
    (seed,) = seeds_where(lambda p: p.leak_period == period)
    size = contract.placement(seed).leak_bytes
    assert _heap_growth_over_spawns(12, _append(seed=seed)) == 0
    assert _heap_growth_over_spawns(12, _append("leak_on_spawn", seed=seed)) == 12 // period * size


# -- pwrite_overflow -------------------------------------------------------------------------------


def _pwrite_ending_at(end: int, args: list[str]):
    async def prog(libc, argv):
        fd = await libc.open("/f", O_RDWR | O_CREAT, 0o644)
        buf = await libc.put(b"x" * 64)
        prog.ret = await libc.sys.pwrite64(fd, buf, 64, end - 64)
        return 0

    prog.ret = None
    _, m, out = run_program(prog, args=args)
    return prog.ret, m, out


@pytest.mark.parametrize("bits", [33, 47, 62])
def test_pwrite_panics_from_an_end_of_2_to_the_drawn_k_and_not_below(bits):
    (seed,) = spread("pwrite_field_bits", [bits])
    bugged = _append("pwrite_overflow", seed=seed)
    for end in ((1 << bits) - 1, (1 << bits), (1 << bits) + 4096):
        clean_ret, m, _ = _pwrite_ending_at(end, _append(seed=seed))
        assert clean_ret is not None and m.panic_count == 0
    ret, m, _ = _pwrite_ending_at((1 << bits) - 1, bugged)
    assert ret is not None and m.panic_count == 0  # just below: the clean answer
    for end in ((1 << bits), (1 << 63) - 1):
        ret, m, out = _pwrite_ending_at(end, bugged)
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


async def _fd_for(libc, applies_to: str) -> int:
    """A descriptor of the kind of file a request applies to."""
    if applies_to in ("tty", "any"):
        return 0
    if applies_to == "file":
        return await libc.open("/f", O_RDWR | O_CREAT, 0o644)
    if applies_to == "blk":
        return await libc.open("/dev/vda", 0, 0)
    return await libc.sys.socket(AF_INET, SOCK_DGRAM, 0)


def _ioctl(name: str, args: list[str]):
    async def prog(libc, argv):
        fd = await _fd_for(libc, IOCTL_BY_NAME[name].applies_to)
        prog.ret = await libc.sys.ioctl(fd, IOCTL_BY_NAME[name].nr, await libc.put(bytes(64)))
        return 0

    prog.ret = None
    _, m, out = run_program(prog, args=["-nic", "user", *args])
    return prog.ret, m, out


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_the_drawn_ioctl_panics_in_the_handler_and_the_others_answer(seed):
    drawn = contract.placement(seed).ioctl_request
    bugged = _append("null_deref_ioctl", seed=seed)
    ret, m, _ = _ioctl(drawn, _append(seed=seed))
    assert ret is not None and m.panic_count == 0
    ret, m, out = _ioctl(drawn, bugged)
    assert ret is None and m.panic_count == 1
    fn = contract.NULL_DEREF_IOCTL_FUNCTION
    location = re.search(r"Location: (\S+)", out.text)
    assert location and location.group(1).split("+")[0].endswith("." + fn)
    trace = out.text.split("STACK TRACE:")[1].split("DEBUGGING STEPS:")[0]
    names = re.findall(r"#\d+: [0-9a-f]{16} (\S+?)\+0x", trace)
    assert names[0].endswith("." + fn)  # the guilty frame on top
    assert names.index("syscall.sysioctl.sys_ioctl") > 0  # reached through the ioctl handler
    assert "NoneType" in out.text  # the missing object
    other = next(i.name for i in IOCTLS if i.name != drawn and i.applies_to == "tty")
    ret, m, _ = _ioctl(other, bugged)
    assert ret is not None and m.panic_count == 0


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


@pytest.mark.parametrize("threshold", [None, 1, 2, 3])
def test_oom_hang_hangs_the_shell_from_the_drawn_failure_on(threshold):
    async def body(c: Console) -> None:
        k = c.machine.kernel
        assert k is not None
        await c.run("chaos rate 100")
        await c.run("chaos mode memory_pressure")
        for _ in range((threshold or 4) - 1):  # below the threshold: ENOMEM, as it should
            assert await c.run("uptime") == "uptime: Cannot allocate memory (ENOMEM)"
        if threshold is None:
            return
        assert await c.run("uptime", timeout=3) is None  # no prompt came back
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

    if threshold is None:
        args = ["-features", "chaos", *_append(seed=1)]
    else:
        (seed,) = spread("oom_hang_failures", [threshold])
        args = ["-features", "chaos", *_append("oom_hang", seed=seed)]
    _with_console(args, body)


@given(st.text(max_size=30))
def test_any_seed_text_is_a_seed_or_a_one_line_error(text):
    try:
        seed = contract.parse_seed(text)
    except contract.UnknownBug as e:
        assert "\n" not in str(e) and contract.SEED_KEY in str(e)
    else:
        assert 0 <= seed < 1 << 63 and str(seed) == text.strip().lstrip("0").rjust(1, "0")

"""The reference kernel as a process, seen from outside exactly as QEMU would be."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import time

from qemu.qmp import QMPClient

from kernelproc import kernel_argv
from sis.harness.console import Console, connect_unix
from sis.kernel.fs.tools import create_disk

HUMAN_LOG = re.compile(r"^\[\s*\d+\.\d{6}\] \[(FATAL|ERROR|WARN|INFO|DEBUG|TRACE)\] \w+: ", re.M)


def test_boots_to_banner_and_prompt_with_log_lines_first(kernels):
    k = kernels("-nic", "none").boot()
    text = k.console.text
    assert HUMAN_LOG.search(text)
    assert (
        text.index("[INFO] kernel:") < text.index("=== SIS Kernel Shell ===") < text.rindex("sis> ")
    )
    assert re.search(r"(?m)^sis> $", text)


def test_shell_contract(kernels):
    k = kernels("-nic", "none").boot()
    assert k.run("echo hello").output == "hello"
    r = k.run("nosuchcmd")
    assert (r.output, r.status) == ("Unknown command: nosuchcmd", 127)
    r = k.run("touch /nodir/a.txt")
    assert r.status != 0 and r.output == "touch: /nodir/a.txt: No such file or directory (ENOENT)"
    assert k.run("echo $?").output == "0"
    assert k.run("help").output.startswith("Available commands:")
    ps = k.run("ps").output.splitlines()
    assert "PID" in ps[0] and "STATE" in ps[0] and any("sh" in line for line in ps[1:])
    mem = k.run("memstats").output
    assert re.search(r"Heap: [\d.]+ MiB current, [\d.]+ MiB peak", mem)
    assert re.search(r"allocs=\d+ deallocs=\d+ failures=\d+", mem)
    assert re.match(r"Uptime: \d+\.\d+ seconds", k.run("uptime").output)


def test_version_text_and_json(kernels):
    k = kernels("-nic", "none", "-features", "chaos").boot()
    first = k.run("version").output.splitlines()[0]
    assert re.match(r"SIS Kernel ([0-9a-f]{7}|unknown) \(\S+?\+?\) built \d{4}-\d{2}-\d{2}$", first)
    info = json.loads(k.run("version --json").output)
    for key in (
        "git_commit",
        "git_branch",
        "git_dirty",
        "build_timestamp",
        "python_version",
        "features",
        "profile",
        "target",
    ):
        assert key in info
    assert info["features"] == ["chaos"] and info["profile"] == "no-network"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$", info["build_timestamp"])


def test_background_sleep_kill_and_ctrl_c(kernels):
    k = kernels("-nic", "none").boot()
    r = k.run("sleep 30 &")
    pid = int(re.match(r"\[1\] (\d+)$", r.output).group(1))
    assert re.search(rf"(?m)^\s*{pid}\s.*sleep 30", k.run("ps").output)
    assert k.run(f"kill {pid}").status == 0
    deadline = time.monotonic() + 5
    while re.search(rf"(?m)^\s*{pid}\s", k.run("ps").output) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not re.search(rf"(?m)^\s*{pid}\s", k.run("ps").output)
    # Ctrl-C interrupts the foreground command and gives a fresh prompt.
    k.console.sendline("sleep 30")
    time.sleep(0.3)
    started = time.monotonic()
    k.console.interrupt()
    k.console.expect(r"\^C", timeout=5)
    k.console.wait_prompt(timeout=5)
    assert time.monotonic() - started < 3
    k.console.sendline('echo "status=$?"')  # raw: a run() command starts after its begin marker
    k.console.expect("status=130", timeout=5)


def test_line_discipline_echo_backspace_crlf(kernels):
    k = kernels("-nic", "none").boot()
    k.console.send(b"echo abX\x7fc\r")
    k.console.expect(r"(?m)^abc$", timeout=5)
    k.console.wait_prompt(timeout=5)
    raw = (k.dir / "k0-console.log").read_bytes()
    assert b"abc\r\n" in raw  # output lines end in CRLF


def test_garbage_nuls_and_huge_lines_do_not_hurt(kernels):
    k = kernels("-nic", "none").boot()
    k.console.send(bytes(range(256)) * 4 + b"\x00\x00\xff\xfe\n")
    k.console.wait_prompt(timeout=5)
    k.console.send(b"A" * (70 * 1024) + b"\n")
    k.console.expect("longer than", timeout=10)
    k.console.wait_prompt(timeout=5)
    assert k.run("echo still alive").output == "still alive"
    assert k.proc.poll() is None


def test_console_client_can_disconnect_and_reconnect(kernels):
    k = kernels("-nic", "none").boot()
    k.console.close()
    time.sleep(0.2)
    again = Console(connect_unix(k.con_path, 5))
    again.sendline("")
    again.wait_prompt(timeout=5)
    assert again.run("echo back").output == "back"
    again.close()


def test_logctl_json_and_second_serial_carries_the_log(kernels):
    k = kernels("-nic", "none", log=True).boot()
    k.console.log_filter = None  # the log has its own line here, and dmesg prints log lines
    k.logcon.expect(HUMAN_LOG, timeout=5)
    assert "[INFO]" not in k.console.text  # the shell line has no kernel log
    assert k.run("logctl json").output == "Log format: json"
    k.run("logctl level debug")
    k.run("touch /x")
    k.logcon.expect(r'"level":"DEBUG"', timeout=5)
    records = [json.loads(line) for line in k.logcon.text.splitlines() if line.startswith("{")]
    assert records and all({"ts", "seq", "level", "subsystem", "status"} <= set(r) for r in records)
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(seqs)
    dmesg = k.run("dmesg").output.splitlines()
    assert all(json.loads(line)["seq"] for line in dmesg)
    assert k.run("logctl human").output == "Log format: human"
    assert HUMAN_LOG.search(k.run("dmesg").output)


def test_append_log_json_and_quiet(kernels):
    k = kernels("-nic", "none", "-append", "log=json quiet").boot()
    k.console.log_filter = None  # quiet: no log lines interleave, and dmesg prints log lines
    assert not re.search(r'"level":"INFO"', k.console.text)  # quiet: no info on the console
    assert json.loads(k.run("dmesg").output.splitlines()[0])["level"] == "INFO"


def _panic_sections(text: str) -> list[int]:
    names = [
        "KERNEL PANIC",
        "PANIC INFORMATION:",
        "Location:",
        "Message:",
        "REGISTER DUMP:",
        "SYSTEM STATE:",
        "RECENT LOGS:",
        "STACK TRACE:",
        "DEBUGGING STEPS:",
        "COMMON CAUSES:",
        "CRASH DUMP:",
        "System halted.",
    ]
    return [text.index(n) for n in names]


def test_panic_report_and_no_reboot_exit_status(kernels, tmp_path):
    os.environ["SIS_CRASH_DIR"] = str(tmp_path / "crash")
    try:
        k = kernels("-nic", "none", "-no-reboot", "-append", "log=json").boot()
        k.console.sendline("panic disk on fire")
        assert k.wait() == 3
    finally:
        del os.environ["SIS_CRASH_DIR"]
    time.sleep(0.2)
    text = k.console.text
    positions = _panic_sections(text)
    assert positions == sorted(positions)
    assert re.search(r"(?m)^=+\s*$", text)
    assert "Message:  disk on fire" in text
    for reg in ["x0:", "x29:", "x30:", "sp:", "pc:"]:
        assert reg in text
    trace = re.findall(r"#\d+: ([0-9a-f]{16}) (\S+)", text)
    assert trace and any("sys_sis_panic" in sym for _, sym in trace)
    fatal = [json.loads(line) for line in text.splitlines() if '"FATAL"' in line]
    assert fatal and fatal[0]["subsystem"] == "panic"
    dumps = list((tmp_path / "crash").glob("sis-crash-*.json"))
    assert dumps and json.loads(dumps[0].read_text())["message"] == "disk on fire"
    # The trace resolves against `sis kernel symbols`.
    symbols = subprocess.run(
        kernel_argv("symbols"), capture_output=True, text=True, check=True
    ).stdout
    table = {
        int(a, 16): (int(s, 16), n)
        for a, s, _, n in (line.split() for line in symbols.splitlines())
    }
    addr, sym = trace[0]
    base = max(a for a in table if a <= int(addr, 16))
    assert sym.startswith(table[base][1] + "+0x")


def test_panic_reboots_after_timeout(kernels):
    k = kernels("-nic", "none", "-append", "panic=1").boot()
    k.console.sendline("panic again")
    deadline = time.monotonic() + 15
    while "Rebooting in 1 seconds" not in k.console.text and time.monotonic() < deadline:
        time.sleep(0.05)
    k.console.clear_death()
    k.console.expect("=== SIS Kernel Shell ===", timeout=15)
    k.console.wait_prompt(timeout=10)
    assert "boot #2" in k.run("uptime").output
    assert k.proc.poll() is None


def test_bad_options_and_bad_disks_give_one_line(tmp_path):
    foreign = tmp_path / "foreign.img"
    foreign.write_bytes(os.urandom(4096 * 16))
    cases = [
        (["-m", "lots"], "invalid size"),
        (["-frobnicate"], "unknown option"),
        (["-drive", f"file={tmp_path}/missing.img"], "does not exist"),
        (["-drive", f"file={foreign}"], str(foreign)),
    ]
    for args, words in cases:
        r = subprocess.run(
            kernel_argv(*args, "-serial", "null"), capture_output=True, text=True, timeout=20
        )
        assert r.returncode == 1, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and "Traceback" not in r.stderr, r.stderr


def test_files_survive_reboot_and_process_restart(kernels, tmp_path):
    disk = tmp_path / "disk.img"
    create_disk(disk, 16 << 20)
    k = kernels("-nic", "none", "-drive", f"file={disk}").boot()
    assert k.run("echo persistent data > /keep.txt").status == 0
    k.run("mkdir /d")
    k.console.sendline("reboot")
    k.console.expect("=== SIS Kernel Shell ===", timeout=15)
    k.console.wait_prompt(timeout=10)
    assert k.run("cat /keep.txt").output == "persistent data"
    k.console.sendline("poweroff")
    assert k.wait() == 0
    k2 = kernels("-nic", "none", "-drive", f"file={disk}").boot()
    assert k2.run("cat /keep.txt").output == "persistent data"
    assert "d" in k2.run("ls /").output.split()


def test_stdio_console_is_interactive():
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, kernel_argv("-nic", "none"))
    buf = b""

    def read_until(token: bytes, timeout: float = 15) -> None:
        nonlocal buf
        deadline = time.monotonic() + timeout
        while token not in buf:
            assert time.monotonic() < deadline, buf[-500:]
            if select.select([fd], [], [], 0.2)[0]:
                buf += os.read(fd, 65536)

    try:
        read_until(b"sis> ")
        os.write(fd, b"echo from a terminal\r")
        read_until(b"from a terminal\r\n")
        os.write(fd, b"\x01x")  # Ctrl-A x quits, like QEMU
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.close(fd)


# -- QMP, with the real qemu.qmp client -----------------------------------------------------------


def test_qmp_with_qemu_qmp_client(kernels):
    k = kernels("-nic", "none", "-S", qmp=True)

    async def scenario() -> list[str]:
        client = QMPClient("test")
        events: list[str] = []
        from qemu.qmp import EventListener

        ev = EventListener()
        client.register_listener(ev)
        for _ in range(100):
            try:
                await client.connect(k.qmp_path)
                break
            except Exception:
                await asyncio.sleep(0.05)
        assert (await client.execute("query-status"))["status"] == "prelaunch"
        assert "SIS Kernel Shell" not in k.console.text  # -S: nothing runs before cont
        await client.execute("cont")
        names = [c["name"] for c in await client.execute("query-commands")]
        assert {
            "query-status",
            "stop",
            "cont",
            "system_reset",
            "system_powerdown",
            "quit",
            "set_link",
            "human-monitor-command",
            "x-sis-syscall",
            "x-sis-metrics",
        } <= set(names)
        ver = await client.execute("query-version")
        assert ver["qemu"]["major"] == 0
        await asyncio.sleep(0.5)
        await client.execute("stop")
        assert (await client.execute("query-status"))["status"] == "paused"
        await client.execute("cont")
        regs = await client.execute("human-monitor-command", {"command-line": "info registers"})
        assert "x0" in regs and "pc" in regs
        st = await client.execute("human-monitor-command", {"command-line": "info status"})
        assert "running" in st
        batch = await client.execute(
            "x-sis-syscall", {"calls": [{"nr": 172}, {"nr": 64, "args": [1, 0, 4]}, {"nr": 9999}]}
        )
        rets = batch["results"]
        assert rets[0]["ret"] > 0 and rets[1]["errno"] == "EFAULT" and rets[2]["errno"] == "ENOSYS"
        metrics = await client.execute("x-sis-metrics")
        assert metrics["ctx_switch_p50_ns"] > 0
        await client.execute("system_reset")
        await asyncio.sleep(0.5)
        await client.execute("system_powerdown")
        while True:
            event = await asyncio.wait_for(ev.get(), 10)
            events.append(event["event"])
            if event["event"] == "SHUTDOWN":
                break
        with contextlib.suppress(EOFError, OSError):
            await client.disconnect()  # the machine is gone after SHUTDOWN
        return events

    events = asyncio.run(scenario())
    assert events[:2] == ["RESUME", "STOP"] and "RESUME" in events[2:]
    assert "RESET" in events and events[-2:] == ["POWERDOWN", "SHUTDOWN"]
    assert k.wait() == 0


def test_guest_panicked_event_and_status(kernels):
    k = kernels("-nic", "none", qmp=True).boot()

    async def scenario() -> tuple[str, str]:
        from qemu.qmp import EventListener

        client = QMPClient("test")
        ev = EventListener(["GUEST_PANICKED"])
        client.register_listener(ev)
        await client.connect(k.qmp_path)
        k.console.sendline("panic via qmp test")
        event = await asyncio.wait_for(ev.get(), 10)
        status = (await client.execute("query-status"))["status"]
        await client.execute("quit")
        # The kernel may close the socket before qemu.qmp's goodbye (QEMU's own machine.py
        # ignores the same EOFError).
        with contextlib.suppress(EOFError):
            await client.disconnect()
        return event["data"]["info"]["message"], status

    message, status = asyncio.run(scenario())
    assert message == "via qmp test" and status == "guest-panicked"
    assert k.wait() == 0


def test_malformed_qmp_keeps_the_kernel_running(kernels):
    k = kernels("-nic", "none", qmp=True).boot()
    s = socket.socket(socket.AF_UNIX)
    s.connect(k.qmp_path)
    s.recv(4096)
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    s.recv(4096)
    s.sendall(b"{not json at all\n")
    assert b"error" in s.recv(4096)
    s.sendall(b'{"execute": "no-such-command"}\n')
    assert b"CommandNotFound" in s.recv(4096)
    s.close()
    assert k.run("echo fine").output == "fine"


def test_guest_clock_stands_still_while_paused(sim):
    def uptime() -> float:
        return float(re.match(r"Uptime: ([\d.]+)", sim.run("uptime").output).group(1))

    before = uptime()
    sim.qmp.execute("stop")
    time.sleep(1.5)
    sim.qmp.execute("cont")
    assert uptime() - before < 1.0  # the 1.5 s paused are not guest time

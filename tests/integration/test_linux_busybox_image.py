"""Boot the linux-busybox image under QEMU with its profile's command line and drive it.

Plain subprocess and sockets on purpose: this checks the image and the profile, not the
harness built on top of them.
"""

from __future__ import annotations

import ctypes
import gzip
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from sis.harness.images import (
    APT_HINT,
    BOOT_MARKER,
    ImageError,
    LinuxBusyboxImage,
    build_linux_busybox,
    default_image_dir,
    find_kernel,
    kernels,
)

PROFILE: dict[str, Any] = yaml.safe_load(
    resources.files("sis.harness.profiles").joinpath("linux-busybox.yaml").read_text()
)
QEMU = PROFILE["qemu"]["binary"]
# Generous: a TCG guest on 2 shared cores can be several times slower than when idle.
BOOT_TIMEOUT = 90.0
COMMAND_TIMEOUT = 30.0


def _missing_requirement() -> str | None:
    if shutil.which(QEMU) is None:
        return f"{QEMU} not installed (apt-get install qemu-system-x86)"
    try:
        find_kernel()
    except ImageError as exc:
        return str(exc)
    return None


_MISSING = _missing_requirement()
pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(_MISSING is not None, reason=_MISSING or ""),
]


# --------------------------------------------------------------------------- a bare QEMU guest

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:
        # In the child: the kernel kills QEMU when the thread that spawned it goes away,
        # so a crashed or killed test run leaves no orphan behind.
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class _Stream:
    """Reads a socket from its first byte on a thread, so the guest never stalls on output."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.data = bytearray()
        self.closed = False
        self._cond = threading.Condition()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self.closed = True
                    self._cond.notify_all()
                    return
                self.data += chunk
                self._cond.notify_all()

    def text(self, start: int = 0) -> str:
        with self._cond:
            return self.data[start:].decode(errors="replace")

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str]:
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                match = regex.search(self.data[start:].decode(errors="replace"))
                if match:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    tail = self.data[start:][-2000:].decode(errors="replace")
                    raise AssertionError(
                        f"expected {pattern!r} within {timeout:.0f}s "
                        f"({'stream closed' if self.closed else 'timed out'}); got:\n{tail}"
                    )
                self._cond.wait(min(left, 0.5))


class _Qmp:
    """Just enough QMP: the greeting, commands, and the events seen so far."""

    def __init__(self, sock: socket.socket) -> None:
        self.stream = _Stream(sock)
        self.sock = sock
        self._next_id = 0
        self.greeting = self._message(lambda m: "QMP" in m, 10.0)

    def messages(self) -> list[dict[str, Any]]:
        complete = self.stream.text().split("\n")[:-1]  # the last piece may be half a line
        return [json.loads(line) for line in complete if line.strip()]

    def _message(self, predicate: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages():
                if predicate(message):
                    return message
            if self.stream.closed:
                break
            time.sleep(0.02)
        raise AssertionError(f"no matching QMP message; got {self.messages()}")

    def execute(self, command: str, **arguments: Any) -> Any:
        self._next_id += 1
        msg_id = f"t{self._next_id}"
        request: dict[str, Any] = {"execute": command, "id": msg_id}
        if arguments:
            request["arguments"] = arguments
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        reply = self._message(lambda m: m.get("id") == msg_id, 10.0)
        assert "return" in reply, f"QMP {command} failed: {reply}"
        return reply["return"]

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        return self._message(lambda m: m.get("event") == name, timeout)


def _connect(path: Path, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> socket.socket:
    # QEMU creates its sockets a moment after it starts, QMP sometimes last.
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if proc.poll() is not None:
                raise AssertionError(f"QEMU exited with {proc.returncode} before {path}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


_OFF = {"", "off", "false", "no", "none", "0"}


def command_line(args: list[Any], values: dict[str, Any]) -> list[str]:
    """The profile's args with placeholders filled; {if: VAR, args: [...]} groups kept only
    when VAR is on."""
    out: list[str] = []
    for item in args:
        if isinstance(item, dict):
            if str(values.get(item["if"], "")).lower() not in _OFF:
                out += command_line(item["args"], values)
        else:
            out.append(str(item).format_map(values))
    return out


class Guest:
    """One QEMU running the profile's command line, with console, kernel log and QMP attached."""

    def __init__(
        self, image: LinuxBusyboxImage, workdir: Path, disk: Path, preset: str = "default"
    ) -> None:
        self.workdir = workdir
        self.console_log = workdir / "console.log"
        self.kernel_log = workdir / "kernel.log"
        self.stderr_path = workdir / "qemu.stderr"
        sockets = {name: workdir / f"{name}.sock" for name in ("console", "log", "qmp")}
        values = {
            **PROFILE["qemu"]["defaults"],
            **PROFILE["qemu"]["presets"][preset],
            "name": f"sis-test-{preset}",
            "vmlinux": image.vmlinux,
            "initramfs": image.initramfs,
            "disk": disk,
            "console_sock": sockets["console"],
            "log_sock": sockets["log"],
            "qmp_sock": sockets["qmp"],
            "console_log": self.console_log,
            "kernel_log": self.kernel_log,
        }
        args = [QEMU, *command_line(PROFILE["qemu"]["args"], values)]
        if PROFILE["qemu"].get("start_paused"):
            args.append("-S")
        self.args = args
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                preexec_fn=_die_with(os.getpid()),
            )
        try:
            self.console = _Stream(_connect(sockets["console"], self.proc))
            self.log = _Stream(_connect(sockets["log"], self.proc))
            self.qmp = _Qmp(_connect(sockets["qmp"], self.proc))
            self.qmp.execute("qmp_capabilities")
            self.qmp.execute("cont")
            self.console.wait_for(PROFILE["console"]["prompt_regex"], BOOT_TIMEOUT)
        except BaseException:
            self.kill()
            raise
        self._tags = 0

    def run(self, command: str, timeout: float = COMMAND_TIMEOUT) -> tuple[str, int]:
        """Run one shell command; return its output and exit status."""
        self._tags += 1
        tag = str(self._tags)
        start = len(self.console.data)
        # The profile's exit_status style "inline": the quotes split the marker so that the
        # command line itself never contains it.
        line = f'{command}; echo "__SIS""_{tag}_$?"'
        self.console.sock.sendall(line.encode() + b"\n")
        marker = rf"__SIS_{tag}_(?P<status>\d+)"
        match = self.console.wait_for(
            marker + r"\r?\n" + PROFILE["console"]["prompt_regex"], timeout, start
        )
        output = self.console.text(start)[: match.start()]
        return output.replace("\r\n", "\n"), int(match.group("status"))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def linux_busybox_image(tmp_path_factory: pytest.TempPathFactory) -> LinuxBusyboxImage:
    # Reuse the user's cache when it exists (a no-op when up to date); otherwise keep the
    # session's build out of their home directory.
    cache = default_image_dir()
    out_dir = cache if (cache / "manifest.json").is_file() else tmp_path_factory.mktemp("image")
    try:
        return build_linux_busybox(out_dir)
    except ImageError as exc:
        pytest.skip(f"cannot build the linux-busybox image: {exc}")


@contextmanager
def running_guest(image: LinuxBusyboxImage, preset: str = "default") -> Iterator[Guest]:
    """Boot a guest with its own disk copy and short socket paths; QEMU is always reaped."""
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path can be longer.
    workdir = Path(tempfile.mkdtemp(prefix="sis-lb-"))
    try:
        disk = workdir / "disk.raw"
        shutil.copyfile(image.disk, disk)
        guest = Guest(image, workdir, disk, preset)
        try:
            yield guest
        finally:
            guest.kill()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def guest(linux_busybox_image: LinuxBusyboxImage) -> Iterator[Guest]:
    """One guest shared by the tests that leave it usable (booting costs seconds)."""
    with running_guest(linux_busybox_image) as g:
        yield g


# --------------------------------------------------------------------------- tests


def _read_newc(archive: bytes) -> dict[str, tuple[int, bytes]]:
    """name -> (mode, data) for each member of a newc cpio archive."""
    members: dict[str, tuple[int, bytes]] = {}
    pos = 0
    while True:
        assert archive[pos : pos + 6] == b"070701", f"bad cpio magic at {pos}"
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name_start = pos + 110
        name = archive[name_start : name_start + namesize - 1].decode()
        data_start = (name_start + namesize + 3) & ~3
        if name == "TRAILER!!!":
            return members
        members[name] = (mode, archive[data_start : data_start + size])
        pos = (data_start + size + 3) & ~3


def test_image_files_and_manifest(linux_busybox_image: LinuxBusyboxImage) -> None:
    image = linux_busybox_image
    assert image.vmlinux.read_bytes()[:4] == b"\x7fELF"
    assert image.disk.stat().st_size == 64 * 1024 * 1024
    members = _read_newc(gzip.decompress(image.initramfs.read_bytes()))
    mode, init = members["init"]
    assert stat.S_ISREG(mode) and mode & 0o111 and init.startswith(b"#!/bin/sh")
    assert stat.S_ISCHR(members["dev/console"][0])
    for applet in ("bin/sh", "bin/ls", "sbin/modprobe", "usr/bin/setsid", "sbin/poweroff"):
        mode, target = members[applet]
        assert stat.S_ISLNK(mode) and target == b"/bin/busybox", applet
    module_files = {Path(name).name for name in members if name.endswith(".ko")}
    assert {"virtio_net.ko", "virtio_blk.ko", "pvpanic-mmio.ko"} <= module_files
    manifest = json.loads(image.manifest.read_text())
    assert manifest["inputs"]["kernel_version"] == image.kernel_version
    assert manifest["outputs"]["vmlinux"]["size"] == image.vmlinux.stat().st_size
    # Nothing changed, so nothing is rebuilt.
    assert build_linux_busybox(image.out_dir).rebuilt is False


def test_missing_kernel_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(kernels, "BOOT_DIR", tmp_path)
    with pytest.raises(ImageError, match=re.escape(APT_HINT)):
        find_kernel()


def test_the_kernel_log_carries_the_whole_boot(guest: Guest) -> None:
    """Not `quiet`: drivers probed, the initramfs, init, the disk are all on the log port."""
    guest.log.wait_for(BOOT_MARKER, BOOT_TIMEOUT)
    log = guest.log.text()
    for event in ("Linux version", "Kernel command line:", "unpack rootfs image as initramfs",
                  "Run /init as init process", "virtio_blk virtio", "[vda]"):  # fmt: skip
        assert event in log, event


def test_a_boot_event_that_goes_missing_is_caught(
    linux_busybox_image: LinuxBusyboxImage, tmp_path: Path
) -> None:
    """A baseline of a real boot has substance, and the log regression check catches one
    event removed from it (here: the disk driver never probed)."""
    from typer.testing import CliRunner

    from sis.cli import app

    runner = CliRunner()
    baselines, work = tmp_path / "b", tmp_path / "w"
    r = runner.invoke(
        app,
        ["logs", "baseline", "--target", "linux-busybox", "--name", "boot",
         "--dir", str(baselines), "--workdir", str(work)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    events = int(re.search(r"(\d+) events", r.output).group(1))  # type: ignore[union-attr]
    assert events > 100, r.output
    recorded = (baselines / "boot.baseline").read_text()
    assert "virtio_blk virtio0: [vda]" in recorded and "Run /init as init process" in recorded

    # The same boot's log, checked as captured: nothing is missing. The check reads a file,
    # so TCG timing (calibration messages that come and go) cannot make this flaky.
    captured = next(work.rglob("*.kernel.log"))  # the run's files are in work/targets
    check = ["logs", "check", "--name", "boot", "--dir", str(baselines)]
    r = runner.invoke(app, [*check, "--log", str(captured)])
    assert r.exit_code == 0, r.output
    without = tmp_path / "without-vda.log"
    without.write_text(
        "".join(
            line for line in captured.read_text().splitlines(keepends=True) if "[vda]" not in line
        )
    )
    r = runner.invoke(app, [*check, "--log", str(without)])
    assert r.exit_code == 1, r.output
    assert "- virtio_blk virtio0: [vda]" in r.output and "1 event removed" in r.output


def test_shell_runs_commands_and_reports_exit_status(guest: Guest) -> None:
    output, status = guest.run("echo hello")
    assert (output, status) == ("hello\n", 0)
    output, status = guest.run("ls /nonexistent")
    assert status != 0
    assert "No such file or directory" in output
    output, status = guest.run(PROFILE["commands"]["version"])
    assert status == 0 and output.startswith("Linux sis-linux ")


def test_kernel_messages_arrive_on_their_own_console(guest: Guest) -> None:
    marker = PROFILE["console"]["boot_marker"]
    # printk's timestamp proves the line came through the kernel log, not the shell.
    guest.log.wait_for(r"\[\s*\d+\.\d+\] " + marker, 10)
    guest.run("echo '<2>sis-test: hello kernel' > /dev/kmsg")
    guest.log.wait_for(r"sis-test: hello kernel", 10)
    assert "hello kernel" not in guest.console.text()


def test_qmp_greets_and_reports_running(guest: Guest) -> None:
    assert "qemu" in guest.qmp.greeting["QMP"]["version"]
    assert guest.qmp.execute("query-status")["status"] == "running"


def test_ctrl_c_interrupts_the_foreground_command(guest: Guest) -> None:
    start = len(guest.console.data)
    guest.console.sock.sendall(b"sleep 60\n")
    time.sleep(1.0)
    guest.console.sock.sendall(PROFILE["console"]["interrupt"].encode())
    guest.console.wait_for(PROFILE["console"]["prompt_regex"], 10, start)
    output, _ = guest.run("echo $?")
    assert output == "130\n"  # 128 + SIGINT: the shell saw the signal kill `sleep`


def test_network_disk_and_modules(guest: Guest) -> None:
    output, status = guest.run("ping -c 1 -W 5 10.0.2.2")
    assert status == 0, output
    assert "1 packets received" in output
    output, status = guest.run("cat /sys/block/vda/size")
    assert (output, status) == (f"{64 * 1024 * 1024 // 512}\n", 0)
    output, _ = guest.run("cat /proc/modules")
    for module in ("virtio_net", "virtio_blk", "virtio_balloon", "pvpanic_mmio"):
        assert module in output


def test_panic_reaches_log_console_and_qmp(linux_busybox_image: LinuxBusyboxImage) -> None:
    with running_guest(linux_busybox_image) as guest:
        guest.console.sock.sendall(PROFILE["commands"]["panic"].encode() + b"\n")
        guest.log.wait_for(r"Kernel panic - not syncing", 30)
        event = guest.qmp.wait_event("GUEST_PANICKED", 30)
        assert event["data"]["action"] == "run"
        # panic=-1 with -no-reboot: QEMU leaves by itself once the panic text is out.
        assert guest.proc.wait(timeout=30) == 0
        log = guest.log.text()
        assert all(re.search(p, log) for p in ("Kernel panic - not syncing", "Call Trace:"))
        # The logfile= capture holds the same text, written by QEMU itself.
        assert "Kernel panic - not syncing" in guest.kernel_log.read_text(errors="replace")


def test_qmp_powerdown_turns_the_guest_off(linux_busybox_image: LinuxBusyboxImage) -> None:
    with running_guest(linux_busybox_image) as guest:
        guest.qmp.execute("system_powerdown")  # the ACPI power button; acpid acts on it
        assert guest.proc.wait(timeout=30) == 0
        assert guest.qmp.wait_event("SHUTDOWN", 5)["data"]["reason"] == "guest-shutdown"


@pytest.mark.parametrize(
    ("preset", "command", "expected"),
    [
        pytest.param(
            "lowmem", "awk '/MemTotal/ {print ($2 < 131072)}' /proc/meminfo", "1\n", id="lowmem"
        ),
        pytest.param("smp-off", "grep -c ^processor /proc/cpuinfo", "1\n", id="smp-off"),
        pytest.param("no-network", "ls /sys/class/net", "lo\n", id="no-network"),
    ],
)
def test_presets_shape_the_machine(
    linux_busybox_image: LinuxBusyboxImage, preset: str, command: str, expected: str
) -> None:
    with running_guest(linux_busybox_image, preset) as guest:
        assert guest.run(command) == (expected, 0)

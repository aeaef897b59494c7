"""The reference kernel under hostile use, as a real process: two kernels on one disk image,
power controls on a panicked kernel, chaos that must not take the console down, init's death."""

from __future__ import annotations

import signal
import subprocess

import pytest

from kernelproc import kernel_argv
from sis.kernel.fs.tools import create_disk


def _start_fails(*args: str) -> str:
    r = subprocess.run(kernel_argv(*args, "-serial", "null"), capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


# -- 1. one writer per disk image ------------------------------------------------------------------


def test_a_disk_image_in_use_is_refused_until_its_kernel_exits(kernels, tmp_path):
    image = tmp_path / "two.img"
    create_disk(image, 16 << 20)
    first = kernels("-nic", "none", "-drive", f"file={image}", qmp=True, death_patterns=()).boot()
    assert first.run("echo mine > /a1").status == 0
    line = _start_fails("-nic", "none", "-drive", f"file={image}")
    assert (
        line
        == f'sis kernel: {image}: Failed to get "write" lock: image is in use by another process'
    )
    assert 'shared "write" lock' in _start_fails("-drive", f"file={image},readonly=on")

    # The lock belongs to the machine, not to one boot of its kernel.
    first.console.sendline("reboot")
    first.console.expect("=== SIS Kernel Shell ===", timeout=20)
    first.console.wait_prompt(timeout=10)
    assert "lock" in _start_fails("-nic", "none", "-drive", f"file={image}")
    assert first.run("cat /a1").output == "mine"

    first.console.sendline("poweroff")
    assert first.wait() == 0
    second = kernels("-nic", "none", "-drive", f"file={image}", qmp=True, death_patterns=()).boot()
    assert second.run("cat /a1").output == "mine"


def test_read_only_users_share_an_image(kernels, tmp_path):
    image = tmp_path / "ro.img"
    create_disk(image, 16 << 20)
    a = kernels(
        "-nic", "none", "-drive", f"file={image},readonly=on", qmp=True, death_patterns=()
    ).boot()
    b = kernels(
        "-nic", "none", "-drive", f"file={image},readonly=on", qmp=True, death_patterns=()
    ).boot()
    assert a.run("ls /").status == 0 and b.run("ls /").status == 0
    assert "lock" in _start_fails("-drive", f"file={image}")


# -- 2. power controls on a panicked kernel --------------------------------------------------------


@pytest.mark.parametrize(
    "action, status",
    [("system_reset", 0), ("quit", 0), ("system_powerdown", 0), ("SIGTERM", 128 + 15)],
)
def test_power_controls_work_on_a_kernel_panicked_by_chaos(kernels, action, status):
    k = kernels("-nic", "none", "-features", "chaos", qmp=True, death_patterns=()).boot()
    k.run("chaos rate 100")
    k.console.sendline("chaos mode random_panic")  # its own output is the next syscall
    k.console.expect("System halted", timeout=10)
    assert k.qmp("query-status")["status"] == "guest-panicked"
    if action == "SIGTERM":
        k.proc.send_signal(signal.SIGTERM)
    else:
        k.qmp(action)
    if action == "system_reset":
        k.console.expect("=== SIS Kernel Shell ===", timeout=20)
        k.console.wait_prompt(timeout=10)
        assert k.qmp("query-status")["status"] == "running"
        assert k.run("echo back").output == "back"
        k.console.sendline("poweroff")
    code, stderr = k.wait(), k.stderr()
    assert code == status, stderr
    assert "Traceback" not in stderr and "KernelHalt" not in stderr, stderr
    assert "RECURSIVE PANIC" not in k.console.text
    assert k.console.text.count("KERNEL PANIC") == 1


# -- 3. a full disk fails file operations, not the console ----------------------------------------


def test_disk_full_leaves_the_console_usable(kernels):
    k = kernels("-nic", "none", "-features", "chaos", qmp=True, death_patterns=()).boot()
    k.run("chaos rate 100")
    k.run("chaos mode disk_full")
    assert k.run("echo hi").output == "hi"
    r = k.run("touch /x")
    assert r.status != 0 and r.output == "touch: /x: No space left on device (ENOSPC)"
    r = k.run("echo data > /f")
    assert r.status != 0 and "No space left on device (ENOSPC)" in r.output
    assert k.run("ps").status == 0
    assert k.run("chaos mode none").output == "Chaos mode set to: none"
    assert k.run("echo data > /f").status == 0
    assert k.run("cat /f").output == "data"
    assert k.console.text.count("=== SIS Kernel Shell ===") == 1  # the shell never died


# -- 4. memory pressure fails commands, not init --------------------------------------------------


def test_memory_pressure_leaves_the_console_usable(kernels):
    k = kernels("-nic", "none", "-features", "chaos", qmp=True, death_patterns=()).boot()
    k.run("chaos seed 1")
    k.run("chaos rate 30")
    k.run("chaos mode memory_pressure")
    # `echo` is a shell builtin: it prints (and so does the status marker) whatever the heap
    # says, while a program that cannot start is named once, with the errno.
    runs = [k.run("uptime") for _ in range(30)]
    failed = [r for r in runs if r.status != 0]
    assert failed and len(failed) < 30  # some commands failed, others ran
    assert {(r.status, r.output) for r in failed} == {
        (126, "uptime: Cannot allocate memory (ENOMEM)")
    }
    for _ in range(30):  # `chaos` itself may fail to start: run it again until it does
        if k.run("chaos mode none").status == 0:
            break
    assert k.run("echo calm").output == "calm"
    assert "KERNEL PANIC" not in k.console.text and "init[1]" not in k.console.text
    assert k.qmp("query-status")["status"] == "running"


def test_chaos_is_set_and_cleared_out_of_band_even_when_the_shell_cannot_start_programs(kernels):
    k = kernels("-nic", "none", "-features", "chaos", qmp=True, death_patterns=()).boot()
    state = k.qmp("x-sis-chaos", seed=3, rate=100, mode="memory_pressure")
    assert (state["mode"], state["rate"], state["seed"]) == ("memory_pressure", 100, 3)
    assert k.run("uptime").status != 0  # no program starts: the shell alone could not undo it
    assert k.qmp("x-sis-chaos", mode="none", rate=0)["stats"]["alloc_failures"] > 0
    assert k.run("uptime").status == 0


def test_x_sis_chaos_needs_the_feature_and_a_known_mode(kernels):
    plain = kernels("-nic", "none", qmp=True, death_patterns=()).boot()
    with pytest.raises(Exception, match="chaos feature is off"):
        plain.qmp("x-sis-chaos", mode="disk_full")
    k = kernels("-nic", "none", "-features", "chaos", qmp=True, death_patterns=()).boot()
    with pytest.raises(Exception, match="unknown chaos mode 'meteor'"):
        k.qmp("x-sis-chaos", mode="meteor")
    with pytest.raises(Exception, match="rate"):
        k.qmp("x-sis-chaos", rate=101)

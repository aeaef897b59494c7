"""Planted bugs (contract section 9) in a real kernel process, seen from outside as the lab sees
them: a power cut by SIGKILL, fuzz batches over QMP, the boot log and `version --json`; and
chaos replay (the same seed, the same faults at the same calls) across two kernel processes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernelproc import KernelProcess
from sis.contract.bugs import NULL_DEREF_IOCTL_FUNCTION, placement
from sis.contract.exit_codes import EXIT_PANIC, EXIT_STARTUP
from sis.contract.syscalls import AT_FDCWD, NR, O_CREAT, O_RDWR, TIOCSWINSZ
from sis.kernel.fs.tools import create_disk


def test_an_unknown_bug_is_one_line_and_exit_1():
    r = subprocess.run(
        [sys.executable, "-m", "sis.kernel", "-append", "sis.bug=fsync_lies,no_such_bug"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == EXIT_STARTUP
    assert r.stderr.count("\n") == 1 and "unknown planted bug 'no_such_bug'" in r.stderr


def test_active_bugs_show_in_version_and_the_boot_log(kernels):
    k = kernels("-nic", "none", "-append", "sis.bug=oom_hang,leak_on_spawn").boot()
    assert json.loads(k.run("version --json").output)["bugs"] == ["oom_hang", "leak_on_spawn"]
    assert "[WARN] kernel: planted bug active: oom_hang" in k.console.text
    assert "[WARN] kernel: planted bug active: leak_on_spawn" in k.console.text
    clean = kernels("-nic", "none").boot()
    assert json.loads(clean.run("version --json").output)["bugs"] == []
    assert "planted bug active" not in clean.console.text


@pytest.mark.parametrize("bug", [False, True])
def test_fsync_lies_loses_synced_bytes_at_a_power_cut(kernels, tmp_path: Path, bug: bool):
    image = tmp_path / "disk.img"
    create_disk(image, 16 << 20)
    args = ["-nic", "none", "-drive", f"file={image}"]
    if bug:
        args += ["-append", "sis.bug=fsync_lies"]
    if bug:  # the seed that makes every fsync and sync lie
        seed = next(s for s in range(1000) if placement(s).fsync_lie_period == 1)
        args[-1] += f" sis.bug_seed={seed}"
    k = kernels(*args).boot()
    assert k.run("echo acknowledged > /acked").status == 0
    assert k.run("sync").status == 0  # acknowledged, with or without the bug
    assert k.run("cat /acked").output == "acknowledged"
    k.proc.kill()  # the power cut: no unmount, no sync
    k.proc.wait(10)
    again = kernels(*args).boot()
    r = again.run("cat /acked")
    if bug:
        assert r.status != 0 and "No such file or directory (ENOENT)" in r.output
    else:
        assert (r.status, r.output) == (0, "acknowledged")


def _fuzz(k: KernelProcess, calls: list[dict]) -> str:
    """Run one x-sis-syscall batch; the machine's status after it, or the QMP error."""
    try:
        return str(k.qmp("x-sis-syscall", calls=calls, timeout=10)["status"])
    except Exception as e:  # noqa: BLE001 - the error text is what the test compares
        return str(e)


SEED = 4  # places null_deref_ioctl on TIOCSWINSZ
PWRITE_PAST_2_K = [
    {"nr": NR["openat"], "args": [AT_FDCWD & (2**64 - 1), "@data", O_RDWR | O_CREAT, 0o644],
     "data": b"/fuzz\0".hex()},
    {"nr": NR["pwrite64"], "args": [3, "@scratch", 64, (1 << placement(SEED).pwrite_field_bits)]},
]  # fmt: skip
IOCTL_TIOCSWINSZ = [{"nr": NR["ioctl"], "args": [0, TIOCSWINSZ, "@scratch"]}]


@pytest.mark.parametrize(
    "bug, calls, guilty",
    [
        ("pwrite_overflow", PWRITE_PAST_2_K, "bugs.pwrite_store_end_unchecked"),
        ("null_deref_ioctl", IOCTL_TIOCSWINSZ, f"bugs.{NULL_DEREF_IOCTL_FUNCTION}"),
    ],
)
def test_fuzz_batches_crash_a_bugged_kernel_only(kernels, bug: str, calls: list, guilty: str):
    assert placement(SEED).ioctl_request == "TIOCSWINSZ"
    append = f"sis.bug={bug} sis.bug_seed={SEED}"
    clean = kernels("-nic", "none", "-no-reboot", qmp=True).boot()
    assert _fuzz(clean, calls) == "running"
    assert clean.run("echo alive").output == "alive"
    k = kernels("-nic", "none", "-no-reboot", "-append", append, qmp=True).boot()
    assert "panicked" in _fuzz(k, calls)
    assert k.proc.wait(15) == EXIT_PANIC
    for _ in range(100):  # the process is gone: the console stream ends after the report
        if k.console.closed:
            break
        time.sleep(0.05)
    text = k.console.text
    assert f"Location: {guilty}+0x" in text
    assert re.search(rf"#0: [0-9a-f]{{16}} {re.escape(guilty)}\+0x", text)


def _replay(k: KernelProcess) -> tuple[list[tuple[str, int | None]], str]:
    for command in ("chaos seed 1234", "chaos rate 40", "chaos mode disk_full"):
        assert k.run(command).status == 0
    runs = []
    for i in range(12):
        for command in (f"mkdir /d{i}", f"touch /t{i}", f"echo {i} > /e{i}"):
            runs.append((command, k.run(command).status))
    assert k.run("chaos mode none").status == 0
    return runs, k.run("chaos stats").output


def test_the_same_chaos_seed_replays_the_same_faults_in_two_kernels(kernels):
    a = _replay(kernels("-nic", "none", "-features", "chaos").boot())
    b = _replay(kernels("-nic", "none", "-features", "chaos").boot())
    assert a == b
    statuses = [status for _, status in a[0]]
    assert 0 in statuses and any(s != 0 for s in statuses)  # some faults, some successes
    assert "Disk full: 0" not in a[1]

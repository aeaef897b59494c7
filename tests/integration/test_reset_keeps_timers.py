"""After a reset (a reboot, or a resume of the just-booted snapshot, as the profile says) every
CPU of a linux-busybox guest still takes timer interrupts. A CPU that does not has no ticks,
no hrtimers, no soft-lockup watchdog and no deferred printk output: its crash reports stop
after their first line (QEMU 7.2 does this to a riscv64 hart resumed from a migration file,
which is why linux-busybox-riscv64 reboots instead)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from sis.harness.images import ImageError, build_linux_busybox
from sis.harness.session import Session

pytestmark = pytest.mark.qemu

#: arch -> (profile, QEMU binary, the row of /proc/interrupts that counts its local timer)
ARCHES = {
    "amd64": ("linux-busybox", "qemu-system-x86_64", r"^\s*LOC:"),
    "arm64": ("linux-busybox-arm64", "qemu-system-aarch64", r"arch_timer"),
    "riscv64": ("linux-busybox-riscv64", "qemu-system-riscv64", r"riscv-timer"),
}


def _timer_counts(session: Session, row: str) -> list[int]:
    """Timer interrupts taken so far, per CPU (summed over the rows that count them)."""
    lines = session.run("cat /proc/interrupts").output.splitlines()
    cpus = len(lines[0].split())
    counts = [0] * cpus
    for line in lines[1:]:
        if re.search(row, line):
            fields = line.split()[1 : 1 + cpus]
            counts = [c + int(f) for c, f in zip(counts, fields, strict=True)]
    assert cpus and any(counts), f"no timer row /{row}/ in /proc/interrupts:\n" + "\n".join(lines)
    return counts


@pytest.mark.timeout(300)
@pytest.mark.parametrize("arch", sorted(ARCHES))
def test_every_cpu_takes_timer_interrupts_after_a_reset(arch: str, tmp_path: Path) -> None:
    profile, binary, row = ARCHES[arch]
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} not installed (make qemu-deps)")
    try:
        build_linux_busybox(arch=arch)  # the user cache, as the profile finds it
    except ImageError as e:
        pytest.skip(f"cannot build the linux-busybox {arch} image: {e}")
    session = Session(profile, workdir=tmp_path)
    try:
        session.start()
        session.reset()
        # Longer than the soft-lockup watchdog's period (4 s): its hrtimer fires on every CPU,
        # busy or idle. (Not made shorter through watchdog_thresh: restarting the watchdog
        # cancels its timers, which reprograms a stuck CPU's timer and hides the fault.)
        before = _timer_counts(session, row)
        time.sleep(5)
        after = _timer_counts(session, row)
    finally:
        session.poweroff()
    stuck = [cpu for cpu, (a, b) in enumerate(zip(before, after, strict=True)) if b <= a]
    assert not stuck, f"CPUs {stuck} took no timer interrupt after the reset: {before} -> {after}"


@pytest.mark.timeout(300)
def test_a_riscv64_profile_asking_for_snapshots_reboots_instead_and_says_why(
    tmp_path: Path,
) -> None:
    """A user's own riscv64 profile with `reset: snapshot` on a QEMU that loses the timer."""
    if shutil.which("qemu-system-riscv64") is None:
        pytest.skip("qemu-system-riscv64 not installed (make qemu-deps)")
    try:
        build_linux_busybox(arch="riscv64")
    except ImageError as e:
        pytest.skip(f"cannot build the linux-busybox riscv64 image: {e}")
    session = Session(_snapshotting_riscv64(tmp_path), workdir=tmp_path)
    try:
        session.start()
        said = [why for _, _, why in session.history if "no snapshot" in why]
        version = session.qmp.execute("query-version")["qemu"]  # type: ignore[union-attr]
        if (version["major"], version["minor"]) >= (10, 2):
            pytest.skip("this QEMU keeps a riscv64 CPU's timer across a snapshot")
        assert said and "loses a riscv64 CPU's timer" in said[0]
        session.reset()
        assert not session.boots[-1].restored  # rebooted, not resumed
        before = _timer_counts(session, ARCHES["riscv64"][2])
        time.sleep(5)
        after = _timer_counts(session, ARCHES["riscv64"][2])
    finally:
        session.poweroff()
    assert all(b > a for a, b in zip(before, after, strict=True)), (before, after)


def _snapshotting_riscv64(tmp_path: Path) -> Path:
    from sis.harness.targets.profile import PROFILE_DIR

    text = (PROFILE_DIR / "linux-busybox-riscv64.yaml").read_text()
    text, n = re.subn(r"(?m)^reset: \w+", "reset: snapshot", text)
    assert n == 1
    path = tmp_path / "my-riscv64.yaml"
    path.write_text(text)
    return path

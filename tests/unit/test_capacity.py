"""The default -j of `sis check`: twice the CPUs, bounded by the jobs and by memory."""

from pathlib import Path

from sis.harness.capacity import SIM_TARGET_BYTES, default_parallel, target_bytes
from sis.harness.commands.check import plan

MiB = 1 << 20


def test_twice_the_cpus_when_memory_is_plenty() -> None:
    assert default_parallel([SIM_TARGET_BYTES] * 10, cpus=2, memory=64 << 30) == 4


def test_never_more_than_the_jobs() -> None:
    assert default_parallel([SIM_TARGET_BYTES] * 3, cpus=8, memory=64 << 30) == 3


def test_memory_bounds_big_guests() -> None:
    # Half of 2 GiB available holds one 512 MiB guest (plus QEMU), not four.
    guest = target_bytes("qemu", "512M")
    assert default_parallel([guest] * 4, cpus=2, memory=2048 * MiB) == 1


def test_at_least_one_job_even_without_memory() -> None:
    assert default_parallel([target_bytes("qemu", "8G")], cpus=2, memory=MiB) == 1


def test_guest_memory_follows_qemu_units() -> None:
    assert target_bytes("qemu", "256M") - target_bytes("qemu", "128M") == 128 * MiB
    assert target_bytes("qemu", "1G") - target_bytes("qemu", "512") == 512 * MiB
    assert target_bytes("sim", "256M") == SIM_TARGET_BYTES


def test_plan_without_jobs_picks_the_default(tmp_path: Path) -> None:
    p = plan(["sim"], "all", [], tmp_path / "out", jobs=None)
    assert 1 <= p.parallel <= len(p.jobs)
    assert plan(["sim"], "all", [], tmp_path / "out", jobs=3).parallel == 3

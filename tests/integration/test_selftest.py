"""`sis selftest` against real reference kernels with planted bugs (contract section 9), in
short forms: one job and the bug meant for it. The whole matrix is `make selftest`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# A self-test run boots a kernel per cell; some cells (a soak, a fuzz run) take a minute.
pytestmark = pytest.mark.timeout(600)


def selftest(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sis", "selftest", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("job", "bug", "reason"),
    [
        ("chaos/power_cut", "fsync_lies", "lost 4096 acknowledged bytes in /chaos/f"),
        ("chaos/disk_full", "enospc_panic", "kernel panicked under disk_full"),
        ("chaos/network_fail", "net_wedge", "steady state not restored after network_fail"),
        ("chaos/memory_pressure", "oom_hang", "hung under memory_pressure"),
    ],
)
def test_each_chaos_bug_is_caught_by_its_experiment_with_the_reason(
    tmp_path: Path, job: str, bug: str, reason: str
) -> None:
    r = selftest(tmp_path / "out", "--job", job, "--bug", bug)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{job} on clean: ok" in r.stdout  # no false alarm on the clean kernel
    assert f"{job} on {bug}: caught: {reason}" in r.stdout
    assert "every planted bug caught, no false alarm" in r.stdout
    matrix = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert matrix["matrix"][job] == {"clean": "ok", bug: "caught"} and matrix["holds"]


def test_only_the_jobs_meant_for_a_bug_run_against_it_and_unknown_bugs_are_refused(
    tmp_path: Path,
) -> None:
    # slow_io is not meant to catch fsync_lies: only its clean run is judged...
    r = selftest(tmp_path / "out", "--job", "chaos/slow_io", "--bug", "fsync_lies")
    assert r.returncode == 0 and "chaos/slow_io on clean: ok" in r.stdout
    # ...while an unknown bug is a one-line usage error.
    r = selftest(tmp_path / "out2", "--bug", "no_such_bug")
    assert r.returncode == 2
    assert r.stderr.startswith("sis selftest: unknown planted bug 'no_such_bug'")


def test_the_diagonal_of_the_other_jobs_holds_for_a_drawn_seed(tmp_path: Path) -> None:
    import random

    seed = random.randrange(1, 1 << 31)
    r = selftest(
        tmp_path / "out", "--diagonal", "--job", "soak/churn", "--job", "fuzz/syscalls",
        "--job", "crash/forensics", "--bug-seed", str(seed),
    )  # fmt: skip
    assert r.returncode == 0, f"bug seed {seed}: " + r.stdout + r.stderr
    matrix = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert matrix["complete"] and matrix["holds"] and matrix["bug_seed"] == seed
    assert matrix["matrix"]["soak/churn"] == {"clean": "ok", "leak_on_spawn": "caught"}
    assert matrix["matrix"]["fuzz/syscalls"]["pwrite_overflow"] == "caught"
    assert matrix["matrix"]["crash/forensics"]["null_deref_ioctl"] == "caught"


def test_jobs_stay_quiet_on_bugs_they_are_not_meant_for(tmp_path: Path) -> None:
    r = selftest(
        tmp_path / "out", "--job", "crash/forensics", "--job", "chaos/slow_io",
        "--bug", "leak_on_spawn", "--bug", "net_wedge", "--no-clean",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    cells = json.loads((tmp_path / "out" / "matrix.json").read_text())["matrix"]
    for job in ("crash/forensics", "chaos/slow_io"):
        assert set(cells[job].values()) <= {"quiet", "also caught"}, cells

"""`sis selftest --target linux-busybox` on a real Linux guest, in short forms: the crash-point
row against the clean guest and both planted configurations (ext4 mounted `nobarrier`, a
workload that acknowledges before its fsync returns), and the power cut's clean and early-ack
cells. The whole matrix is `make selftest-linux`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox

pytestmark = [pytest.mark.qemu, needs_linux_busybox, pytest.mark.timeout(600)]


@pytest.fixture(scope="module", autouse=True)
def _image() -> None:
    """The self-test refuses a guest without its image; build it (a check when up to date)."""
    from sis.harness.images import target_image

    target_image("x86_64")


def selftest(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sis", "selftest", "--target", "linux-busybox",
         "--out", str(out), *args],
        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def test_every_crash_point_catches_both_planted_configurations_and_passes_clean(
    tmp_path: Path,
) -> None:
    r = selftest(tmp_path / "out", "--job", "chaos/crash_points")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "chaos/crash_points on clean: ok" in r.stdout
    for bug in ("nobarrier", "ack_before_fsync"):
        # The lost file and the flush point are named.
        said = f"chaos/crash_points on {bug}: caught: at "
        assert said in r.stdout, r.stdout
        line = next(x for x in r.stdout.splitlines() if x.startswith(said))
        assert "acknowledged bytes of /mnt/chaos/f" in line and "(log entry " in line
    matrix = json.loads((tmp_path / "out" / "matrix.json").read_text())
    assert matrix["target"] == "linux-busybox" and matrix["holds"] and matrix["complete"]
    assert matrix["bug_seed"] is None
    assert matrix["matrix"]["chaos/crash_points"] == {
        "clean": "ok", "nobarrier": "caught", "ack_before_fsync": "caught"
    }  # fmt: skip


def test_a_power_cut_passes_clean_and_an_early_ack_does_not_alarm_it(tmp_path: Path) -> None:
    r = selftest(tmp_path / "out", "--job", "chaos/power_cut", "--bug", "ack_before_fsync")
    assert r.returncode == 0, r.stdout + r.stderr
    cells = json.loads((tmp_path / "out" / "matrix.json").read_text())["matrix"]
    assert cells["chaos/power_cut"]["clean"] == "ok"
    assert cells["chaos/power_cut"]["ack_before_fsync"] in ("quiet", "also caught")

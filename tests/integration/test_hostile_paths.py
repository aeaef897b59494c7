"""A comma in `--out` is part of the path, for the reference kernel and QEMU alike: the run
passes, writes inside OUT, and never opens the file the text before the comma names."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox


def _check(out: Path, target: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "sis", "check", "--target", target, "--suite",
            "basic_commands", "--no-readiness", "--out", str(out)]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "target", ["sis", pytest.param("linux-busybox", marks=[pytest.mark.qemu, needs_linux_busybox])]
)
def test_a_comma_in_out_does_not_open_another_disk(tmp_path: Path, target: str) -> None:
    victim = tmp_path / "victim.img"
    victim.write_bytes(b"precious")
    out = tmp_path / "victim.img,x"
    r = _check(out, target)
    assert r.returncode == 0, r.stderr[-2000:]
    assert victim.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["victim.img", "victim.img,x"]
    disks = list((out / "targets").glob("*.disk.img"))
    assert len(disks) == 1 and disks[0].stat().st_size > 1 << 20
    assert (
        "victim.img,,x/targets" in (out / "targets" / f"{disks[0].name[:-9]}.command").read_text()
    )

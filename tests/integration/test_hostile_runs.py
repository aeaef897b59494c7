"""Whole runs against hostile input: a reason that looks like rich markup is printed, not
parsed, and the run goes on; a comma in `--out` is part of the path, for the reference kernel
and QEMU alike."""

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


MARKUP_SUITE = """\
name: markup
tests:
  - name: a regex with a closing tag [/a-z]
    steps:
      - run: echo 'Hello [sis_crash] [/x]'
        expect: '^[/a-z]+$'
  - name: the next test still runs
    steps:
      - run: echo after
        expect: '^after$'
"""


def test_a_reason_that_looks_like_markup_is_a_fail_and_the_run_goes_on(tmp_path: Path) -> None:
    suite = tmp_path / "markup.yaml"
    suite.write_text(MARKUP_SUITE)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "sis", "check", "--suite", str(suite), "--no-readiness",
            "--preset", "default,smp-off", "--out", str(out)]  # fmt: skip
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1, r.stderr[-2000:]  # a FAIL, not a crash read as one
    assert "MarkupError" not in r.stderr and "Traceback" not in r.stderr
    assert "markup :: a regex with a closing tag [/a-z]: " in r.stderr
    assert "Hello [sis_crash] [/x]" in r.stderr or "^[/a-z]+$" in r.stderr
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4  # both tests, both presets
    assert (out / "report.html").exists()

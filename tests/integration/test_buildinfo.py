"""Build information is right in a source checkout and in an installed wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sis.kernel.buildinfo import build_info

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def head() -> str:
    try:
        return _git("rev-parse", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")


def test_checkout_reads_git_live(head):
    info = build_info()
    assert info.git_commit == head
    assert info.git_branch == _git("rev-parse", "--abbrev-ref", "HEAD")
    assert info.headline().startswith(f"SIS Kernel {head[:7]} (")


def test_wheel_freezes_the_commit(head, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0 and ("Could not find" in r.stderr or "connection" in r.stderr.lower()):
        pytest.skip(f"cannot fetch the build backend: {r.stderr.strip()[-200:]}")
    assert r.returncode == 0, r.stderr
    (wheel,) = tmp_path.glob("sis-*.whl")
    with zipfile.ZipFile(wheel) as z:
        frozen = json.loads(z.read("sis/kernel/_buildinfo.json"))
        names = z.namelist()
    assert frozen["git_commit"] == head
    assert frozen["build_timestamp"].endswith("Z")
    assert (
        "sis/harness/profiles/sis.yaml" in names
        and "sis/harness/report/templates/report.html.j2" in names
    )

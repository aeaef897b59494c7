"""Two wheels built from the same commit are byte-identical (SOURCE_DATE_EPOCH, as `make
wheel` sets it), and a wheel names the commit it was built from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HATCHLING = Path(sys.executable).with_name("hatchling")


def _commit_time() -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return out.stdout.strip()


def _build(dest: Path, epoch: str) -> Path:
    env = {**os.environ, "SOURCE_DATE_EPOCH": epoch}
    subprocess.run([str(HATCHLING), "build", "-t", "wheel", "-d", str(dest)], cwd=ROOT,
                   env=env, check=True, capture_output=True, timeout=300)  # fmt: skip
    (wheel,) = dest.glob("sis-*.whl")
    return wheel


def test_two_builds_of_one_commit_are_byte_identical(tmp_path: Path) -> None:
    epoch = _commit_time()
    first, second = _build(tmp_path / "a", epoch), _build(tmp_path / "b", epoch)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as z:
        info = json.loads(z.read("sis/kernel/_buildinfo.json"))
        names = z.namelist()
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert info["git_commit"] == head
    assert "sis/cli/__init__.py" in names and "sis/harness/profiles/sis.yaml" in names


def test_the_build_time_comes_from_source_date_epoch(tmp_path: Path) -> None:
    a, b = _build(tmp_path / "a", "1700000000"), _build(tmp_path / "b", "1700000001")
    assert a.read_bytes() != b.read_bytes()
    with zipfile.ZipFile(a) as z:
        assert json.loads(z.read("sis/kernel/_buildinfo.json"))["build_timestamp"] == (
            "2023-11-14T22:13:20Z"
        )
        assert {i.date_time for i in z.infolist()} == {(2023, 11, 14, 22, 13, 20)}

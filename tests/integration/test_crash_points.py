"""The crash-point experiment on real kernels: the reference kernel with its block layer's write
log, and Linux with ext4 on a disk logged by QEMU's blklogwrites; the clean file system passes
at every point, and the planted bugs are caught at the points where acknowledged data was not
yet durable. Counts are kept small: every point is a replay and a check on the host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.harness.chaos.crashrun import CrashPointOptions
from sis.harness.commands.chaos import crash_points_of
from sis.harness.results import FAIL, PASS

SMALL = CrashPointOptions(files=2, max_prefixes=2, reorders=1)


def points(result) -> list[dict]:
    return json.loads(Path(result.artifacts["crash_points"]).read_text())["points"]


def test_the_reference_kernel_passes_every_crash_point(tmp_path: Path) -> None:
    r = crash_points_of("sis", seed=3, out=tmp_path, options=CrashPointOptions(files=3))
    assert r.verdict == PASS, r.reason
    found = points(r)
    flush_points = [p for p in found if p["name"] == f"flush {p['flush']}"]
    assert len(flush_points) > 3  # every flush of the workload is a point of its own
    assert max(p["checked"] for p in found) == 3 and all(p["ok"] for p in found)
    assert Path(r.artifacts["write_log"]).stat().st_size > 0


def test_a_kernel_whose_fsync_lies_is_caught_at_a_named_point(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "sis", "chaos", "crash-points", "--files", "2",
         "--max-prefixes", "2", "--reorders", "1", "--out", str(tmp_path),
         "--append", "sis.bug=fsync_lies sis.bug_seed=11"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL: crash_points: at flush " in r.stdout
    assert "lost 4096 acknowledged bytes of /chaos/f" in r.stdout


@pytest.mark.qemu
@needs_linux_busybox
def test_linux_ext4_passes_and_nobarrier_loses_acknowledged_data(tmp_path: Path) -> None:
    clean = crash_points_of("linux-busybox", seed=1, out=tmp_path / "clean", options=SMALL)
    assert clean.verdict == PASS, clean.reason
    assert max(p["checked"] for p in points(clean)) == 2

    barrierless = CrashPointOptions(files=2, max_prefixes=2, reorders=1, mount_options="nobarrier")
    bad = crash_points_of("linux-busybox", seed=1, out=tmp_path / "nobarrier", options=barrierless)
    assert bad.verdict == FAIL, bad.reason
    assert "lost 4096 acknowledged bytes of /mnt/chaos/f" in bad.reason
    assert bad.reason.startswith("at flush ")


@pytest.mark.qemu
@needs_linux_busybox
def test_an_acknowledgement_before_fsync_is_caught_only_where_not_yet_durable(
    tmp_path: Path,
) -> None:
    early = CrashPointOptions(files=2, max_prefixes=2, reorders=0, ack_before_fsync=True)
    r = crash_points_of("linux-busybox", seed=1, out=tmp_path, options=early)
    assert r.verdict == FAIL, r.reason
    found = points(r)
    failed = [p for p in found if not p["ok"]]
    assert failed and any(p["ok"] and p["checked"] for p in found)
    # Each file is lost only between its acknowledgement and its durability: some flush points
    # that check it pass (after its fsync), the first to check it fails.
    first_f0 = next(p for p in found if any(x["path"].endswith("/f0") for x in p["lost"]))
    assert first_f0["flush"] > 0  # not merely the empty disk at the start
    last = max(found, key=lambda p: p["cut"])
    assert last["ok"] and last["checked"] == 2


def test_a_comma_in_out_stays_in_the_log_path(tmp_path: Path) -> None:
    out = tmp_path / "out,log=elsewhere"
    r = crash_points_of("sis", seed=3, out=out, options=SMALL)
    assert r.verdict == PASS, r.reason
    assert Path(r.artifacts["write_log"]).is_relative_to(out)
    assert Path(r.artifacts["write_log"]).stat().st_size > 0
    assert not (tmp_path / "elsewhere").exists()

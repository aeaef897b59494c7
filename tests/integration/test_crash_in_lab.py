"""Crashes in the lab: a FAIL caused by a crash carries its title and guilty frame, the report
groups identical titles, and each boot keeps its crash report (and the reference kernel's crash
dump)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.harness.session import State, TargetDied, open_session

TWICE = """\
name: twice
tests:
  - name: dies
    steps: [{run: panic on purpose}]
  - name: dies again
    steps: [{run: panic on purpose}]
  - name: after
    steps: [{run: echo ok, expect: ok}]
"""


def test_the_same_crash_twice_shows_once_with_its_count(tmp_path: Path):
    suite = tmp_path / "twice.yaml"
    suite.write_text(TWICE)
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "sis", "check", "--suite", str(suite), "--phases", "suites",
         "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    rs = {json.loads(x)["test"]: json.loads(x) for x in (out / "results.jsonl").open()}
    for name in ("dies", "dies again"):
        crash = rs[name]["crash"]
        assert crash["type"] == "SIS panic"
        assert crash["title"] == "SIS panic: on purpose in syscall.sysproc.sys_sis_panic"
        assert crash["frame"] == "syscall.sysproc.sys_sis_panic"
        assert "KERNEL PANIC" in crash["text"]
        assert "crash_dump" in rs[name]["artifacts"]  # the kernel's own dump of that boot
        assert crash["title"] in rs[name]["reason"]
    assert rs["after"]["verdict"] == "PASS" and not rs["after"]["crash"]
    html = (out / "report.html").read_text()
    assert html.count("<h2>Crashes</h2>") == 1
    row = html[html.index("<h2>Crashes</h2>") :].split("</tr>")[1]
    assert "SIS panic: on purpose" in row and "<td>2</td>" in row


@pytest.mark.qemu
@needs_linux_busybox
def test_a_linux_panic_is_titled_from_its_report(tmp_path: Path):
    with open_session("linux-busybox", workdir=tmp_path) as s:
        with pytest.raises(TargetDied) as died:
            s.run("echo c > /proc/sysrq-trigger")
        assert died.value.state is State.CRASHED
        crash = died.value.crash
        assert crash["type"] == "panic" and "sysrq" in crash["title"].lower()
        assert "Kernel panic - not syncing" in crash["text"]
        s.ensure_shell()
        assert s.boots[0].crash["title"] == crash["title"]


def test_a_hang_is_its_own_outcome(tmp_path: Path):
    with open_session("sim", workdir=tmp_path) as s:
        with pytest.raises(TargetDied) as died:
            s.run("sleep 30", timeout=0.5)
        assert died.value.crash["type"] == "hang"
        assert died.value.crash["title"] == "no output from test machine"

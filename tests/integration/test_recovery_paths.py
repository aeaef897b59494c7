"""Every path that boots a target goes through one Session, and recovers the same way when the
kernel is killed under it: `sis check` (the suites runner), `sis logs baseline` (log capture),
`sis metrics collect` and the pytest plugin each restart it and go on."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sis.harness.commands.logs import capture_log

# A test that kills its own kernel: `kill -9` of the kernel process from inside is not
# possible, so the suite panics it (the same restart path as a process that vanishes).
KILLER_SUITE = """\
name: killer
tests:
  - name: before
    steps: [{run: echo one, expect: one}]
  - name: dies
    steps: [{run: panic killed by the test}]
  - name: after
    steps: [{run: echo two, expect: two}]
"""


def _suite(tmp_path: Path) -> Path:
    path = tmp_path / "killer.yaml"
    path.write_text(KILLER_SUITE)
    return path


def test_check_restarts_after_the_kernel_dies_mid_suite(tmp_path: Path):
    r = subprocess.run(
        [sys.executable, "-m", "sis", "check", "--suite", str(_suite(tmp_path)), "--phases",
         "suites", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    verdicts = {
        json.loads(x)["test"]: json.loads(x)["verdict"]
        for x in (tmp_path / "out/results.jsonl").read_text().splitlines()
    }
    assert verdicts == {"before": "PASS", "dies": "FAIL", "after": "PASS"}, r.stderr
    assert r.returncode == 1
    # The report shows the crash report of the boot that died, and both boots' captures.
    html = (tmp_path / "out/report.html").read_text()
    assert "crash report (boot 1)" in html and "killed by the test" in html
    assert "boot 1: shell in" in html and "boot 2: shell in" in html
    assert "boot2.console.log" in html


def test_log_capture_restarts_after_the_kernel_dies_mid_suite(tmp_path: Path):
    capture = capture_log("sim", suites=[str(_suite(tmp_path))], workdir=tmp_path / "w")
    verdicts = {r.test: r.verdict for r in capture.results}
    assert verdicts == {"before": "PASS", "dies": "FAIL", "after": "PASS"}
    assert any("restarted 1 time" in n for n in capture.notes)


def test_metrics_collect_restarts_a_killed_target(tmp_path: Path):
    out = tmp_path / "series.jsonl"
    script = textwrap.dedent(f"""
        import os, signal, sys, threading
        from pathlib import Path
        from sis.harness.metrics.collect import Sampler, collect_series
        from sis.harness.session import Session
        s = Session("sim", workdir=Path({str(tmp_path)!r}))
        s.start()
        def kill_once(rec, done=[]):
            if not done:
                done.append(1)
                os.killpg(s.target.proc.pid, signal.SIGKILL)
                s.target.proc.wait(5)
        summary = collect_series(Sampler(s), Path({str(out)!r}), interval=0.2, duration=2,
                                 on_sample=kill_once, recover=s.ensure_shell)
        s.poweroff()
        print(summary.restarts, summary.stopped, len(s.boots))
        """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["1", "finished", "2"], r.stderr
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert any("restarted" in rec for rec in records)
    assert records[-1]["metrics"]  # samples again after the restart


def test_pytest_plugin_restarts_the_target_for_the_next_test(pytester):
    pytester.makepyfile(
        """
        import pytest
        from sis.harness.console import DeathString

        def test_crash(sis_shell):
            with pytest.raises(DeathString):
                sis_shell.run("panic from a test")

        def test_next(sis_shell, sis_session):
            assert sis_shell.run("echo alive").output == "alive"
            assert len(sis_session.boots) == 2
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)

"""`sis check`, the main job, end to end: verdicts, reports, exit codes, bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

SIS = [sys.executable, "-m", "sis.cli"]


def sis_check(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SIS, "check", *args], capture_output=True, text=True, timeout=timeout)


def results(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def test_default_check_is_green_with_reports(tmp_path):
    r = sis_check("--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    rs = results(tmp_path)
    # Without promtool (Debian's prometheus package) its two checks are skipped, with the reason.
    skipped = {x["test"] for x in rs if x["verdict"] == "SKIP" and "promtool" in x["reason"]}
    assert skipped <= {"prometheus_promtool", "exporter_promtool"}
    if shutil.which("promtool"):
        assert not skipped
    # No log baseline was recorded: the check says so, and how to record one.
    [baseline] = [x for x in rs if x["suite"] == "log_regression"]
    assert baseline["verdict"] == "SKIP" and "sis logs baseline --target sis" in baseline["reason"]
    skipped.add("baseline")
    assert len(rs) >= 20 and all(x["verdict"] == "PASS" for x in rs if x["test"] not in skipped)
    assert {x["suite"] for x in rs} >= {
        "basic_commands",
        "process_ops",
        "networking",
        "system_info",
        "metrics",
    }
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    assert junit.get("failures") == "0" and int(junit.get("tests")) == len(rs)
    html = (tmp_path / "report.html").read_text()
    assert "Scorecard" in html and "sis / default" in html and "echo hello sis" in html
    # What ran the target: its version line, the command line, the boot and phase times.
    assert "SIS Kernel " in html and "-m sis.kernel" in html and "boot 1: shell in" in html
    # Each test links the console capture it can be checked against.
    capture = Path(rs[0]["artifacts"]["console"])
    assert capture.exists() and b"sis> " in capture.read_bytes()


def _write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_a_wrong_expectation_is_a_fail_and_a_panic_is_a_fail_then_recovery(tmp_path):
    suite = _write(
        tmp_path / "mine.yaml",
        """\
        name: mine
        tests:
          - name: wrong expectation
            steps:
              - run: echo actual
                expect: '^expected$'
          - name: kernel panics
            steps:
              - run: panic boom
          - name: after the crash the kernel is back
            steps:
              - run: echo back
                expect: '^back$'
        """,
    )
    r = sis_check("--suite", str(suite), "--out", str(tmp_path / "out"))
    assert r.returncode == 1, r.stderr
    by_name = {x["test"]: x for x in results(tmp_path / "out")}
    wrong = by_name["wrong expectation"]
    assert wrong["verdict"] == "FAIL" and "expected output matching '^expected$'" in wrong["reason"]
    assert "(line 5)" in wrong["reason"]
    assert (
        by_name["kernel panics"]["verdict"] == "FAIL"
        and "panic" in by_name["kernel panics"]["reason"]
    )
    assert by_name["after the crash the kernel is back"]["verdict"] == "PASS"


def test_a_target_that_never_boots_is_an_error(tmp_path):
    # A kernel that refuses its command line (too little memory) exits before any prompt.
    profile = tmp_path / "broken.yaml"
    text = (Path(__file__).resolve().parents[2] / "src/sis/harness/profiles/sis.yaml").read_text()
    profile.write_text(
        text.replace("memory: 256M", "memory: 1M").replace("name: sis", "name: broken")
    )
    r = sis_check(
        "--target", str(profile), "--suite", "system_info", "--out", str(tmp_path / "out")
    )
    assert r.returncode == 2, r.stderr
    rs = results(tmp_path / "out")
    assert rs and all(x["verdict"] == "ERROR" for x in rs)
    assert "exited" in rs[0]["reason"] and "at least 16M" in rs[0]["reason"]


def test_a_target_that_hangs_at_boot_is_an_error(tmp_path):
    profile = tmp_path / "silent.yaml"
    text = (Path(__file__).resolve().parents[2] / "src/sis/harness/profiles/sis.yaml").read_text()
    text = text.replace('prompt_regex: "sis> "', 'prompt_regex: "never-printed> "')
    profile.write_text(
        text.replace("boot_timeout: 30", "boot_timeout: 3").replace("name: sis", "name: silent")
    )
    started = time.monotonic()
    r = sis_check(
        "--target", str(profile), "--suite", "system_info", "--out", str(tmp_path / "out")
    )
    assert r.returncode == 2
    assert "did-not-boot" in results(tmp_path / "out")[0]["reason"]
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(
    "body, words",
    [
        ("name: x\ntests: []\n", "mine.yaml:2: suite: 'tests' must be a non-empty list"),
        (
            "name: x\ntests:\n  - name: t\n    steps:\n      - run: ls\n        expct: foo\n",
            "mine.yaml:6: step: unknown field 'expct'",
        ),
        (
            "name: x\ntests:\n  - name: t\n    steps:\n      - run: ls\n        expect: '(['\n",
            "not a valid regex",
        ),
        ("name: [unclosed\n", "invalid YAML"),
    ],
)
def test_malformed_suites_name_file_line_and_problem(tmp_path, body, words):
    suite = tmp_path / "mine.yaml"
    suite.write_text(body)
    r = sis_check("--suite", str(suite), "--out", str(tmp_path / "out"), timeout=60)
    assert r.returncode == 2
    assert words in r.stderr and "Traceback" not in r.stderr


def test_malformed_profile_is_reported(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: p\nkind: sim\nsim:\n  args: [1, {if: x}]\nconsole: {prompt_regex: 'x'}\n"
    )
    r = sis_check("--target", str(profile), "--out", str(tmp_path / "out"), timeout=60)
    assert r.returncode == 2 and "p.yaml:4" in r.stderr and "conditional" in r.stderr


def test_no_orphan_kernel_when_the_lab_is_killed(tmp_path):
    script = textwrap.dedent(f"""
        from pathlib import Path
        from sis.harness.session import Session
        t = Session("sim", workdir=Path({str(tmp_path)!r}))
        t.start()
        print(t.target.proc.pid, flush=True)
        import time
        time.sleep(60)
        """)
    lab = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    kernel_pid = int(lab.stdout.readline())
    os.kill(lab.pid, signal.SIGKILL)
    lab.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            return
        # A zombie is dead already; it only waits for its (dead) parent's reaper.
        try:
            if "State:\tZ" in Path(f"/proc/{kernel_pid}/status").read_text():
                return
        except FileNotFoundError:
            return
        time.sleep(0.1)
    pytest.fail("the kernel outlived the lab that started it")


@pytest.mark.qemu
@pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None,
    reason="qemu-system-x86_64 not installed (make qemu-deps)",
)
def test_linux_busybox_passes_the_built_in_suites(tmp_path):
    if not list(Path("/boot").glob("vmlinuz-*")) or not Path("/bin/busybox").exists():
        pytest.skip("Debian kernel or busybox-static not installed (make qemu-deps)")
    r = sis_check("--target", "linux-busybox", "--out", str(tmp_path), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rs = results(tmp_path)
    assert sum(x["verdict"] == "PASS" for x in rs) >= 15
    assert all(x["verdict"] in ("PASS", "SKIP") for x in rs)
    assert all(
        "sis_contract" in x["reason"]
        for x in rs
        if x["verdict"] == "SKIP" and x["suite"] not in ("metrics", "log_regression")
    )
    assert any(x["suite"] == "metrics" and x["verdict"] == "PASS" for x in rs)  # read from /proc


def test_a_hung_command_fails_and_the_run_goes_on(tmp_path):
    suite = _write(
        tmp_path / "hang.yaml",
        """\
        name: hang
        tests:
          - name: hangs
            steps:
              - run: sleep 100
                timeout: 2
          - name: next test runs normally
            steps:
              - run: echo next
                expect: '^next$'
        """,
    )
    r = sis_check("--suite", str(suite), "--no-readiness", "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    by_name = {x["test"]: x for x in results(tmp_path / "out")}
    assert by_name["hangs"]["verdict"] == "FAIL" and "hung" in by_name["hangs"]["reason"]
    assert by_name["next test runs normally"]["verdict"] == "PASS"


def test_missing_qemu_is_an_error_with_the_install_hint(tmp_path):
    text = (
        Path(__file__).resolve().parents[2] / "src/sis/harness/profiles/linux-busybox.yaml"
    ).read_text()
    profile = tmp_path / "noqemu.yaml"
    profile.write_text(
        text.replace("binary: qemu-system-x86_64", "binary: qemu-system-nonexistent").replace(
            "name: linux-busybox", "name: noqemu"
        )
    )
    r = sis_check(
        "--target",
        str(profile),
        "--suite",
        "system_info",
        "--out",
        str(tmp_path / "out"),
        timeout=60,
    )
    assert r.returncode == 2
    rs = results(tmp_path / "out")
    assert rs and all(x["verdict"] == "ERROR" for x in rs)
    assert (
        "qemu-system-nonexistent not found" in rs[0]["reason"]
        and "make qemu-deps" in rs[0]["reason"]
    )

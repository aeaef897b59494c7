"""Every error a command prints is one sentence for a person: what was wrong and what to do,
never an exception's class name or a traceback. Walks the failure paths of each command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

#: What must never reach a user: a traceback, or an exception's class name as the message.
LEAK = re.compile(
    r"Traceback|\b[A-Z]\w*(Error|Exception)\b|<class |\bErrno\b|object at 0x", re.MULTILINE
)


def sis(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sis", *args], capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL, cwd=cwd,
    )  # fmt: skip


def _bad_profile(tmp: Path) -> Path:
    p = tmp / "broken.yaml"
    p.write_text("name: broken\nkind: qemu\nqemu:\n  binary: [not, a, string]\n")
    return p


def _no_boot_profile(tmp: Path) -> Path:
    """The reference kernel's profile with a command line that makes it exit at once."""
    text = (Path(__file__).parents[2] / "src/sis/harness/profiles/sis.yaml").read_text()
    p = tmp / "noboot.yaml"
    p.write_text(text.replace("    - -no-reboot\n", "    - -no-reboot\n    - -no-such-flag\n"))
    return p


def _bad_suite(tmp: Path) -> Path:
    p = tmp / "suite.yaml"
    p.write_text("name: s\ntests:\n  - name: t\n    steps: [{run: echo, expect: '(['}]\n")
    return p


def _bad_repro(tmp: Path) -> Path:
    p = tmp / "repro.json"
    p.write_text('{"calls": [{"name": "getpid", "args": [1.5]}]}')
    return p


CASES = {
    "unknown phase": lambda t: ["check", "--phases", "suites,everything", "--out", str(t / "o")],
    "unknown preset": lambda t: ["check", "--preset", "huge", "--out", str(t / "o")],
    "broken profile": lambda t: ["check", "-t", str(_bad_profile(t)), "--out", str(t / "o")],
    "missing profile": lambda t: ["soak", "-t", str(t / "none.yaml"), "--out", str(t / "o")],
    "bad suite": lambda t: ["check", "--suite", str(_bad_suite(t)), "--out", str(t / "o")],
    "target that does not boot": lambda t: [
        "check", "-t", str(_no_boot_profile(t)), "--phases", "suites", "--out", str(t / "o")
    ],
    "unwritable OUT": lambda t: ["chaos", "run", "slow_io", "--out", "/proc/sis-out"],
    "OUT is a file": lambda t: ["soak", "--out", str(t / "f"), "--duration", "5s"],
    "bad reproducer": lambda t: ["fuzz", "repro", str(_bad_repro(t)), "--out", str(t / "o")],
    "missing reproducer": lambda t: ["fuzz", "repro", str(t / "none.json")],
    "coverage where there is none": lambda t: [
        "fuzz", "--cover", "-t", "linux-busybox", "--out", str(t / "o")
    ],
    "unknown syscall": lambda t: ["fuzz", "--syscalls", "frobnicate", "--out", str(t / "o")],
    "bad duration": lambda t: ["soak", "--duration", "forever", "--out", str(t / "o")],
    "unknown experiment": lambda t: ["chaos", "run", "meteor", "--out", str(t / "o")],
    "unknown bug": lambda t: ["selftest", "--bug", "nope", "--out", str(t / "o")],
    "no baseline": lambda t: ["logs", "check", "--name", "nope", "--dir", str(t)],
    "metrics of a broken profile": lambda t: ["metrics", "collect", "-t", str(_bad_profile(t))],
    "validation case unknown": lambda t: ["fuzz", "validate", "--case", "nope"],
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_a_failure_is_one_sentence_without_exception_names(tmp_path: Path, case: str) -> None:
    (tmp_path / "f").write_text("a file, not a directory\n")
    r = sis(*CASES[case](tmp_path), cwd=tmp_path)
    assert r.returncode != 0, r.stdout + r.stderr
    said = r.stderr.strip()
    assert said, f"{case}: nothing said on stderr"
    assert not LEAK.search(said + r.stdout), said

"""A suite may power the kernel off or reboot it on purpose (`ends: poweroff|reboot`): the step
passes when the machine ends that way, the next test gets a fresh boot; without `ends:` a clean
poweroff is a FAIL that says so, told apart from a crash and from a target that vanished."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.harness.results import FAIL, PASS, TestResult
from sis.harness.runner import run_suite
from sis.harness.session import open_session
from sis.harness.suites import load_suite

SUITE = """\
name: power
tests:
  - name: powers off on purpose
    steps:
      - run: poweroff
        ends: poweroff
  - name: the next test has a shell
    steps:
      - run: echo after-poweroff
        expect: after-poweroff
  - name: reboots on purpose
    steps:
      - run: reboot
        ends: reboot
  - name: and again a shell
    steps:
      - run: echo after-reboot
        expect: after-reboot
  - name: says it reboots but powers off
    steps:
      - run: poweroff
        ends: reboot
  - name: powers off by surprise
    steps:
      - run: poweroff
"""


def _run(target: str, tmp_path: Path) -> dict[str, TestResult]:
    path = tmp_path / "power.yaml"
    path.write_text(textwrap.dedent(SUITE))
    results: list[TestResult] = []
    with open_session(target, workdir=tmp_path / "t") as session:
        run_suite(session, load_suite(str(path)), results.append)
    return {r.test: r for r in results}


def _check(results: dict[str, TestResult]) -> None:
    assert results["powers off on purpose"].verdict == PASS, results["powers off on purpose"]
    assert results["the next test has a shell"].verdict == PASS
    assert results["reboots on purpose"].verdict == PASS, results["reboots on purpose"]
    assert results["and again a shell"].verdict == PASS
    wrong = results["says it reboots but powers off"]
    assert wrong.verdict == FAIL and "expected the kernel to reboot" in wrong.reason
    surprise = results["powers off by surprise"]
    assert surprise.verdict == FAIL
    assert "the kernel powered off during `" in surprise.reason
    assert "went away" not in surprise.reason and not surprise.crash


def test_poweroff_and_reboot_on_purpose_on_the_reference_kernel(tmp_path: Path) -> None:
    _check(_run("sis", tmp_path))


@pytest.mark.qemu
@needs_linux_busybox
def test_poweroff_and_reboot_on_purpose_on_linux(tmp_path: Path) -> None:
    _check(_run("linux-busybox", tmp_path))

"""Suite steps that must crash the kernel (`crash: {type, title, frame}`): how they are written,
and the verdicts they give for the crash that came, a wrong one, or none."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sis.harness.console import CommandResult
from sis.harness.datafile import DataFileError
from sis.harness.results import FAIL, PASS
from sis.harness.runner import check_crash, run_test
from sis.harness.session import State, TargetDied
from sis.harness.suites import load_suite, parse_suite

NULL = {
    "type": "NULL pointer dereference",
    "title": "BUG: kernel NULL pointer dereference in sis_crash_null",
    "frame": "sis_crash_null",
    "corrupted": False,
    "text": "BUG: kernel NULL pointer dereference, address: 0000000000000000",
}


def _suite(step: dict[str, Any], tmp_path: Path):
    data = {"name": "s", "tests": [{"name": "t", "steps": [step, "echo after"]}]}
    return parse_suite(data, tmp_path / "s.yaml")


class FakeSession:
    """Just enough of a Session: `run` raises what the kernel would have done."""

    def __init__(self, outcome: TargetDied | None) -> None:
        self.outcome = outcome
        self.state = State.SHELL
        self.commands: list[str] = []
        self.restarts = 0
        self.profile = SimpleNamespace(name="fake")
        self.preset = "default"
        self.capabilities = {"shell"}

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        self.commands.append(command)
        return CommandResult(command, "after" if command == "echo after" else "", 0, 0.01)

    def await_crash(self, command: str, wait: float = 3.0) -> None:
        if self.outcome is not None:
            self.state = self.outcome.state
            raise self.outcome

    def ensure_shell(self) -> None:
        self.restarts += 1
        self.state = State.SHELL

    def command_not_found(self, output: str, status: int | None) -> str:
        return ""

    def artifacts(self) -> dict[str, Path]:
        return {}


def _run(outcome: TargetDied | None, crash: dict[str, str], tmp_path: Path):
    suite = _suite({"run": "echo null > /proc/sis_crash", "crash": crash}, tmp_path)
    session = FakeSession(outcome)
    return run_test(session, suite, suite.tests[0], {}, 0.0), session  # type: ignore[arg-type]


def test_a_crash_step_is_parsed_with_its_expectations(tmp_path: Path):
    suite = _suite(
        {"run": "x", "crash": {"type": "BUG", "title": "^kernel BUG in f$", "frame": "f"}},
        tmp_path,
    )
    assert suite.tests[0].steps[0].crash == {
        "type": "BUG",
        "title": "^kernel BUG in f$",
        "frame": "f",
    }
    assert suite.tests[0].steps[1].crash is None  # an ordinary step


@pytest.mark.parametrize(
    "crash, message",
    [
        ({"type": "segfault"}, "unknown type 'segfault'"),
        ({"titel": "x"}, "did you mean 'title'?"),
        ({"title": "("}, "not a valid regex"),
        ("NULL", "maps type, title and/or frame"),
    ],
)
def test_a_wrong_crash_expectation_is_one_line_naming_the_problem(tmp_path, crash, message):
    with pytest.raises(DataFileError, match=message):
        _suite({"run": "x", "crash": crash}, tmp_path)


def test_the_builtin_crash_forensics_suite_needs_the_crash_module():
    suite = load_suite("crash_forensics")
    assert "crash_module" in suite.requires and suite.reset == "snapshot"
    words = [s.run for t in suite.tests for s in t.steps if s.crash is not None]
    for word in ("null", "bug", "warn", "gpf", "softlockup", "hungtask", "panic"):
        assert any(f"echo {word} > /proc/sis_crash" in w for w in words), word


def test_check_crash_names_what_differs():
    assert check_crash({"type": "NULL pointer dereference", "frame": "sis_crash_null"}, NULL) == ""
    assert "type 'BUG'" in check_crash({"type": "BUG"}, NULL)
    assert "title matching" in check_crash({"title": "^WARNING"}, NULL)
    # The frame must match whole: a prefix of the guilty function is not it.
    assert "guilty frame 'sis_crash'" in check_crash({"frame": "sis_crash"}, NULL)


def test_the_expected_oops_passes_and_the_test_goes_on_with_its_crash_recorded(tmp_path: Path):
    oops = TargetDied(State.SHELL, "kernel oops during `echo null` (the kernel survived)", NULL)
    result, session = _run(oops, {"type": "NULL pointer dereference"}, tmp_path)
    assert result.verdict == PASS, result.reason
    assert result.crash["title"] == NULL["title"]
    assert session.commands[-1] == "echo after" and session.restarts == 0


def test_an_expected_panic_passes_and_the_next_step_gets_a_restarted_kernel(tmp_path: Path):
    panic = TargetDied(State.CRASHED, "the kernel panicked during `echo panic`", NULL)
    result, session = _run(panic, {"frame": "sis_crash_null"}, tmp_path)
    assert result.verdict == PASS, result.reason
    assert session.restarts == 1 and session.commands[-1] == "echo after"


def test_a_different_crash_fails_saying_what_came(tmp_path: Path):
    oops = TargetDied(State.SHELL, "kernel oops", NULL)
    result, _ = _run(oops, {"type": "WARNING"}, tmp_path)
    assert result.verdict == FAIL
    assert "expected a crash of type 'WARNING', got 'NULL pointer dereference'" in result.reason


def test_no_crash_at_all_fails(tmp_path: Path):
    result, session = _run(None, {"type": "panic"}, tmp_path)
    assert result.verdict == FAIL
    assert "the kernel reported nothing" in result.reason
    assert session.commands == ["echo null > /proc/sis_crash"]  # the test stops there

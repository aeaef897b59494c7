"""Verdicts that do not lie: expectations per line, as grep matches them."""

from __future__ import annotations

from sis.harness.runner import check_step
from sis.harness.suites import Step

PS = "  PID STATE CMD\n    1 R     init\n   42 S     sleep 100"


def test_not_expect_anchors_at_each_line_so_a_live_pid_is_seen():
    # The README's own example: it could never match when ^ meant the start of the output.
    step = Step("ps", not_expect=[r"^\s*${pid}\s"])
    assert check_step(step, PS, 0, {"pid": "42"}) == "output must not match '^\\\\s*42\\\\s'"
    assert check_step(step, PS, 0, {"pid": "43"}) == ""


def test_expect_anchors_at_each_line():
    assert check_step(Step("ps", expect=[r"^\s*1 R\s"]), PS, 0, {}) == ""
    assert check_step(Step("ps", expect=[r"^sleep"]), PS, 0, {}) != ""
    assert check_step(Step("ps", expect=[r"sleep 100$"]), PS, 0, {}) == ""


def test_status_checks():
    assert check_step(Step("x", status="nonzero"), "", 0, {}).startswith("expected a non-zero")
    assert check_step(Step("x", status="nonzero"), "", 1, {}) == ""
    assert check_step(Step("x", status=None), "", 5, {}) == ""
    assert check_step(Step("x", status=0), "", 5, {}) == "expected exit status 0, got 5"

"""Chaos experiments as data: the built-ins load, malformed files are one FILE:LINE error,
the nothing-lost oracle counts only the last write to a place, the timeline chart escapes
what the kernel wrote, and the self-test matrix judges cells as a user reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sis.harness.chaos.experiment import (
    FAULTS,
    builtin_experiments,
    load_experiment,
)
from sis.harness.chaos.report import chart, write_chaos_report
from sis.harness.chaos.timeline import Timeline, read_timeline
from sis.harness.chaos.workload import Write, known_bytes, lost
from sis.harness.datafile import DataFileError
from sis.harness.results import FAIL, TestResult

BUILT_IN = {
    "disk_full", "disk_fail", "network_fail", "memory_pressure", "slow_io", "random_panic",
    "power_cut",
}  # fmt: skip


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_every_built_in_experiment_loads_and_injects_a_known_fault() -> None:
    assert set(builtin_experiments()) == BUILT_IN | {"crash_points"}
    for name in BUILT_IN:
        exp = load_experiment(name)
        assert exp.name == name
        assert exp.faults and set(exp.faults) <= set(FAULTS)
        assert exp.steady_state, f"{name} has no steady-state hypothesis"


def test_the_fault_each_built_in_is_named_after_is_the_one_it_injects() -> None:
    for name in BUILT_IN:
        assert name in load_experiment(name).faults


GOOD = """\
name: mine
steady_state:
  - {run: echo alive, expect: '^alive$'}
method:
  - {inject: disk_full, rate: 20}
  - {workload: write, files: 2}
verify: true
"""


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (GOOD.replace("steady_state:", "steady_stat:"), 2, "did you mean 'steady_state'"),
        (GOOD.replace("inject: disk_full", "inject: disk_fool"), 5, "unknown fault 'disk_fool'"),
        (GOOD.replace("rate: 20", "rate: 200"), 5, "'rate' must be a number 1..100"),
        (GOOD.replace("expect: '^alive$'", "expect: '(unclosed'"), 3, "not a valid regex"),
        (GOOD.replace("{run: echo alive", "{run: echo alive, metric: x"), 3, "exactly one of"),
        (GOOD.replace("files: 2", "files: 2, size: 9"), 6, "unknown field 'size'"),
        ("name: x\nmethod: []\n", 1, "at least one activity"),
        (GOOD.replace("  - {workload: write, files: 2}\n", ""), 6, "needs a 'workload'"),
        ("name: ../evil\nmethod:\n  - {wait: 1}\n", 1, "may use only letters"),
        ("- just\n- a list\n", 1, "is a mapping of fields"),
    ],
)
def test_a_malformed_experiment_is_one_file_line_error(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as e:
        load_experiment(str(path))
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)
    assert problem in str(e.value)


def test_an_unknown_experiment_name_lists_the_built_ins() -> None:
    with pytest.raises(DataFileError, match="no such experiment.*disk_full"):
        load_experiment("disk_fool")


def _w(index: int, data: bytes, acked: bool) -> Write:
    import hashlib

    return Write(index, f"/chaos/f{index}", len(data), hashlib.sha256(data).hexdigest(), acked)


def test_an_acknowledged_write_that_did_not_come_back_is_lost() -> None:
    a, b = known_bytes("t", 0), known_bytes("t", 1)
    writes = [_w(0, a, True), _w(1, b, False)]
    gone = lost(writes, {0: None, 1: None})
    assert [w.where for w in gone] == ["/chaos/f0"]  # the unacknowledged one may vanish


def test_only_the_last_write_to_a_place_is_owed() -> None:
    a = known_bytes("t", 0)
    # Acknowledged, then rewritten and cut short by a crash: old, new or empty are all fine.
    writes = [_w(0, a, True), _w(0, a, False)]
    assert lost(writes, {0: None}) == []


def test_known_bytes_fill_one_block_and_differ_per_file_and_run() -> None:
    assert len(known_bytes("x", 3)) == 4096
    assert known_bytes("x", 3) != known_bytes("x", 4) != known_bytes("y", 3)


def test_the_timeline_is_json_lines_in_time_order(tmp_path: Path) -> None:
    tl = Timeline()
    tl.mark("clear", "disk_full: chaos mode none", t=20.0)
    tl.mark("inject", "disk_full: rate 10", t=10.0, fault="disk_full")
    tl.metric({"heap_current_bytes": 5}, t=15.0)
    path = tmp_path / "t.jsonl"
    tl.write(path)
    events = read_timeline(path)
    assert [e["kind"] for e in events] == ["inject", "metric", "clear"]


def test_the_chart_escapes_what_the_kernel_wrote_and_runs_no_script() -> None:
    hostile = '<script>alert(1)</script>"'
    events = [
        {"t": 1.0, "kind": "inject", "label": hostile, "fault": "disk_full"},
        {"t": 1.5, "kind": "log", "label": hostile, "level": "ERROR", "subsystem": "fs"},
        {"t": 1.2, "kind": "metric", "label": "s", "values": {"heap_current_bytes": 1}},
        {"t": 1.8, "kind": "metric", "label": "s", "values": {"heap_current_bytes": 9}},
        {"t": 2.0, "kind": "clear", "label": "disk_full: none"},
    ]
    svg = chart(events)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    assert "<polyline" in svg  # the metric line
    assert "heap_current_bytes (1..9)" in svg  # its legend


def test_the_chaos_page_forbids_script_and_shows_each_verdict(tmp_path: Path) -> None:
    tl = Timeline()
    tl.mark("inject", "x", t=1.0, fault="x")
    tl.write(tmp_path / "x.timeline.jsonl")
    r = TestResult(
        "sis", "default", "chaos", "disk_full", FAIL, "kernel panicked under disk_full",
        artifacts={"timeline": str(tmp_path / "x.timeline.jsonl")},
    )  # fmt: skip
    write_chaos_report([r], tmp_path / "chaos.html")
    page = (tmp_path / "chaos.html").read_text()
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page)
    assert csp and "default-src 'none'" in csp.group(1) and "script" not in csp.group(1)
    assert "kernel panicked under disk_full" in page and "<svg" in page


def test_chaos_is_a_phase_of_sis_check_run_only_when_asked_for() -> None:
    from sis.harness.phases import DEFAULT_PHASES, PHASE_ORDER, phases_by_name

    assert "chaos" in phases_by_name() and "chaos" not in DEFAULT_PHASES
    assert PHASE_ORDER.index("chaos") < PHASE_ORDER.index("log_regression")


def test_the_crash_point_experiment_is_bounded_and_needs_a_power_cut(tmp_path) -> None:
    exp = load_experiment("crash_points")
    assert exp.crash_points == {"max_prefixes": 8, "reorders": 2}
    assert "power_cut" in exp.faults
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "name: mine\nmethod:\n  - {workload: write, files: 2}\n  - {inject: power_cut}\n"
        "crash_points: {max_prefixes: all, reorders: 0}\n"
    )
    assert load_experiment(mine).crash_points == {"max_prefixes": None, "reorders": 0}
    mine.write_text("name: mine\nmethod:\n  - {wait: 1}\ncrash_points: {reorders: 1}\n")
    with pytest.raises(DataFileError, match="power_cut"):
        load_experiment(mine)
    mine.write_text(
        "name: mine\nmethod:\n  - {workload: write}\n  - {inject: power_cut}\n"
        "crash_points: {reorder: 1}\n"
    )
    with pytest.raises(DataFileError, match="did you mean 'reorders'"):
        load_experiment(mine)

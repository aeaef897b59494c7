"""Soak workloads are strict YAML: the built-in ones load, a mistake is FILE:LINE: problem
before anything boots, and the lab counts the programs a command line starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis.harness.datafile import DataFileError
from sis.harness.soak.workload import builtin_workloads, load_workload, spawns_of


def test_the_builtin_workloads_load():
    assert {"churn", "tmpfs-grow"} <= set(builtin_workloads())
    churn = load_workload("churn")
    assert "errors == 0" in churn.thresholds
    assert any("sync" in s.commands for s in churn.cycle)
    assert load_workload("tmpfs-grow").requires == {"shell", "proc_metrics"}


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "w.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ("name: w\ncycle:\n  - {run: ls, tiemout: 3}\n", 3, "unknown field 'tiemout' (did you mean 'timeout'?)"),
        ("name: w\ncycel: []\n", 2, "unknown field 'cycel'"),
        ("name: w\ncycle: []\n", 2, "'cycle' needs at least one step"),
        ("name: w\ncycle:\n  - {run: ls, choose: [a]}\n", 3, "exactly one of 'run' or 'choose'"),
        ("name: w\ncycle:\n  - {run: ls, status: maybe}\n", 3, "'status' is a number, nonzero or null"),
        ("name: w\ncycle:\n  - {run: ls, expect: '('}\n", 3, "'expect' is not a valid regex"),
        ("name: w\ncycle:\n  - {run: ls}\nthresholds: ['errors = 0']\n", 4, "not a threshold"),
        ("name: ../w\ncycle:\n  - {run: ls}\n", 1, "may use only letters"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_with_the_line(tmp_path: Path, text: str, line: int, problem: str):
    with pytest.raises(DataFileError) as e:
        load_workload(_write(tmp_path, text))
    assert e.value.line == line
    assert problem in str(e.value)
    assert str(e.value).startswith(f"{tmp_path / 'w.yaml'}:{line}: ")


def test_an_unknown_workload_names_the_builtin_ones():
    with pytest.raises(DataFileError, match="no such workload .*churn"):
        load_workload("nope")


def test_spawns_are_programs_not_builtins():
    assert spawns_of("echo hi > /tmp/f") == 0
    assert spawns_of("cat /tmp/f") == 1
    assert spawns_of("sleep 30 &") == 1
    assert spawns_of("sleep 30 & kill $!") == 2
    assert spawns_of("ls /; echo x; uptime") == 2

"""Suite files: the built-in suites load; a wrong one is `FILE:LINE: problem` at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis.harness.datafile import DataFileError
from sis.harness.suites import builtin_suites, load_suite

SUITE = """\
name: mine
description: a suite
tests:
  - name: echo works
    description: says hi
    steps:
      - run: echo hi
        expect: hi
        timeout: 5
"""


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        load_suite(path)
    return str(info.value).removeprefix(f"{path}:")


def test_built_in_suites_load() -> None:
    for name in builtin_suites():
        suite = load_suite(name)
        assert suite.name == name and suite.tests


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            "        expect: hi",
            "        expcet: hi",
            "8: step: unknown field 'expcet' (did you mean 'expect'?)",
        ),
        (
            "    description: says hi",
            "    descripton: x",
            "5: test: unknown field 'descripton' (did you mean 'description'?)",
        ),
        (
            "description: a suite",
            "teardwon: []",
            "2: suite: unknown field 'teardwon' (did you mean 'teardown'?)",
        ),
        (
            "description: a suite",
            "description: [a, b]",
            "2: suite: 'description' must be a string, not a list",
        ),
        (
            "        timeout: 5",
            "        timeout: true",
            "9: step: 'timeout' must be a positive number",
        ),
        ("name: mine", "name: my suite", "1: suite: name 'my suite' may use only"),
        ("name: echo works", "name: 42", "4: test: name must be a string, not a number"),
    ],
)
def test_a_wrong_suite_is_file_line_problem(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    assert replace in SUITE
    assert refused(tmp_path, SUITE.replace(replace, by)).startswith(expected)


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("      - {run: poweroff, ends: halt}\n", "'ends' is one of poweroff, reboot"),
        ("      - {run: reboot, ends: reboot}\n      - run: echo\n", "only its last step"),
        ("      - {run: x, ends: reboot, crash: {type: panic}}\n", "exclude each other"),
    ],
)
def test_a_step_that_ends_the_machine_is_checked(tmp_path: Path, steps: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntests:\n  - name: t\n    steps:\n" + steps)
    with pytest.raises(DataFileError, match=message):
        load_suite(str(path))
    path.write_text(
        "name: s\ntests:\n  - name: t\n    steps:\n      - {run: poweroff, ends: poweroff}\n"
    )
    assert load_suite(str(path)).tests[0].steps[0].ends == "poweroff"

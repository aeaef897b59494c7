"""Test suites as YAML files: what to type into the kernel's shell and what must (not) come
back. The format is documented in the README ("Writing suites")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.datafile import (
    DataFileError,
    builtin_names,
    check_keys,
    display_name,
    find_data_file,
    kind_of,
    line_of,
    load_mapping,
    safe_name,
)

SUITE_DIR = Path(__file__).resolve().parent / "shell"
_STEP_KEYS = {
    "run", "expect", "not_expect", "status", "timeout", "capture", "retry", "requires", "crash",
    "ends",
}  # fmt: skip
#: How a step may end the machine on purpose (`ends:`).
ENDS = ("poweroff", "reboot")
_CRASH_KEYS = {"type", "title", "frame"}
_TEST_KEYS = {"name", "steps", "requires", "description"}
_SUITE_KEYS = {"name", "description", "requires", "setup", "teardown", "tests", "reset"}
RESETS = ("none", "snapshot")
# A command typed into the shell is one line: a CR, LF or Ctrl-C inside it would be keys.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@dataclass
class Step:
    run: str
    expect: list[str] = field(default_factory=list)
    not_expect: list[str] = field(default_factory=list)
    status: int | str | None = 0  # an exit status, "nonzero", or None (any)
    timeout: float = 30.0
    capture: dict[str, str] = field(default_factory=dict)
    retry: int = 0
    requires: list[str] = field(default_factory=list)
    line: int | None = None
    #: The step must crash the kernel (or oops it) this way: `type` (a crash type of
    #: sis.harness.forensics, e.g. `NULL pointer dereference`), `title` (a regex searched in
    #: the crash's title), `frame` (a regex the guilty frame must match whole). None: an
    #: ordinary step, for which any crash is a FAIL.
    crash: dict[str, str] | None = None
    #: The step must end the machine this way (poweroff or reboot) within its timeout; the
    #: next test gets a fresh boot. None: a clean poweroff during the step is a FAIL.
    ends: str | None = None


@dataclass
class Test:
    name: str
    steps: list[Step]
    requires: list[str] = field(default_factory=list)
    description: str = ""
    line: int | None = None


@dataclass
class Suite:
    name: str
    tests: list[Test]
    description: str = ""
    requires: list[str] = field(default_factory=list)
    setup: list[Step] = field(default_factory=list)
    teardown: list[Step] = field(default_factory=list)
    path: Path | None = None
    #: `snapshot`: every test starts from the just-booted machine (a snapshot where the target
    #: has one, else a reboot); `none`: tests share the machine, as they leave it.
    reset: str = "none"


def builtin_suites() -> list[str]:
    return builtin_names(SUITE_DIR)


def load_suite(name_or_path: str | Path) -> Suite:
    path = find_data_file(name_or_path, SUITE_DIR, "suite")
    return parse_suite(load_mapping(path, "a suite"), path)


def _strings(value: Any, path: Path, line: int | None, what: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    for item in items:
        if not isinstance(item, (str, int, float)):
            raise DataFileError(path, line, f"{what} must be a string or a list of strings")
    return [str(i) for i in items]


def _regexes(value: Any, path: Path, line: int | None, what: str) -> list[str]:
    out = _strings(value, path, line, what)
    for rx in out:
        try:
            re.compile(rx)
        except re.error as e:
            raise DataFileError(path, line, f"{what} {rx!r} is not a valid regex: {e}") from None
    return out


def _unknown(data: dict, allowed: set[str], path: Path, what: str) -> None:
    check_keys(data, allowed, path, f"{what}: ")


def _text(data: dict, key: str, path: Path, what: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataFileError(
            path, line_of(data, key), f"{what}: '{key}' must be a string, not a {kind_of(value)}"
        )
    return value


def parse_step(data: Any, path: Path, where: int | None = None) -> Step:
    if isinstance(data, str):
        if not data.strip() or _CONTROL.search(data):
            raise DataFileError(
                path, where, "step: a command must be one line (no control characters)"
            )
        return Step(run=data)
    if not isinstance(data, dict):
        raise DataFileError(
            path, where, "a step is a mapping with 'run' (or a plain command string)"
        )
    _unknown(data, _STEP_KEYS, path, "step")
    line = line_of(data)
    run = data.get("run")
    if not isinstance(run, str) or not run.strip() or _CONTROL.search(run):
        raise DataFileError(
            path,
            line_of(data, "run"),
            "step: 'run' must be one command line (no control characters)",
        )
    status = data.get("status", 0)
    if not (
        status is None
        or status == "nonzero"
        or (isinstance(status, int) and not isinstance(status, bool))
    ):
        raise DataFileError(
            path, line_of(data, "status"), "step: 'status' is an exit status, 'nonzero' or null"
        )
    timeout = data.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise DataFileError(
            path, line_of(data, "timeout"), "step: 'timeout' must be a positive number of seconds"
        )
    capture = data.get("capture", {}) or {}
    if not isinstance(capture, dict):
        raise DataFileError(
            path, line_of(data, "capture"), "step: 'capture' maps a name to a regex with one group"
        )
    for name, rx in capture.items():
        try:
            if re.compile(str(rx)).groups < 1:
                raise re.error("needs one (group)")
        except re.error as e:
            raise DataFileError(
                path, line_of(data, "capture"), f"step: capture {name}: {e}"
            ) from None
    retry = data.get("retry", 0)
    if isinstance(retry, bool) or not isinstance(retry, int) or retry < 0:
        raise DataFileError(
            path, line_of(data, "retry"), "step: 'retry' is a count of extra attempts"
        )
    ends = data.get("ends")
    if ends is not None and ends not in ENDS:
        raise DataFileError(
            path, line_of(data, "ends"), f"step: 'ends' is one of {', '.join(ENDS)}"
        )
    if ends is not None and "crash" in data:
        raise DataFileError(
            path, line_of(data, "ends"), "step: 'ends' and 'crash' exclude each other"
        )
    return Step(
        crash=_crash(data, path),
        ends=ends,
        run=run,
        expect=_regexes(data.get("expect"), path, line_of(data, "expect"), "expect"),
        not_expect=_regexes(
            data.get("not_expect"), path, line_of(data, "not_expect"), "not_expect"
        ),
        status=status,
        timeout=float(timeout),
        capture={str(k): str(v) for k, v in capture.items()},
        retry=retry,
        requires=_strings(data.get("requires"), path, line_of(data, "requires"), "requires"),
        line=line,
    )


def _crash(data: dict, path: Path) -> dict[str, str] | None:
    if "crash" not in data:
        return None
    from sis.harness.forensics import CrashType

    line = line_of(data, "crash")
    spec = data["crash"]
    if not isinstance(spec, dict) or not spec:
        raise DataFileError(
            path, line, "step: 'crash' maps type, title and/or frame to what the crash must be"
        )
    check_keys(spec, _CRASH_KEYS, path, "crash: ")
    out = {str(k): str(v) for k, v in spec.items()}
    if "type" in out and out["type"] not in {str(t) for t in CrashType}:
        known = ", ".join(str(t) for t in CrashType)
        raise DataFileError(path, line, f"crash: unknown type {out['type']!r} (known: {known})")
    for key in ("title", "frame"):
        if key in out:
            _regexes(out[key], path, line, f"crash: {key}")
    return out


def _steps(value: Any, path: Path, line: int | None, what: str) -> list[Step]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DataFileError(path, line, f"'{what}' must be a list of steps")
    return [parse_step(s, path, line) for s in value]


def parse_suite(data: Any, path: Path) -> Suite:
    if not isinstance(data, dict):
        raise DataFileError(path, None, "a suite is a mapping with 'name' and 'tests'")
    _unknown(data, _SUITE_KEYS, path, "suite")
    name = data.get("name")
    if name is None:
        raise DataFileError(path, line_of(data), "suite: missing required field 'name'")
    try:
        safe_name(name, "suite: name")  # results and files are named after the suite
    except ValueError as e:
        raise DataFileError(path, line_of(data, "name"), str(e)) from None
    tests_data = data.get("tests")
    if not isinstance(tests_data, list) or not tests_data:
        raise DataFileError(
            path,
            line_of(data, "tests") if "tests" in data else line_of(data),
            "suite: 'tests' must be a non-empty list",
        )
    tests: list[Test] = []
    for t in tests_data:
        if not isinstance(t, dict):
            raise DataFileError(
                path, line_of(data, "tests"), "a test is a mapping with 'name' and 'steps'"
            )
        _unknown(t, _TEST_KEYS, path, "test")
        if t.get("name") is None:
            raise DataFileError(path, line_of(t), "test: missing required field 'name'")
        try:
            display_name(t["name"], "test: name")  # a sentence, shown in reports
        except ValueError as e:
            raise DataFileError(path, line_of(t, "name"), str(e)) from None
        steps = _steps(t.get("steps"), path, line_of(t, "steps"), "steps")
        if not steps:
            raise DataFileError(
                path, line_of(t), f"test {t['name']!r}: 'steps' must be a non-empty list"
            )
        if any(x.name == t["name"] for x in tests):
            raise DataFileError(path, line_of(t), f"test {t['name']!r} is defined twice")
        if any(step.ends for step in steps[:-1]):
            raise DataFileError(
                path, line_of(t), f"test {t['name']!r}: only its last step may end the machine"
            )
        tests.append(
            Test(
                t["name"],
                steps,
                _strings(t.get("requires"), path, line_of(t, "requires"), "requires"),
                _text(t, "description", path, "test"),
                line_of(t),
            )
        )
    for fixture in ("setup", "teardown"):
        if any(step.ends for step in _steps(data.get(fixture), path, None, fixture)):
            raise DataFileError(
                path, line_of(data, fixture), f"suite: a {fixture} step cannot end the machine"
            )
    return Suite(
        name=name,
        tests=tests,
        description=_text(data, "description", path, "suite"),
        requires=_strings(data.get("requires"), path, line_of(data, "requires"), "requires"),
        setup=_steps(data.get("setup"), path, line_of(data, "setup"), "setup"),
        teardown=_steps(data.get("teardown"), path, line_of(data, "teardown"), "teardown"),
        path=path,
        reset=_reset(data, path),
    )


def _reset(data: dict, path: Path) -> str:
    value = data.get("reset", "none")
    if value is False:  # YAML reads a bare `none`-like `off`/`no` as false
        value = "none"
    if value not in RESETS:
        raise DataFileError(
            path, line_of(data, "reset"), f"reset: {value!r} is not one of {', '.join(RESETS)}"
        )
    return value

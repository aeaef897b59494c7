"""The lab against hostile input: whatever a suite, a profile or a kernel's console throws at it,
the lab says `FILE:LINE: problem` or carries on, and never writes outside `--out`, runs a
script in the report, stalls, grows without bound or dies with a traceback."""

from __future__ import annotations

import random
import re
import socket
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sis.harness import console as console_mod
from sis.harness.console import Console
from sis.harness.datafile import (
    MAX_ALIAS_NODES,
    MAX_FILE_BYTES,
    DataFileError,
    display_name,
    load_yaml,
    safe_name,
)
from sis.harness.report import write_html, write_junit
from sis.harness.results import FAIL, PASS, StepResult, TestResult
from sis.harness.suites import load_suite
from sis.harness.targets.profile import load_profile

SCRIPT = "<script>alert(1)</script>"
SUITE = """\
name: mine
tests:
  - name: one
    steps:
      - run: echo hi
"""
PROFILE = """\
name: mine
kind: sim
sim:
  defaults: {memory: 256M}
  args: [-m, "{memory}", -drive, "file={disk}", -serial, "unix:{console_sock}"]
console:
  prompt_regex: "sis> "
"""


def write(tmp_path: Path, text: str | bytes, name: str = "data.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def refused(load, path: Path) -> str:  # noqa: ANN001 - load_suite or load_profile
    with pytest.raises(DataFileError) as info:
        load(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}:")
    return message


# ----------------------------------------------------------------------------- the report


def _result(**overrides: object) -> TestResult:
    fields: dict = {
        "target": "sis-default",
        "preset": "default",
        "suite": "mine",
        "test": "one",
        "verdict": FAIL,
        "reason": "expected /x/",
        "duration_s": 0.5,
        "steps": [StepResult(command="echo hi", output="hi", status=0, duration_s=0.1)],
    }
    fields.update(overrides)
    return TestResult(**fields)


class _Scripts(HTMLParser):
    """Counts what a browser would run: script elements and on* event attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts = 0
        self.handlers: list[str] = []
        self.csp: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        self.handlers += [k for k, _ in attrs if k.startswith("on")]
        a = dict(attrs)
        if tag == "meta" and (a.get("http-equiv") or "").lower() == "content-security-policy":
            self.csp = a.get("content")


def test_names_and_output_in_the_report_are_text_not_html(tmp_path: Path) -> None:
    hostile = _result(
        suite=SCRIPT,
        test=f'"><img src=x onerror=alert(1)>{SCRIPT}',
        reason=SCRIPT,
        steps=[StepResult(command=SCRIPT, output=f"</pre>{SCRIPT}", status=1, duration_s=0.1)],
    )
    path = tmp_path / "report.html"
    write_html([hostile], path, title=SCRIPT, notes=[SCRIPT], meta={"kernel": SCRIPT})
    html = path.read_text()
    page = _Scripts()
    page.feed(html)
    assert page.scripts == 0 and page.handlers == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, as text


def test_the_report_forbids_script_and_allows_its_own_style_by_hash(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html([_result(verdict=PASS, reason="")], path)
    html = path.read_text()
    page = _Scripts()
    page.feed(html)
    assert page.csp is not None
    policy = dict(part.strip().split(" ", 1) for part in page.csp.split(";"))
    assert policy["default-src"] == "'none'" and "script-src" not in policy
    assert "unsafe-inline" not in page.csp
    import base64
    import hashlib

    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert policy["style-src"] == f"'sha256-{digest}'"  # the browser applies the style


def test_junit_stays_parseable_whatever_the_console_printed(tmp_path: Path) -> None:
    nasty = "\x00\x1b[31mred\x1b[0m ]]> <b>&amp; \x07\x0b\ufffe\udcff end"
    results = [
        _result(test=f"t{nasty}", reason=nasty, steps=[StepResult("c", nasty, 1, 0.1)]),
        _result(test="passing", verdict=PASS, reason="", steps=[StepResult("c", nasty, 0, 0.1)]),
    ]
    path = tmp_path / "junit.xml"
    write_junit(results, path)
    root = ET.parse(path).getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name")[:1] for c in cases] == ["t", "p"]
    failure = cases[0].find("failure")
    assert failure is not None and "]]> <b>&amp;" in (failure.text or "")
    assert "red end" not in failure.text and "red" in failure.text  # colours gone, text kept


# -------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    ["../../../escaped/pwn", "a/b", "..", ".hidden", "", "x" * 65, "tab\there", "nul\x00", "a b"],
)
def test_unsafe_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError):
        safe_name(name, "name")


@pytest.mark.parametrize("name", ["sis", "linux-busybox", "smp-off", "my_kernel.v2", "x86+kvm"])
def test_ordinary_names_are_safe(name: str) -> None:
    assert safe_name(name, "name") == name


def test_a_profile_name_cannot_climb_out_of_the_output_directory(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILE.replace("name: mine", 'name: "../../../escaped/pwn"'))
    assert refused(load_profile, path).startswith(f"{path}:1: name '../../../escaped/pwn'")


def test_a_preset_name_cannot_either(tmp_path: Path) -> None:
    text = PROFILE.replace("defaults:", "presets: {'../up': {}}\n  defaults:")
    path = write(tmp_path, text)
    assert "preset name '../up'" in refused(load_profile, path)


def test_suite_names_are_file_safe_and_test_names_one_printable_line(tmp_path: Path) -> None:
    path = write(tmp_path, SUITE.replace("name: mine", "name: ../x"))
    assert refused(load_suite, path).startswith(f"{path}:1:")
    path = write(tmp_path, SUITE.replace("name: one", 'name: "one\\x1b[2J"'))
    assert "control characters" in refused(load_suite, path)
    assert display_name("kill with a signal name", "test") == "kill with a signal name"


def test_a_command_cannot_smuggle_keys_into_the_shell(tmp_path: Path) -> None:
    path = write(tmp_path, SUITE.replace("run: echo hi", 'run: "echo hi\\rrm -rf /"'))
    assert refused(load_suite, path).startswith(f"{path}:5:")
    path = write(tmp_path, PROFILE + 'commands: {ls: "ls\\u0003"}\n')
    assert "'ls'" in refused(load_profile, path)


def test_a_placeholder_cannot_reach_python_attributes(tmp_path: Path) -> None:
    path = write(tmp_path, PROFILE.replace('"{memory}"', '"{memory.__class__.__mro__}"'))
    assert "plain {name}" in refused(load_profile, path)


# --------------------------------------------------------------------------------- YAML


BOMB = "name: mine\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.mark.parametrize("load", [load_suite, load_profile])
def test_an_alias_bomb_is_refused_before_it_grows(tmp_path: Path, load) -> None:  # noqa: ANN001
    path = write(tmp_path, BOMB + "description: *i\ntests: []\n")
    message = refused(load, path)
    assert f"more than {MAX_ALIAS_NODES} nodes" in message
    assert re.match(rf"{re.escape(str(path))}:[4-9]:", message)  # at the alias that tips it


def test_small_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = "base: &b {x: 1, y: [1, 2]}\nother:\n  <<: *b\n  x: 2\nagain: *b\n"
    data = load_yaml(write(tmp_path, text))
    assert data["other"] == {"x": 2, "y": [1, 2]} and data["again"]["y"] == [1, 2]


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: mine\na: &x [1, *x]\n")
    assert "refers to a node it is part of" in refused(load_yaml, path)


def test_a_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = write(tmp_path, "name: mine\n" + "# padding\n" * (MAX_FILE_BYTES // 10))
    assert "larger than 1 MiB" in refused(load_suite, path)


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, b"name: mine\ndescription: caf\xe9\n")
    assert refused(load_suite, path) == f"{path}:2: not UTF-8 text (byte 0xe9)"


@pytest.mark.parametrize(
    ("text", "found"),
    [("- a\n- b\n", "a list"), ("just words\n", "a string"), ("", "empty"), ("42\n", "a number")],
)
def test_a_document_that_is_not_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    for load, what in ((load_suite, "a suite"), (load_profile, "a profile")):
        path = write(tmp_path, text)
        assert (
            refused(load, path) == f"{path}:1: {what} is a mapping of fields; this file is {found}"
        )


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: mine\ndescription: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested deeper than" in refused(load_suite, path)
    path = write(tmp_path, "name: mine\n" + "".join("  " * i + f"k{i}:\n" for i in range(200)))
    assert "nested deeper than" in refused(load_suite, path)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, SUITE + "name: other\n")
    assert refused(load_suite, path) == f"{path}:6: duplicate key 'name' (first on line 1)"
    path = write(tmp_path, PROFILE.replace("memory: 256M}", "memory: 256M, memory: 1M}"))
    assert "duplicate key 'memory'" in refused(load_profile, path)


@pytest.mark.parametrize(
    "value", ["9" * 5000, "2024-13-45", "!!python/object:os.system echo", "!!binary 'YQ=='"]
)
def test_values_python_cannot_build_are_errors_with_a_line(tmp_path: Path, value: str) -> None:
    path = write(tmp_path, f"{SUITE}description: {value}\n")
    assert refused(load_suite, path).startswith(f"{path}:6:")


# ------------------------------------------------------------------------------ console


@contextmanager
def raw_console(**kwargs: object) -> Iterator[tuple[Console, socket.socket]]:
    ours, theirs = socket.socketpair()
    con = Console(ours, prompt="sis> ", **kwargs)  # type: ignore[arg-type]
    try:
        yield con, theirs
    finally:
        con.close()
        theirs.close()


GARBAGE = [
    b"<script>alert(1)</script>&amp;<!--",
    b"\x00" * 1000,
    b"\xff\xfe\xc3\x28\xe2\x82\xf0\x90\x8c",  # invalid and truncated UTF-8
    b"\x1b[31;1;4m\x1b]0;title\x07\x1b[?25l\x1b[2J\x1bc\x1b(0\x1b",
    b"\x1b]" + b"A" * 5000,  # an escape that never ends (until a BEL below)
    b"__SIS_1_0\n__SIS_999999999999999999999_7\n__SIS_0123456789abcdef_begin\n",  # forged markers
    b"sis> sis> not a prompt here\n\rsis> \r\r\r",
    bytes(range(256)) * 4,
]


def test_garbage_on_the_console_never_breaks_the_engine() -> None:
    with raw_console() as (con, theirs):
        for junk in GARBAGE:
            theirs.sendall(junk)
        # The garbage holds prompts of its own: read up to a line that can only be ours.
        theirs.sendall(b"\r\nsynced\r\nsis> ")
        for _ in range(len(GARBAGE) + 2):
            if "synced" in con.wait_prompt(timeout=10):
                break
        theirs.sendall(b"after\r\nsis> ")
        assert con.wait_prompt(timeout=10) == "after\n"
        text = con.text
        assert "\x00" not in text and "\x1b" not in text and "<script>" in text


def _one_line(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        data += sock.recv(4096)
    return data


def test_a_fake_prompt_inside_output_does_not_end_the_command() -> None:
    def shell(sock: socket.socket) -> None:
        nonce = re.search(rb'__SIS""_([0-9a-f]+)_begin', _one_line(sock)).group(1)  # type: ignore[union-attr]
        sock.sendall(b"__SIS_" + nonce + b"_begin\r\n")
        sock.sendall(b"sis> not the prompt\r\n<b>sis&gt;</b>\r\n")
        sock.sendall(b"__SIS_" + nonce + b"_0\r\nsis> ")

    with raw_console() as (con, theirs):
        con.marker_style = "inline"
        con.echo = False
        theirs.sendall(b"sis> ")
        con.wait_prompt(timeout=5)
        threading.Thread(target=shell, args=(theirs,), daemon=True).start()
        r = con.run("show", timeout=10)
        assert (r.output, r.status) == ("sis> not the prompt\n<b>sis&gt;</b>", 0)


def _forging_guest(sock: socket.socket, commands: int, style: str) -> None:
    """A guest whose background job prints status markers ahead of time: every counter a
    per-console scheme would use next, markers of earlier commands, random nonces, and even
    the coming command's own nonce before its begin marker. Its commands fail (status 1)."""
    seen: list[bytes] = []
    forged = b"".join(b"__SIS_%d_0\r\n" % n for n in range(1, 40))
    sock.sendall(forged + b"sis> ")
    for _ in range(commands):
        if style == "separate":
            begin = _one_line(sock)
            nonce = re.search(rb'__SIS""_([0-9a-f]+)_begin', begin).group(1)  # type: ignore[union-attr]
            sock.sendall(b"__SIS_" + nonce + b"_0\r\n")  # the status, printed before the begin
            sock.sendall(b"__SIS_" + nonce + b"_begin\r\nsis> ")
            _one_line(sock)  # the command: it fails, printing nothing
            sock.sendall(b"".join(b"__SIS_" + n + b"_0\r\n" for n in seen) + b"sis> ")
            _one_line(sock)  # the status marker's command
            sock.sendall(b"__SIS_" + nonce + b"_1\r\nsis> ")
        else:
            line = _one_line(sock)
            nonce = re.search(rb'__SIS""_([0-9a-f]+)_begin', line).group(1)  # type: ignore[union-attr]
            junk = b"".join(
                b"__SIS_%s_0\r\n" % random.randbytes(8).hex().encode() for _ in range(5)
            )
            sock.sendall(junk + b"__SIS_" + nonce + b"_0\r\n")  # ahead of the begin marker
            sock.sendall(b"__SIS_" + nonce + b"_begin\r\n")
            sock.sendall(b"".join(b"__SIS_" + n + b"_0\r\n" for n in seen))
            sock.sendall(b"__SIS_" + nonce + b"_1\r\nsis> " + forged)
        seen.append(nonce)


@pytest.mark.parametrize("style", ["inline", "separate"])
def test_status_markers_printed_ahead_of_time_do_not_make_a_failure_pass(style: str) -> None:
    with raw_console() as (con, theirs):
        con.marker_style = style  # type: ignore[assignment]
        con.echo = False
        guest = threading.Thread(target=_forging_guest, args=(theirs, 5, style), daemon=True)
        guest.start()
        con.wait_prompt(timeout=5)
        for _ in range(5):
            r = con.run("false", timeout=10)
            assert r.status == 1  # not the 0 printed ahead of time


def test_each_command_gets_its_own_unguessable_nonce() -> None:
    lines: list[bytes] = []

    def shell(sock: socket.socket) -> None:
        sock.sendall(b"sis> ")
        for _ in range(3):
            line = _one_line(sock)
            lines.append(line)
            nonce = re.search(rb'__SIS""_([0-9a-f]+)_begin', line).group(1)  # type: ignore[union-attr]
            sock.sendall(b"__SIS_%s_begin\r\nok\r\n__SIS_%s_0\r\nsis> " % (nonce, nonce))

    with raw_console() as (con, theirs):
        con.marker_style = "inline"
        con.echo = False
        threading.Thread(target=shell, args=(theirs,), daemon=True).start()
        con.wait_prompt(timeout=5)
        assert [con.run("true", timeout=10).output for _ in range(3)] == ["ok"] * 3
    nonces = {re.search(rb"_([0-9a-f]{16})_begin", x).group(1) for x in lines}  # type: ignore[union-attr]
    assert len(nonces) == 3
    assert all(
        re.fullmatch(
            rb'echo "__SIS""_[0-9a-f]{16}_begin"; true; echo "__SIS""_[0-9a-f]{16}_\$\?"\n', x
        )
        for x in lines
    )


def test_a_flood_of_random_bytes_keeps_memory_and_capture_bounded(tmp_path: Path) -> None:
    capture = tmp_path / "console.log"
    limit = 4 << 20
    flood = 50 << 20
    with raw_console(capture_path=capture, capture_limit=limit) as (con, theirs):
        rng = random.Random(7)
        peak = 0
        for _ in range(flood >> 20):
            theirs.sendall(rng.randbytes(1 << 20))
            peak = max(peak, con.held)
        theirs.sendall(b"\r\nsis> ")
        con.wait_prompt(timeout=60)  # the prompt after the flood is still found
        peak = max(peak, con.held)
        assert con.bytes_received == flood + 7
        bound = 2 * console_mod.WINDOW + 2 * console_mod.TEXT_KEPT + 4096
        assert peak <= bound  # not 50 MB of text
        assert len(con.text) <= console_mod.TEXT_KEPT
    data = capture.read_bytes()
    note = f"\n[sis: capture truncated at {limit} bytes]\n".encode()
    assert data.endswith(note) and len(data) == limit + len(note)


def test_a_flood_of_carriage_returns_is_one_newline() -> None:
    with raw_console() as (con, theirs):
        for _ in range(20):
            theirs.sendall(b"\r" * (1 << 18))
            assert con.held < 4096
        theirs.sendall(b"\nsis> ")
        assert con.wait_prompt(timeout=10) == "\n"


# ------------------------------------------------------------------------ printed text

MARKUP = ["^[/a-z]+$", "oops[/x]", "[sis_crash]", "[bold red]loud[/]", "[link=x]y", "[/]"]


def _recording() -> object:
    from rich.console import Console as RichConsole

    return RichConsole(file=__import__("io").StringIO(), width=400, color_system=None)


def _printed(rich_console: object) -> str:
    return rich_console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", MARKUP)
def test_check_progress_prints_names_and_reasons_as_text(
    tmp_path: Path, text: str, monkeypatch
) -> None:  # noqa: ANN001
    from sis.harness import progress as progress_mod
    from sis.harness.jobs import Job
    from sis.harness.plan import Plan
    from sis.harness.progress import RunProgress

    recording = _recording()
    monkeypatch.setattr(progress_mod, "Console", lambda **_: recording)

    out = tmp_path / f"out{text.replace('/', '_')}"
    job = Job("sis", "default", "sis", ("suites",), str(out / "targets"), label="sis-default")
    progress = RunProgress(Plan("SIS check", [[job]], out))
    with progress:
        progress.status(job.key, f"suite {text}")
        failed = _result(suite="mine", test=f"t {text}", reason=f"output does not match {text}")
        progress.result(failed)
        progress.result(_result(verdict="ERROR", reason=f"SIS panic: {text}"))
        progress.interrupted()
        progress.summary([failed])
    shown = _printed(progress.console)
    assert f"FAIL sis-default/default mine :: t {text}: output does not match {text}" in shown
    assert f"ERROR sis-default/default mine :: one: SIS panic: {text}" in shown
    assert f"FAIL: 0 passed, 1 failed, 0 errors, 0 skipped  ->  {out}/report.html" in shown
    assert f"results so far are in {out}/results.jsonl" in shown


@pytest.mark.parametrize("text", MARKUP)
def test_fuzz_progress_prints_crash_titles_as_text(tmp_path: Path, text: str) -> None:
    from rich.console import Console as RichConsole

    from sis.harness.fuzz.fuzzer import CrashRecord, FuzzConfig, FuzzRun
    from sis.harness.fuzz.program import Call, Program
    from sis.harness.fuzz.progress import FuzzProgress

    config = FuzzConfig(target=f"t{text}", duration=1, out=tmp_path / text.replace("/", "_"))
    run = FuzzRun(config)
    run.stats.add_crash(f"SIS panic: {text}")
    run.crashes["x"] = CrashRecord(
        title=f"SIS panic: {text}", kind="panic", count=1,
        repro=Program([Call("getcwd", [0, 0])]), found_after=1.0, directory=tmp_path / "c",
    )  # fmt: skip
    run.errors.append(f"executor said {text}")
    progress = FuzzProgress(config)
    progress.console = _recording()  # type: ignore[assignment]
    progress.summary(run)
    shown = _printed(progress.console)
    assert f"CRASH SIS panic: {text} (x1" in shown
    assert f"error executor said {text}" in shown
    table = RichConsole(file=__import__("io").StringIO(), width=400, color_system=None)
    table.print(progress._table(run))
    live = _printed(table)
    assert f"SIS panic: {text} x1" in live and f"executor said {text}" in live
    assert f"fuzzing t{text}" in live


# ------------------------------------------------------------------- damaged soak samples


def _sound_sample(t: float, segment: int = 0) -> dict:
    return {"kind": "sample", "t": t, "segment": segment,
            "metrics": {"heap_current_bytes": 100}, "counters": {"spawns": 1}}  # fmt: skip


DAMAGED_RECORDS = [
    {"kind": "sample", "t": "abc", "segment": 0, "metrics": {}, "counters": {}},
    {"kind": "sample", "t": None, "segment": 0, "metrics": {}, "counters": {}},
    {"kind": "sample", "t": float("nan"), "segment": 0, "metrics": {}, "counters": {}},
    {"kind": "sample", "t": 5.0, "segment": "x", "metrics": {}, "counters": {}},
    {"kind": "sample", "t": 5.0, "segment": 10**30, "metrics": {}, "counters": {}},
    {"kind": "sample", "t": 5.0, "segment": -1, "metrics": {}, "counters": {}},
    {"kind": "sample", "t": 5.0, "segment": True, "metrics": {}, "counters": {}},
    {"kind": "sample", "t": 5.0, "metrics": {"heap_current_bytes": "lots"}, "counters": {}},
    {"kind": "sample", "t": 5.0, "metrics": [], "counters": {}},
    {"kind": "sample", "t": 5.0, "metrics": {}},
    {"kind": "sample", "t": 5.0, "metrics": {}, "counters": {"spawns": "many"}},
    {"kind": "gap", "t": 5.0, "since": "yesterday"},
    {"kind": "start", "t": 0.0, "settings": "all"},
    {"kind": 7, "t": 5.0},
    [1, 2, 3],
    "sample",
]


def test_damaged_soak_records_are_skipped_and_counted(tmp_path: Path) -> None:
    import json

    from sis.harness.soak.sampling import SampleLog, last_segment, load_records

    lines = [json.dumps({"kind": "start", "t": 0.0, "settings": {}}), json.dumps(_sound_sample(1))]
    lines += [json.dumps(r) for r in DAMAGED_RECORDS]
    lines += ["{not json", "[" * 100000, json.dumps(_sound_sample(2, segment=3))]
    path = tmp_path / "samples.jsonl"
    path.write_text("\n".join(lines) + "\n")
    loaded = load_records(path)
    assert [r["t"] for r in loaded.records] == [0.0, 1, 2]
    assert loaded.skipped == len(DAMAGED_RECORDS) + 2
    assert last_segment(loaded.records) == 3
    with SampleLog(tmp_path, resume=True) as log:
        assert log.skipped == loaded.skipped and len(log.records) == 3


def test_a_soak_resumed_over_damaged_samples_goes_on_from_the_sound_ones(tmp_path: Path) -> None:
    import json

    from sis.harness.soak.judge import judge
    from sis.harness.soak.run import SoakConfig, run_soak

    class Shell:  # a target at its shell whose metrics are fixed numbers
        name, preset, capabilities = "fake", "default", frozenset({"metrics"})
        state = type("S", (), {"value": "shell"})()
        qmp, target = None, type("T", (), {"proc": None})()
        boots: list[object] = []

        def alive(self) -> bool:
            return True

        def artifacts(self) -> dict[str, object]:
            return {}  # no kernel log line

        def death(self) -> str:
            return ""

        def run(self, command: str, timeout: float = 10.0) -> object:
            text = '{"heap_current_bytes": 100, "uptime_seconds": 1}'
            return type("R", (), {"output": text, "status": 0, "ok": True})()

    config = SoakConfig(workload="", interval=0.01, duration=0.02)
    path = tmp_path / "samples.jsonl"
    records = [
        {"kind": "start", "t": 0.0, "settings": config.settings()},
        _sound_sample(1.0),
        {"kind": "sample", "t": 2.0, "segment": 10**30, "metrics": {}, "counters": {}},
        {"kind": "sample", "t": "abc", "segment": 0, "metrics": {}, "counters": {}},
        {"kind": "sample", "t": None, "segment": "x", "metrics": {}, "counters": {}},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    outcome = run_soak(Shell(), config, tmp_path, resume=True)  # type: ignore[arg-type]
    gap = next(r for r in outcome.records if r["kind"] == "gap")
    assert gap["segment"] == 1 and gap["skipped_records"] == 3
    assert all(int(r.get("segment", 0)) <= 1 for r in outcome.records)
    assert judge(outcome.records).samples >= 2  # a report can be made of it


# --------------------------------------------------------------------------- reproducers


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ('{"calls": [{"name": "getcwd", "args": [1.5]}]}', "argument 0: 1.5 is neither"),
        ('{"calls": [{"name": "getcwd", "args": [null]}]}', "argument 0: null is neither"),
        ('{"calls": [{"name": "getcwd", "args": [[1]]}]}', "argument 0: [1] is neither"),
        ('{"calls": [{"name": "getcwd", "args": [true]}]}', "argument 0: true is neither"),
        ('{"calls": [{"name": "getcwd", "args": ["@etc"]}]}', 'argument 0: "@etc" is neither'),
        ('{"calls": [{"name": "getcwd", "args": {"a": 1}}]}', "'args' is not a list"),
        ('{"calls": [{"name": "getcwd", "args": [1, 2, 3, 4, 5, 6, 7]}]}', "at most 6"),
        ('{"calls": [{"name": "getcwd", "args": ["@ret:0"]}]}', "refers to later call 0"),
        ('{"calls": [{"name": "read", "args": [0], "data": "xyz"}]}', "'data' is not hex"),
        ('{"calls": [{"name": "read", "args": [0], "data": 12}]}', "'data' is not hex"),
        ('{"calls": [{"name": ["getcwd"]}]}', "call 0 has no syscall name"),
        ('{"calls": [{"name": "nope"}]}', "unknown syscall 'nope'"),
        ('{"calls": ["getcwd"]}', "call 0 is not an object"),
        ('{"calls": {"name": "getcwd"}}', 'expected an object {"calls": [...]}'),
        ("null", 'expected an object {"calls": [...]}'),
        ("[1, 2]", 'expected an object {"calls": [...]}'),
        ("[" * 100000, "not JSON"),
        ("{", "not JSON"),
    ],
)
def test_a_bad_reproducer_is_one_line_before_anything_boots(
    tmp_path: Path, document: str, says: str
) -> None:
    from sis.harness.fuzz.replay import load_program

    path = write(tmp_path, document, "repro.json")
    with pytest.raises(ValueError) as info:
        load_program(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith("not a fuzz program: ") and says in message


def test_sis_fuzz_repro_refuses_a_bad_reproducer_with_exit_2(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from typer.testing import CliRunner

    import sis.harness.fuzz.replay as replay_mod
    from sis.cli import app
    from sis.harness import plan as door

    booted: list[str] = []
    monkeypatch.setattr(door, "run_plan", lambda *a, **k: booted.append("boot"))
    path = write(tmp_path, '{"calls": [{"name": "getcwd", "args": [1.5]}]}', "repro.json")
    result = CliRunner().invoke(app, ["fuzz", "repro", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and booted == []
    assert "not a fuzz program: call 0 (getcwd) argument 0: 1.5" in result.output
    good = write(tmp_path, '{"calls": [{"name": "getcwd", "args": ["@scratch+8", 64]}]}', "g.json")
    assert replay_mod.load_program(good).calls[0].args == ["@scratch+8", 64]


# ------------------------------------------------------------------- metrics connections


def test_idle_connections_to_the_exporter_are_bounded_and_time_out(monkeypatch) -> None:  # noqa: ANN001
    import urllib.request

    from sis.harness.metrics import export
    from sis.harness.metrics.export import MetricsExporter

    monkeypatch.setattr(export, "MAX_CONNECTIONS", 4)
    monkeypatch.setattr(export._BoundedServer, "max_connections", 4)
    monkeypatch.setattr(export._QuietHandler, "timeout", 0.5)

    class Quiet:
        name, preset = "quiet", "default"

        def sample(self) -> dict[str, int]:
            return {"uptime_seconds": 1}

        def alive(self) -> bool:
            return True

    before = threading.active_count()
    with MetricsExporter([Quiet()]) as exporter:
        host, port = exporter.start("127.0.0.1", 0)
        # Fewer than the listen backlog, so the server takes them in the order they came.
        idle = [socket.create_connection((host, port)) for _ in range(6)]
        try:
            for extra in idle[4:]:  # over the bound: answered and closed at once
                extra.settimeout(5)
                assert extra.recv(64).startswith(b"HTTP/1.0 503")
            assert threading.active_count() <= before + 2 + 4
            for s in idle[:4]:  # the idle ones that were let in are dropped after the timeout
                s.settimeout(5)
                assert s.recv(64) == b""
            body = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
            assert 'sis_target_up{preset="default",target="quiet"} 1.0' in body
        finally:
            for s in idle:
                s.close()


# ------------------------------------------------------------------ stale socket directories


def test_socket_directories_of_a_killed_lab_are_swept(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import subprocess
    import sys

    from sis.harness import sockdir

    monkeypatch.setattr(sockdir.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(sockdir, "_swept", True)  # this test sweeps by hand
    code = "import sis.harness.sockdir as d, time; print(d.socket_dir()); time.sleep(60)"
    env = {**__import__("os").environ, "TMPDIR": str(tmp_path)}
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    stale = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
    (stale / "console.sock").touch()
    child.kill()  # SIGKILL: nothing of the child's cleanup runs
    child.wait()
    alive = sockdir.socket_dir()  # ours, alive
    foreign = tmp_path / "sis-someone-else"  # no owner record: not ours to judge
    foreign.mkdir()
    recycled = tmp_path / "sis-recycled"  # our pid, but another start time: a recycled pid
    recycled.mkdir()
    (recycled / "owner").write_text(f"{__import__('os').getpid()} 1\n")
    assert stale.parent == tmp_path and stale.exists()
    removed = sockdir.remove_stale(tmp_path)
    assert sorted(removed) == sorted([stale, recycled])
    assert alive.exists() and foreign.exists() and not stale.exists()


# ------------------------------------------------------------------------ links inside OUT


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    return victim


@pytest.mark.parametrize(
    "link", [".sis-lock", "results.jsonl", "jobs.jsonl", "targets/sis-default.command", "targets"]
)
def test_sis_check_refuses_an_out_with_links_and_writes_nothing_through_them(
    tmp_path: Path, link: str
) -> None:
    from typer.testing import CliRunner

    from sis.cli import app

    victim = _victim(tmp_path)
    out = tmp_path / "out"
    (out / "targets").mkdir(parents=True)
    if link == "targets":
        (out / "targets").rmdir()
        (out / "targets").symlink_to(tmp_path)
    else:
        (out / link).symlink_to(victim)
    result = CliRunner().invoke(app, ["check", "--out", str(out), "--no-readiness"])
    assert result.exit_code == 2
    assert f"sis check: {out / link}: a symbolic link" in result.output
    assert victim.read_text() == "precious\n" and not (tmp_path / "sis-default.command").exists()


def test_files_sis_writes_are_never_written_through_a_link(tmp_path: Path) -> None:
    from sis.harness.outdir import OutputError, open_file, write_file
    from sis.harness.qmp import QMPMonitor
    from sis.harness.results import ResultLog
    from sis.harness.soak.sampling import SampleLog

    victim = _victim(tmp_path)
    for name in ("results.jsonl", "console.log", "console.log.jsonl", "samples.jsonl", "x.cmd"):
        (tmp_path / name).symlink_to(victim)
    with pytest.raises(OutputError, match="a symbolic link; SIS does not write through links"):
        ResultLog(tmp_path / "results.jsonl", fresh=True)
    with pytest.raises(OSError, match="symbolic link"):
        Console(socket.socketpair()[0], capture_path=tmp_path / "console.log")
    with pytest.raises(OSError, match="symbolic link"):
        SampleLog(tmp_path, resume=True)
    with pytest.raises(OSError, match="symbolic link"):
        write_file(tmp_path / "x.cmd", "argv\n")
    for mode in ("wb", "ab", "w", "a"):
        with pytest.raises(OSError, match="symbolic link"):
            open_file(tmp_path / "x.cmd", mode)
    assert QMPMonitor is not None
    assert victim.read_text() == "precious\n"


def test_a_fifo_in_out_is_refused_not_waited_on(tmp_path: Path) -> None:
    import os

    from sis.harness.outdir import open_file

    os.mkfifo(tmp_path / "results.jsonl")
    with pytest.raises(OSError, match="not a regular file"):
        open_file(tmp_path / "results.jsonl", "a")


def test_an_out_owned_by_someone_else_is_refused(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import os

    from sis.harness import outdir
    from sis.harness.outdir import OutputDir, OutputError

    out = tmp_path / "shared"
    out.mkdir()
    someone = os.stat(out).st_uid + 4242
    real_stat = os.stat
    monkeypatch.setattr(
        outdir.os, "stat", lambda p, *a, **k: os.stat_result(
            (*real_stat(p, *a, **k)[:4], someone, *real_stat(p, *a, **k)[5:])
        ) if Path(p) == out else real_stat(p, *a, **k)
    )  # fmt: skip
    with pytest.raises(OutputError) as info:
        with OutputDir(out):
            pass
    assert (
        str(info.value)
        == f"{out}: owned by uid {someone}, neither you nor root; choose another --out"
    )
    assert not (out / ".sis-lock").exists()


def test_a_scratch_disk_this_run_did_not_make_is_never_used(tmp_path: Path) -> None:
    from sis.harness.targets.scratch import scratch_disk

    victim = _victim(tmp_path)
    made: list[Path] = []

    def make(p: Path) -> None:
        made.append(p)
        p.write_bytes(b"fresh disk")

    planted = tmp_path / "sis-default.disk.img"
    planted.write_bytes(b"left by someone")
    assert scratch_disk(planted, make).read_bytes() == b"fresh disk"
    assert scratch_disk(planted, make) == planted and len(made) == 1  # ours: a restart keeps it
    linked = tmp_path / "other.disk.img"
    linked.symlink_to(victim)
    scratch_disk(linked, make)
    assert not linked.is_symlink() and victim.read_text() == "precious\n"


# ------------------------------------------------------------------- commas in lab paths


@given(st.lists(st.text(alphabet=",=ab/ .\\", max_size=12), min_size=1, max_size=6))
def test_escaped_option_items_split_back_to_themselves(items: list[str]) -> None:
    from sis.contract import options

    # As in QEMU, an item after the first is not empty and does not start with a comma (`,,,`
    # is a comma, then a separator): option items start with their key.
    assume(all(x and not x.startswith(",") for x in items[1:]))
    assert options.split(",".join(options.escape(x) for x in items)) == items


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("file=a,,b.img", "a,b.img"),
        ("file=/out,,x/targets/sis.disk.img,format=raw", "/out,x/targets/sis.disk.img"),
        ("file=d.img,if=virtio,id=root,cache=none,snapshot=off,readonly=off", "d.img"),
        ("file=,,,,lead.img", ",,lead.img"),
    ],
)
def test_the_kernel_reads_doubled_commas_and_the_keys_qemu_users_pass(text: str, path: str) -> None:
    from sis.kernel.config import parse_drive

    assert parse_drive(text).file == path


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("file=victim.img,x/targets/sis.disk.img", "unknown key 'x/targets/sis.disk.img'"),
        ("file=d.img,bogus=1", "unknown key 'bogus'"),
        ("d.img", "'d.img' is not KEY=VALUE"),
        ("file=d.img,snapshot=on", "snapshot=on is not supported"),
        ("file=d.img,readonly=maybe", "readonly=maybe is not on or off"),
        ("file=d.img,format=qcow2", "only format=raw"),
    ],
)
def test_the_kernel_refuses_any_other_drive_key_with_one_line(text: str, says: str) -> None:
    from sis.kernel.config import ConfigError, parse_drive

    with pytest.raises(ConfigError) as info:
        parse_drive(text)
    assert says in str(info.value) and "\n" not in str(info.value)


def test_socket_paths_with_commas_reach_the_kernel_whole() -> None:
    from sis.kernel.config import ConfigError, parse_chardev
    from sis.kernel.qmp.address import parse_address

    spec = parse_chardev("unix:/tmp/a,,b/qmp.sock,server=on,wait=off", "-qmp")
    assert spec.path == "/tmp/a,b/qmp.sock"
    assert parse_address(str(spec)).path == "/tmp/a,b/qmp.sock"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="unsupported option 'b/qmp.sock'"):
        parse_chardev("unix:/tmp/a,b/qmp.sock", "-serial")


@pytest.mark.parametrize("profile", ["sis", "linux-busybox", "linux-busybox-arm64"])
def test_every_lab_path_in_a_profile_survives_a_comma(profile: str) -> None:
    from sis.contract import options
    from sis.harness.targets.profile import LAB_PATHS, load_profile

    p = load_profile(profile)
    values = {**p.variables("default"), "name": "t", "append": "", "fuzz_executor": "on"}
    values |= {k: f"/o,x=1/targets/t.{k}" for k in LAB_PATHS}
    argv = p.command_line(values)
    seen = set()
    for arg in argv:
        for item in options.split(arg):
            for k in LAB_PATHS:
                path = f"/o,x=1/targets/t.{k}"
                if item.endswith(path):
                    seen.add(k)
                assert "/o" not in item or path in item or not item.endswith(f"t.{k}")
    assert "x=1/targets" not in [i for a in argv for i in options.split(a)]
    assert {"console_sock", "qmp_sock", "disk"} <= seen
    if profile == "sis":
        from sis.kernel.__main__ import parse_command_line

        cfg = parse_command_line(argv)
        assert cfg.drive is not None and cfg.drive.file == "/o,x=1/targets/t.disk"
        assert [s.path for s in cfg.serials] == ["/o,x=1/targets/t.console_sock",
                                                 "/o,x=1/targets/t.log_sock"]  # fmt: skip
        assert cfg.qmp is not None and cfg.qmp.path == "/o,x=1/targets/t.qmp_sock"

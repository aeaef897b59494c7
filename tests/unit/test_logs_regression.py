"""Baselines: the file format, the comparison, and the check against captured logs (no boot)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis.harness.commands.logs import check_against_baseline
from sis.harness.logs.baseline import (
    Baseline,
    BaselineError,
    Event,
    accept_command,
    baseline_path,
    collapse,
    find_baseline,
    read_baseline,
    write_baseline,
)
from sis.harness.logs.diff import compare, damaged
from sis.harness.logs.regression import log_regression_result

LOG = (
    "[    0.052729] [INFO] kernel: SIS Kernel 2921eab (main+) built 2026-11-26 python 3.11.7\r\n"
    "[    0.052881] [INFO] smp: Brought up 2 CPUs cpus=2\r\n"
    "[    0.056241] [INFO] fs: root file system mounted on / from {wd}/sis-default.disk.img"
    " blocks=15228\r\n"
    "[    0.132710] [INFO] net: eth0: link up iface=eth0\r\n"
    "[    0.132710] [INFO] net: eth0: link up iface=eth0\r\n"
    "[    0.143018] [INFO] kernel: boot completed in 143.0 ms boot_ms=143.0\r\n"
    "[    4.110742] [INFO] reboot: Power down\r\n"
)
SIGNATURES = [
    "INFO kernel: SIS Kernel <hash> (<branch>) built <date> python <ver>",
    "INFO smp: Brought up <num> CPUs cpus=<num>",
    "INFO fs: root file system mounted on / from <workdir>/sis-default.disk.img blocks=<num>",
    "INFO net: eth0: link up iface=eth0",
    "INFO net: eth0: link up iface=eth0",
    "INFO kernel: boot completed in <dur> boot_ms=<dur>",
    "INFO reboot: Power down",
]


def _baseline(**over) -> Baseline:
    fields = dict(
        target="sim",
        profile="sis",
        preset="default",
        suites=["basic_commands"],
        source="kernel_log",
        recorded="2026-11-26T22:13:00Z",
        events=collapse(SIGNATURES),
    )
    fields.update(over)
    return Baseline(**fields)  # type: ignore[arg-type]


def _run_dir(tmp_path: Path, text: str = LOG) -> Path:
    """A directory laid out like a target's workdir, with its kernel log capture."""
    wd = tmp_path / "run"
    wd.mkdir()
    log = wd / "sis-default.kernel.log"
    log.write_bytes(text.format(wd=wd).encode())
    return log


# --------------------------------------------------------------------------------- the file


def test_collapse_counts_consecutive_repeats() -> None:
    events = collapse(["a", "a", "b", "a"], lines=[1, 2, 3, 4])
    assert [(e.signature, e.count, e.line) for e in events] == [
        ("a", 2, 1),
        ("b", 1, 3),
        ("a", 1, 4),
    ]


def test_file_round_trip(tmp_path: Path) -> None:
    path = write_baseline(_baseline(), baseline_path(tmp_path / "b", "boot"), "sis logs ...")
    assert path == tmp_path / "b" / "boot.baseline"
    text = path.read_text()
    assert text.startswith("# sis-log-baseline v1\n# target: sim\n# profile: sis\n")
    assert "\n   2 INFO net: eth0: link up iface=eth0\n" in text
    assert "# Re-record: sis logs ..." in text
    back = read_baseline(path)
    assert (back.target, back.profile, back.preset) == ("sim", "sis", "default")
    assert back.suites == ["basic_commands"] and back.source == "kernel_log"
    assert back.recorded == "2026-11-26T22:13:00Z" and back.records == len(SIGNATURES)
    assert back.signatures() == SIGNATURES
    # Each event knows its line in the file, for the diff.
    first_event = text.splitlines().index(f"   1 {SIGNATURES[0]}") + 1
    assert back.events[0].line == first_event
    assert back.render().splitlines()[-6:] == _baseline().render().splitlines()[-6:]


def test_hand_edited_file_with_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.baseline"
    path.write_text(
        "# sis-log-baseline v1\n# target: linux-busybox\n# preset: lowmem\n# owner: kernel-team\n"
        "\n# boot\n1 SIS-LINUX-READY uptime=<dur>\n   \n  2 reboot: Power down\n"
    )
    b = read_baseline(path)
    assert b.target == "linux-busybox" and b.preset == "lowmem" and b.suites == []
    assert b.extra == {"owner": "kernel-team"}
    assert b.signatures() == ["SIS-LINUX-READY uptime=<dur>"] + ["reboot: Power down"] * 2
    assert [e.line for e in b.events] == [7, 9]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "not a baseline file"),
        ("hello\n", ":1: not a baseline file"),
        ("# sis-log-baseline v9\n# target: sim\n# preset: default\n", "format v9 is not supported"),
        ("# sis-log-baseline v1\n# preset: default\n1 x\n", "no '# target: ...' line"),
        ("# sis-log-baseline v1\n# target: sim\n# preset: default\nx INFO a\n", ":4: expected"),
        ("# sis-log-baseline v1\n# target: sim\n# preset: default\n0 INFO a\n", ":4: expected"),
    ],
)
def test_garbled_baseline_is_one_clear_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.baseline"
    path.write_text(content)
    with pytest.raises(BaselineError) as e:
        read_baseline(path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(path) in str(e.value)


def test_missing_and_binary_baselines(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="no such baseline"):
        read_baseline(tmp_path / "none.baseline")
    (tmp_path / "bin.baseline").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(BaselineError, match="not UTF-8"):
        read_baseline(tmp_path / "bin.baseline")


@pytest.mark.parametrize("name", ["", "a/b", "..", "."])
def test_baseline_names_are_plain_file_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(BaselineError, match="bad baseline name"):
        baseline_path(tmp_path, name)


def test_accept_command_quotes_its_arguments() -> None:
    cmd = accept_command("my profile.yaml", "lowmem", "boot", "base lines", ["networking"])
    assert cmd == (
        "sis logs baseline --target 'my profile.yaml' --preset lowmem --name boot "
        "--dir 'base lines' --suite networking"
    )


# --------------------------------------------------------------------------- the comparison


def test_identical_logs_are_ok() -> None:
    diff = compare(SIGNATURES, SIGNATURES)
    assert diff.ok and not diff.regression and not diff.hunks
    assert diff.render() == "ok: log matches the baseline"


def test_removed_event_is_a_regression() -> None:
    actual = [s for s in SIGNATURES if "reboot" not in s]
    diff = compare(SIGNATURES, actual, expected_lines=list(range(10, 17)))
    assert not diff.ok and diff.regression
    assert diff.removed == [("INFO reboot: Power down", 1)] and diff.added == []
    text = diff.render()
    assert "- INFO reboot: Power down" in text
    assert "  INFO kernel: boot completed in <dur> boot_ms=<dur>" in text  # context
    assert "@@ baseline line 14 @@" in text
    assert "FAIL: 1 event removed" in text


def test_added_events_are_allowed_unless_strict() -> None:
    actual = SIGNATURES[:3] + ["WARN fs: journal replayed"] + SIGNATURES[3:]
    diff = compare(SIGNATURES, actual)
    assert diff.ok and diff.added == [("WARN fs: journal replayed", 1)]
    assert "+ WARN fs: journal replayed" in diff.render()
    assert "added (allowed)" in diff.summary()
    strict = compare(SIGNATURES, actual, strict=True)
    assert not strict.ok and not strict.regression


def test_fewer_repetitions_are_removed_events() -> None:
    actual = [s for i, s in enumerate(SIGNATURES) if i != 4]  # one "link up" less
    diff = compare(SIGNATURES, actual)
    assert diff.removed == [("INFO net: eth0: link up iface=eth0", 1)]


def test_reordered_events_are_not_judged_nor_shown() -> None:
    # Concurrent tasks interleave differently under SMP: same events, other order.
    actual = [SIGNATURES[1], SIGNATURES[0]] + SIGNATURES[2:]
    diff = compare(SIGNATURES, actual)
    assert diff.ok and not diff.removed and not diff.added
    assert diff.moved == 1 and not diff.hunks
    assert "1 in a different order" in diff.summary()


def test_repeated_changes_collapse_in_the_diff() -> None:
    diff = compare(["a"] + ["x"] * 5 + ["b"], ["a", "b"])
    lines = diff.render().splitlines()
    assert "- x  (x5)" in lines
    assert diff.removed == [("x", 5)]


def test_long_diffs_are_cut(tmp_path: Path) -> None:
    diff = compare([f"e{i}" for i in range(500)], [])
    text = diff.render(max_lines=10)
    assert "more diff lines not shown" in text and len(text.splitlines()) < 20


# ------------------------------------------------------------------ checks of captured logs


def test_check_a_captured_log(tmp_path: Path) -> None:
    log = _run_dir(tmp_path)
    write_baseline(_baseline(), baseline_path(tmp_path / "b", "boot"))
    diff = check_against_baseline("boot", tmp_path / "b", log=log)
    assert diff.ok, diff.render()
    assert diff.log_path == log


def test_check_finds_an_event_the_kernel_no_longer_logs(tmp_path: Path) -> None:
    log = _run_dir(tmp_path)
    b = _baseline(events=collapse(SIGNATURES[:3] + ["INFO fs: journal replayed"] + SIGNATURES[3:]))
    write_baseline(b, baseline_path(tmp_path / "b", "boot"))
    diff = check_against_baseline("boot", tmp_path / "b", log=log)
    assert diff.regression
    text = diff.render()
    assert "- INFO fs: journal replayed" in text
    assert (
        "accept it as the baseline: sis logs baseline --target sim --preset default --name boot "
        f"--dir {tmp_path / 'b'} --suite basic_commands"
    ) in text


def test_find_baseline_by_name_or_header(tmp_path: Path) -> None:
    assert find_baseline(tmp_path, "sis", "default") is None
    assert find_baseline(tmp_path / "nowhere", "sis", "default") is None
    write_baseline(_baseline(preset="lowmem"), tmp_path / "boot-lowmem.baseline")
    (tmp_path / "junk.baseline").write_text("junk")
    assert find_baseline(tmp_path, "sis", "lowmem") == tmp_path / "boot-lowmem.baseline"
    assert find_baseline(tmp_path, "sis", "default") is None
    write_baseline(_baseline(), tmp_path / "sis-default.baseline")
    assert find_baseline(tmp_path, "sis", "default") == tmp_path / "sis-default.baseline"


def test_log_regression_result_for_sis_check(tmp_path: Path) -> None:
    log = _run_dir(tmp_path)
    base_dir = tmp_path / "b"
    assert log_regression_result("sis", "default", base_dir) is None
    write_baseline(_baseline(), base_dir / "sis-default.baseline")
    passed = log_regression_result("sis", "default", base_dir, artifacts={"kernel_log": str(log)})
    assert passed is not None and passed.verdict == "PASS", passed.reason
    assert (passed.suite, passed.test, passed.target, passed.preset) == (
        "log_regression",
        "sis-default",
        "sis",
        "default",
    )
    assert passed.artifacts["baseline"] == str(base_dir / "sis-default.baseline")

    more = collapse(SIGNATURES + ["INFO fs: fsck clean"])
    write_baseline(_baseline(events=more), base_dir / "sis-default.baseline")
    failed = log_regression_result("sis", "default", base_dir, artifacts={"kernel_log": log})
    assert failed is not None and failed.verdict == "FAIL"
    assert "1 event removed" in failed.reason
    assert "- INFO fs: fsck clean" in failed.steps[0].output

    (base_dir / "sis-default.baseline").write_text("garbage\n")
    broken = log_regression_result("sis", "default", base_dir, artifacts={"kernel_log": log})
    assert broken is not None and broken.verdict == "ERROR"
    assert "not a baseline file" in broken.reason


def test_event_defaults() -> None:
    assert Event("x") == Event("x", 1, 0)


@pytest.mark.parametrize(
    ("was", "got", "expected"),
    [
        # What a loaded serial line does: characters dropped or repeated.
        (
            "INFO kernel: the device has been registered",
            "INFO kernel: the device haaeen registered",
            True,
        ),
        (
            "INFO net: eth0: link up iface=eth0 carrier",
            "INFO net: eth0: liink up iface=eth0 carrier",
            True,
        ),
        ("INFO fs: root file system mounted", "INFO fs: root file sytem mounted", True),
        # What an edit does: new or replaced characters, a word cut or left out.
        (
            "INFO kernel: spectre_v4: mitigation enabled",
            "INFO kernel: spectre_v4: mitigation disabled",
            False,
        ),
        ("INFO net: eth0: link up iface=eth0", "INFO net: eth1: link up iface=eth1", False),
        (
            "INFO fs: unmounted the root file system now",
            "INFO fs: mounted the root file system now",
            False,
        ),
        ("INFO net: eth0: link up and running", "INFO net: eth0: link and running", False),
    ],
)
def test_damaged_tells_serial_noise_from_an_edit(was: str, got: str, expected: bool) -> None:
    assert damaged(was, got) is expected
    assert damaged(got, was) is expected


def test_a_damaged_line_is_neither_removed_nor_added() -> None:
    noisy = [s.replace("file system", "fille sytem") for s in SIGNATURES]
    diff = compare(SIGNATURES, noisy, strict=True)
    assert diff.ok and not diff.removed and not diff.added
    assert diff.damaged == [(SIGNATURES[2], noisy[2])]
    assert "1 damaged line read as the baseline's" in diff.summary()


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    target = tmp_path / "b" / "sis-default.baseline"
    target.parent.mkdir()
    (target.parent / f".{target.name}.tmp").symlink_to(victim)
    write_baseline(_baseline(), target)
    assert victim.read_text() == "keep me\n"
    assert target.read_text().startswith("#") and not target.is_symlink()

"""Target profiles: the built-in ones load, and a wrong one is `FILE:LINE: problem` at load
time (never a traceback, never a silently ignored field)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sis.harness.datafile import DataFileError
from sis.harness.targets.profile import (
    PROFILE_DIR,
    ShutdownSpec,
    builtin_profiles,
    load_profile,
)

BUSYBOX = (PROFILE_DIR / "linux-busybox.yaml").read_text()
SIS = (PROFILE_DIR / "sis.yaml").read_text()
# The whole `defaults:` block of the built-in profile (its indented lines, comments included).
DEFAULTS = re.search(r"  defaults:\n(?:    .*\n)+", BUSYBOX).group(0)
IMAGE = BUSYBOX[BUSYBOX.index("image:\n") : BUSYBOX.index("\nqemu:\n") + 1]


def refused(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(DataFileError) as info:
        load_profile(path)
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}:")


def test_built_in_profiles_load() -> None:
    assert builtin_profiles() == [
        "linux-busybox", "linux-busybox-arm64", "linux-busybox-riscv64", "sis",
    ]  # fmt: skip
    busybox = load_profile("linux-busybox")
    assert busybox.arch == "x86_64" and busybox.kind == "qemu"
    assert busybox.image == {"builder": "linux-busybox"}
    assert busybox.capabilities_for("no-network") == busybox.capabilities - {
        "network",
        "link_control",
    }
    sis = load_profile("sis")
    assert sis.kind == "sim" and "sis_contract" in sis.capabilities


def test_sim_is_the_reference_kernel_profile() -> None:
    assert load_profile("sim") == load_profile("sis")


def test_busybox_gets_the_line_ending_its_tty_expects() -> None:
    # With CR LF the tty turns CR into a newline of its own: ash runs an empty command and
    # prints its prompt twice.
    assert load_profile("linux-busybox").console.line_ending == "\n"


def test_shutdown_is_part_of_the_profile(tmp_path: Path) -> None:
    assert load_profile("sis").shutdown == ShutdownSpec("powerdown", None, 5.0)
    assert load_profile("linux-busybox").shutdown == ShutdownSpec("command", "poweroff -f", 15.0)
    path = tmp_path / "p.yaml"
    path.write_text(SIS.replace("shutdown:\n  method: powerdown\n  timeout: 5", "") + "\n")
    assert load_profile(path).shutdown == ShutdownSpec("powerdown", None, 5.0)  # sim default
    path.write_text(BUSYBOX.split("\nshutdown:")[0] + "\nshutdown: {method: quit}\n")
    assert load_profile(path).shutdown == ShutdownSpec("quit", None, 15.0)  # qemu default


@pytest.mark.parametrize(
    ("replace", "by", "problem"),
    [
        ("shutdown:\n  method: powerdown", "shutdown:\n  method: reboot", "method must be one of"),
        ("  timeout: 5", "  timeout: soon", "'timeout' must be a positive number"),
        ("  method: powerdown", "  method: command", "method 'command' needs 'command'"),
        ("  method: powerdown", "  method: powerdown\n  command: halt", "only read with method"),
        ("shutdown:\n  method: powerdown\n  timeout: 5", "shutdown: quit", "mapping of fields"),
    ],
)
def test_a_wrong_shutdown(tmp_path: Path, replace: str, by: str, problem: str) -> None:
    assert replace in SIS
    assert problem in refused(tmp_path, SIS.replace(replace, by))


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("style: inline", "", "exit_status' is a mapping of fields, not a string"),
        (DEFAULTS, "  defaults: [1, 2]\n", "'qemu.defaults' is a mapping of fields, not a list"),
        (IMAGE, 'image: "abc"\n', "'image' is a mapping of fields, not a string"),
        ("    - -nodefaults ", '    - "{"\n    - -nodefaults ', "Single '{'"),
        ("    - -nodefaults ", '    - "{nodisk}"\n    - -nodefaults ', "unknown placeholder"),
        ("boot_timeout: 60", "boot_timeout: -1", "positive number"),
        ("boot_timeout: 60", "boot_timeout: true", "positive number"),
        ("echo: false", "echo: sometimes", "'echo' must be true or false"),
        ('line_ending: "\\n"', 'line_ending: "\\n\\n"', "line_ending must be"),
        ("arch: x86_64", "arch: pdp11", "arch must be one of"),
        ("arch: x86_64", "arch: 8086", "'arch' must be a string, not a number"),
        ("builder: linux-busybox", "builder: yocto", "no image builder 'yocto'"),
        ("lowmem: {memory: 128M}", "lowmem: {memroy: 128M}", "did you mean 'memory'?"),
        ("lowmem: {memory: 128M}", "lowmem: [128M]", "qemu.presets.lowmem' is a mapping"),
        ('  - "Oops: "', '  - "("', "not a valid regex"),
        ('  - "Oops: "', '  - ""', "matches empty text"),
        ("  memstats: free -k", "  memstats: [free, -k]", "'memstats' must be a string"),
        ("  - if: network", "  - if: netwrok", "'if: netwrok' names no placeholder"),
    ],
)
def test_wrong_types_are_file_line_problem(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    assert replace in BUSYBOX
    text = BUSYBOX.replace(replace, by)
    if expected.startswith("exit_status"):
        text = text.replace("exit_status:\n  \n", "exit_status: inline\n")
    message = refused(tmp_path, text)
    assert message.split(":", 1)[0].isdigit(), message  # a line number
    assert expected in message


def test_a_string_of_capabilities_is_not_a_set_of_letters(tmp_path: Path) -> None:
    text = BUSYBOX.split("\ncapabilities:")[0] + "\ncapabilities: shell, exit_status\n"
    assert "'capabilities' must be a list" in refused(tmp_path, text)


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        (
            "capabilities:",
            "capabilites:",
            "unknown field 'capabilites' (did you mean 'capabilities'?)",
        ),
        ("boot_timeout:", "boot_timout:", "console: unknown field 'boot_timout' (did you mean"),
        ("  binary:", "  binray:", "qemu: unknown field 'binray' (did you mean 'binary'?)"),
        ("  style: inline", "  style: inline\n  template: x", "exit_status: unknown field"),
        ("  disk: disk0\n", "  disk: disk0\n  extra: [1]\n", "devices: 'extra' must be a string"),
        ("kind: qemu\n", "kind: qemu\nsim: {args: []}\n", "a qemu profile has no 'sim' section"),
        ("  builder: linux-busybox", "  builder: linux-busybox\n  disk_format: raw", "disk_format"),
    ],
)
def test_unknown_fields_are_errors_that_suggest(
    tmp_path: Path, replace: str, by: str, expected: str
) -> None:
    assert replace in BUSYBOX
    assert expected in refused(tmp_path, BUSYBOX.replace(replace, by, 1))


def test_every_field_of_the_built_in_profiles_is_read() -> None:
    # No field is present but ignored: the schema refuses what the lab does not read.
    for name in builtin_profiles():
        text = (PROFILE_DIR / f"{name}.yaml").read_text()
        assert "template:" not in text and "regex: '__SIS" not in text and "disk_format" not in text


def test_a_malformed_placeholder_fails_at_load_not_at_boot(tmp_path: Path) -> None:
    text = SIS.replace('    - "{memory}"', '    - "{memory!r}"')
    assert "plain {name}" in refused(tmp_path, text)
    text = SIS.replace("  defaults:\n", "  defaults:\n    disk: /etc/passwd\n")
    assert "{disk} is filled in by the lab" in refused(tmp_path, text)


def test_a_riscv64_snapshot_is_refused_on_a_qemu_that_loses_its_timer() -> None:
    from sis.harness.targets.qemu import snapshot_hazard

    assert "loses a riscv64 CPU's timer" in snapshot_hazard("riscv64", (7, 2))
    assert snapshot_hazard("riscv64", (10, 2)) == ""
    assert snapshot_hazard("aarch64", (7, 2)) == ""

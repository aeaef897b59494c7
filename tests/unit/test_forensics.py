"""Crash forensics as a user meets it: titles that stay put, spans that point at the report,
symbolized frames, deduplicated runs, and `sis crash`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sis.cli import app
from sis.harness.forensics import (
    CrashType,
    Frame,
    SymbolError,
    dedup,
    find_crashes,
    load_symbols,
    outcome_crash,
    run_crashes,
    symbolize,
)
from sis.harness.forensics.model import Crash

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "crashes"
runner = CliRunner()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").partition("\n\n")[2]


# -- parsing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["", "\n\n", "/ # ls\nbin dev\n/ # ", "\x00\x1b[31mred\x1b[0m\n"])
def test_text_without_a_crash_gives_nothing(text: str) -> None:
    assert find_crashes(text) == []


def test_a_title_does_not_change_with_addresses_timestamps_or_pids() -> None:
    text = fixture("linux/6")
    shifted = re.sub(r"[0-9a-f]{16}", lambda m: f"{int(m.group(0), 16) ^ 0x5A5A00:016x}", text)
    shifted = re.sub(
        r"\[\s*(\d+)\.(\d+)\]", lambda m: f"[{int(m.group(1)) + 99:5d}.{m.group(2)}]", shifted
    )
    shifted = shifted.replace("PID: 102", "PID: 4711")
    a, b = find_crashes(text)[0], find_crashes(shifted)[0]
    assert a.title == b.title == "BUG: kernel NULL pointer dereference in sis_crash_null"
    assert a.frame == b.frame == "sis_crash_null"


def test_an_oops_report_is_read_whole() -> None:
    (c,) = find_crashes(fixture("linux/6"), os_hint="linux")
    assert c.type is CrashType.NULL_DEREF and c.fatal and c.arch == "x86_64"
    assert c.kernel_version == "6.1.0-56-amd64" and c.taint == "G OE"
    assert c.modules[0] == "sis_crash" and "virtio_net" in c.modules
    assert c.registers["CR2"] == 0 and c.registers["RSP"] == 0xFFFFB4E0C0263E40
    assert c.kernel_offset == 0x1D000000
    assert [f.function for f in c.frames[:2]] == ["sis_crash_null", "sis_crash_write"]
    assert c.frames[0].module == "sis_crash"
    lines = fixture("linux/6").splitlines()
    assert "BUG: kernel NULL pointer dereference" in lines[c.start_line - 1]
    assert "end Kernel panic" in lines[c.end_line - 1]


def test_a_warning_is_not_fatal_and_ends_at_its_trace() -> None:
    (c,) = find_crashes(fixture("linux/9"))
    assert c.type is CrashType.WARNING and not c.fatal
    lines = fixture("linux/9").splitlines()
    assert "cut here" in lines[c.start_line - 1]
    assert "end trace" in lines[c.end_line - 1]  # "sis_crash: still alive" is not part of it


def test_arm64_call_trace_and_pc() -> None:
    (c,) = find_crashes(fixture("linux/12"))
    assert c.arch == "arm64" and c.fatal
    assert c.registers["x29"] == 0xFFFF80000A0F3D40
    assert c.frames[0].function == "sis_crash_null" and c.frames[1].function == "sis_crash_write"


def test_stale_x86_frames_are_kept_but_never_guilty() -> None:
    (c,) = find_crashes(fixture("linux/1"))
    stale = [f for f in c.frames if not f.reliable]
    assert stale and all(f.function != c.frame for f in stale)
    assert c.frame == "sysrq_handle_crash"  # panic and dump_stack are skipped


def test_two_crashes_in_one_capture_across_a_reboot() -> None:
    crashes = find_crashes(fixture("linux/18"))
    assert [c.type for c in crashes] == [CrashType.NULL_DEREF, CrashType.WARNING]
    assert crashes[0].end_line < crashes[1].start_line


def test_a_sis_panic_and_its_log_record_are_one_crash() -> None:
    (c,) = find_crashes(fixture("sis/1"), os_hint="sis")
    assert c.type is CrashType.SIS_PANIC and c.fatal and not c.corrupted
    assert c.registers["pc"] == c.frames[0].address
    lines = fixture("sis/1").splitlines()
    assert lines[c.end_line - 1].strip() == "System halted."
    # The kernel log alone (only the FATAL record) gives the same title.
    (record,) = find_crashes(fixture("sis/4"))
    assert record.title == c.title and record.corrupted


def test_damaged_reports_keep_their_title_and_say_they_are_damaged() -> None:
    whole = find_crashes(fixture("linux/1"))[0]
    for name in ("linux/2", "linux/3"):
        (c,) = find_crashes(fixture(name))
        assert c.title == f"{whole.title} (corrupted)" and c.corrupted, name
        assert c.frame == whole.frame, name
    assert "interleaved" in find_crashes(fixture("linux/3"))[0].corrupted_reason
    assert "truncated" in find_crashes(fixture("linux/2"))[0].corrupted_reason
    doubled = find_crashes(fixture("linux/4"))[0]
    assert doubled.frames == whole.frames and not doubled.corrupted


def test_to_dict_round_trips_through_json() -> None:
    c = find_crashes(fixture("linux/6"))[0]
    d = json.loads(json.dumps(c.to_dict()))
    for key in ("type", "title", "frame", "frames", "corrupted", "start_line", "end_line"):
        assert key in d
    assert Crash.from_dict(d) == c


def test_deaths_without_a_report() -> None:
    assert outcome_crash("lost").title == "lost connection to test machine"
    assert outcome_crash("hang").type is CrashType.HANG
    with pytest.raises(ValueError):
        outcome_crash("sad")


# -- dedup ---------------------------------------------------------------------------------------
def test_the_same_bug_twice_is_one_group_of_two() -> None:
    a, b = find_crashes(fixture("linux/6"))[0], find_crashes(fixture("linux/6"))[0]
    w = find_crashes(fixture("linux/9"))[0]
    a.seen, b.seen, w.seen = 100.0, 300.0, 200.0
    groups = dedup([a, w, b])
    assert [(g.crash.title, g.count) for g in groups] == [(a.title, 2), (w.title, 1)]
    assert (groups[0].first_seen, groups[0].last_seen) == (100.0, 300.0)


def test_a_run_counts_a_panic_once_per_boot(tmp_path: Path) -> None:
    targets = tmp_path / "targets"
    targets.mkdir()
    sis = fixture("sis/1")
    (targets / "sis-default.console.log").write_text(sis)
    (targets / "sis-default.kernel.log").write_text(fixture("sis/4"))  # same boot, its log
    (targets / "sis-default.boot2.console.log").write_text(sis)  # the same bug, next boot
    (targets / "sis-default.qemu-console.log").write_text(sis)  # QEMU's copy: not a capture
    groups = dedup(run_crashes(tmp_path))
    assert len(groups) == 1 and groups[0].count == 2
    assert not groups[0].crash.corrupted


# -- symbolization -------------------------------------------------------------------------------
SYSTEM_MAP = """\
ffffffff81000000 T _stext
ffffffff81690910 t sysrq_handle_crash
ffffffff81690930 t __handle_sysrq
ffffffff81a01cb0 T panic
ffffffff81a01fa4 T dump_stack_lvl
ffffffff81a02000 T _etext
"""


def test_system_map_names_bare_addresses_under_kaslr(tmp_path: Path) -> None:
    smap = tmp_path / "System.map"
    smap.write_text(SYSTEM_MAP)
    slide = 0x1D000000
    crash = Crash(
        CrashType.OOPS,
        "Oops",
        frames=[Frame(address=0xFFFFFFFF81690926 + slide), Frame(function="panic", offset=0x118)],
        registers={"RIP": 0xFFFFFFFF81690926 + slide, "RAX": 0x1A},
        kernel_offset=slide,
        os="linux",
        format="oops",
    )
    out = symbolize(crash, smap)
    assert (out.frames[0].function, out.frames[0].offset) == ("sysrq_handle_crash", 0x16)
    assert out.frames[1].address == 0xFFFFFFFF81A01CB0 + 0x118 + slide
    assert out.register_symbols == {"RIP": "sysrq_handle_crash+0x16/0x20"}
    assert out.title == "Oops in sysrq_handle_crash" and crash.title == "Oops"  # a copy


def test_sis_trace_with_unknown_frames_is_named_by_sis_kernel_symbols(tmp_path: Path) -> None:
    text = fixture("sis/1")
    # As a raw dump would show it: addresses only.
    bare = re.sub(r"(#\d+: [0-9a-f]{16}) \S+", r"\1 ?", text)
    (c,) = find_crashes(bare)
    assert c.frame is None and c.title == "SIS panic: boom"
    named = find_crashes(text)[0]
    symbols = tmp_path / "sis.symbols"
    symbols.write_text(
        "".join(f"{f.address - f.offset:016x} {0x400:08x} T {f.function}\n" for f in named.frames)
    )
    assert symbolize(c, symbols).title == named.title


def test_a_stub_system_map_is_one_clear_error(tmp_path: Path) -> None:
    stub = tmp_path / "System.map"
    stub.write_text(
        "ffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\n"
    )
    with pytest.raises(SymbolError, match="no symbols.*linux-image"):
        load_symbols(stub)
    with pytest.raises(SymbolError, match="cannot read"):
        load_symbols(tmp_path / "missing")


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build an ELF with DWARF")
def test_an_elf_with_debug_info_gives_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "guilty.c"
    src.write_text(
        "int victim(int *p)\n{\n\treturn *p + 1;\n}\nint main(void) { return victim(0); }\n"
    )
    elf = tmp_path / "vmlinux"
    subprocess.run(["gcc", "-g", "-O0", "-no-pie", "-o", elf, src], check=True)
    table = load_symbols(elf, disk_cache=False)
    base = table.address_of("victim")
    assert base is not None
    crash = Crash(
        CrashType.OOPS, "", frames=[Frame(function="victim", offset=8)], os="linux", format="oops"
    )
    (frame,) = symbolize(crash, table).frames
    assert frame.file.endswith("guilty.c") and frame.line in (2, 3)
    assert frame.address == base + 8


def test_symbol_tables_are_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    smap = tmp_path / "System.map"
    smap.write_text(SYSTEM_MAP)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    first = load_symbols(smap)
    assert load_symbols(smap) is first
    assert list((tmp_path / "cache" / "sis" / "symbols").glob("*.json"))


# -- sis crash -----------------------------------------------------------------------------------
def test_parse_json_lists_the_crashes(tmp_path: Path) -> None:
    cap = tmp_path / "console.log"
    cap.write_text(fixture("linux/18"))
    r = runner.invoke(app, ["crash", "parse", "--json", str(cap)])
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert [c["type"] for c in got] == ["NULL pointer dereference", "WARNING"]
    assert got[0]["frame"] == "sis_crash_null" and got[0]["start_line"] >= 1


def test_parse_of_noise_from_stdin_is_an_empty_list() -> None:
    r = runner.invoke(app, ["crash", "parse", "--json", "-"], input=fixture("linux/17"))
    assert r.exit_code == 0 and json.loads(r.stdout) == []
    r = runner.invoke(app, ["crash", "parse", "-"], input="nothing here\n")
    assert "no crash found" in r.stdout


def test_parse_human_shows_title_guilty_frame_and_trace(tmp_path: Path) -> None:
    cap = tmp_path / "c.log"
    cap.write_text(fixture("sis/3"))
    r = runner.invoke(app, ["crash", "parse", str(cap)])
    assert r.exit_code == 0
    assert "SIS panic: boom in syscall.sysproc.sys_sis_panic" in r.stdout
    assert "corrupted: interleaved" in r.stdout and "trace:" in r.stdout


def test_decode_with_an_unusable_map_is_one_line(tmp_path: Path) -> None:
    cap = tmp_path / "c.log"
    cap.write_text(fixture("linux/1"))
    r = runner.invoke(app, ["crash", "decode", str(cap), "--symbols", str(tmp_path / "nope")])
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "sis crash: cannot read" in r.stderr


def test_decode_json_keeps_the_title(tmp_path: Path) -> None:
    cap = tmp_path / "c.log"
    cap.write_text(fixture("linux/1"))
    smap = tmp_path / "System.map"
    smap.write_text(SYSTEM_MAP)
    r = runner.invoke(app, ["crash", "decode", str(cap), "-s", str(smap), "--json"])
    assert r.exit_code == 0, r.output
    (c,) = json.loads(r.stdout)
    assert c["title"] == "kernel panic: sysrq triggered crash"


def test_list_groups_a_run(tmp_path: Path) -> None:
    t = tmp_path / "targets"
    t.mkdir()
    (t / "a.console.log").write_text(fixture("sis/1"))
    (t / "b.console.log").write_text(fixture("sis/1"))
    (t / "c.kernel.log").write_text(fixture("linux/9"))
    os.utime(t / "a.console.log", (time.time() - 60, time.time() - 60))
    r = runner.invoke(app, ["crash", "list", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    groups = {g["title"]: g for g in json.loads(r.stdout)}
    sis = groups["SIS panic: boom in syscall.sysproc.sys_sis_panic"]
    assert sis["count"] == 2 and sis["first_seen"] < sis["last_seen"]
    assert groups["WARNING in sis_crash_warn"]["count"] == 1
    human = runner.invoke(app, ["crash", "list", str(tmp_path)])
    assert "2x  SIS panic: boom" in human.stdout
    assert runner.invoke(app, ["crash", "list", str(tmp_path / "none")]).exit_code == 2


def test_the_planted_null_deref_ioctl_panic_names_the_guilty_function() -> None:
    (c,) = find_crashes(fixture("sis/6"), os_hint="sis")  # recorded from an older placement
    assert c.frame is not None and c.frame.endswith("tty_ioctl_get_ldisc_private")
    assert c.title.endswith(f"in {c.frame}")

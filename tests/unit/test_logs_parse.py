"""Kernel log parsing: the three formats, damaged input, console interleaving, seq gaps."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sis.harness.logs.parse import (
    FORMAT_HUMAN,
    FORMAT_JSON,
    FORMAT_LINUX,
    Gap,
    iter_records,
    parse_file,
    parse_text,
)

# The reference kernel's boot log on its log line (CR LF line ends, as captured).
SIS_HUMAN = (
    "[    0.052729] [INFO] kernel: SIS Kernel 2921eab (main+) built 2026-11-26 python 3.11.7"
    " name=sis-default boot=1\r\n"
    "[    0.052841] [INFO] kernel: Command line: \r\n"
    "[    0.052864] [INFO] mm: Memory: 256 MiB, heap arena 128 MiB, 32768 page frames"
    " total_bytes=268435456\r\n"
    "[    0.132585] [INFO] net: eth0: user-mode network, gateway 10.0.2.2, mac 52:54:00:77:a4:de"
    " iface=eth0 mac=52:54:00:77:a4:de kind=virtual\r\n"
    "[    0.143018] [INFO] kernel: boot completed in 143.0 ms boot_ms=143.0\r\n"
)


def sis_json(seq: int, ts: int, level: str, subsystem: str, status: str, msg: str = "", **kv):
    """A record as the reference kernel's printk writes it in JSON mode."""
    obj: dict[str, object] = {
        "ts": ts,
        "seq": seq,
        "level": level,
        "subsystem": subsystem,
        "status": status,
    }
    if msg:
        obj["msg"] = msg
    obj.update(kv)
    return json.dumps(obj, separators=(",", ":"))


# From a real boot of Debian's 6.1 kernel under QEMU (dmesg on the console).
LINUX_DMESG = (
    (
        "[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12"
        " (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP"
        " PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)\n"
    )
    + """\
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable
[    0.084173] PM: hibernation: Registered nosave memory: [mem 0x00000000-0x00000fff]
[    0.211783] rcu: \tRCU restricting CPUs from NR_CPUS=8192 to nr_cpu_ids=2.
[    0.312883] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'
[    1.680542] 00:02: ttyS1 at I/O 0x2f8 (irq = 3, base_baud = 115200) is a 16550A
[    1.723369] rtc_cmos 00:04: setting system clock to 2026-11-26T22:16:45 UTC (1795731405)
[    2.235323] Unstable clock detected, switching default tracing clock to "global"
[    2.476914] Run /init as init process
[    2.691149] virtio_blk virtio0: [vda] 131072 512-byte logical blocks (67.1 MB/64.0 MiB)
"""
)


# ------------------------------------------------------------------------------- formats


def test_sis_human_records() -> None:
    report = parse_text(SIS_HUMAN.encode())
    assert not report.problems and not report.gaps
    assert len(report.records) == 5
    first, cmdline, mem, net, done = report.records
    assert first.ts_us == 52729 and first.seq is None and first.level == "INFO"
    assert first.subsystem == "kernel" and first.format == FORMAT_HUMAN and first.line == 1
    assert first.message == "SIS Kernel 2921eab (main+) built 2026-11-26 python 3.11.7"
    assert first.event == first.message
    assert dict(first.fields) == {"name": "sis-default", "boot": "1"}
    assert first.body == first.message + " name=sis-default boot=1"
    assert cmdline.message.strip() == "Command line:" and not cmdline.fields
    assert mem.fields["total_bytes"] == "268435456"
    assert net.fields["kind"] == "virtual" and net.fields["iface"] == "eth0"
    assert done.ts_us == 143018 and done.line == 5
    assert "\r" not in done.raw


def test_sis_human_quoted_field_values() -> None:
    line = '[    1.000000] [WARN] fs: odd names path="a b" empty="" q="say \\"hi\\"" n=3'
    (r,) = parse_text(line).records
    assert r.level == "WARN" and r.message == "odd names"
    assert dict(r.fields) == {"path": "a b", "empty": "", "q": 'say "hi"', "n": "3"}


def test_sis_json_records() -> None:
    text = "\n".join(
        [
            sis_json(1, 52729, "INFO", "kernel", "banner", "SIS Kernel 2921eab", name="x"),
            sis_json(2, 60000, "WARN", "chaos", "mode", "chaos mode set to disk_full", rate=10),
            sis_json(3, 70000, "INFO", "reboot", "poweroff"),
        ]
    )
    report = parse_text(text)
    assert not report.problems and not report.gaps
    a, b, c = report.records
    assert (a.ts_us, a.seq, a.level, a.subsystem, a.event) == (52729, 1, "INFO", "kernel", "banner")
    assert a.message == "SIS Kernel 2921eab" and dict(a.fields) == {"name": "x"}
    assert a.format == FORMAT_JSON
    assert b.fields["rate"] == 10
    assert b.body == "chaos mode set to disk_full rate=10"
    # Without a message the human format shows the event: so does the body.
    assert c.message == "" and c.event == "poweroff" and c.body == "poweroff"


def test_json_and_human_give_the_same_body() -> None:
    human = '[    2.000000] [INFO] fs: mounted on / from /d.img blocks=15228 ro=False note="a b"'
    js = sis_json(7, 2000000, "INFO", "fs", "mount", "mounted on / from /d.img", blocks=15228)
    js = js[:-1] + ',"ro":false,"note":"a b"}'
    (h,) = parse_text(human).records
    (j,) = parse_text(js).records
    assert h.body == j.body  # JSON false prints as Python's False, as printk does
    assert (h.level, h.subsystem) == (j.level, j.subsystem)


def test_json_in_another_key_order() -> None:
    line = '{"level": "ERROR", "subsystem": "net", "ts": 5, "seq": 9, "status": "addr_failed"}'
    (r,) = parse_text(line).records
    assert (r.ts_us, r.seq, r.level, r.event) == (5, 9, "ERROR", "addr_failed")


def test_linux_printk_records_and_heads() -> None:
    report = parse_text(LINUX_DMESG)
    assert not report.problems and not report.gaps
    by_line = {r.line: r for r in report.records}
    assert all(
        r.format == FORMAT_LINUX and r.seq is None and r.level is None for r in by_line.values()
    )
    assert by_line[1].subsystem == "" and by_line[1].message.startswith("Linux version 6.1.0")
    assert by_line[2].subsystem == "BIOS-e820"
    assert by_line[3].subsystem == "PM" and by_line[3].message.startswith("hibernation:")
    assert by_line[4].subsystem == "rcu"
    assert by_line[5].subsystem == "x86/fpu"
    assert by_line[6].subsystem == "00:02"
    assert by_line[7].subsystem == "rtc_cmos 00:04" and by_line[7].ts_us == 1723369
    assert by_line[8].subsystem == ""
    assert by_line[10].subsystem == "virtio_blk virtio0"
    assert by_line[10].message.startswith("[vda] 131072 512-byte")


def test_linux_scsi_device_head() -> None:
    (r,) = parse_text("[    1.500000] sd 0:0:0:0: [sda] 2097152 512-byte logical blocks").records
    assert r.subsystem == "sd 0:0:0:0" and r.message.startswith("[sda]")


def test_timestamps_with_other_than_six_decimals_at_line_start() -> None:
    report = parse_text("[    0.10] [INFO] fs: a\n[ 12.1234567] b: c\n")
    assert not report.problems
    assert [(r.ts_us, r.format) for r in report.records] == [
        (100000, FORMAT_HUMAN),
        (12123456, FORMAT_LINUX),
    ]


def test_linux_level_prefixes_and_caller_id() -> None:
    text = (
        "<6>[    0.100000] random: crng init done\n"
        "<3>[    0.200000] ata1: failed\n"
        "<4>no timestamp here\n"
        "[    0.300000][    T1] Run /init as init process\n"
    )
    report = parse_text(text)
    assert not report.problems
    a, b, c, d = report.records
    assert (a.level, a.subsystem, a.ts_us) == ("INFO", "random", 100000)
    assert (b.level, b.subsystem) == ("ERROR", "ata1")
    assert (c.level, c.ts_us, c.message) == ("WARN", None, "no timestamp here")
    assert d.message == "Run /init as init process" and d.ts_us == 300000


# ------------------------------------------------------------------------- damaged input


def test_crlf_ansi_and_control_characters_are_cleaned() -> None:
    data = (
        b"\x1b[32m[    1.000000] [INFO] fs: ok k=v\x1b[0m\r\n"
        b"\x00[    2.000000] [INFO] fs: b\x07\r\n"
    )
    report = parse_text(data)
    assert [r.message for r in report.records] == ["ok", "b"]
    assert report.records[0].fields == {"k": "v"}
    assert not report.problems


def test_binary_junk_is_reported_with_its_line() -> None:
    data = SIS_HUMAN.encode() + b"\xff\xfe\x00\x01garbage\x9b\r\n" + SIS_HUMAN.encode()
    report = parse_text(data)
    assert len(report.records) == 10
    assert [(p.line, p.reason) for p in report.problems] == [(6, "binary junk")]


def test_text_that_is_no_record_is_reported_in_a_kernel_log() -> None:
    report = parse_text("[    1.000000] [INFO] a: x\nSIS-LINUX-READY\n")
    assert [(p.line, p.reason) for p in report.problems] == [(2, "not a log record")]
    assert "SIS-LINUX-READY" in str(report.problems[0])


def test_truncated_json_is_reported_and_the_next_record_parsed() -> None:
    good = sis_json(2, 20, "INFO", "fs", "sync")
    text = sis_json(1, 10, "INFO", "fs", "mount")[:25] + "\n" + good + "\n"
    report = parse_text(text)
    assert [r.seq for r in report.records] == [2]
    assert [(p.line, p.reason) for p in report.problems] == [(1, "truncated JSON record")]


def test_malformed_json_is_reported() -> None:
    report = parse_text('{"ts": 1, "seq": 2, "level": INFO}\n')
    assert report.problems[0].reason.startswith("malformed JSON record")


@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"ts": "soon", "seq": 1, "level": "INFO", "subsystem": "x"}', "numeric ts"),
        ('{"ts": 1, "seq": 1.5, "level": "INFO", "subsystem": "x"}', "non-integer seq"),
        ('{"ts": 1, "seq": 1, "level": 3, "subsystem": "x"}', "string level"),
    ],
)
def test_json_with_wrong_types_is_reported(line: str, reason: str) -> None:
    report = parse_text(line)
    assert not report.records
    assert reason in report.problems[0].reason


def test_wrapped_json_record_is_joined_back() -> None:
    whole = sis_json(3, 30, "INFO", "net", "addr", "eth0: address 10.0.2.15/24", iface="eth0")
    text = "\n".join([sis_json(2, 20, "INFO", "fs", "x"), whole[:40], whole[40:70], whole[70:]])
    report = parse_text(text + "\n" + sis_json(4, 40, "INFO", "fs", "y"))
    assert not report.problems
    assert [r.seq for r in report.records] == [2, 3, 4]
    joined = report.records[1]
    assert joined.line == 2 and joined.fields == {"iface": "eth0"}
    assert report.records[2].line == 5


def test_wrapped_human_line_keeps_its_first_part_and_reports_the_rest() -> None:
    line = SIS_HUMAN.splitlines()[3]
    report = parse_text(line[:60] + "\n" + line[60:] + "\n")
    assert len(report.records) == 1 and report.records[0].subsystem == "net"
    assert [(p.line, p.reason) for p in report.problems] == [(2, "not a log record")]


def test_truncated_human_record_is_reported() -> None:
    report = parse_text("[    1.000000] [INFO] fs\n")
    assert not report.records
    assert report.problems[0].reason.startswith("truncated record")


# ---------------------------------------------------------------------- console captures

CONSOLE = (
    "=== SIS Kernel Shell ===\r\n"
    "sis> ls /\r\n"
    "bin\r\n"
    "sis> [    3.000000] [WARN] chaos: chaos mode set to disk_full mode=disk_full rate=10\r\n"
    "touch /a: No space left on device (ENOSPC)\r\n"
    "some output[    3.500000] [ERROR] fs: write failed errno=ENOSPC\r\n"
    'sis> {"ts":4000000,"seq":20,"level":"INFO","subsystem":"printk","status":"x"}\r\n'
    "sis> echo '[not a log]' {\"a\": 1}\r\n"
    '[not a log] {"a": 1}\r\n'
    "sis> "
)


def test_console_capture_yields_only_log_records() -> None:
    report = parse_text(CONSOLE, mixed=True)
    assert not report.problems
    assert [(r.line, r.level, r.subsystem) for r in report.records] == [
        (4, "WARN", "chaos"),
        (6, "ERROR", "fs"),
        (7, "INFO", "printk"),
    ]
    assert report.records[0].raw.startswith("[    3.000000] [WARN]")
    assert report.records[1].fields == {"errno": "ENOSPC"}


def test_prompt_before_a_record_is_a_problem_in_a_kernel_log() -> None:
    report = parse_text("sis> [    3.000000] [INFO] fs: ok\n")
    assert len(report.records) == 1
    assert report.problems[0].reason == "text before the record"


def test_records_glued_on_one_line_are_split() -> None:
    line = "[    1.000000] [INFO] a: first[    1.100000] [INFO] b: second k=1" + sis_json(
        5, 1200000, "INFO", "c", "third"
    )
    report = parse_text(line)
    assert [(r.subsystem, r.line) for r in report.records] == [("a", 1), ("b", 1), ("c", 1)]
    assert report.records[0].message == "first" and report.records[1].fields == {"k": "1"}


# ------------------------------------------------------------------------------ seq gaps


def _seqs(*seqs: int, ts: list[int] | None = None) -> str:
    ts = ts or [s * 10 for s in seqs]
    return "\n".join(sis_json(s, t, "INFO", "k", "e") for s, t in zip(seqs, ts, strict=True))


def test_missing_sequence_numbers() -> None:
    gaps = parse_text(_seqs(1, 2, 5, 6, 8)).gaps
    assert gaps == [Gap("missing", 3, 3, 4), Gap("missing", 5, 7, 7)]
    assert str(gaps[0]) == "line 3: seq 3-4 missing (2 records lost)"
    assert str(gaps[1]) == "line 5: seq 7 missing (1 record lost)"


def test_replayed_records_are_duplicates_not_reboots() -> None:
    # dmesg prints the ring buffer again: the same seq with the same timestamp.
    gaps = parse_text(_seqs(1, 2, 3, 1, 2, 3, 4)).gaps
    assert [g.kind for g in gaps] == ["duplicate"] * 3
    assert str(gaps[0]) == "line 4: seq 1 seen again (duplicate)"


def test_seq_going_back_is_a_reboot() -> None:
    report = parse_text(_seqs(1, 2, 3, 1, 2, ts=[10, 20, 30, 5, 15]))
    assert report.gaps == [Gap("reboot", 4, 3, 1)]
    assert report.reboots == 1
    assert "reboot" in str(report.gaps[0]) and "1 reboots" in report.summary()


def test_truncated_record_shows_as_missing_seq() -> None:
    text = "\n".join([_seqs(1), _seqs(2)[:20], _seqs(3)])
    report = parse_text(text)
    assert [g.kind for g in report.gaps] == ["missing"] and len(report.problems) == 1


# ----------------------------------------------------------------------------- interfaces


def test_iter_records_streams_what_parse_text_returns(tmp_path) -> None:
    text = SIS_HUMAN + LINUX_DMESG + _seqs(1, 2) + "\njunk\n"
    problems: list = []
    streamed = list(iter_records(text, problems=problems))
    report = parse_text(text)
    assert streamed == report.records
    assert problems == report.problems
    path = tmp_path / "k.log"
    path.write_text(text)
    assert parse_file(path).records == report.records


def test_bytes_and_text_parse_alike() -> None:
    assert parse_text(SIS_HUMAN.encode()).records == parse_text(SIS_HUMAN).records


# ------------------------------------------------------------------------------ properties

_FRAGMENTS = st.sampled_from(
    [
        "[    1.000000] [INFO] fs: ",
        "[    2.5] ",
        "<6>",
        "[  T1]",
        '{"ts":1,"seq":',
        '{"ts": 2, "seq": 3, "level": "INFO", "subsystem": "x", "status": "y"}',
        '"msg":"a\\"b"}',
        "sis> ",
        "\x1b[31m",
        "\x1b]0;title\x07",
        "\r\n",
        "\n",
        "\r",
        " k=v",
        ' q="a b',
        "\x00",
        "\ufffd",
        "0x1f 42 eth0",
        "{",
        "}",
        "[",
        "]",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2000), mixed=st.booleans())
def test_random_bytes_never_crash_the_parser(data: bytes, mixed: bool) -> None:
    report = parse_text(data, mixed=mixed)
    assert all(1 <= r.line <= max(1, report.lines) for r in report.records)
    assert all(1 <= p.line <= max(1, report.lines) for p in report.problems)


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.one_of(_FRAGMENTS, st.text(max_size=20)), max_size=40))
def test_log_like_garbage_never_crashes_the_parser(parts: list[str]) -> None:
    text = "".join(parts)
    for mixed in (False, True):
        report = parse_text(text, mixed=mixed)
        for r in report.records:
            assert r.format in (FORMAT_HUMAN, FORMAT_JSON, FORMAT_LINUX)
            dict(r.fields)  # reading the fields never fails either

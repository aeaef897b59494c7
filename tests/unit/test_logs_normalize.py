"""Normalization: what is masked, what stays, and the properties a baseline relies on."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis.harness.logs import normalize
from sis.harness.logs.normalize import normalize_text, signature
from sis.harness.logs.parse import parse_text
from sis.harness.logs.stream import signatures


@pytest.mark.parametrize(
    "text, expected",
    [
        # durations
        ("took 23.5 ms", "took <dur>"),
        ("took 0.003s", "took <dur>"),
        ("waited 5 seconds", "waited <dur>"),
        ("delay is 25 jiffies", "delay is <dur>"),
        ("boot completed in 143.0 ms boot_ms=143.0", "boot completed in <dur> boot_ms=<dur>"),
        ("uptime=2.92 elapsed: 7", "uptime=<dur> elapsed: <dur>"),
        # sizes
        ("Memory: 256 MiB, heap 4096 bytes", "Memory: <size>, heap <size>"),
        ("Memory: 200984K/261612K available", "Memory: <size>/<size> available"),
        (
            "[vda] 131072 512-byte blocks (67.1 MB/64.0 MiB)",
            "[vda] <num> <size> blocks (<size>/<size>)",
        ),
        ("total_bytes=268435456 cache_size=12", "total_bytes=<size> cache_size=<size>"),
        # addresses, hashes, ids
        ("at 0xffffffff81000000", "at <addr>"),
        ("feature 0x001: 'x87'", "feature <addr>: 'x87'"),
        ("[mem 0xffe227c-0xffe22fb]", "[mem <addr>-<addr>]"),
        ("RIP ffff888003a1b000", "RIP <addr>"),
        ("#0: 00000000004011a2 main+0x12", "#<num>: <addr> main+<addr>"),
        (
            "SIS Kernel 73c9fd7 (main+) built 2026-11-26",
            "SIS Kernel <hash> (<branch>) built <date>",
        ),
        ("SIS Kernel 1234567 (feature/x) built", "SIS Kernel <hash> (<branch>) built"),
        ("key: 8963f707e289edc09df337a240938134371a5bb8", "key: <hash>"),
        ("uuid 123e4567-e89b-12d3-a456-426614174000", "uuid <uuid>"),
        # pids
        ("pid=1234 ppid=1", "pid=<pid> ppid=<pid>"),
        ("CPU: 1 PID: 42 Comm: sh", "CPU: <num> PID: <pid> Comm: sh"),
        ("Killed process 77 (sh)", "Killed process <pid> (sh)"),
        ("pid 9 sent signal 15 to 10", "pid <pid> sent signal <num> to <num>"),
        # network
        ("eth0: address 10.0.2.15/24 gw 10.0.2.2", "eth0: address <ip> gw <ip>"),
        ("listening on 127.0.0.1:8080", "listening on <ip>"),
        ("mac 52:54:00:12:34:56 mac=aa-bb-cc-dd-ee-0f", "mac <mac> mac=<mac>"),
        ("addr fe80::5054:ff:fe12:3456 and ::1", "addr <ip> and <ip>"),
        ("inet addr:10.0.2.15 mac:52:54:00:12:34:56", "inet addr:<ip> mac:<mac>"),
        # times, versions, temp paths, plain numbers
        ("clock set to 2026-11-26T22:16:45 UTC", "clock set to <date> UTC"),
        ("at 22:16:45.123 today", "at <time> today"),
        ("Linux version 6.1.0-56-amd64 #1", "Linux version <ver> #<num>"),
        ("python 3.11.7", "python <ver>"),
        ("from /tmp/sis-x1/disk.img via unix:/tmp/s.sock", "from <tmp> via unix:<tmp>"),
        ("/var/tmp/a9/b, ok", "<tmp>, ok"),
        ("GSI 0-23 pin2=-1 ratio 0.674/0.684", "GSI <num>-<num> pin2=<num> ratio <num>/<num>"),
        ("1e-05 and 42.", "<num> and <num>."),
        ("  spaced\tout   42  ", "spaced out <num>"),
    ],
)
def test_masked(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "spectre_v4 mitigation: Speculative Store Bypass disabled",
        "virtio_blk virtio0: [vda]",
        "eth0: link up",
        "console [ttyS0] enabled, ttyS1 too",
        "x86/fpu: xstate",
        "sd 0:0:0:0: [sda] Attached SCSI disk",
        "pci 0000:00:1f.2: [8086:2922]",
        "rtc_cmos 00:04: RTC can wake from S4",
        "acpi PNP0A08:00: _OSC",
        "i8042: PS/2 Controller",
        "swapper/0 kworker/u4",
        "gcc-12 64-bit 16550A X.509 dquot_6.6.0 sha256 i8042 hpet0 ata1.00",
        "deadbeef defaced cafe",  # hex-looking words without digits
        "v0.103 e820 SMACK64EXEC",
        "no digits at all",
    ],
)
def test_identifiers_stay(text: str) -> None:
    assert normalize_text(text) == text


def test_signature_is_level_subsystem_and_normalized_body() -> None:
    human, linux = parse_text(
        "[    1.000000] [WARN] fs: slow sync took 23.5 ms dirty=12\n"
        "[    2.000000] virtio_blk virtio0: [vda] 131072 512-byte logical blocks\n"
    ).records
    assert signature(human) == "WARN fs: slow sync took <dur> dirty=<num>"
    assert signature(linux) == "virtio_blk virtio0: [vda] <num> <size> logical blocks"


def test_human_and_json_records_share_a_signature() -> None:
    human = (
        "[    0.132804] [INFO] net: eth0: address 10.0.2.15/24 iface=eth0 addr=10.0.2.15"
        " prefix=24 mac=52:54:00:77:a4:de"
    )
    as_json = json.dumps(
        {
            "ts": 132804,
            "seq": 12,
            "level": "INFO",
            "subsystem": "net",
            "status": "addr",
            "msg": "eth0: address 10.0.2.15/24",
            "iface": "eth0",
            "addr": "10.0.2.15",
            "prefix": 24,
            "mac": "52:54:00:77:a4:de",
        },
        separators=(",", ":"),
    )
    assert signatures(human) == signatures(as_json)
    assert signatures(human) == [
        "INFO net: eth0: address <ip> iface=eth0 addr=<ip> prefix=<num> mac=<mac>"
    ]


def test_signatures_of_a_console_capture() -> None:
    console = "sis> ls\nbin\nsis> [    1.000000] [INFO] fs: sync took 2 ms\nsis> "
    assert signatures(console, mixed=True) == ["INFO fs: sync took <dur>"]


# ------------------------------------------------------------------------------ properties

# Text made of what log lines are made of, to reach the rules' corners.
_LOG_ALPHABET = st.text(
    alphabet="0123456789abcdefxABCDEFXKMGiBms .:-/_=()[]#+pidtmeyz\t", max_size=80
)


def _direct(text: str) -> str:
    """The rules applied to the text itself until nothing changes, without the caches."""
    text = " ".join(text.split())
    while True:
        done = normalize._COMBINED.sub(
            lambda m: normalize._DISPATCH[m.lastgroup](m),  # type: ignore[index]
            text,
        )
        if done == text:
            return text
        text = done


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(_LOG_ALPHABET, st.text(max_size=80)))
def test_normalization_is_idempotent(text: str) -> None:
    once = normalize_text(text)
    assert normalize_text(once) == once


@settings(max_examples=500, deadline=None)
@given(text=_LOG_ALPHABET)
def test_the_shape_cache_changes_nothing(text: str) -> None:
    assert normalize_text(text) == _direct(text)


_TEMPLATES = [
    "[{t}] [INFO] fs: mounted /dev/vda1 blocks={n} free={n} took {f} ms",
    "[{t}] [WARN] mm: allocation of {n} bytes failed at {a} pid={p}",
    "[{t}] [INFO] net: eth0: address {ip}/24 mac={mac} rx={n} tx={n}",
    "[{t}] [ERROR] proc: sh[{p}]: segfault at {a} ip {a} sp {a}",
    "[{t}] [INFO] kernel: boot completed in {f} ms boot_ms={f} uptime={f}",
    "[{t}] [DEBUG] blk: request {n} sector {n} len {n} (spectre_v4 virtio_blk eth0 ttyS0)",
    "[{t}] x86/fpu: Supporting XSAVE feature {a}: 'x87 floating point registers'",
    "[{t}] sd 0:0:0:0: [sda] {n} 512-byte logical blocks ({f} MB/{f} MiB)",
    "[{t}] rtc_cmos 00:04: setting system clock to {d} UTC ({n})",
    '{{"ts":{n},"seq":{n},"level":"INFO","subsystem":"fs","status":"x","msg":"wrote {n} bytes",'
    '"pid":{p},"path":"/tmp/sis-{hx}/f","ms":{f}}}',
]


@st.composite
def _values(draw: st.DrawFn) -> dict[str, str]:
    byte = st.integers(0, 255)
    return {
        "t": f"{draw(st.integers(0, 99999)):5d}.{draw(st.integers(0, 999999)):06d}",
        "n": str(draw(st.integers(0, 10**12))),
        "p": str(draw(st.integers(1, 4194304))),
        "f": f"{draw(st.floats(0, 1e6, allow_nan=False)):.{draw(st.integers(0, 4))}f}",
        "a": "0x" + format(draw(st.integers(0, 2**64 - 1)), "x"),
        "ip": ".".join(str(draw(byte)) for _ in range(4)),
        "mac": ":".join(f"{draw(byte):02x}" for _ in range(6)),
        "d": f"{draw(st.integers(1970, 2099))}-{draw(st.integers(1, 12)):02d}-"
        f"{draw(st.integers(1, 28)):02d}T{draw(st.integers(0, 23)):02d}:"
        f"{draw(st.integers(0, 59)):02d}:{draw(st.integers(0, 59)):02d}",
        "hx": format(draw(st.integers(0, 16**8 - 1)), "08x"),
    }


@settings(max_examples=200, deadline=None)
@given(template=st.sampled_from(_TEMPLATES), a=_values(), b=_values())
def test_same_record_with_other_numbers_has_the_same_signature(
    template: str, a: dict[str, str], b: dict[str, str]
) -> None:
    first, second = template.format(**a), template.format(**b)
    assert signatures(first) == signatures(second)
    assert len(signatures(first)) == 1

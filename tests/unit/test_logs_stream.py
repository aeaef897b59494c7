"""The streaming log pipeline: raw capture text to signatures in one pass gives what parsing
every record and normalizing it gives, whatever the chunking, and shares equal signatures."""

from __future__ import annotations

import json
import random

import pytest

from sis.harness.logs import parse as parse_module
from sis.harness.logs.normalize import signature
from sis.harness.logs.parse import parse_text
from sis.harness.logs.stream import scan, signatures


def _capture(n: int = 3000, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ts = f"[{i // 100:5d}.{rng.randrange(10**6):06d}]"
        mac = ":".join(f"{rng.randrange(256):02x}" for _ in range(6))
        k = i % 12
        if k == 0:
            out.append(f"{ts} [INFO] net: eth{rng.randrange(3)}: link up iface=eth0 mac={mac}")
        elif k == 1:
            out.append(f"{ts} [WARN] fs: mounted /tmp/sis-{rng.randrange(16**8):08x}/disk.img")
        elif k == 2:
            obj = {"ts": i, "seq": i, "level": "INFO", "subsystem": "mm", "status": "alloc"}
            obj |= {"msg": f"heap {rng.randrange(10**5)} bytes", "ratio": rng.random()}
            out.append(json.dumps(obj, separators=(",", ":")))
        elif k == 3:
            obj = {"ts": i, "seq": i, "level": "DEBUG", "subsystem": "blk", "status": "io"}
            obj |= {"msg": f"vd{'abc'[i % 3]}{rng.randrange(9)} sector {rng.randrange(10**7)}"}
            out.append(json.dumps(obj, separators=(",", ":")))
        elif k == 4:
            out.append(f"{ts} x86/fpu: xstate_offset[{rng.randrange(9)}]: {rng.randrange(999)}")
        elif k == 5:
            out.append(f"{ts} BIOS-e820: [mem 0x{rng.randrange(16**16):016x}-0x0000ffff] usable")
        elif k == 6:
            out.append(f"{ts} sd 0:0:{rng.randrange(4)}:0: [sda] {rng.randrange(10**6)} blocks")
        elif k == 7:
            out.append(f"{ts} [INFO] kernel: spectre_v{rng.randrange(1, 5)}: mitigation on")
        elif k == 8:
            out.append(f"sis> {ts} [INFO] tty: glued after a prompt {rng.randrange(50)}")
        elif k == 9:
            out.append('{"ts":12,"seq":' if rng.random() < 0.5 else "\x00 junk \x1b[31m")
        elif k == 10:
            h = f"{rng.randrange(16**7):07x}"
            out.append(f"{ts} [INFO] kernel: SIS Kernel {h} (main+) built 2026-11-2{i % 9}")
        else:
            out.append(f"<{rng.randrange(8)}>{ts} e1000 0000:00:0{rng.randrange(9)}.0 eth0: up")
    return "\r\n".join(out) + "\r\n"


def _reference(text: str, mixed: bool = False) -> tuple[list[str], list[int], list[str]]:
    report = parse_text(text, mixed=mixed)
    return (
        [signature(r) for r in report.records],
        [r.line for r in report.records],
        [str(p) for p in report.problems],
    )


@pytest.mark.parametrize("mixed", [False, True])
def test_scan_gives_what_parsing_and_normalizing_every_record_gives(mixed: bool) -> None:
    text = _capture()
    found = scan(text, mixed=mixed, lines=True)
    sigs, lines, problems = _reference(text, mixed)
    assert found.signatures == sigs
    assert found.lines == lines
    assert [str(p) for p in found.problems] == problems
    assert signatures(text, mixed=mixed) == sigs


def test_chunk_boundaries_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _capture(600)
    # A JSON record broken over two lines is joined across a chunk boundary too.
    text += '{"ts":9,"seq":9,"level":"INFO",\r\n"subsystem":"fs","status":"sync"}\r\n'
    whole = scan(text, lines=True)
    for size in (1, 7, 64, 1000):
        monkeypatch.setattr(parse_module, "CHUNK_CHARS", size)
        part = scan(text, lines=True)
        assert (part.signatures, part.lines) == (whole.signatures, whole.lines)
        assert [str(p) for p in part.problems] == [str(p) for p in whole.problems]
        assert [r.line for r in parse_text(text).records] == whole.lines
    assert whole.signatures[-1] == "INFO fs: sync"


def test_bytes_and_text_give_the_same() -> None:
    text = _capture(400)
    assert scan(text.encode()).signatures == scan(text).signatures


def test_digits_a_signature_keeps_come_from_each_line() -> None:
    lines = [f"[    1.00000{i}] [INFO] net: eth{i}: link up" for i in range(10)]
    assert signatures("\n".join(lines)) == [f"INFO net: eth{i}: link up" for i in range(10)]


def test_equal_signatures_are_one_string() -> None:
    sigs = scan(_capture(1200)).signatures
    by_text: dict[str, str] = {}
    for s in sigs:
        assert by_text.setdefault(s, s) is s


def test_lines_alike_but_for_what_the_key_folds_get_their_own_signatures() -> None:
    # Each pair has one key shape (same lengths, hex letters where hex letters were) but
    # parses or masks differently: the scan must not take one's signature for the other's.
    lines = [
        # A leading zero starts 0x hex, and a JSON number may not have one.
        "[    1.000001] mem 0x12f: ok",
        "[    1.000001] mem 1x12f: ok",
        '{"ts":1,"seq":1,"level":"INFO","subsystem":"fs","status":"x","n":0}',
        '{"ts":1,"seq":1,"level":"INFO","subsystem":"fs","status":"x","n":05}',
        # 16 hex digits are an address with a letter, a number without.
        "[    1.000002] at 00000000004011a2 now",
        "[    1.000002] at 0000000000401112 now",
        # A hash is lowercase; a MAC needs a digit.
        "[    1.000003] id 73c9fd7 (main+)",
        "[    1.000003] id 73C9FD7 (main+)",
        "[    1.000004] mac aa:bb:cc:dd:ee:ff up",
        "[    1.000004] mac aa:bb:cc:dd:ee:f1 up",
        # Digits kept by the signature come from each line.
        "[    1.000005] [INFO] net: eth10: up",
        "[    1.000005] [INFO] net: eth11: up",
    ]
    text = "\n".join(lines * 3) + "\n"  # each key seen again, so probed
    sigs, _, problems = _reference(text)
    found = scan(text)
    assert found.signatures == sigs
    assert [str(p) for p in found.problems] == problems


def test_crlf_lf_and_a_mix_read_alike() -> None:
    text = _capture(300)
    lf = text.replace("\r\n", "\n")
    mixed = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lf.splitlines()))
    expected = scan(text, lines=True)
    for other in (lf, mixed):
        found = scan(other, lines=True)
        assert (found.signatures, found.lines) == (expected.signatures, expected.lines)

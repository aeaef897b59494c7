"""Kernel log normalization: lines per second from raw capture text to event signatures.

Prints one JSON object. The input is a generated log (default 1,000,000 lines) mixing SIS
human records, SIS JSON records and Linux printk lines, with run-specific values (timestamps,
sequence numbers, addresses, durations, sizes, pids, MACs, temporary paths) drawn at random,
so messages repeat as templates but rarely as exact text; a few lines are junk or truncated.

* `sis`: `sis.harness.logs.normalize.signatures(text)`, text in, one signature per record
  out, records streamed and dropped: the normalizer.
* `sis_with_report`: `parse_text(text)` (all records kept, with problems and seq gaps) then
  `signature` of each, the way `sis logs baseline` and `sis logs check` use them; on a long
  log it pays for keeping a million records in memory.
* `baseline`: the straightforward way, measured in the same run on the same text: per line,
  `json.loads` for JSON lines or one regex for the timestamp prefix otherwise, then a list of
  `re.sub` calls, one per masking rule.

All produce a signature per record; `agreement` is the share of records on which sis and the
baseline agree (they differ where the simple rules are coarser, e.g. identifiers with digits).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import sys
import time

from sis.harness.logs.normalize import clear_caches, signature, signatures
from sis.harness.logs.parse import parse_text

SUBSYSTEMS = ("kernel", "fs", "net", "mm", "proc", "sched", "tty", "chaos", "blk", "qmp")
LEVELS = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
SIS_EVENTS = (
    ("mount", "root file system mounted on / from {tmp} blocks={n} free_blocks={n}"),
    ("spawn", "pid {pid} sh", "pid={pid} ppid=1"),
    ("exit", "pid {pid} exited with 0", "pid={pid} status=0"),
    ("link_up", "eth0: link up", "iface=eth0"),
    ("addr", "eth0: address {ip}/24", "iface=eth0 addr={ip} prefix=24 mac={mac}"),
    ("boot_done", "boot completed in {ms} ms", "boot_ms={ms}"),
    ("alloc", "heap grew to {mib} MiB", "bytes={n}"),
    ("io", "block write of {n} bytes took {ms} ms", "dev=vda sector={n}"),
    ("mitigation", "spectre_v4: mitigation enabled", ""),
    ("sync", "sync completed", "dirty={n} elapsed_ms={ms}"),
)
LINUX_LINES = (
    "virtio_blk virtio0: [vda] {n} 512-byte logical blocks ({mb} MB/{mib} MiB)",
    "x86/fpu: Supporting XSAVE feature 0x{h3}: 'x87 floating point registers'",
    "sd 0:0:0:0: [sda] {n} 512-byte logical blocks",
    "BIOS-e820: [mem 0x{a16}-0x{a16}] usable",
    "Memory: {n}K/{n}K available ({n}K kernel code, {n}K rwdata)",
    "e1000 0000:00:03.0 eth0: (PCI:33MHz:32-bit) {mac}",
    "random: crng init done",
    "Run /init as init process",
    "rtc_cmos 00:04: setting system clock to 2026-11-26T22:16:{s2} UTC ({n})",
    "sh[{pid}]: segfault at {a16} ip {a16} sp {a16} error 4",
)


def _values(rng: random.Random) -> dict[str, object]:
    return {
        "n": rng.randrange(1, 10**7),
        "pid": rng.randrange(2, 32768),
        "ms": f"{rng.random() * 500:.1f}",
        "mib": rng.choice((64, 128, 256, 512)),
        "mb": f"{rng.random() * 600:.1f}",
        "ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "mac": ":".join(f"{rng.randrange(256):02x}" for _ in range(6)),
        "tmp": f"/tmp/sis-{rng.randrange(16**8):08x}/disk.img",
        "h3": f"{rng.randrange(4096):03x}",
        "a16": f"{rng.randrange(16**16):016x}",
        "s2": f"{rng.randrange(60):02d}",
    }


def generate(lines: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    seq = 0
    ts = 0
    for i in range(lines):
        ts += rng.randrange(1, 5000)
        kind = rng.random()
        v = _values(rng)
        secs, micros = divmod(ts, 1_000_000)
        if i % 997 == 996:
            out.append(rng.choice(("\x00\xff garbage \x1b[31m", '{"ts":12,"seq":', "sis> ")))
            continue
        event = rng.choice(SIS_EVENTS)
        if kind < 0.4:
            seq += 1
            msg = event[1].format(**v)
            extra = event[2].format(**v) if len(event) > 2 else ""
            text = f"{msg} {extra}".rstrip()
            level, sub = rng.choice(LEVELS), rng.choice(SUBSYSTEMS)
            out.append(f"[{secs:5d}.{micros:06d}] [{level}] {sub}: {text}")
        elif kind < 0.75:
            seq += 1
            obj: dict[str, object] = {
                "ts": ts,
                "seq": seq,
                "level": rng.choice(LEVELS),
                "subsystem": rng.choice(SUBSYSTEMS),
                "status": event[0],
                "msg": event[1].format(**v),
            }
            for pair in (event[2].format(**v) if len(event) > 2 else "").split():
                k, _, val = pair.partition("=")
                obj[k] = int(val) if val.isdigit() else val
            out.append(json.dumps(obj, separators=(",", ":")))
        else:
            out.append(f"[{secs:5d}.{micros:06d}] " + rng.choice(LINUX_LINES).format(**v))
    return "\r\n".join(out) + "\r\n"


# ----------------------------------------------------------------------------- the baseline

_PREFIX = re.compile(r"^\[\s*\d+\.\d+\] (?:\[(\w+)\] )?(?:([^\s:]+): )?(.*)$")
_SUBS = [
    (re.compile(r"/tmp/\S*"), "<tmp>"),
    (
        re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-\w{12}\b"),
        "<uuid>",
    ),
    (re.compile(r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b"), "<mac>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d+)?\b"), "<ip>"),
    (re.compile(r"\b\d{4}-\d{2}-\d{2}(?:T[\d:]+)?\b"), "<date>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<addr>"),
    (re.compile(r"\b[0-9a-f]{16}\b"), "<addr>"),
    (re.compile(r"\b(pid|ppid|PID)([=: ]+)\d+"), r"\1\2<pid>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:ms|us|ns|s)\b"), "<dur>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?(?:[KMG]i?B|bytes|K)\b"), "<size>"),
    (re.compile(r"\b\d+(?:\.\d+)?\b"), "<num>"),
]


def baseline_signatures(text: str) -> list[str]:
    out = []
    for line in text.split("\r\n"):
        if not line:
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            fields = " ".join(
                f"{k}={v}"
                for k, v in obj.items()
                if k not in ("ts", "seq", "level", "subsystem", "status", "msg")
            )
            level, sub = obj.get("level"), obj.get("subsystem")
            body = f"{obj.get('msg') or obj.get('status')} {fields}".rstrip()
        else:
            m = _PREFIX.match(line)
            if m is None:
                continue
            level, sub, body = m.groups()
        for rx, repl in _SUBS:
            body = rx.sub(repl, body)
        out.append(f"{level} {sub}: {body}")
    return out


def sis_with_report(text: str) -> list[str]:
    return [signature(r) for r in parse_text(text).records]


def _measure(fn, text: str, lines: int, repeat: int) -> tuple[float, list[str]]:
    best, result = float("inf"), []
    for _ in range(repeat):
        clear_caches()  # every run starts cold: caches only hold what this text taught them
        result = []
        started = time.perf_counter()
        result = fn(text)
        best = min(best, time.perf_counter() - started)
    return lines / best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs each")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    text = generate(args.lines, args.seed)
    base_rate, base = _measure(baseline_signatures, text, args.lines, args.repeat)
    sis_rate, sis = _measure(signatures, text, args.lines, args.repeat)
    report_rate, _ = _measure(sis_with_report, text, args.lines, args.repeat)
    agree = sum(a == b for a, b in zip(sis, base, strict=False)) / max(1, min(len(sis), len(base)))
    print(
        json.dumps(
            {
                "benchmark": "log_normalize",
                "lines": args.lines,
                "records": len(sis),
                "sis_lines_per_s": round(sis_rate),
                "baseline_lines_per_s": round(base_rate),
                "speedup": round(sis_rate / base_rate, 2),
                "sis_with_report_lines_per_s": round(report_rate),
                "speedup_with_report": round(report_rate / base_rate, 2),
                "agreement": round(agree, 3),
                "python": platform.python_version(),
                "machine": platform.machine(),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())

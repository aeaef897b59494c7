"""Kernel log normalization against Drain3: lines per second from raw capture text to event
signatures, peak memory, and how well each groups records by their true template.

Prints one JSON object. The input is a generated log (default 1,000,000 lines) mixing SIS
human records, SIS JSON records and Linux printk lines, with run-specific values (timestamps,
sequence numbers, addresses, durations, sizes, pids, MACs, temporary paths) drawn at random,
so messages repeat as templates but rarely as exact text; a few lines are junk or truncated.
The generator knows each record's true template (level, subsystem and event, or the Linux
line it was made from).

Contenders, each run in a fresh process on the same text (read from a file), interleaved,
best of `--repeat` rounds for speed, the memory of the last round:

* `sis`: `sis.harness.logs.stream.signatures(text)`, raw text in, one signature per
  record out, in one streaming pass (`sis.harness.logs.stream`).
* `sis_with_report`: `parse_text(text)` (every record kept, with problems and seq gaps),
  then `signature` of each: what `sis logs parse --signatures` does.
* `drain3_defaults` and `drain3_tuned`: the Drain3 template miner (logpai; PyPI `drain3`,
  not a SIS dependency: the peer is skipped with a note when it is not installed), fed each
  record as ``LEVEL subsystem: body`` from SIS's parser (parsing not timed for it), no
  persistence (so it writes nothing and opens no connection). `drain3_defaults` runs
  `TemplateMinerConfig()` as it comes; `drain3_tuned` runs the configuration Drain3's README
  and its example `drain3.ini` suggest (the example's masking instructions for IDs, IPs,
  hex sequences, hex and decimal numbers, its `sim_th`, `max_children`, `max_clusters` and
  `extra_delimiters`), with `depth` 5: a record begins with two fixed tokens (level and
  subsystem) before its message, so the parse tree gets one routing level more than the
  default 4. Both configurations are printed with the figures.

Memory: the peak resident memory of the process above what it held once the input text was
loaded (`/proc/self/clear_refs` resets the peak). Accuracy: groups (distinct signatures or
Drain3 clusters) against true templates; an over-merge is a true template lost in a group
with another, a split is an extra group for one true template. (The ``exit`` event's
``status=0`` field is in its human records but not its JSON ones, where ``status`` is the
event: one split per level and subsystem that no normalizer can join.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

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


def generate(lines: int, seed: int = 1, truth: list[str] | None = None) -> str:
    """The capture text; `truth` gets the true template of each record, in order."""
    rng = random.Random(seed)
    note = truth.append if truth is not None else (lambda _t: None)
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
            note(f"{level}|{sub}|{event[0]}")
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
                # As the kernel writes it (sis.contract.log.format_json): a field named like
                # a member the format has (status) is left out.
                obj.setdefault(k, int(val) if val.isdigit() else val)
            out.append(json.dumps(obj, separators=(",", ":")))
            note(f"{obj['level']}|{obj['subsystem']}|{event[0]}")
        else:
            template = rng.randrange(len(LINUX_LINES))
            out.append(f"[{secs:5d}.{micros:06d}] " + LINUX_LINES[template].format(**v))
            note(f"linux|{template}")
    return "\r\n".join(out) + "\r\n"


def _rss_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _records_text(text: str) -> list[str]:
    from sis.harness.logs.parse import iter_records

    out = []
    for r in iter_records(text):
        head = (
            f"{r.level} {r.subsystem}: " if r.level else (f"{r.subsystem}: " if r.subsystem else "")
        )
        out.append(head + r.body)
    return out


#: Drain3's example drain3.ini (logpai/Drain3, examples/drain3.ini): masking instructions as
#: (regex, mask), and its [DRAIN] section with depth raised from 4 to 5 (see the docstring).
_NOT_ALNUM_BEFORE, _NOT_ALNUM_AFTER = r"((?<=[^A-Za-z0-9])|^)", r"((?=[^A-Za-z0-9])|$)"
DRAIN3_EXAMPLE_MASKING = (
    (_NOT_ALNUM_BEFORE + r"(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))" + _NOT_ALNUM_AFTER, "ID"),
    (_NOT_ALNUM_BEFORE + r"(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})" + _NOT_ALNUM_AFTER, "IP"),
    (_NOT_ALNUM_BEFORE + r"([0-9a-f]{6,} ?){3,}" + _NOT_ALNUM_AFTER, "SEQ"),
    (_NOT_ALNUM_BEFORE + r"([0-9A-F]{4} ?){4,}" + _NOT_ALNUM_AFTER, "SEQ"),
    (_NOT_ALNUM_BEFORE + r"(0x[a-f0-9A-F]+)" + _NOT_ALNUM_AFTER, "HEX"),
    (_NOT_ALNUM_BEFORE + r"([\-\+]?\d+)" + _NOT_ALNUM_AFTER, "NUM"),
    (r"(?<=executed cmd )(\".+?\")", "CMD"),
)
DRAIN3_TUNED = {
    "drain_sim_th": 0.4,
    "drain_depth": 5,
    "drain_max_children": 100,
    "drain_max_clusters": 1024,
    "drain_extra_delimiters": ["_"],
    "mask_prefix": "<:",
    "mask_suffix": ":>",
}


def drain3_config(name: str) -> object:
    """The TemplateMinerConfig of a Drain3 contender (profiling off: it only adds time)."""
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    if name == "drain3_tuned":
        for key, value in DRAIN3_TUNED.items():
            setattr(config, key, value)
        config.masking_instructions = [
            MaskingInstruction(rx, mask) for rx, mask in DRAIN3_EXAMPLE_MASKING
        ]
    return config


def describe_drain3(name: str) -> dict[str, object]:
    """The configuration a Drain3 contender ran with, as printed in the results."""
    config = drain3_config(name)
    out = {k: v for k, v in vars(config).items() if k.startswith(("drain_", "mask_"))}
    out["masking"] = [m.mask_with for m in config.masking_instructions]  # type: ignore[attr-defined]
    return out


def child(name: str, path: str) -> dict[str, object]:
    """One contender in this process: its rate, peak memory and groups."""
    import gc

    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    gc.collect()
    lines = text.count("\n")
    if name.startswith("drain3"):
        from drain3 import TemplateMiner

        messages = _records_text(text)
        miner = TemplateMiner(persistence_handler=None, config=drain3_config(name))
        gc.collect()
        base = _rss_kib("VmRSS")
        peak_ok = _reset_peak()
        started = time.perf_counter()
        groups = [miner.add_log_message(m)["cluster_id"] for m in messages]
        elapsed = time.perf_counter() - started
    else:
        from sis.harness.logs import stream
        from sis.harness.logs.normalize import signature
        from sis.harness.logs.parse import parse_text
        from sis.harness.logs.stream import signatures

        stream.line_key("")  # its imports (numpy) are not the pipeline's memory or time
        gc.collect()
        base = _rss_kib("VmRSS")
        peak_ok = _reset_peak()
        started = time.perf_counter()
        if name == "sis":
            groups = signatures(text)
        else:
            groups = [signature(r) for r in parse_text(text).records]
        elapsed = time.perf_counter() - started
    peak = _rss_kib("VmHWM")
    return {
        "lines_per_s": round(lines / elapsed),
        "peak_mib_above_input": round((peak - base) / 1024, 1) if peak_ok else None,
        "groups": groups,
    }


def accuracy(groups: list[object], truth: list[str]) -> dict[str, int]:
    members: dict[object, set[str]] = defaultdict(set)
    homes: dict[str, set[object]] = defaultdict(set)
    for g, t in zip(groups, truth, strict=True):
        members[g].add(t)
        homes[t].add(g)
    return {
        "groups": len(members),
        "true_templates": len(homes),
        "over_merged": sum(len(ts) - 1 for ts in members.values()),
        "split": sum(len(gs) - 1 for gs in homes.values()),
    }


def _have_drain3() -> bool:
    try:
        import drain3  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--truth", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        result = child(args.child, args.file)
        with open(args.truth, encoding="utf-8") as f:
            truth = f.read().split("\n")
        groups = result.pop("groups")
        result["records"] = len(groups)  # type: ignore[arg-type]
        result |= accuracy(groups, truth) if len(groups) == len(truth) else {"mismatch": True}
        print(json.dumps(result))
        return
    truth: list[str] = []
    text = generate(args.lines, args.seed, truth)
    contenders = ["sis", "sis_with_report"]
    notes = []
    if _have_drain3():
        contenders += ["drain3_defaults", "drain3_tuned"]
    else:
        notes.append("drain3 not installed (pip install drain3): peer skipped")
    runs: dict[str, list[dict]] = {c: [] for c in contenders}
    with tempfile.TemporaryDirectory() as tmp:
        path, truth_path = os.path.join(tmp, "capture.log"), os.path.join(tmp, "truth")
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        with open(truth_path, "w", encoding="utf-8") as f:
            f.write("\n".join(truth))
        del text
        for _ in range(args.repeat):
            for name in contenders:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        name,
                        "--file",
                        path,
                        "--truth",
                        truth_path,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                runs[name].append(json.loads(out.strip().splitlines()[-1]))
    report: dict[str, object] = {"benchmark": "log_normalize", "lines": args.lines}
    for name, rs in runs.items():
        best = max(rs, key=lambda r: r["lines_per_s"])
        report[name] = {
            **rs[-1],
            "lines_per_s": best["lines_per_s"],
            "lines_per_s_runs": [r["lines_per_s"] for r in rs],
        }
    for name in ("drain3_defaults", "drain3_tuned"):
        if name in runs:
            report[name]["config"] = describe_drain3(name)  # type: ignore[index]
            rate = report[name]["lines_per_s"]  # type: ignore[index]
            report[f"sis_vs_{name}_speed"] = round(report["sis"]["lines_per_s"] / rate, 2)  # type: ignore[index]
    report |= {
        "goal_lines_per_s": 300_000,
        "goal_peak_mib_above_input": 64,
        "notes": notes,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    sys.exit(main())

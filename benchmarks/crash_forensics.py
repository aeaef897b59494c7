"""Crash forensics: parse + title throughput over the fixture set, and symbolizing a 100-frame
trace against a kernel's symbols, cold and warm, against one `addr2line` run for the whole
trace.

Prints one JSON object.

* `parse`: `find_crashes(text)` over every fixture in tests/data/crashes, repeated for
  `--seconds`; `reports_per_s` counts the crashes found (fixtures without one still cost).
* `symbolize`: a trace of 100 frames, each the start of a random function plus a small offset
  (bare addresses, as a raw `[<ffffffff...>]` trace shows them), resolved with
  `symbolize(crash, VMLINUX)`: `cold_s` reads the symbol table from the file (no cache),
  `disk_cache_s` from the JSON cache of an earlier run (a new process), `warm_s` from memory;
  `lines` says how many frames got file:line.
* `addr2line`: the baseline measured in the same run: one `addr2line -f -e VMLINUX ADDR...`
  process given every frame's address (addr2line reads its DWARF line table once and answers
  each address in turn), as its manual shows. It resolves file:line from DWARF, which
  `symbolize` also reads for its `lines`; `same_function` and `same_file_line` say how often
  the two agree, not which is right (addr2line names the innermost inlined function, a
  kernel trace the symbol).

The vmlinux with symbols and debug info is Debian's linux-image-<version>-dbg
(/usr/lib/debug/boot/vmlinux-<version>); `--vmlinux` points elsewhere. Without it (or without
addr2line) those parts say why they were skipped.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sis.harness.forensics import Crash, CrashType, Frame, find_crashes, load_symbols, symbolize

# The package exports the function `symbolize`; the cache lives in the module of that name.
symbolize_module = importlib.import_module("sis.harness.forensics.symbolize")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "crashes"


def _default_vmlinux() -> Path | None:
    found = sorted(Path("/usr/lib/debug/boot").glob("vmlinux-*"))
    return found[-1] if found else None


def bench_parse(seconds: float) -> dict[str, object]:
    texts = [p.read_text(encoding="utf-8").partition("\n\n")[2] for p in FIXTURES.glob("*/*")]
    size = sum(len(t) for t in texts)
    rounds = reports = 0
    start = time.perf_counter()
    while True:
        for t in texts:
            reports += len(find_crashes(t))
        rounds += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {
        "fixtures": len(texts),
        "bytes": size,
        "rounds": rounds,
        "reports": reports,
        "seconds": round(elapsed, 3),
        "reports_per_s": round(reports / elapsed, 1),
        "mb_per_s": round(size * rounds / elapsed / 1e6, 2),
    }


def _trace(vmlinux: Path, n: int, seed: int) -> list[int]:
    table = load_symbols(vmlinux, disk_cache=False)
    rng = random.Random(seed)
    end = table.address_of("_etext") or max(table.addrs)
    text = [
        (a, s)
        for a, s, name in zip(table.addrs, table.sizes, table.names, strict=True)
        if s >= 16 and table.text_start <= a < end and not name.startswith("__pfx_")
    ]
    return [a + rng.randrange(4, s) for a, s in rng.sample(text, n)]


def bench_symbolize(vmlinux: Path, frames: int, seed: int) -> dict[str, object]:
    addrs = _trace(vmlinux, frames, seed)
    crash = Crash(
        CrashType.OOPS, "", frames=[Frame(address=a) for a in addrs], os="linux", format="oops"
    )
    out: dict[str, object] = {"vmlinux": str(vmlinux), "frames": frames}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["XDG_CACHE_HOME"] = cache
        symbolize_module._cache.clear()
        t = time.perf_counter()
        decoded = symbolize(crash, vmlinux)  # reads .symtab, writes the disk cache
        out["cold_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        symbolize(crash, vmlinux)
        out["warm_s"] = round(time.perf_counter() - t, 4)
        symbolize_module._cache.clear()  # as a new process would start
        t = time.perf_counter()
        symbolize(crash, vmlinux)
        out["disk_cache_s"] = round(time.perf_counter() - t, 3)
    out["named"] = sum(bool(f.function) for f in decoded.frames)
    out["lines"] = sum(bool(f.file) for f in decoded.frames)
    out["_decoded"] = decoded
    out["_addrs"] = addrs
    return out


def bench_addr2line(vmlinux: Path, addrs: list[int], decoded: Crash) -> dict[str, object]:
    exe = shutil.which("addr2line")
    if exe is None:
        return {"skipped": "addr2line is not installed (apt-get install binutils)"}
    t = time.perf_counter()
    r = subprocess.run(
        [exe, "-f", "-e", str(vmlinux), *(f"{a:#x}" for a in addrs)],
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - t
    lines = r.stdout.split("\n")
    # Two lines per address: the function, then FILE:LINE.
    outputs = [lines[i : i + 2] for i in range(0, 2 * len(addrs), 2)]
    if r.returncode != 0 or len(lines) < 2 * len(addrs):
        return {"skipped": f"addr2line failed: {r.stderr.strip()[:200]}"}
    same_fn = same_line = 0
    for out, frame in zip(outputs, decoded.frames, strict=True):
        same_fn += out[0].strip() == frame.function
        where = out[1].strip() if len(out) > 1 else ""
        same_line += bool(frame.file) and where.endswith(f"{frame.file}:{frame.line}")
    return {
        "seconds": round(elapsed, 3),
        "processes": 1,
        "addresses": len(addrs),
        # addr2line names the innermost inlined function (DWARF), a kernel trace the symbol.
        "same_function": same_fn,
        "same_file_line": same_line,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="parse benchmark duration")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--vmlinux", type=Path, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    result: dict[str, object] = {
        "benchmark": "crash_forensics",
        "python": platform.python_version(),
        "parse": bench_parse(args.seconds),
    }
    vmlinux = args.vmlinux or _default_vmlinux()
    if vmlinux is None or not vmlinux.exists():
        result["symbolize"] = {
            "skipped": "no vmlinux with symbols (Debian: apt-get install linux-image-$(uname -r)-dbg)"
        }
    else:
        sym = bench_symbolize(vmlinux, args.frames, args.seed)
        decoded = sym.pop("_decoded")
        addrs = sym.pop("_addrs")
        result["symbolize"] = sym
        result["addr2line"] = bench_addr2line(vmlinux, addrs, decoded)  # type: ignore[arg-type]
        base = result["addr2line"].get("seconds")  # type: ignore[union-attr]
        if base:
            result["speedup_cold"] = round(base / max(sym["cold_s"], 1e-9), 1)  # type: ignore[operator]
            result["speedup_warm"] = round(base / max(sym["warm_s"], 1e-9), 1)  # type: ignore[operator]
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

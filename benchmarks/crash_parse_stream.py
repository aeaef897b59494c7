"""`sis crash parse` on a large console capture: time and peak memory of the streamed parse
(`stream_crashes`, what the command runs), against the baseline measured in the same run on the
same file: reading the whole capture into memory and parsing it at once (`find_crashes(text)`,
what the command did before).

Prints one JSON object. The capture is the fixture corpus (tests/data/crashes/linux) repeated
between runs of ordinary console chatter until it reaches `--mb` megabytes. Each variant runs in
its own process so that its peak RSS (`ru_maxrss`) is its own.

    .venv/bin/python benchmarks/crash_parse_stream.py [--mb 50]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "crashes" / "linux"
CHATTER = "[{t:12.6f}] e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX/TX\n"


def write_capture(path: Path, megabytes: float) -> int:
    texts = [
        p.read_text(encoding="utf-8").partition("\n\n")[2]
        for p in sorted(FIXTURES.iterdir())
        if p.is_file()
    ]
    target = int(megabytes * 1024 * 1024)
    size = 0
    t = 0.0
    with open(path, "w", encoding="utf-8") as f:
        while size < target:
            for text in texts:
                chunk = "".join(CHATTER.format(t=t + i / 1000) for i in range(40)) + text + "\n"
                t += 1.0
                f.write(chunk)
                size += len(chunk.encode())
                if size >= target:
                    break
    return size


def child(mode: str, path: str) -> None:
    from sis.harness.forensics import find_crashes, stream_crashes

    start = time.perf_counter()
    if mode == "stream":
        with open(path, "rb") as f:
            n = sum(1 for _ in stream_crashes(f))
    else:
        text = Path(path).read_bytes().decode("utf-8", "replace")
        n = len(find_crashes(text))
    seconds = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"crashes": n, "seconds": round(seconds, 2), "peak_rss_mb": rss_kb // 1024}))


def run(mode: str, path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=50.0)
    ap.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "console.log"
        size = write_capture(path, args.mb)
        streamed = run("stream", path)
        whole = run("whole", path)
    result = {
        "capture_mb": round(size / 1024 / 1024, 1),
        "stream": streamed,
        "baseline_whole_file": whole,
        "same_crash_count": streamed["crashes"] == whole["crashes"],
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}; shared, 2 cores",
    }
    json.dump(result, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sequential write and read of a 32 MiB file through SISFS on a disk image, against plain
Python file I/O of the same size in the same directory (so on the same disk).

Prints one JSON object: MB/s for each, and SISFS as a ratio of the baseline. Write times
include the fsync that makes the data durable (SISFS: journal commit and checkpoint).
Usage: python benchmarks/fs_throughput.py [--dir DIR] [--size-mib N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from sis.kernel.drivers.block import FileBlockDevice, create_image
from sis.kernel.fs import FileSystem

CHUNK = 1024 * 1024


def payload(size: int) -> bytes:
    return (bytes(range(256)) * (CHUNK // 256)) * (size // CHUNK)


def sisfs_run(image: Path, data: bytes) -> tuple[float, float, dict[str, int]]:
    create_image(image, len(data) * 2)
    dev = FileBlockDevice(image)
    FileSystem.format(dev)
    fs = FileSystem.mount(dev)
    ino = fs.create(fs.ROOT_INO, "bench", 0o644)
    writes_before = dev.stats.writes
    t0 = time.perf_counter()
    for off in range(0, len(data), CHUNK):
        fs.write(ino, off, data[off : off + CHUNK])
    fs.fsync(ino)
    write_s = time.perf_counter() - t0
    stats = {
        "journal_commits": fs.journal.commits,
        "block_writes": dev.stats.writes - writes_before,
    }
    fs.unmount()
    dev.close()

    # Read through a fresh mount, so that nothing comes from the file system's own cache.
    dev = FileBlockDevice(image, read_only=True)
    fs = FileSystem.mount(dev)
    t0 = time.perf_counter()
    got = bytearray()
    for off in range(0, len(data), CHUNK):
        got += fs.read(ino, off, CHUNK)
    read_s = time.perf_counter() - t0
    dev.close()
    if got != data:
        raise SystemExit("read back different data")
    image.unlink()
    return write_s, read_s, stats


def baseline_run(path: Path, data: bytes) -> tuple[float, float]:
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for off in range(0, len(data), CHUNK):
            f.write(data[off : off + CHUNK])
        f.flush()
        os.fsync(f.fileno())
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = bytearray()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            got += chunk
    read_s = time.perf_counter() - t0
    if got != data:
        raise SystemExit("baseline read back different data")
    path.unlink()
    return write_s, read_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="directory for the image (default: a temp dir)")
    ap.add_argument("--size-mib", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = ap.parse_args()
    size = args.size_mib * CHUNK
    data = payload(size)
    mb = size / 1e6
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        sis = [sisfs_run(Path(tmp) / "sisfs.img", data) for _ in range(args.repeat)]
        base = [baseline_run(Path(tmp) / "plain.bin", data) for _ in range(args.repeat)]
    fs_write = min(s[0] for s in sis)
    fs_read = min(s[1] for s in sis)
    base_write = min(b[0] for b in base)
    base_read = min(b[1] for b in base)
    stats = sis[0][2]
    print(
        json.dumps(
            {
                "benchmark": "fs_throughput",
                "size_mib": args.size_mib,
                "sisfs_write_mb_s": round(mb / fs_write, 1),
                "sisfs_read_mb_s": round(mb / fs_read, 1),
                "baseline_write_mb_s": round(mb / base_write, 1),
                "baseline_read_mb_s": round(mb / base_read, 1),
                "write_ratio": round(base_write / fs_write, 3),
                "read_ratio": round(base_read / fs_read, 3),
                "journal_commits": stats["journal_commits"],
                # Full data journaling writes every block twice (journal, then home).
                "write_amplification": round(stats["block_writes"] * 4096 / size, 2),
            }
        )
    )


if __name__ == "__main__":
    main()

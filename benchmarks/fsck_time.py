"""fsck time on a full 64 MiB SISFS image, against simply reading every block of it.

The image is filled with a seeded mix of small and large files in a few directories until the
file system reports ENOSPC. Prints one JSON object.
Usage: python benchmarks/fsck_time.py [--dir DIR] [--size-mib N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from sis.kernel.drivers.block import FileBlockDevice, create_image
from sis.kernel.drivers.rng import Rng
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck


def fill(image: Path, size: int) -> tuple[int, int]:
    """Fill the image; returns (files, directories) created."""
    create_image(image, size)
    dev = FileBlockDevice(image)
    FileSystem.format(dev)
    fs = FileSystem.mount(dev)
    rng = Rng(1)
    blob = rng.bytes(1024 * 1024)
    dirs = [fs.mkdir(fs.ROOT_INO, f"dir{i:02d}", 0o755) for i in range(16)]
    files = 0
    try:
        while True:
            d = dirs[rng.randrange(len(dirs))]
            # Mostly small files, some spanning the indirect blocks.
            n = rng.randrange(64 * 1024) + 1 if rng.chance(0.9) else rng.randrange(1024 * 1024) + 1
            ino = fs.create(d, f"file{files:05d}", 0o644)
            files += 1
            if fs.write(ino, 0, blob[:n]) < n:
                break
    except KernelError as e:
        if e.errno != Errno.ENOSPC:
            raise
    fs.unmount()
    dev.close()
    return files, len(dirs) + 1


def timed_fsck(image: Path) -> tuple[float, bool, int]:
    dev = FileBlockDevice(image, read_only=True)
    t0 = time.perf_counter()
    report = fsck(dev)
    elapsed = time.perf_counter() - t0
    dev.close()
    return elapsed, report.clean, report.used_blocks


def timed_read_all(image: Path) -> float:
    dev = FileBlockDevice(image, read_only=True)
    t0 = time.perf_counter()
    for n in range(dev.block_count):
        dev.read_block(n)
    elapsed = time.perf_counter() - t0
    dev.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=None, help="directory for the image (default: a temp dir)")
    ap.add_argument("--size-mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each; the best is reported")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        image = Path(tmp) / "full.img"
        files, directories = fill(image, args.size_mib * 1024 * 1024)
        runs = [timed_fsck(image) for _ in range(args.repeat)]
        baseline = min(timed_read_all(image) for _ in range(args.repeat))
    fsck_s = min(r[0] for r in runs)
    total_blocks = args.size_mib * 256
    print(
        json.dumps(
            {
                "benchmark": "fsck_time",
                "image_mib": args.size_mib,
                "files": files,
                "directories": directories,
                "used_blocks": runs[0][2],
                "total_blocks": total_blocks,
                "clean": all(r[1] for r in runs),
                "fsck_s": round(fsck_s, 4),
                "read_all_blocks_s": round(baseline, 4),
                "ratio": round(fsck_s / baseline, 3),
            }
        )
    )


if __name__ == "__main__":
    main()

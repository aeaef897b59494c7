"""The linux-busybox image's scratch disk: an ext4 file system made on the host (mkfs.ext4,
from e2fsprogs) that the guest mounts, so the chaos lab checks a real file system.

The file system leaves the last MiB of the disk alone: the chaos workload writes its
acknowledgement marks there (raw blocks of /dev/vda that the file system never touches), so
every mark lands in the disk's write log between the writes it follows and precedes.

The disk is rebuilt when it is not the one made last (a digest of its data, kept beside it),
so a disk a run wrote to is never handed out as a fresh one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from sis.harness.images.errors import ImageError

__all__ = ["BLOCK", "FS_LABEL", "MARK_BYTES", "ensure_ext4_disk", "fs_bytes"]

BLOCK = 4096
MARK_BYTES = 1 << 20  # the reserved tail of the disk
FS_LABEL = "sis-chaos"
E2FSPROGS_HINT = "install e2fsprogs (`apt-get install e2fsprogs`)"


def fs_bytes(disk_size: int) -> int:
    """How much of a disk of `disk_size` bytes the file system covers."""
    return disk_size - MARK_BYTES


def ensure_ext4_disk(path: Path, size: int, *, replace: bool) -> None:
    """Leave at `path` a disk of `size` bytes holding a fresh, empty ext4 file system."""
    sidecar = path.with_name(path.name + ".sha256")
    if not replace and path.is_file() and path.stat().st_size == size:
        with contextlib.suppress(OSError):
            if sidecar.read_text().strip() == data_digest(path):
                return
    mkfs = shutil.which("mkfs.ext4") or next(
        (p for p in ("/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4") if os.path.exists(p)), None
    )
    if mkfs is None:
        raise ImageError(f"mkfs.ext4 not found: {E2FSPROGS_HINT}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.ftruncate(fd, size)
        os.fchmod(fd, 0o644)
        os.close(fd)
        # 4 KiB blocks (the lab's block size); the tables written now rather than lazily by
        # the guest's kernel, so the first mount does not fill the write log with them; no
        # discard (the file is already sparse).
        r = subprocess.run(
            [
                mkfs,
                "-F",
                "-q",
                "-b",
                str(BLOCK),
                "-L",
                FS_LABEL,
                "-E",
                "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
                tmp,
                str(fs_bytes(size) // BLOCK),
            ],  # fmt: skip
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        if r.returncode != 0:
            raise ImageError(f"mkfs.ext4 failed: {(r.stderr or r.stdout).strip()[-300:]}")
        digest = data_digest(Path(tmp))
        os.replace(tmp, path)
        sidecar.write_text(digest + "\n")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def data_digest(path: Path) -> str:
    """sha256 over the disk's data (holes read as zeros without reading them)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        h.update(size.to_bytes(8, "little"))
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            f.seek(data)
            remaining = hole - data
            offset = data
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                if chunk.count(0) != len(chunk):
                    h.update(offset.to_bytes(8, "little"))
                    h.update(chunk)
                offset += len(chunk)
                remaining -= len(chunk)
            pos = hole
    return h.hexdigest()

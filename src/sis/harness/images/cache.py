"""The image cache: where built images live, whether one is up to date with its inputs, and
the file operations that let parallel builders and running QEMUs share a cache directory.

An image directory holds its outputs and a ``manifest.json`` recording every input (by path,
size and sha256) and every output's size: a build is a cheap no-op until an input changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "default_image_dir",
    "ensure_empty_disk",
    "file_record",
    "locked",
    "sources_digest",
    "up_to_date",
    "write_atomic",
    "write_manifest",
]


def default_image_dir(name: str = "linux-busybox") -> Path:
    """``$XDG_CACHE_HOME/sis/images/NAME`` (``~/.cache`` when unset)."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sis" / "images" / name


def file_record(path: Path) -> dict[str, object]:
    """Path, size and sha256 of a file: how the manifest names an input or an output."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return {"path": str(path), "size": path.stat().st_size, "sha256": digest.hexdigest()}


def sources_digest(*paths: str | Path) -> str:
    """One sha256 over source files: a change to the code that builds an image invalidates
    the images it built."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def up_to_date(manifest_path: Path, inputs: dict[str, object], paths: dict[str, Path]) -> bool:
    """True if the manifest records these inputs and every output is there, of its size."""
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("inputs") != inputs:
        return False
    # Sizes catch a truncated or replaced output without re-hashing 60+ MB on every call.
    for name, record in manifest.get("outputs", {}).items():
        path = paths.get(name)
        if path is None or not path.is_file() or path.stat().st_size != record.get("size"):
            return False
    return True


def write_manifest(
    manifest_path: Path,
    inputs: dict[str, object],
    outputs: dict[str, Path],
    extra: dict[str, object] | None = None,
) -> None:
    """Record the inputs and the outputs just built (and `extra` facts about them); written
    last, so a build that stops half way leaves no manifest and is redone."""
    manifest = {
        "inputs": inputs,
        "outputs": {name: file_record(path) for name, path in outputs.items()},
        **(extra or {}),
    }
    write_atomic(manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Serialise builders sharing a cache directory (parallel test sessions)."""
    with lock_path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_atomic(path: Path, data: bytes) -> None:
    # A QEMU already running from the old file keeps its inode; readers never see half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def ensure_empty_disk(path: Path, size: int, *, replace: bool) -> None:
    """Leave an empty sparse raw disk of `size` bytes at `path` (a new one if `replace`)."""
    if not replace and path.is_file() and path.stat().st_size == size and _is_empty(path):
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.ftruncate(fd, size)
        os.fchmod(fd, 0o644)
        os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _is_empty(path: Path) -> bool:
    """True if the file holds only zeros; sparse holes are skipped without reading them."""
    with path.open("rb") as f:
        fd = f.fileno()
        try:
            offset = os.lseek(fd, 0, os.SEEK_DATA)
        except OSError:
            return True  # ENXIO: no data at all
        while True:
            try:
                hole = os.lseek(fd, offset, os.SEEK_HOLE)
            except OSError:
                return True
            f.seek(offset)
            remaining = hole - offset
            while remaining > 0:
                chunk = f.read(min(remaining, 1 << 20))
                if not chunk:
                    return True
                if chunk.count(0) != len(chunk):
                    return False
                remaining -= len(chunk)
            try:
                offset = os.lseek(fd, hole, os.SEEK_DATA)
            except OSError:
                return True

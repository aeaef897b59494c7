"""The output directory of a run: locked while the run writes into it, files written whole.

Two runs into one OUT would mix their results and share their targets' disk images, so a run
holds an exclusive lock on `OUT/.sis-lock` (the holder's pid is written inside, for the
message the second run prints). Reports are written to a temporary file and renamed, so a
full disk leaves the previous report, never half of a new one."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path

LOCK_NAME = ".sis-lock"


class OutputError(Exception):
    """OUT cannot be used: not a directory, not writable, full, or in use by another run."""


def describe_os_error(path: Path | str, e: OSError) -> str:
    why = {
        errno.ENOSPC: "no space left on device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EFBIG: "file too large",
        errno.EROFS: "read-only file system",
    }.get(e.errno or 0, e.strerror or str(e))
    return f"{path}: {why}"


class OutputDir:
    """`with OutputDir(out) as d:` creates OUT if needed and holds its lock for the block."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def __enter__(self) -> OutputDir:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            raise OutputError(f"{self.path}: exists and is not a directory") from None
        except NotADirectoryError:
            raise OutputError(f"{self.path}: a parent of it is not a directory") from None
        except OSError as e:
            raise OutputError(describe_os_error(self.path, e)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OutputError(
                f"{self.path}: in use by another run (pid {holder}); "
                "wait for it or choose another --out"
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write `path` whole or not at all (temporary file in the same directory, then rename)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(describe_os_error(path, e)) from None

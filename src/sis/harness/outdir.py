"""The output directory of a run: locked while the run writes into it, files written whole.

Two runs into one OUT would mix their results and share their targets' disk images, so a run
holds an exclusive lock on `OUT/.sis-lock` (the holder's pid is written inside, for the
message the second run prints). Reports are written to a temporary file and renamed, so a
full disk leaves the previous report, never half of a new one.

An OUT may be shared (under /tmp, say) and prepared by someone else: a link `results.jsonl ->
~/file` would have the run overwrite that file. So an OUT owned by neither the user running SIS
nor root is refused, a symbolic link inside it is refused when the run starts, and files are
created with `open_for_writing`: never through a link (O_NOFOLLOW), never a FIFO or a device,
and where they must be new, never over what is there (O_EXCL)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from pathlib import Path
from typing import IO, Any

LOCK_NAME = ".sis-lock"
# How deep the start-of-run check looks for links (OUT/targets/<file> is two levels down).
_CHECK_DEPTH = 4
_CHECK_ENTRIES = 100_000


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
            check_owner(self.path)
            fd = open_for_writing(self.path / LOCK_NAME, truncate=False, read=True)
        except FileExistsError:
            raise OutputError(f"{self.path}: exists and is not a directory") from None
        except NotADirectoryError:
            raise OutputError(f"{self.path}: a parent of it is not a directory") from None
        except OSError as e:
            raise OutputError(describe_os_error(e.filename or self.path, e)) from None
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
        try:
            refuse_links(self.path)
        except OutputError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


def check_owner(path: Path) -> None:
    """OutputError unless `path` belongs to the user running SIS or to root: a directory
    someone else owns may hold, or later get, files and links they chose."""
    st = os.stat(path)
    if st.st_uid not in (os.getuid(), 0):
        raise OutputError(
            f"{path}: owned by uid {st.st_uid}, neither you nor root; choose another --out"
        )


def refuse_links(out: Path) -> None:
    """OutputError naming the first symbolic link inside `out`, or a directory in it owned by
    neither the user nor root: the run would write through them."""
    pending = [(Path(out), 0)]
    seen = 0
    while pending:
        directory, depth = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as e:
            raise OutputError(describe_os_error(directory, e)) from None
        for entry in entries:
            seen += 1
            if seen > _CHECK_ENTRIES:
                return
            path = Path(entry.path)
            if entry.is_symlink():
                raise OutputError(
                    f"{path}: a symbolic link inside the output directory; SIS does not write "
                    "through links (remove it or choose another --out)"
                )
            if entry.is_dir(follow_symlinks=False) and not entry.name.startswith("."):
                # Hidden directories (.git, .venv) are not where SIS writes.
                check_owner(path)
                if depth + 1 < _CHECK_DEPTH:
                    pending.append((path, depth + 1))


def open_for_writing(
    path: Path | str,
    *,
    append: bool = False,
    new: bool = False,
    truncate: bool = True,
    read: bool = False,
) -> int:
    """A descriptor of regular file `path` opened for writing, created if missing (mode 0644):
    never through a symbolic link, never a FIFO or a device (an OSError that says so), and with
    `new` never a file that is already there (FileExistsError). `append` writes at the end;
    what was there is truncated away unless `truncate` is False."""
    flags = os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    flags |= os.O_RDWR if read else os.O_WRONLY
    if append:
        flags |= os.O_APPEND
    if new:
        flags |= os.O_EXCL
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OSError(
                errno.ELOOP, "a symbolic link; SIS does not write through links", str(path)
            ) from None
        if e.errno == errno.ENXIO:  # a FIFO nobody reads
            raise OSError(errno.ENXIO, "not a regular file", str(path)) from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        # Non-blocking was only there so that opening a FIFO cannot hang.
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        if truncate and not new:
            os.ftruncate(fd, 0)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_file(path: Path | str, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """`open(path, mode)` through `open_for_writing`: modes w, a, x, with b for bytes."""
    kind = mode.replace("b", "")
    if kind not in ("w", "a", "x"):
        raise ValueError(f"open_file writes: mode {mode!r}")
    fd = open_for_writing(path, append=kind == "a", new=kind == "x", truncate=kind == "w")
    try:
        return os.fdopen(fd, mode.replace("x", "w"), **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_file(path: Path | str, data: bytes | str, *, new: bool = False) -> None:
    """`Path.write_text`/`write_bytes` through `open_for_writing`."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with open_file(path, "xb" if new else "wb") as f:
        f.write(raw)


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

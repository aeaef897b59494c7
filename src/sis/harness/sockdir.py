"""Private directories for a target's unix sockets, `/tmp/sis-XXXX` (socket paths stop at 107
bytes, so they cannot live under OUT).

A lab process that is SIGKILLed cannot remove its directories. Each one therefore records its
owner (pid and the process's start time, so a recycled pid is not mistaken for it) in a file
`owner`; the first directory a process makes sweeps away the `sis-*` directories of its user
whose owner is gone. A directory without that record is never touched: it is not ours to judge.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path

__all__ = ["OWNER_FILE", "PREFIX", "remove_stale", "socket_dir"]

PREFIX = "sis-"
OWNER_FILE = "owner"
_swept = False
_sweep_lock = threading.Lock()


def socket_dir(prefix: str = PREFIX) -> Path:
    """A new private (0700) directory under the temporary directory, its owner recorded.
    The first call of a process also removes the stale ones (`remove_stale`)."""
    global _swept
    with _sweep_lock:
        if not _swept:
            _swept = True
            remove_stale()
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o700)
    fd = os.open(path / OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(_identity(os.getpid()) or f"{os.getpid()}\n")
    return path


def remove_stale(root: Path | None = None) -> list[Path]:
    """Remove the `sis-*` directories under `root` (the temporary directory) that belong to this
    user and record an owner process that no longer exists. Returns what was removed."""
    root = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    if _identity(os.getpid()) is None:
        return removed  # no /proc: no owner can be told alive or gone
    try:
        candidates = list(root.glob(f"{PREFIX}*"))
    except OSError:
        return removed
    for path in candidates:
        try:
            st = path.lstat()
            if not path.is_dir() or path.is_symlink() or st.st_uid != os.getuid():
                continue
            recorded = _read_owner(path / OWNER_FILE)
        except OSError:
            continue
        if recorded is None or _alive(recorded):
            continue
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            removed.append(path)
    return removed


def _identity(pid: int) -> str | None:
    """`<pid> <start time>` of a running process (its start time in clock ticks since boot,
    field 22 of /proc/PID/stat), or None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    fields = stat[stat.rfind(")") + 2 :].split()
    return f"{pid} {fields[19]}\n" if len(fields) > 19 else None


def _read_owner(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, encoding="ascii") as f:
            text = f.read(64)
        parts = text.split()
        if parts and parts[0].isdigit():
            return text
    return None


def _alive(recorded: str) -> bool:
    parts = recorded.split()
    pid = int(parts[0])
    now = _identity(pid)
    if now is None:
        return False
    return len(parts) < 2 or now.split()[1] == parts[1]

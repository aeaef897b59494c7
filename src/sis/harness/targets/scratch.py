"""Scratch disks: the disk image a target boots with, made for the run in OUT/targets/.

A file already at that path was not necessarily made by this run: an earlier run left it (with
whatever its kernel wrote), or someone who can write to OUT planted it, or a link to a file of
theirs. So a scratch disk is used as it is only if this process made it (a restarted target
keeps its disk, as a rebooted machine does); anything else there is removed, never followed,
and the disk is made anew.
"""

from __future__ import annotations

import os
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from sis.harness.outdir import open_for_writing

__all__ = ["copy_new", "scratch_disk"]

_made: dict[str, tuple[int, int]] = {}  # absolute path -> (device, inode) of the disk made
_lock = threading.Lock()


def scratch_disk(path: Path, make: Callable[[Path], None]) -> Path:
    """`path`, made by `make(path)` unless this process made that very file earlier."""
    key = os.path.abspath(path)
    with _lock:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None:
            if stat.S_ISREG(st.st_mode) and _made.get(key) == (st.st_dev, st.st_ino):
                return path
            os.unlink(path)  # not ours: a leftover, a planted file or a link (not followed)
        make(path)
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{path}: not a regular file once made")
        _made[key] = (st.st_dev, st.st_ino)
        return path


def copy_new(source: Path | str, target: Path) -> None:
    """Copy `source` to `target`, a file that must not exist yet (never through a link)."""
    with open(source, "rb") as src, os.fdopen(open_for_writing(target, new=True), "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)

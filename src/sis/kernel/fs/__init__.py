"""SISFS: the reference kernel's journaling file system, its path resolution and offline tools.

`FileSystem` (inode-based operations), `vfs.resolve` / `vfs.path_of` (paths), `fsck` (offline
consistency check), `tools` (what `sis disk` runs on image files).
"""

from sis.kernel.fs.filesystem import DirEntry, FileSystem, Stat, StatFs
from sis.kernel.fs.fsck import Finding, FsckReport, fsck
from sis.kernel.fs.vfs import getcwd, path_of, resolve, walk

__all__ = [
    "DirEntry",
    "FileSystem",
    "Finding",
    "FsckReport",
    "Stat",
    "StatFs",
    "fsck",
    "getcwd",
    "path_of",
    "resolve",
    "walk",
]

"""A writer for the ``newc`` cpio format the Linux kernel unpacks as an initramfs (see the
kernel's Documentation/driver-api/early-userspace/buffer-format.rst).

Entries are written in the order given, owned by root, with mtime 0, so the same input makes
the same archive byte for byte.
"""

from __future__ import annotations

import io
import stat

__all__ = ["Cpio"]

_MAGIC = b"070701"
_TRAILER = "TRAILER!!!"


class Cpio:
    """Build a newc archive in memory: add entries, then `finish()` for the bytes."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._ino = 0

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        self._ino += 1
        encoded = name.encode() + b"\0"
        fields = (
            self._ino,
            mode,
            0,  # uid
            0,  # gid
            2 if stat.S_ISDIR(mode) else 1,  # nlink
            0,  # mtime: fixed, so the archive is reproducible
            len(data),
            0,  # dev major
            0,  # dev minor
            rdev[0],
            rdev[1],
            len(encoded),
            0,  # check
        )
        header = _MAGIC + b"".join(b"%08X" % f for f in fields)
        self._out.write(header + encoded)
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def directory(self, name: str, perm: int = 0o755) -> None:
        self._entry(name, stat.S_IFDIR | perm)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, stat.S_IFCHR | perm, rdev=(major, minor))

    def finish(self) -> bytes:
        """The archive, closed by its trailer entry. Add nothing after this."""
        self._entry(_TRAILER, 0)
        return self._out.getvalue()

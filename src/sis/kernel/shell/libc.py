"""The user-space C library: syscall wrappers that marshal arguments through the task's own
memory (strings and buffers are written into a scratch mapping and passed as pointers), and
turn negative returns into `SysError`."""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING

from sis.contract.syscalls import (
    AT_FDCWD,
    AT_REMOVEDIR,
    DIRENT_HEADER,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    NR,
    PROT_READ,
    PROT_WRITE,
    REBOOT_MAGIC1,
    REBOOT_MAGIC2,
    SIG_IGN,
    SPAWN_NEWPGRP,
    STAT_FORMAT,
    STATFS_FORMAT,
    TIOCSPGRP,
    WNOHANG,
)
from sis.kernel.errno import Errno
from sis.kernel.shell.usys import Usys

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel
    from sis.kernel.proc.task import Task

__all__ = ["AT_FDCWD", "NR", "Libc", "SysError"]

_MASK64 = (1 << 64) - 1
SCRATCH = 256 << 10
PAGE = 4096


class SysError(Exception):
    """A syscall failed: `errno` says why, `operand` names what it was about."""

    def __init__(self, errno: int, operand: str = "") -> None:
        self.errno = Errno(errno) if errno in Errno._value2member_map_ else errno
        self.operand = operand
        name = self.errno.name if isinstance(self.errno, Errno) else str(errno)
        message = self.errno.message if isinstance(self.errno, Errno) else f"error {errno}"
        super().__init__(f"{message} ({name})")

    def line(self, program: str) -> str:
        """`NAME: OPERAND: MESSAGE (ERRNO)` as the contract prints failures."""
        return f"{program}: {self.operand}: {self}" if self.operand else f"{program}: {self}"


class Libc:
    def __init__(self, kernel: Kernel, task: Task) -> None:
        self._k = kernel
        self.task = task
        self._scratch = 0
        self._scratch_size = 0
        self._bump = 0
        self.sys = Usys(self.syscall)  # the raw stubs, one per syscall of the contract's table

    # -- the trap ------------------------------------------------------------------------------
    async def syscall(self, nr: int, *args: int) -> int:
        """Raw syscall: number in x8, arguments in x0-x5, result (negative errno) from x0."""
        regs = self.task.regs.x
        regs[8] = nr & _MASK64
        for i in range(6):
            regs[i] = (args[i] if i < len(args) else 0) & _MASK64
        return await self._k.syscall_entry(self.task)

    async def _call(self, name: str, *args: int, operand: str = "") -> int:
        ret = await getattr(self.sys, name)(*args)
        if ret < 0:
            raise SysError(-ret, operand)
        return ret

    # -- user memory ---------------------------------------------------------------------------
    async def _reserve(self, size: int) -> int:
        """Space in the scratch mapping for one call's arguments (reset by `_reset`)."""
        if self._bump + size > self._scratch_size:
            need = (max(SCRATCH, self._bump + size) + PAGE - 1) & ~(PAGE - 1)
            prot, flags = PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
            addr = await self._call("mmap", 0, need, prot, flags, -1, 0)
            if self._scratch:
                await self._call("munmap", self._scratch, self._scratch_size)
            self._scratch, self._scratch_size, self._bump = addr, need, 0
        addr = self._scratch + self._bump
        self._bump += (size + 15) & ~15
        return addr

    def _reset(self) -> None:
        self._bump = 0

    async def put(self, data: bytes) -> int:
        addr = await self._reserve(max(1, len(data)))
        self.task.mm.store(addr, data)
        return addr

    async def cstr(self, s: str) -> int:
        return await self.put(s.encode("utf-8", "surrogateescape") + b"\0")

    def peek(self, addr: int, n: int) -> bytes:
        return self.task.mm.load(addr, n)

    # -- wrappers ------------------------------------------------------------------------------
    async def write(self, fd: int, data: bytes | str) -> int:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        self._reset()
        done = 0
        while done < len(data):
            chunk = data[done : done + SCRATCH]
            done += await self._call("write", fd, await self.put(chunk), len(chunk))
            self._reset()
        return done

    async def print(self, *parts: object, sep: str = " ", end: str = "\n", fd: int = 1) -> None:
        await self.write(fd, sep.join(str(p) for p in parts) + end)

    async def eprint(self, text: str) -> None:
        await self.write(2, text + "\n")

    async def read(self, fd: int, count: int) -> bytes:
        self._reset()
        buf = await self._reserve(count)
        n = await self._call("read", fd, buf, count)
        return self.peek(buf, n)

    async def open(self, path: str, flags: int = 0, mode: int = 0o644) -> int:
        self._reset()
        return await self._call(
            "openat", AT_FDCWD, await self.cstr(path), flags, mode, operand=path
        )

    async def close(self, fd: int) -> None:
        await self._call("close", fd)

    async def read_all(self, fd: int, chunk: int = 65536) -> bytes:
        out = bytearray()
        while data := await self.read(fd, chunk):
            out += data
        return bytes(out)

    async def lseek(self, fd: int, offset: int, whence: int) -> int:
        return await self._call("lseek", fd, offset, whence)

    async def stat(self, path: str) -> dict[str, int]:
        self._reset()
        p, buf = await self.cstr(path), await self._reserve(128)
        await self._call("newfstatat", AT_FDCWD, p, buf, 0, operand=path)
        v = struct.unpack(STAT_FORMAT, self.peek(buf, 128))
        keys = {"dev": 0, "ino": 1, "mode": 2, "nlink": 3, "size": 8, "blksize": 9, "blocks": 11}
        return {k: v[i] for k, i in keys.items()} | {"mtime": v[14], "mtime_nsec": v[15]}

    async def getdents(self, fd: int) -> list[tuple[str, int, int]]:
        """All entries of an open directory as (name, ino, type)."""
        out: list[tuple[str, int, int]] = []
        while True:
            self._reset()
            buf = await self._reserve(8192)
            n = await self._call("getdents64", fd, buf, 8192)
            if n == 0:
                return out
            data = self.peek(buf, n)
            pos = 0
            while pos < n:
                ino, _off, reclen, dtype = struct.unpack_from(DIRENT_HEADER, data, pos)
                name = data[pos + 19 : pos + reclen].split(b"\0", 1)[0]
                out.append((name.decode("utf-8", "surrogateescape"), ino, dtype))
                pos += reclen

    async def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._reset()
        await self._call("mkdirat", AT_FDCWD, await self.cstr(path), mode, operand=path)

    async def unlink(self, path: str, rmdir: bool = False) -> None:
        self._reset()
        await self._call(
            "unlinkat", AT_FDCWD, await self.cstr(path), AT_REMOVEDIR if rmdir else 0, operand=path
        )

    async def rename(self, old: str, new: str) -> None:
        self._reset()
        await self._call(
            "renameat2",
            AT_FDCWD,
            await self.cstr(old),
            AT_FDCWD,
            await self.cstr(new),
            0,
            operand=old,
        )

    async def chdir(self, path: str) -> None:
        self._reset()
        await self._call("chdir", await self.cstr(path), operand=path)

    async def getcwd(self) -> str:
        self._reset()
        buf = await self._reserve(4096)
        n = await self._call("getcwd", buf, 4096)
        return self.peek(buf, n - 1).decode("utf-8", "surrogateescape")

    async def sync(self) -> None:
        await self._call("sync")

    async def fsync(self, fd: int) -> None:
        await self._call("fsync", fd)

    async def statfs(self, path: str) -> tuple[int, ...]:
        self._reset()
        p, buf = await self.cstr(path), await self._reserve(120)
        await self._call("statfs", p, buf, operand=path)
        return struct.unpack(STATFS_FORMAT, self.peek(buf, 120))

    async def dup(self, fd: int) -> int:
        return await self._call("dup", fd)

    async def dup2(self, old: int, new: int) -> int:
        if old == new:
            return new
        return await self._call("dup3", old, new, 0)

    async def getpid(self) -> int:
        return await self._call("getpid")

    async def kill(self, pid: int, sig: int) -> None:
        await self._call("kill", pid, sig, operand=str(pid))

    async def sleep(self, seconds: float) -> None:
        self._reset()
        ts = await self.put(struct.pack("<qq", int(seconds), int(round(seconds % 1 * 1e9))))
        await self._call("nanosleep", ts, 0)

    async def spawn(self, path: str, argv: list[str], new_group: bool = False) -> int:
        self._reset()
        ptrs = [await self.cstr(a) for a in argv]
        table = await self.put(b"".join(struct.pack("<Q", p) for p in ptrs) + b"\0" * 8)
        return await self._call(
            "sis_spawn",
            await self.cstr(path),
            table,
            SPAWN_NEWPGRP if new_group else 0,
            operand=path,
        )

    async def wait(self, pid: int = -1, nohang: bool = False) -> tuple[int, int]:
        """(pid, exit status); pid 0 with nohang if nothing has exited."""
        self._reset()
        buf = await self._reserve(4)
        got = await self._call("wait4", pid, buf, WNOHANG if nohang else 0, 0)
        status = struct.unpack("<i", self.peek(buf, 4))[0] >> 8 if got else 0
        return got, status

    async def setpgid(self, pid: int, pgid: int) -> None:
        await self._call("setpgid", pid, pgid)

    async def tcsetpgrp(self, fd: int, pgid: int) -> None:
        self._reset()
        await self._call("ioctl", fd, TIOCSPGRP, await self.put(struct.pack("<i", pgid)))

    async def ignore_signal(self, sig: int) -> None:
        self._reset()
        await self._call("rt_sigaction", sig, await self.put(struct.pack("<Q", SIG_IGN)), 0, 8)

    async def reboot(self, cmd: int) -> None:
        await self._call("reboot", REBOOT_MAGIC1, REBOOT_MAGIC2, cmd, 0)

    async def kinfo(self, topic: str) -> object:
        """Kernel state as the `sis_kinfo` syscall reports it (JSON, like a /proc file)."""
        size = 64 << 10
        while True:
            self._reset()
            t, buf = await self.cstr(topic), await self._reserve(size)
            ret = await self.sys.sis_kinfo(t, buf, size)
            if ret == -Errno.ERANGE and size < 16 << 20:
                size *= 4
                continue
            if ret < 0:
                raise SysError(-ret, topic)
            return json.loads(self.peek(buf, ret))

    async def kctl(self, command: str) -> None:
        self._reset()
        await self._call("sis_kctl", await self.cstr(command))

    async def exit(self, status: int) -> None:
        """End this process with `status` (does not return)."""
        await self._call("exit", status)

    async def panic(self, message: str) -> None:
        """Ask the kernel to panic (the `panic` command); does not return."""
        self._reset()
        await self._call("sis_panic", await self.cstr(message))

"""File programs: ls, cat, touch, rm, mkdir, rmdir, pwd, stat, df, sync, mv."""

from __future__ import annotations

import stat as st
from datetime import UTC, datetime

from sis.contract.syscalls import O_CREAT, O_DIRECTORY, O_RDONLY, O_WRONLY
from sis.kernel.shell.libc import Libc, SysError
from sis.kernel.shell.programs import program


async def _each(libc: Libc, name: str, operands: list[str], action) -> int:
    """Run `action` on every operand, report failures as `NAME: OPERAND: MESSAGE (ERRNO)`."""
    if not operands:
        await libc.eprint(f"{name}: missing operand")
        return 2
    status = 0
    for op in operands:
        try:
            await action(op)
        except SysError as e:
            e.operand = op
            await libc.eprint(e.line(name))
            status = 1
    return status


@program("ls", "ls [-l] [PATH]: list a directory")
async def ls_main(libc: Libc, argv: list[str]) -> int:
    long = "-l" in argv[1:]
    paths = [a for a in argv[1:] if a != "-l"] or ["."]
    status = 0
    for path in paths:
        try:
            info = await libc.stat(path)
            if not st.S_ISDIR(info["mode"]):
                await libc.print(_long(path, info) if long else path)
                continue
            fd = await libc.open(path, O_RDONLY | O_DIRECTORY)
            try:
                entries = sorted(n for n, _, _ in await libc.getdents(fd) if n not in (".", ".."))
            finally:
                await libc.close(fd)
            if len(paths) > 1:
                await libc.print(f"{path}:")
            lines = []
            for name in entries:
                if long:
                    lines.append(_long(name, await libc.stat(f"{path.rstrip('/')}/{name}")))
                else:
                    lines.append(name)
            if lines:
                await libc.print("\n".join(lines))
        except SysError as e:
            e.operand = path
            await libc.eprint(e.line("ls"))
            status = 1
    return status


def _long(name: str, info: dict[str, int]) -> str:
    kind = "d" if st.S_ISDIR(info["mode"]) else "-"
    when = datetime.fromtimestamp(info["mtime"], UTC).strftime("%Y-%m-%d %H:%M")
    return (
        f"{kind}{st.filemode(info['mode'])[1:]} {info['nlink']:>2} {info['size']:>10} {when} {name}"
    )


@program("cat", "cat FILE...: print files")
async def cat_main(libc: Libc, argv: list[str]) -> int:
    async def cat(path: str) -> None:
        fd = await libc.open(path, O_RDONLY)
        try:
            while data := await libc.read(fd, 65536):
                await libc.write(1, data)
        finally:
            await libc.close(fd)

    return await _each(libc, "cat", argv[1:], cat)


@program("touch", "touch FILE...: create files")
async def touch_main(libc: Libc, argv: list[str]) -> int:
    async def touch(path: str) -> None:
        await libc.close(await libc.open(path, O_WRONLY | O_CREAT, 0o644))

    return await _each(libc, "touch", argv[1:], touch)


@program("rm", "rm FILE...: remove files")
async def rm_main(libc: Libc, argv: list[str]) -> int:
    return await _each(libc, "rm", [a for a in argv[1:] if a != "-f"], libc.unlink)


@program("mkdir", "mkdir DIR...: make directories")
async def mkdir_main(libc: Libc, argv: list[str]) -> int:
    return await _each(libc, "mkdir", argv[1:], libc.mkdir)


@program("rmdir", "rmdir DIR...: remove empty directories")
async def rmdir_main(libc: Libc, argv: list[str]) -> int:
    async def rmdir(path: str) -> None:
        await libc.unlink(path, rmdir=True)

    return await _each(libc, "rmdir", argv[1:], rmdir)


@program("mv", "mv OLD NEW: rename")
async def mv_main(libc: Libc, argv: list[str]) -> int:
    if len(argv) != 3:
        await libc.eprint("usage: mv OLD NEW")
        return 2
    try:
        await libc.rename(argv[1], argv[2])
    except SysError as e:
        await libc.eprint(e.line("mv"))
        return 1
    return 0


@program("pwd", "print the working directory")
async def pwd_main(libc: Libc, argv: list[str]) -> int:
    try:
        await libc.print(await libc.getcwd())
    except SysError as e:
        await libc.eprint(e.line("pwd"))
        return 1
    return 0


@program("stat", "stat PATH...: file status")
async def stat_main(libc: Libc, argv: list[str]) -> int:
    async def show(path: str) -> None:
        s = await libc.stat(path)
        kind = (
            "directory"
            if st.S_ISDIR(s["mode"])
            else "regular file"
            if st.S_ISREG(s["mode"])
            else "character device"
            if st.S_ISCHR(s["mode"])
            else "file"
        )
        when = datetime.fromtimestamp(s["mtime"] + s["mtime_nsec"] / 1e9, UTC).isoformat()
        await libc.print(
            f"  File: {path}\n  Size: {s['size']}  Blocks: {s['blocks']}  IO Block: "
            f"{s['blksize']}  {kind}\n Inode: {s['ino']}  Links: {s['nlink']}  "
            f"Access: ({st.S_IMODE(s['mode']):04o}/{st.filemode(s['mode'])})\nModify: {when}"
        )

    return await _each(libc, "stat", argv[1:], show)


@program("df", "file system usage")
async def df_main(libc: Libc, argv: list[str]) -> int:
    try:
        s = await libc.statfs("/")
    except SysError as e:
        await libc.eprint(e.line("df"))
        return 1
    bsize, blocks, bfree, files, ffree = s[1], s[2], s[3], s[5], s[6]
    k = bsize // 1024
    used = blocks - bfree
    pct = f"{(used * 100 + blocks - 1) // blocks if blocks else 0}%"
    await libc.print(
        f"{'Filesystem':<12} {'1K-blocks':>10} {'Used':>10} {'Available':>10} {'Use%':>5} "
        f"{'Inodes':>8} {'IFree':>8} Mounted on\n"
        f"{'sisfs':<12} {blocks * k:>10} {used * k:>10} {bfree * k:>10} {pct:>5} "
        f"{files:>8} {ffree:>8} /"
    )
    return 0


@program("sync", "flush file system changes to disk")
async def sync_main(libc: Libc, argv: list[str]) -> int:
    try:
        await libc.sync()
    except SysError as e:
        await libc.eprint(e.line("sync"))
        return 1
    return 0

"""init (pid 1): start the shell on the console, restart it when it exits, reap orphans."""

from __future__ import annotations

from sis.kernel.shell.libc import Libc, SysError


async def init_main(libc: Libc, argv: list[str]) -> int:
    while True:
        try:
            shell = await libc.spawn("sh", ["sh"], new_group=True)
        except SysError as e:
            await libc.eprint(f"init: cannot start the shell: {e}")
            await libc.sleep(1)
            continue
        while True:
            try:
                pid, _ = await libc.wait(-1)
            except SysError:
                break
            if pid == shell:
                break

"""init (pid 1): start the shell on the console, restart it when it exits, reap orphans."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from sis.kernel.shell.libc import Libc, SysError

T = TypeVar("T")


# A shell that dies abnormally (killed by a signal or a fault) sooner than this after its start
# is respawning too fast: init waits before the next one, doubling up to the maximum.
RESPAWN_WINDOW_S = 10.0
RESPAWN_MAX_DELAY_S = 30.0


async def init_main(libc: Libc, argv: list[str]) -> int:
    # pid 1 must not die (the kernel panics if it does): every failure here is survived.
    delay = 0.0
    while True:
        started = await _uptime(libc)
        status, why = 0, ""
        try:
            shell = await libc.spawn("sh", ["sh"], new_group=True)
        except SysError as e:
            shell, status, why = 0, 128, f"cannot start the shell: {e}"
        while shell:
            try:
                pid, code = await libc.wait(-1)  # orphans are reaped here too
            except SysError:
                break
            if pid == shell:
                status, why = code, f"the shell died (status {code})"
                break
        if status < 128 or await _uptime(libc) - started >= RESPAWN_WINDOW_S:
            delay = 0.0
            continue
        if not delay:  # logged once per streak, not once per death
            await _quietly(libc.eprint(f"init: {why}; respawning too fast, backing off"))
        delay = min(max(1.0, 2 * delay), RESPAWN_MAX_DELAY_S)
        await _quietly(libc.sleep(delay))


async def _uptime(libc: Libc) -> float:
    info = await _quietly(libc.kinfo("uptime"))
    return float(info["uptime_s"]) if isinstance(info, dict) else 0.0


async def _quietly(call: Awaitable[T]) -> T | None:
    try:
        return await call
    except SysError:
        return None

"""SIS's own QMP commands (`x-sis-*`): kernel metrics out of band, a syscall executor that
runs batches of raw syscalls in a dedicated task (what fuzzers drive), `x-sis-kcov`, which
turns on coverage of the executor's kernel work (each call's result then lists the edges it
reached first in its batch, as `cover`), and `x-sis-chaos`, the `chaos` command out of band.

A call's arguments are integers or references: `@data` / `@scratch` (optionally `+OFFSET`) are
the call's own input bytes and the batch's 64 KiB output buffer; `@ret:N` is what call N of the
same batch returned (a descriptor an `openat` made, for a later `read`).

Arguments are checked as QEMU checks its own: an unknown member is an error ("Parameter 'X' is
unexpected"), types are strict (a boolean is not an integer), and a bad value is one clear
GenericError. What a batch may return is bounded, so one request cannot make the kernel hold
more than MAX_BATCH_OUTPUT bytes of results."""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sis.contract.metrics import QMP_METRICS_COMMAND
from sis.contract.syscalls import MAP_ANONYMOUS, MAP_PRIVATE, NR, PROT_READ, PROT_WRITE
from sis.kernel.errno import KernelError, errno_name
from sis.kernel.kcov import Coverage
from sis.kernel.kmetrics import snapshot
from sis.kernel.proc.sched import SIGNALLED
from sis.kernel.proc.task import TaskState
from sis.kernel.qmp.errors import QMPError
from sis.kernel.qmp.server import QMPServer, Schema, check_arguments

if TYPE_CHECKING:
    from sis.kernel.machine import Machine

MAX_BATCH = 1024
SCRATCH_BYTES = 64 << 10
MAX_BATCH_OUTPUT = 1 << 20  # bytes of `output` a whole batch may ask for (hex doubles it)
DEFAULT_TIMEOUT = 10.0
MAX_TIMEOUT = 3600.0
SYSCALL_SCHEMA: Schema = {
    "calls": ("array", True),
    "timeout": ("number", False),
    "call-timeout": ("number", False),
}
KCOV_SCHEMA: Schema = {"enable": ("boolean", True)}
CHAOS_SCHEMA: Schema = {"mode": ("string", False), "rate": ("int", False), "seed": ("int", False)}
MAX_COVER = 1 << 16  # edges one batch may report
CALL_SCHEMA: Schema = {
    "nr": ("int", True),
    "args": ("array", False),
    "data": ("string", False),
    "output": ("int", False),
}
_RW = PROT_READ | PROT_WRITE
_ANON = MAP_PRIVATE | MAP_ANONYMOUS

Call = tuple[int, list[Any], bytes | None, int]
#: A parsed argument: an integer, or (base, offset) with base "data", "scratch" or "ret".
Ref = tuple[str, int]


def install(server: QMPServer, machine: Machine) -> None:
    def kernel() -> Any:
        k = machine.kernel
        if k is None or k.sched.halted:
            raise QMPError(f"the kernel is not running (status: {machine.status()})")
        return k

    def metrics(args: dict) -> dict:
        return snapshot(kernel())

    def chaos_command(args: dict) -> dict:
        """The `chaos` command out of band: set seed, rate and mode (each optional, in that
        order: once the mode is set the kernel may fail any call), and say what is set and
        what was injected. A lab rolls back through here even when the shell cannot start a
        program any more (memory_pressure)."""
        k = kernel()
        if k.chaos is None:
            raise QMPError("the chaos feature is off (start the kernel with -features chaos)")
        try:
            if "seed" in args:
                k.chaos.set_seed(args["seed"])
            if "rate" in args:
                k.chaos.set_rate(args["rate"])
            if "mode" in args:
                k.chaos.set_mode(args["mode"])
        except KernelError as e:
            raise QMPError(e.detail or e.errno.name) from None
        c = k.chaos
        return {"mode": c.mode, "rate": c.rate, "seed": c.seed, "stats": asdict(c.stats)}

    kcov = {"enabled": False}

    def kcov_command(args: dict) -> dict:
        kcov["enabled"] = bool(args["enable"])
        return {"enabled": kcov["enabled"]}

    async def syscall_batch(args: dict) -> dict:
        parsed, timeout = parse_batch(args)
        call_timeout = _call_timeout(args)
        k = kernel()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[dict]] = asyncio.get_running_loop().create_future()

        async def executor(libc: Any, argv: list[str]) -> int:
            results: list[dict] = []
            cover = libc.task.kcov
            reported: set[int] = set()
            try:
                scratch = await libc.syscall(NR["mmap"], 0, SCRATCH_BYTES, _RW, _ANON, -1, 0)
                for nr, call_args, data, out_len in parsed:
                    data_addr = 0
                    if data is not None:
                        size = max(len(data), 1)
                        data_addr = await libc.syscall(NR["mmap"], 0, size, _RW, _ANON, -1, 0)
                        libc.task.mm.store(data_addr, data)
                    bases = {"data": data_addr, "scratch": scratch}
                    regs = [
                        a
                        if isinstance(a, int)
                        else results[a[1]]["ret"]
                        if a[0] == "ret"
                        else bases[a[0]] + a[1]
                        for a in call_args
                    ]
                    if cover is not None:
                        cover.reset()  # the mmap above is the executor's, not the call's
                    watchdog = _Watchdog(k, libc.task, loop, call_timeout)
                    ret = await libc.syscall(nr, *regs)
                    watchdog.cancel()
                    result: dict[str, Any] = {"ret": ret}
                    if watchdog.fired:
                        result["interrupted"] = True
                    if cover is not None:
                        new = cover.reset() - reported
                        room = MAX_COVER - len(reported)
                        edges = sorted(e & 0xFFFFFFFF for e in new)[: max(room, 0)]
                        reported.update(new)
                        result["cover"] = edges
                    if ret < 0:
                        result["errno"] = errno_name(ret)
                    if out_len:
                        result["output"] = libc.task.mm.load(scratch, out_len).hex()
                    results.append(result)
                    if data_addr:
                        await libc.syscall(NR["munmap"], data_addr, max(len(data or b""), 1))
            finally:
                if not done.done():
                    done.set_result(results)
            return 0

        task = k.spawn(executor, ["syz-executor"], files=k.console_files())
        if kcov["enabled"]:
            task.kcov = Coverage()
        try:
            results = await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            if machine.status() == "guest-panicked":
                raise QMPError("the kernel panicked while running the batch") from None
            raise QMPError(f"the batch did not finish within {timeout:g} s") from None
        return {"pid": task.pid, "results": results, "status": machine.status()}

    server.register(QMP_METRICS_COMMAND, metrics)
    server.register("x-sis-syscall", syscall_batch, SYSCALL_SCHEMA)
    server.register("x-sis-kcov", kcov_command, KCOV_SCHEMA)
    server.register("x-sis-chaos", chaos_command, CHAOS_SCHEMA)


class _Watchdog:
    """A call still blocked after `call-timeout` seconds is woken as if signalled (it returns
    EINTR), as syzkaller's executor abandons a blocked call: a read of the console or a
    receive on an idle socket must not hold the batch."""

    def __init__(self, k: Any, task: Any, loop: asyncio.AbstractEventLoop, after: float | None):
        self.k, self.task, self.loop, self.after = k, task, loop, after
        self.fired = False
        self.handle = loop.call_later(after, self._fire) if after else None

    def _fire(self) -> None:
        if self.task.state is TaskState.SLEEPING:
            self.fired = True
            self.k.sched.wake(self.task, SIGNALLED)
        if self.task.alive and self.after:
            self.handle = self.loop.call_later(self.after, self._fire)

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


def _call_timeout(args: dict) -> float | None:
    value = args.get("call-timeout")
    if value is None:
        return None
    if not (math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise QMPError(
            f"Parameter 'call-timeout' must be a number of seconds, 0 < call-timeout <= "
            f"{MAX_TIMEOUT:g}"
        )
    return float(value)


def parse_batch(args: dict) -> tuple[list[Call], float]:
    """The checked calls and timeout of an `x-sis-syscall` request (its top-level members are
    already checked against SYSCALL_SCHEMA). Raises QMPError naming the bad member."""
    calls = args["calls"]
    if not 0 < len(calls) <= MAX_BATCH:
        raise QMPError(f"Parameter 'calls' must hold 1 to {MAX_BATCH} syscalls")
    parsed = [_parse_call(i, c) for i, c in enumerate(calls)]
    asked = sum(out for *_, out in parsed)
    if asked > MAX_BATCH_OUTPUT:
        raise QMPError(
            f"the batch asks for {asked} bytes of output, more than the {MAX_BATCH_OUTPUT} "
            "a batch may return"
        )
    timeout = args.get("timeout", DEFAULT_TIMEOUT)
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise QMPError(
            f"Parameter 'timeout' must be a number of seconds, 0 < timeout <= {MAX_TIMEOUT:g}"
        )
    return parsed, float(timeout)


def _parse_call(i: int, call: Any) -> Call:
    where = f"calls[{i}]"
    if not isinstance(call, dict):
        raise QMPError(f"Invalid parameter type for '{where}', expected: object")
    check_arguments(CALL_SCHEMA, call, f"{where}.")
    args = call.get("args", [])
    if len(args) > 6:
        raise QMPError(f"Parameter '{where}.args' holds at most 6 values")
    parsed_args = [_parse_arg(i, f"{where}.args[{j}]", a) for j, a in enumerate(args)]
    data = None
    if "data" in call:
        try:
            data = bytes.fromhex(call["data"])
        except ValueError:
            raise QMPError(f"Parameter '{where}.data' must be a hex string") from None
    out_len = call.get("output", 0)
    if not 0 <= out_len <= SCRATCH_BYTES:
        raise QMPError(f"Parameter '{where}.output' must be a byte count 0..{SCRATCH_BYTES}")
    return call["nr"], parsed_args, data, out_len


def _parse_arg(i: int, where: str, a: Any) -> int | Ref:
    if isinstance(a, int) and not isinstance(a, bool):
        return a
    if isinstance(a, str):
        base, _, rest = a.partition("+") if a.startswith(("@data", "@scratch")) else (a, "", "")
        if base in ("@data", "@scratch") and (not rest or rest.isdigit()):
            return base[1:], int(rest or 0)
        if base.startswith("@ret:") and base[5:].isdigit():
            n = int(base[5:])
            if n >= i:
                raise QMPError(f"Parameter '{where}' refers to call {n}, which has not run yet")
            return "ret", n
    raise QMPError(
        f"Invalid parameter type for '{where}', "
        "expected: int, '@data[+N]', '@scratch[+N]' or '@ret:N'"
    )

"""SIS's own QMP commands (`x-sis-*`): kernel metrics out of band, and a syscall executor that
runs batches of raw syscalls in a dedicated task (what fuzzers drive)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sis.kernel.errno import errno_name
from sis.kernel.qmp import QMPError, QMPServer

if TYPE_CHECKING:
    from sis.kernel.machine import Machine

MAX_BATCH = 1024
SCRATCH_BYTES = 64 << 10


def install(server: QMPServer, machine: Machine) -> None:
    def kernel() -> Any:
        k = machine.kernel
        if k is None or k.sched.halted:
            raise QMPError(f"the kernel is not running (status: {machine.status()})")
        return k

    def metrics(args: dict) -> dict:
        from sis.kernel.kmetrics import snapshot

        return snapshot(kernel())

    async def syscall_batch(args: dict) -> dict:
        k = kernel()
        calls = args.get("calls")
        if not isinstance(calls, list) or not 0 < len(calls) <= MAX_BATCH:
            raise QMPError(f"'calls' must be a list of 1..{MAX_BATCH} syscalls")
        parsed = [_parse_call(i, c) for i, c in enumerate(calls)]
        timeout = float(args.get("timeout", 10.0))
        done: asyncio.Future[list[dict]] = asyncio.get_running_loop().create_future()

        async def executor(libc: Any, argv: list[str]) -> int:
            results: list[dict] = []
            try:
                scratch = await libc.syscall(222, 0, SCRATCH_BYTES, 3, 0x22, -1, 0)
                for nr, call_args, data, out_len in parsed:
                    data_addr = 0
                    if data is not None:
                        data_addr = await libc.syscall(222, 0, max(len(data), 1), 3, 0x22, -1, 0)
                        libc.task.mm.store(data_addr, data)
                    regs = [
                        data_addr if a == "@data" else scratch if a == "@scratch" else a
                        for a in call_args
                    ]
                    ret = await libc.syscall(nr, *regs)
                    result: dict[str, Any] = {"ret": ret}
                    if ret < 0:
                        result["errno"] = errno_name(ret)
                    if out_len:
                        result["output"] = libc.task.mm.load(
                            scratch, min(out_len, SCRATCH_BYTES)
                        ).hex()
                    results.append(result)
                    if data_addr:
                        await libc.syscall(215, data_addr, max(len(data or b""), 1))
            finally:
                if not done.done():
                    done.set_result(results)
            return 0

        task = k.spawn(executor, ["syz-executor"], files=k.console_files())
        try:
            results = await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            if machine.status() == "guest-panicked":
                raise QMPError("the kernel panicked while running the batch") from None
            raise QMPError(f"the batch did not finish within {timeout} s") from None
        return {"pid": task.pid, "results": results, "status": machine.status()}

    server.register("x-sis-metrics", metrics)
    server.register("x-sis-syscall", syscall_batch)


def _parse_call(i: int, call: Any) -> tuple[int, list[Any], bytes | None, int]:
    if not isinstance(call, dict) or not isinstance(call.get("nr"), int):
        raise QMPError(f"calls[{i}]: expected an object with an integer 'nr'")
    args = call.get("args", [])
    if not isinstance(args, list) or len(args) > 6:
        raise QMPError(f"calls[{i}]: 'args' must be a list of at most 6 values")
    for a in args:
        if not (isinstance(a, int) and not isinstance(a, bool)) and a not in ("@data", "@scratch"):
            raise QMPError(f"calls[{i}]: arguments are integers, '@data' or '@scratch'")
    data = None
    if "data" in call:
        try:
            data = bytes.fromhex(call["data"])
        except (TypeError, ValueError):
            raise QMPError(f"calls[{i}]: 'data' must be a hex string") from None
    out_len = call.get("output", 0)
    if not isinstance(out_len, int) or out_len < 0:
        raise QMPError(f"calls[{i}]: 'output' must be a byte count")
    return call["nr"], args, data, out_len

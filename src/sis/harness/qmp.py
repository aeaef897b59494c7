"""QMP client for the lab, built on `qemu.qmp.QMPClient`.

qemu.qmp is asyncio; the lab is synchronous (pytest fixtures, the CLI). The client runs on its
own event-loop thread; every event the target sends is recorded with a timestamp (the run's
timeline) and can be waited for."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from qemu.qmp import EventListener, QMPClient
from qemu.qmp.error import QMPError as _LibError
from qemu.qmp.qmp_client import ExecuteError

from sis.harness.outdir import open_file


class QMPError(Exception):
    """A QMP command failed, or the monitor could not be reached."""


@dataclass(frozen=True)
class QMPEvent:
    name: str
    data: dict[str, Any]
    host_time: float  # time.time() when received
    guest_timestamp: float | None  # the event's own timestamp (seconds), as the target stamped it


class QMPMonitor:
    def __init__(self, name: str = "qmp", timeline: Path | None = None) -> None:
        self.name = name
        self.timeline = timeline  # every event is appended here as a JSON line
        self.events: list[QMPEvent] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"{name}-loop", daemon=True
        )
        self._thread.start()
        self._client: QMPClient | None = None
        self._listener_task: Any = None

    def _call(self, coro: Any, timeout: float) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise QMPError(f"{self.name}: no answer within {timeout} s") from None

    def connect(self, address: str | tuple[str, int], timeout: float = 10.0) -> None:
        """Connect (retrying while the socket does not exist yet) and negotiate."""

        async def go() -> None:
            deadline = time.monotonic() + timeout
            last: Exception | None = None
            while time.monotonic() < deadline:
                client = QMPClient(self.name)
                listener = EventListener()
                client.register_listener(listener)
                try:
                    await client.connect(address)
                except (OSError, _LibError) as e:
                    last = e
                    await asyncio.sleep(0.05)
                    continue
                self._client = client
                self._listener_task = asyncio.ensure_future(self._pump(listener))
                return
            raise QMPError(f"{self.name}: cannot connect to {address}: {last}")

        self._call(go(), timeout + 2)

    async def _pump(self, listener: EventListener) -> None:
        async for event in listener:
            ts = event.get("timestamp") or {}
            guest = ts.get("seconds", 0) + ts.get("microseconds", 0) / 1e6 if ts else None
            record = QMPEvent(event["event"], dict(event.get("data", {})), time.time(), guest)
            if self.timeline is not None:
                with open_file(self.timeline, "a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(record)) + "\n")
            with self._cond:
                self.events.append(record)
                self._cond.notify_all()

    def execute(
        self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> Any:
        if self._client is None:
            raise QMPError(f"{self.name}: not connected")
        client = self._client

        async def go() -> Any:
            try:
                return await client.execute(command, arguments)
            except ExecuteError as e:
                raise QMPError(f"{command}: {e.error.error.class_}: {e.error.error.desc}") from None
            except _LibError as e:
                raise QMPError(f"{command}: {e}") from None

        return self._call(go(), timeout)

    def hmp(self, command_line: str, timeout: float = 30.0) -> str:
        return str(self.execute("human-monitor-command", {"command-line": command_line}, timeout))

    def wait_event(self, name: str, timeout: float = 10.0, since: int = 0) -> QMPEvent:
        """The first event called `name` at index >= since (waiting up to `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events[since:]:
                    if ev.name == name:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = ", ".join(e.name for e in self.events[since:]) or "none"
                    raise QMPError(
                        f"{self.name}: no {name} event within {timeout} s (seen: {seen})"
                    )
                self._cond.wait(left)

    def close(self) -> None:
        client = self._client
        self._client = None

        async def go() -> None:
            if self._listener_task is not None:
                self._listener_task.cancel()
                with contextlib.suppress(BaseException):
                    await self._listener_task
            if client is not None:
                try:
                    await client.disconnect()
                except Exception:  # the peer may already be gone; closing must not fail
                    pass

        try:
            self._call(go(), 5)
        except QMPError:
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

"""The scheduler: per-CPU run queues, CPU loops that step task coroutines, wait queues,
timers and signal wake-ups. Every context switch is timed into a histogram.

A task runs until it traps: it blocks on a wait queue, yields its time slice, or exits. The
trap is a value the task's coroutine yields to the CPU loop (see `_trap`); everything a task
does between two traps runs without interruption, which is what makes the kernel's data
structures safe without locks.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import types
from collections import deque
from collections.abc import Callable
from typing import Any

from sis.kernel.metrics import LatencyHistogram
from sis.kernel.proc.task import Task, TaskExit, TaskState

TIME_SLICE_NS = 4_000_000
WOKEN, TIMEOUT, SIGNALLED = "woken", "timeout", "signal"


class KernelHalt(BaseException):
    """Unwinds the current task after a panic or power-off: nothing more runs on any CPU."""


@types.coroutine
def _trap(op: str, arg: Any = None) -> Any:
    return (yield (op, arg))


class WaitQueue:
    """Tasks sleeping until something happens (input arrives, a child exits, a timer fires)."""

    def __init__(self, sched: Scheduler, name: str) -> None:
        self.sched = sched
        self.name = name
        self.waiters: list[Task] = []

    def wake_all(self) -> int:
        waiters, self.waiters = self.waiters, []
        for t in waiters:
            self.sched.wake(t, WOKEN)
        return len(waiters)


class Cpu:
    def __init__(self, index: int) -> None:
        self.index = index
        self.runq: deque[Task] = deque()
        self.wakeup = asyncio.Event()
        self.current: Task | None = None
        self.busy_ns = 0
        self.dispatches = 0


class Scheduler:
    def __init__(
        self,
        ncpus: int,
        *,
        on_exit: Callable[[Task], None],
        on_task_fault: Callable[[Task, BaseException], None],
    ) -> None:
        self.cpus = [Cpu(i) for i in range(ncpus)]
        self.tasks: dict[int, Task] = {}
        self.current: Task | None = None
        self.ctx_switch = LatencyHistogram()
        self.running = asyncio.Event()
        self.halted = False
        # The kernel is being dismantled (reset, power-off, exit): code that still runs, the
        # cleanup of dropped tasks, cannot panic it or be struck by injected faults.
        self.stopping = False
        self._pids = itertools.count(1)
        self._on_exit = on_exit
        self._on_task_fault = on_task_fault
        self._loops: list[asyncio.Task] = []
        self.timing_enabled = True  # `metricsctl off` stops recording switch latency

    # -- task creation and placement ---------------------------------------------------------
    def next_pid(self) -> int:
        return next(self._pids)

    def add(self, task: Task) -> None:
        task.start_ns = time.monotonic_ns()
        self.tasks[task.pid] = task
        task.cpu = min(
            self.cpus, key=lambda c: (len(c.runq) + (c.current is not None), c.index)
        ).index
        self._enqueue(task)

    def _enqueue(self, task: Task) -> None:
        task.state = TaskState.RUNNABLE
        cpu = self.cpus[task.cpu]
        if cpu.runq and cpu.current is not None:
            # Busy CPU: an idle one takes the task instead (wake-up balancing).
            idle = next((c for c in self.cpus if c.current is None and not c.runq), None)
            if idle is not None:
                cpu = idle
                task.cpu = idle.index
        cpu.runq.append(task)
        cpu.wakeup.set()

    # -- blocking and waking -------------------------------------------------------------------
    async def block(
        self, wq: WaitQueue | None, timeout_s: float | None = None, channel: str = ""
    ) -> str:
        """Sleep on `wq` until woken, the timeout passes, or a signal arrives.
        Returns WOKEN, TIMEOUT or SIGNALLED. Called from inside a task."""
        return await _trap("block", (wq, timeout_s, channel))

    async def sleep(self, seconds: float) -> str:
        return await self.block(None, max(0.0, seconds), channel="nanosleep")

    async def yield_now(self) -> None:
        await _trap("yield")

    async def maybe_preempt(self, task: Task) -> None:
        """A preemption point (syscall exit): yield if the task used up its time slice."""
        if time.perf_counter_ns() - task.slice_start_ns > TIME_SLICE_NS:
            await _trap("yield")

    def wake(self, task: Task, reason: str) -> None:
        if task.state is not TaskState.SLEEPING:
            return
        token, task.wait_token = task.wait_token, None
        if token is not None:
            wq, handle = token
            if handle is not None:
                handle.cancel()
            if wq is not None and reason != WOKEN and task in wq.waiters:
                wq.waiters.remove(task)
        task.wait_channel = ""
        task.resume_value = reason
        self._enqueue(task)

    def signal(self, task: Task, sig: int) -> None:
        if not task.alive or sig == 0:
            return
        task.pending.add(sig)
        if task.fatal_signal() is not None:
            self.wake(task, SIGNALLED)

    def check_signals(self, task: Task) -> None:
        """Called at syscall exit and after wake-ups: act on a fatal pending signal."""
        sig = task.fatal_signal()
        if sig is not None:
            task.pending.discard(sig)
            raise TaskExit(128 + sig)

    # -- CPU loops -----------------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._cpu_loop(cpu), name=f"cpu{cpu.index}") for cpu in self.cpus
        ]

    async def stop(self) -> None:
        self.halted = True
        self.stopping = True
        for cpu in self.cpus:
            cpu.wakeup.set()
        for t in self._loops:
            t.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        for task in list(self.tasks.values()):
            _discard(task)

    def _pick(self, cpu: Cpu) -> Task | None:
        if cpu.runq:
            return cpu.runq.popleft()
        victim = max(self.cpus, key=lambda c: len(c.runq))
        if (
            len(victim.runq) > 0
            and victim is not cpu
            and (victim.current is not None or len(victim.runq) > 1)
        ):
            task = victim.runq.pop()  # steal from the tail: the task least likely to be cache-hot
            task.cpu = cpu.index
            return task
        return None

    async def _cpu_loop(self, cpu: Cpu) -> None:
        switch_ns = 0  # time spent switching away from the last task (trap handling)
        while not self.halted:
            if not self.running.is_set():
                await self.running.wait()
                continue
            pick_start = time.perf_counter_ns()
            task = self._pick(cpu)
            if task is None:
                cpu.wakeup.clear()
                await cpu.wakeup.wait()
                switch_ns = 0
                continue
            if not task.alive or task.coro is None:
                continue
            cpu.current = task
            self.current = task
            task.state = TaskState.RUNNING
            task.switches += 1
            cpu.dispatches += 1
            start = time.perf_counter_ns()
            if self.timing_enabled:
                self.ctx_switch.record(switch_ns + (start - pick_start))
            task.slice_start_ns = start
            trap: Any = None
            if task.kcov is not None:
                task.kcov.start()
            try:
                if task.resume_exc is not None:
                    exc, task.resume_exc = task.resume_exc, None
                    trap = task.coro.throw(exc)
                else:
                    value, task.resume_value = task.resume_value, None
                    trap = task.coro.send(value)
            except StopIteration as done:
                self._finish(task, done.value if isinstance(done.value, int) else 0)
            except TaskExit as ex:
                self._finish(task, ex.status)
            except KernelHalt:
                self.halted = True
            except Exception as exc:  # a fault in user code: the task dies, the kernel goes on
                self._on_task_fault(task, exc)
                if task.alive and not self.halted:
                    self._finish(task, 128 + 11)
            finally:
                if task.kcov is not None:
                    task.kcov.stop()
            trapped = time.perf_counter_ns()
            task.cpu_ns += trapped - start
            cpu.busy_ns += trapped - start
            self.current = None
            cpu.current = None
            if self.halted:
                break
            if trap is not None and task.alive:
                self._handle_trap(task, trap)
            switch_ns = time.perf_counter_ns() - trapped
            await asyncio.sleep(0)  # let device I/O (console, sockets, timers) run between slices

    def _handle_trap(self, task: Task, trap: tuple[str, Any]) -> None:
        op, arg = trap
        if op == "yield":
            self._enqueue(task)
        elif op == "block":
            wq, timeout_s, channel = arg
            if task.fatal_signal() is not None:
                task.resume_value = SIGNALLED
                self._enqueue(task)
                return
            task.state = TaskState.SLEEPING
            task.wait_channel = channel or (wq.name if wq else "")
            handle = None
            if timeout_s is not None:
                handle = asyncio.get_running_loop().call_later(timeout_s, self.wake, task, TIMEOUT)
            if wq is not None:
                wq.waiters.append(task)
            task.wait_token = (wq, handle)
        else:
            raise RuntimeError(f"unknown trap {op!r} from pid {task.pid}")

    def _finish(self, task: Task, status: int) -> None:
        if not task.alive:
            return
        task.state = TaskState.ZOMBIE
        task.exit_status = status
        _discard(task)
        self._on_exit(task)


def _discard(task: Task) -> None:
    """Drop a task's coroutine. close() still runs its `finally` blocks, and they may make
    syscalls into a kernel that is gone: whatever they raise (a block that makes close()
    complain, a halt, an exit) ends with the task and is no concern of the teardown."""
    if task.coro is not None:
        try:
            task.coro.close()
        except BaseException:  # see above: nothing of the task survives
            pass

"""Jobs on this machine: the lab's one pool of worker threads, at most `-j` jobs at once. Each
job lives in one thread from boot to power-off, as a Session requires (its target dies with
its thread).

Ctrl-C (KeyboardInterrupt in the calling thread) sets the stop token: queued jobs never start,
running ones end at their next step and power their targets off; `run` then re-raises."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Sequence

from sis.harness.jobs import Job, Report, Status, run_job

#: After an interrupt, how long running jobs get to power their targets off.
STOP_GRACE_S = 10.0


class LocalExecutor:
    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(
        self,
        jobs: Sequence[Job],
        report: Report,
        status: Status | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        stop = stop if stop is not None else threading.Event()
        queue = collections.deque(jobs)
        lock = threading.Lock()

        def serialized(result):  # noqa: ANN001, ANN202 - one reporter at a time
            with lock:
                report(result)

        workers = min(self.jobs, len(queue))
        finished = threading.Semaphore(0)

        def worker() -> None:
            try:
                while not stop.is_set():
                    with lock:
                        if not queue:
                            return
                        job = queue.popleft()
                    run_job(job, serialized, status, stop)
            finally:
                finished.release()

        for i in range(workers):
            threading.Thread(target=worker, name=f"sis-job-{i}", daemon=True).start()
        # Waited for on a semaphore, not by joining: a join interrupted by Ctrl-C can leave
        # a live thread looking finished, and the calling thread stays interruptible.
        done = 0
        try:
            while done < workers:
                if finished.acquire(timeout=0.2):
                    done += 1
        except BaseException:
            stop.set()
            deadline = time.monotonic() + STOP_GRACE_S
            while done < workers and finished.acquire(
                timeout=max(0.0, deadline - time.monotonic())
            ):
                done += 1
            raise

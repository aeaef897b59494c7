"""Jobs on this machine: one thread per running job, at most `-j` at once. Each job lives in one
thread from boot to power-off, as a Session requires (its target dies with its thread)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sis.harness.jobs import Job, Report, Status, run_job


class LocalExecutor:
    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(self, jobs: Sequence[Job], report: Report, status: Status | None = None) -> None:
        lock = threading.Lock()

        def serialized(result):  # noqa: ANN001, ANN202 - one reporter at a time
            with lock:
                report(result)

        if self.jobs == 1:
            for job in jobs:
                run_job(job, serialized, status)
            return
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sis-job") as pool:
            for future in [pool.submit(run_job, job, serialized, status) for job in jobs]:
                future.result()

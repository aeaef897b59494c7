"""Executors decide where jobs run. `local` runs them on this machine, at most `-j` at once;
`dask` on a Dask cluster (`sis.harness.executors.dask`). Each implements the same `run`: take
plain-data jobs, call `report` with each result as it comes (results are plain data too),
return when all jobs are done.

Interrupting is the same everywhere: the caller sets `stop`; jobs not started never start,
running ones end at their next step (run_job checks the token), and `run` returns."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from sis.harness.jobs import Job, Report, Status


class Executor(Protocol):
    def run(
        self,
        jobs: Sequence[Job],
        report: Report,
        status: Status | None = None,
        stop: threading.Event | None = None,
    ) -> None: ...


EXECUTORS = ("local", "dask")


def make_executor(name: str, jobs: int = 1, **options: Any) -> Executor:
    """`options` are the executor's own (dask: scheduler, tls_dir, insecure, shared_out)."""
    if name == "local":
        from sis.harness.executors.local import LocalExecutor

        return LocalExecutor(jobs)
    if name == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError(
                "--executor dask needs Dask distributed: pip install 'sis[dask]'"
            ) from None
        from sis.harness.executors.dask import DaskExecutor

        return DaskExecutor(jobs=jobs, **options)
    raise ValueError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")

"""The worker side of `--executor dask`: what a Dask worker declares it can run (a worker
plugin the client registers, so a plain `dask worker ADDRESS` is usable), and the task that
runs one job there.

A job's results travel back one by one as they happen, as events on the run's topic (sent on
the worker's batched stream to the scheduler within milliseconds, in order and before the task's
own end; an attempt lost with its worker keeps what it had sent); its files come back with the task's return
value, size-bounded, unless the run writes to a directory every worker shares.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from distributed import Event, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from sis.harness.capacity import available_memory, cpu_count
from sis.harness.jobs import Job, run_job
from sis.harness.results import JobSummary, TestResult
from sis.harness.targets.profile import QEMU_BINARIES

#: A running job takes one of these: how many targets a worker runs at once.
VM_SLOTS = "sis-vm"
#: Guest memory (MiB) a job's target needs, from its preset; a worker offers half its free memory.
MEMORY_MIB = "sis-memory-mib"
#: Files under a job's inputs directory the client sent with it (profile, suites, baselines).
INPUTS_MARK = "{sis-inputs}"


def detect_resources() -> dict[str, float]:
    """What this machine can run: VM slots (2 per CPU, as the local executor's default -j),
    memory for guests (half of what is free, as the local executor plans), one resource per QEMU
    system emulator on PATH (as many as there are slots: each running VM takes one), and `kvm`
    when /dev/kvm can be opened."""
    memory = available_memory()
    memory_mib = (memory // 2) >> 20 if memory is not None else 1024
    slots = 2 * cpu_count()
    found: dict[str, float] = {VM_SLOTS: float(slots), MEMORY_MIB: float(memory_mib)}
    for binary in sorted(set(QEMU_BINARIES.values())):
        if shutil.which(binary):
            found[binary] = float(slots)
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        found["kvm"] = float(slots)
    return found


class SisWorkerPlugin(WorkerPlugin):
    """Declares `detect_resources()` on each worker at start (and on workers that join later).
    What the worker was started with (`dask worker --resources ...`) wins over what is found."""

    name = "sis"

    async def setup(self, worker: Any) -> None:
        declared = dict(worker.state.total_resources)
        found = {k: v for k, v in detect_resources().items() if k not in declared}
        if found:
            await worker.set_resources(**found)


class _EventStop:
    """The stop token a job sees on a worker: set when the client sets the run's distributed
    Event. A watcher thread waits on the Event (one scheduler round trip per second at most),
    so `is_set()` costs nothing where the job asks often."""

    def __init__(self, event: Event) -> None:
        self._event = event
        self._local = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sis-stop-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                if self._event.wait(timeout=1.0):
                    self._local.set()
                    return
            except Exception:  # noqa: BLE001 - scheduler gone: nothing will stop us but death
                time.sleep(1.0)

    def is_set(self) -> bool:
        return self._local.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._local.wait(timeout)

    def close(self) -> None:
        self._done.set()


def run_on_worker(
    tag: int,
    job_dict: dict[str, Any],
    inputs: dict[str, bytes],
    topic: str,
    event_name: str,
    shared_out: str | None,
    artifact_limit: int,
) -> dict[str, Any]:
    """One attempt at one job (a Dask task). Logs on the run's topic: `start`, each `result`
    and `status` as it happens, the `summary`, then `end`. Returns the job's files
    (relative to OUT, holes left out) unless they went to `shared_out`."""
    worker = get_worker()
    run = uuid.uuid4().hex

    def send(msg: dict[str, Any]) -> None:
        worker.log_event(topic, msg)  # not waiting for the scheduler: results keep coming

    stop = _EventStop(Event(event_name))

    scratch = Path(tempfile.mkdtemp(prefix="sis-job-", dir=worker.local_directory))
    inputs_dir = scratch / "inputs"
    out_dir = Path(shared_out) if shared_out else scratch / "out"
    for rel, data in inputs.items():
        path = inputs_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    job = _localize(job_dict, inputs_dir, out_dir)
    send(
        {
            "kind": "start",
            "job": tag,
            "run": run,
            "worker": worker.address,
            "host": worker.ip,
            "out": str(out_dir),
            "inputs": str(inputs_dir),
        }
    )
    held: list[JobSummary] = []  # sent after the files are counted, so it can name skipped ones

    def report(r: TestResult | JobSummary) -> None:
        if isinstance(r, JobSummary):
            held.append(r)
        else:
            send({"kind": "result", "job": tag, "run": run, "data": asdict(r)})

    def status(key: str, text: str) -> None:
        send({"kind": "status", "job": tag, "run": run, "text": text})

    error = None
    try:
        run_job(job, report, status, stop=stop)
    except Exception:  # noqa: BLE001 - the lab's own failure: the client reports it as ERROR
        error = traceback.format_exc(limit=8)
    finally:
        stop.close()  # (a target's process dies with the thread that started it: PDEATHSIG)
    files, skipped = ({}, []) if shared_out else _collect(out_dir, artifact_limit)
    for summary in held:
        if skipped:
            summary.history.append(
                {
                    "t": time.time(),
                    "state": "artifacts",
                    "why": f"not copied back (over {artifact_limit >> 20} MiB): "
                    + ", ".join(skipped),
                }
            )
        send({"kind": "summary", "job": tag, "run": run, "data": asdict(summary)})
    send({"kind": "end", "job": tag, "run": run, "error": error})
    if not shared_out:
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        shutil.rmtree(inputs_dir, ignore_errors=True)
    return {"run": run, "files": files, "skipped": skipped, "error": error}


def _localize(job_dict: dict[str, Any], inputs_dir: Path, out_dir: Path) -> Job:
    """The job with its input paths pointing at the copies sent with it, and its workdir on
    this worker (OUT/targets becomes out_dir/targets, so OUT's layout is kept)."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(INPUTS_MARK):
            return str(inputs_dir / value[len(INPUTS_MARK) :].lstrip("/"))
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    d = fix(dict(job_dict))
    d["workdir"] = str(out_dir / Path(job_dict["workdir"]).name)
    return Job.from_dict(d)


def _collect(root: Path, limit: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The files under root (relative path -> size and data extents; a sparse disk image sends
    only what was written), smallest first up to `limit` data bytes in all; the names of those
    left out."""
    sized = []
    for p in root.rglob("*"):
        if p.is_file():
            with contextlib.suppress(OSError):
                sized.append((_data_bytes(p), p))
    files: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    total = 0
    for size, p in sorted(sized, key=lambda x: x[0]):
        rel = str(p.relative_to(root))
        if total + size > limit:
            skipped.append(rel)
            continue
        with contextlib.suppress(OSError):
            files[rel] = {"size": p.stat().st_size, "extents": list(_extents(p))}
            total += size
    return files, skipped


def _data_bytes(path: Path) -> int:
    return sum(length for _, length in _ranges(path))


def _ranges(path: Path) -> list[tuple[int, int]]:
    """(offset, length) of each run of data in a file (the whole file where holes are unknown)."""
    size = path.stat().st_size
    out: list[tuple[int, int]] = []
    with open(path, "rb") as f:
        fd, off = f.fileno(), 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
                end = os.lseek(fd, start, os.SEEK_HOLE)
            except OSError:  # ENXIO: only a hole is left; EINVAL: no hole support
                if off == 0 and not out:
                    return [(0, size)]
                break
            out.append((start, end - start))
            off = end
    return out


def _extents(path: Path) -> list[tuple[int, bytes]]:
    with open(path, "rb") as f:
        extents = []
        for start, length in _ranges(path):
            f.seek(start)
            extents.append((start, f.read(length)))
        return extents


def write_file(path: Path, entry: dict[str, Any]) -> None:
    """Recreate a file `_collect` sent: its size, its data, its holes left as holes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for start, data in entry["extents"]:
            f.seek(start)
            f.write(data)
        f.truncate(entry["size"])

"""Jobs on a Dask cluster (`--executor dask`): one task per job, wherever a worker has what the
job needs; results stream back one by one into the one results.jsonl, files land under OUT as
if the job had run here.

Without a scheduler address it starts a cluster of worker processes on this machine: every
socket on 127.0.0.1, no dashboard, and TLS with credentials made for this run only (anyone who
reaches a Dask scheduler can run code on its workers, a local user on loopback included). A
scheduler elsewhere must be reached over TLS with certificates unless the user says
`--insecure`.

Faults: a worker lost mid-job makes Dask run the job again elsewhere (up to the scheduler's
`allowed-failures`); what the lost attempt reported stays, marked with its attempt, and the
verdicts are the last attempt's. A job no worker can run is an ERROR naming what is missing,
after `resource_wait` seconds. Ctrl-C (or the stop token) sets a distributed Event that every
running job sees as its stop token.
"""

from __future__ import annotations

import contextlib
import ipaddress
import math
import os
import queue
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sis.harness.capacity import cpu_count, target_bytes
from sis.harness.jobs import Job, Report, Status
from sis.harness.results import ERROR, JobSummary, TestResult

#: Files a job sends back, in data bytes (holes of sparse disk images are free).
DEFAULT_ARTIFACT_LIMIT = 256 << 20
#: How long a job may wait for a worker that has what it needs before it is an ERROR.
DEFAULT_RESOURCE_WAIT = 60.0
#: After Ctrl-C, how long running jobs get to stop and send what they have.
STOP_GRACE = 30.0
CREDENTIAL_FILES = ("ca.pem", "cert.pem", "key.pem")


class SchedulerError(ValueError):
    """The scheduler cannot be used as asked (address, credentials)."""


class SchedulerUnreachable(ConnectionError):
    """No scheduler answered at the address (or the TLS handshake was refused)."""


# ---------------------------------------------------------------------------- what a job needs


def job_resources(job: Job) -> dict[str, float]:
    """The worker resources a job takes while it runs: a VM slot, its guest's memory (MiB, from
    its preset), and for a QEMU target the system emulator its profile runs."""
    from sis.harness.executors.dask_worker import MEMORY_MIB, VM_SLOTS
    from sis.harness.targets.profile import load_profile

    profile = load_profile(job.target)
    values = profile.variables(job.preset)
    needs = {
        VM_SLOTS: 1.0,
        MEMORY_MIB: float(math.ceil(target_bytes(profile.kind, values.get("memory")) / (1 << 20))),
    }
    if profile.kind == "qemu" and profile.binary:
        needs[Path(profile.binary).name] = 1.0
    return needs


def pack_inputs(job: Job) -> tuple[dict[str, Any], dict[str, bytes], dict[str, str]]:
    """The job as plain data with every input file it names (a profile file, suite files, the
    log baselines, a fuzz campaign's merged corpus) replaced by a copy that travels with it: a worker need not see this
    machine's files. Built-in profiles and suites go by name. Also returns where each copy
    came from (its path under the job's inputs -> the path given here), to name it back."""
    from sis.harness.executors.dask_worker import INPUTS_MARK

    d = job.to_dict()
    files: dict[str, bytes] = {}
    origins: dict[str, str] = {}

    def ship(path: str, where: str) -> str:
        p = Path(path)
        if p.is_file():
            files[f"{where}/{p.name}"] = p.read_bytes()
            origins[f"{where}/{p.name}"] = path
            return f"{INPUTS_MARK}/{where}/{p.name}"
        return path

    d["target"] = ship(job.target, "profile")
    options = {name: dict(given) for name, given in d["options"].items()}
    for phase in ("suites", "log_capture"):
        if "suites" in options.get(phase, {}):
            options[phase]["suites"] = [
                ship(s, f"{phase}-suite{i}") for i, s in enumerate(options[phase]["suites"])
            ]
    if "experiments" in options.get("chaos", {}):
        options["chaos"]["experiments"] = [
            ship(e, f"experiment{i}") for i, e in enumerate(options["chaos"]["experiments"])
        ]
    if options.get("soak", {}).get("workload"):
        options["soak"]["workload"] = ship(options["soak"]["workload"], "workload")

    def ship_tree(root: Path, where: str) -> None:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                files[f"{where}/{p.relative_to(root)}"] = p.read_bytes()
        origins[where] = str(root)

    if "baselines" in options.get("log_regression", {}):
        base = Path(options["log_regression"]["baselines"])
        if base.is_dir():
            ship_tree(base, "baselines")
        # Not found here means not found there either, whatever the worker's directory holds.
        options["log_regression"]["baselines"] = f"{INPUTS_MARK}/baselines"
        origins["baselines"] = str(base)
    corpus = options.get("fuzz", {}).get("corpus_from")
    if corpus:
        # The corpus merged from the campaign's earlier rounds, under OUT here: a worker on
        # another machine starts its round from it too.
        where = Path(job.workdir).parent / corpus
        if where.is_dir():
            ship_tree(where, "corpus")
            options["fuzz"]["corpus_from"] = f"{INPUTS_MARK}/corpus"
    d["options"] = options
    return d, files, origins


# ---------------------------------------------------------------------------- who may connect


def is_loopback(address: str) -> bool:
    host = urlsplit(address if "://" in address else f"tcp://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def security_for(address: str, tls_dir: Path | None, insecure: bool) -> Any:
    """The Security to reach `address` with: TLS from `tls_dir` (ca.pem, cert.pem, key.pem),
    or from Dask's own configuration; plain TCP only on loopback, or when `insecure` is said."""
    from distributed import Security

    scheme = address.split("://", 1)[0] if "://" in address else "tcp"
    if tls_dir is not None:
        missing = [n for n in CREDENTIAL_FILES if not (tls_dir / n).is_file()]
        if missing:
            raise SchedulerError(f"--tls {tls_dir}: no {', '.join(missing)} there")
        if scheme != "tls":
            raise SchedulerError(f"--tls given but the scheduler address {address} is not tls://")
        ca, cert, key = (str(tls_dir / n) for n in CREDENTIAL_FILES)
        return Security(
            tls_ca_file=ca, tls_client_cert=cert, tls_client_key=key, require_encryption=True
        )
    if scheme == "tls":
        configured = Security()
        if not (configured.tls_ca_file and configured.tls_client_cert):
            raise SchedulerError(
                f"{address}: TLS needs credentials: --tls DIR (ca.pem, cert.pem, key.pem) "
                "or Dask's distributed.comm.tls settings"
            )
        return configured
    if scheme not in ("tcp", "inproc"):
        raise SchedulerError(f"scheduler address {address}: use tls://HOST:PORT or tcp://HOST:PORT")
    if not is_loopback(address) and not insecure:
        raise SchedulerError(
            f"scheduler {address} is not on loopback: whoever reaches it runs code on its "
            "workers; use tls:// with --tls DIR, or say --insecure"
        )
    return Security()


def write_credentials(directory: Path) -> Path:
    """A self-signed certificate and key for a cluster (scheduler, workers and clients share
    them), as ca.pem, cert.pem, key.pem in `directory` (created; files readable by the owner
    only)."""
    from distributed import Security

    temp = Security.temporary()
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in zip(
        CREDENTIAL_FILES,
        (temp.tls_ca_file, temp.tls_client_cert, temp.tls_client_key),
        strict=True,
    ):
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return directory


# ---------------------------------------------------------------------------- the executor


@dataclass
class _Tracked:
    """One job as the client follows it: its future, its attempts, what each reported."""

    job: Job
    future: Any = None
    needs: dict[str, float] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)  # input copies -> the paths given
    attempts: list[dict[str, Any]] = field(default_factory=list)  # start messages, in order
    reported: dict[str, set[tuple[str, str]]] = field(default_factory=dict)  # run -> tests
    ends: dict[str, dict[str, Any]] = field(default_factory=dict)  # run -> end message
    summaries: dict[str, JobSummary] = field(default_factory=dict)
    unplaceable_since: float | None = None
    done: bool = False

    def attempt_of(self, run: str) -> int:
        runs = [a["run"] for a in self.attempts]
        return runs.index(run) + 1 if run in runs else 0


class DaskExecutor:
    def __init__(
        self,
        scheduler: str | None = None,
        jobs: int = 1,
        *,
        tls_dir: Path | None = None,
        insecure: bool = False,
        security: Any = None,
        shared_out: Path | None = None,
        resource_wait: float | None = None,
        artifact_limit: int = DEFAULT_ARTIFACT_LIMIT,
    ) -> None:
        self.scheduler = scheduler or os.environ.get("SIS_DASK_SCHEDULER") or None
        if tls_dir is None and os.environ.get("SIS_DASK_TLS"):
            tls_dir = Path(os.environ["SIS_DASK_TLS"])
        self.jobs = max(1, jobs)
        self.shared_out = shared_out
        if resource_wait is None:
            resource_wait = float(os.environ.get("SIS_DASK_RESOURCE_WAIT") or DEFAULT_RESOURCE_WAIT)
        self.resource_wait = resource_wait
        self.artifact_limit = artifact_limit
        if security is not None:
            self.security = security
        elif self.scheduler:
            self.security = security_for(self.scheduler, tls_dir, insecure)  # fails early
        else:
            self.security = None

    # -- cluster -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _client(self):  # noqa: ANN202 - yields a distributed.Client
        from distributed import Client, LocalCluster, Security

        from sis.harness.executors.dask_worker import SisWorkerPlugin

        cluster = None
        if self.scheduler:
            try:
                client = Client(self.scheduler, security=self.security, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise SchedulerUnreachable(
                    f"cannot reach the scheduler {self.scheduler}: {e}"
                ) from None
        else:
            security = Security.temporary()
            workers = max(1, min(cpu_count(), self.jobs))
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=math.ceil(self.jobs / workers),
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                worker_dashboard_address=None,
                security=security,
                protocol="tls://",
            )
            client = Client(cluster, security=security)
        try:
            client.register_plugin(SisWorkerPlugin(), name="sis")
            yield client
        finally:
            client.close()
            if cluster is not None:
                cluster.close()

    def run(
        self,
        jobs: Sequence[Job],
        report: Report,
        status: Status | None = None,
        stop: Any = None,
    ) -> None:
        from distributed import Event

        from sis.harness.executors.dask_worker import run_on_worker

        tag = uuid.uuid4().hex[:12]
        with self._client() as client:
            topic = f"sis-results-{tag}"
            inbox: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
            client.subscribe_topic(topic, lambda event: inbox.put(event[1]))
            event = Event(f"sis-stop-{tag}", client=client)
            tracked = [_Tracked(job) for job in jobs]
            for i, t in enumerate(tracked):
                t.needs = job_resources(t.job)
                job_dict, inputs, t.origins = pack_inputs(t.job)
                t.future = client.submit(
                    run_on_worker,
                    i,
                    job_dict,
                    inputs,
                    topic,
                    event.name,
                    str(self.shared_out) if self.shared_out else None,
                    self.artifact_limit,
                    key=f"sis-{t.job.target_name}-{t.job.preset}-{uuid.uuid4().hex[:8]}",
                    pure=False,
                    resources=t.needs,
                )
                # Wake the loop the moment a job's task ends, not at its next poll.
                t.future.add_done_callback(lambda _f, i=i: inbox.put({"kind": "ended", "job": i}))
            follow = _Follower(tracked, report, status, inbox, client, self)
            try:
                follow.until_done(stop)
            except KeyboardInterrupt:
                event.set()
                follow.stopping(STOP_GRACE)
                raise
            if stop is not None and stop.is_set():
                event.set()
                follow.stopping(STOP_GRACE)


class _Follower:
    """The client's loop: messages from the run's topic, futures as they end, jobs no worker takes."""

    def __init__(
        self,
        tracked: list[_Tracked],
        report: Report,
        status: Status | None,
        inbox: queue.SimpleQueue[dict[str, Any]],
        client: Any,
        executor: DaskExecutor,
    ) -> None:
        self.tracked = tracked
        self.report = report
        self.status = status
        self.inbox = inbox
        self.client = client
        self.ex = executor
        self._next_placement_check = 0.0

    def until_done(self, stop: Any = None) -> None:
        while not all(t.done for t in self.tracked):
            if stop is not None and stop.is_set():
                return
            self._drain(wait=0.2)
            self._finish_ended()
            self._check_placement()

    def stopping(self, grace: float) -> None:
        """After the stop is set: let running jobs stop and send what they have; a second
        Ctrl-C, or the grace running out, gives up on them (cancelled; a local cluster's
        workers, and with them their targets, end as it closes)."""
        deadline = time.monotonic() + grace
        try:
            while not all(t.done for t in self.tracked) and time.monotonic() < deadline:
                self._drain(wait=0.2)
                self._finish_ended()
                for t in self.tracked:
                    if not t.done and not t.attempts and t.future.status == "pending":
                        t.future.cancel()  # never started: nothing to keep
                        t.done = True
        except KeyboardInterrupt:
            pass
        for t in self.tracked:
            if not t.done:
                t.future.cancel()

    # -- messages --------------------------------------------------------------------------------
    def _drain(self, wait: float) -> None:
        try:
            msg = self.inbox.get(timeout=wait) if wait else self.inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            self._handle(msg)
            try:
                msg = self.inbox.get_nowait()
            except queue.Empty:
                return

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg["kind"]
        if kind == "ended":
            return  # its task ended: `_finish_ended` looks at the future
        t = self.tracked[msg["job"]]
        run = msg["run"]
        if kind == "start":
            for a in t.attempts:
                if a["run"] not in t.ends:
                    a["lost"] = True  # a later attempt started: this one's worker is gone
            t.attempts.append(msg)
            t.reported[run] = set()
            if self.status and len(t.attempts) > 1:
                self.status(t.job.key, f"attempt {len(t.attempts)} on {msg['worker']}")
        elif kind == "status":
            if self.status:
                self.status(t.job.key, msg["text"])
        elif kind == "result":
            r = TestResult.from_dict(self._to_local(t, run, msg["data"]))
            r.attempt = t.attempt_of(run)
            t.reported[run].add((r.suite, r.test))
            self.report(r)
        elif kind == "summary":
            t.summaries[run] = JobSummary.from_dict(self._to_local(t, run, msg["data"]))
        elif kind == "end":
            t.ends[run] = msg

    def _to_local(self, t: _Tracked, run: str, data: dict[str, Any]) -> dict[str, Any]:
        """Paths on the worker as they are under OUT here (and input copies as the originals)."""
        start = t.attempts[t.attempt_of(run) - 1]
        out = str(Path(t.job.workdir).parent)
        # Longest first: a copy's path is inside the inputs directory.
        swaps = [(f"{start['inputs']}/{rel}", given) for rel, given in t.origins.items()]
        swaps.sort(key=lambda s: -len(s[0]))
        if not self.ex.shared_out:  # else the files are where the paths say
            swaps.append((start["out"], out))

        def fix(v: Any) -> Any:
            if isinstance(v, str):
                for a, b in swaps:
                    v = v.replace(a, b)
                return v
            if isinstance(v, list | tuple):  # msgpack hands lists back as tuples
                return [fix(x) for x in v]
            if isinstance(v, dict):
                return {k: fix(x) for k, x in v.items()}
            return v

        return fix(data)

    # -- jobs that end ---------------------------------------------------------------------------
    def _finish_ended(self) -> None:
        for t in self.tracked:
            if t.done or not t.future.done():
                continue
            if t.future.status == "finished":
                outcome = t.future.result()
                if outcome["run"] not in t.ends:
                    continue  # its last messages are still on their way
                self._land_files(t, outcome)
                self._close(t, outcome["run"], outcome.get("error"))
            elif t.future.status == "cancelled":
                t.done = True
            else:
                self._drain(wait=0.5)  # what the last attempt sent before it was lost
                err = t.future.exception()
                last = t.attempts[-1]["run"] if t.attempts else None
                if last is not None:
                    t.attempts[-1]["lost"] = True
                why = f"{type(err).__name__}: {err}"
                self._close(t, last, f"the job could not finish on the cluster ({why})")

    def _land_files(self, t: _Tracked, outcome: dict[str, Any]) -> None:
        from sis.harness.executors.dask_worker import write_file

        out = Path(t.job.workdir).parent
        for rel, entry in outcome["files"].items():
            write_file(out / rel, entry)

    def _close(self, t: _Tracked, run: str | None, error: str | None) -> None:
        """The job is over: its summary (with the attempts that were lost), and an ERROR for
        each planned test its last attempt did not report when it ended in trouble."""
        t.done = True
        if error:
            done = t.reported.get(run, set()) if run else set()
            for suite, test in _planned(t.job):
                if (suite, test) not in done:
                    self.report(_error(t.job, suite, test, error, t.attempt_of(run) if run else 0))
        summary = t.summaries.get(run) if run else None
        if summary is None:
            summary = JobSummary(target=t.job.name, preset=t.job.preset)
        for n, a in enumerate(t.attempts, 1):
            if a.get("lost"):
                kept = len(t.reported.get(a["run"], ()))
                summary.history.append(
                    {
                        "t": time.time(),
                        "state": "worker-lost",
                        "why": f"attempt {n} on {a['worker']} ({a['host']}) lost its worker "
                        f"after {kept} result(s), kept as attempt {n}",
                    }
                )
        self.report(summary)

    def _check_placement(self) -> None:
        """Jobs that no connected worker could ever take: an ERROR after `resource_wait`."""
        now = time.monotonic()
        if now < self._next_placement_check:
            return
        self._next_placement_check = now + 1.0
        waiting = [t for t in self.tracked if not t.done and not t.attempts]
        if not waiting:
            return
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        offers = [w.get("resources", {}) for w in workers.values()]
        for t in waiting:
            missing = _missing(t.needs, offers)
            if missing is None:
                t.unplaceable_since = None
                continue
            if t.unplaceable_since is None:
                t.unplaceable_since = now
            elif now - t.unplaceable_since >= self.ex.resource_wait:
                t.future.cancel()
                reason = (
                    f"no worker can run it: {missing} "
                    f"(waited {self.ex.resource_wait:g} s; {len(offers)} worker(s) connected)"
                )
                t.done = True
                for suite, test in _planned(t.job):
                    self.report(_error(t.job, suite, test, reason, 0))
                self.report(JobSummary(target=t.job.name, preset=t.job.preset))


def _missing(needs: dict[str, float], offers: list[dict[str, float]]) -> str | None:
    """None when some worker offers all of `needs`; else what is missing, in words."""
    if not offers:
        return "no worker connected"
    best = None
    for offer in offers:
        lacking = [
            f"{name} {need:g} (has {offer.get(name, 0):g})" if name in offer else name
            for name, need in needs.items()
            if offer.get(name, 0) < need
        ]
        if not lacking:
            return None
        if best is None or len(lacking) < len(best):
            best = lacking
    return "needs " + ", ".join(best or [])


def _planned(job: Job) -> list[tuple[str, str]]:
    from sis.harness.phases import phase

    out: list[tuple[str, str]] = []
    for name in job.phases:
        p = phase(name)
        out.extend(p.planned(job, job.phase_options(name)) or [(p.name, p.name)])
    return out


def _error(job: Job, suite: str, test: str, reason: str, attempt: int) -> TestResult:
    return TestResult(
        target=job.name,
        preset=job.preset,
        suite=suite,
        test=test,
        verdict=ERROR,
        reason=reason,
        attempt=attempt,
    )


__all__ = ["DaskExecutor", "SchedulerError", "job_resources", "security_for", "write_credentials"]

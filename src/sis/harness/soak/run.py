"""One target's soak: the workload played step after step, a sample taken every interval
between steps (one thread, so the console is never shared and restarts happen in the thread
that owns the target, as a Session requires), until the soak has run for its duration.

A target that dies (a panic, a hang, a console gone) is restarted through
`session.ensure_shell()`: the restart is recorded, counted, and a new segment begins. A soak
resumed after an interruption continues the same files with a `gap` record, runs only the
time that was left, and keeps its counters."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sis.harness.console import ConsoleError
from sis.harness.metrics.collect import SampleError, Sampler
from sis.harness.session import TargetDied
from sis.harness.soak.oomwatch import OomWatch
from sis.harness.soak.sampling import (
    SampleLog,
    active_seconds,
    derived,
    last_counters,
    last_segment,
)
from sis.harness.soak.workload import Counters, WorkloadRunner, load_workload
from sis.harness.targets.base import TargetError

if TYPE_CHECKING:
    from sis.harness.session import Session, StopToken

#: What a dying target raises during a step or a sample: the soak restarts it.
_DIED = (TargetDied, ConsoleError)


class SoakError(Exception):
    """The soak cannot run (settings that do not match a resumed run, a workload that does not
    fit the target); one line for the user."""


@dataclass(frozen=True)
class SoakConfig:
    workload: str = "churn"  # a built-in name or a file; "" plays none (sampling only)
    interval: float = 10.0
    duration: float = 600.0
    seed: int = 0
    thresholds: tuple[str, ...] = ()
    leak_min: float = 1.0  # MiB/h
    warmup: float = 0.0  # a share of each boot never judged, beyond the warm-up the data show
    append: str = ""  # the target's kernel command line, when set (e.g. a planted bug)

    def settings(self) -> dict[str, Any]:
        """What a resumed run must agree on (the seed, rules and leak limits may change)."""
        return {k: v for k, v in asdict(self).items() if k in ("workload", "interval", "append")}


@dataclass
class SoakOutcome:
    directory: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "finished"  # finished, interrupted, target lost
    counters: dict[str, int] = field(default_factory=dict)  # the workload's, at the end


def run_soak(
    session: Session,
    config: SoakConfig,
    directory: Path,
    *,
    resume: bool = False,
    sample: bool = True,
    stop: StopToken | None = None,
    on_sample: Callable[[dict[str, Any]], None] | None = None,
) -> SoakOutcome:
    """Soak a session that is at its shell. `sample=False` plays the workload unsampled (to
    measure what sampling costs)."""
    stop = stop or threading.Event()
    workload = load_workload(config.workload) if config.workload else None
    log = SampleLog(directory, resume=resume)
    try:
        return _soak(session, config, workload, log, resume, sample, stop, on_sample)
    finally:
        log.close()


def _soak(
    session: Session,
    config: SoakConfig,
    workload: Any,
    log: SampleLog,
    resume: bool,
    sample: bool,
    stop: StopToken,
    on_sample: Callable[[dict[str, Any]], None] | None,
) -> SoakOutcome:
    outcome = SoakOutcome(log.directory)
    counters = Counters()
    segment = 0
    done = 0.0
    if resume and log.records:
        start = next((r for r in log.records if r["kind"] == "start"), None)
        if start is not None:
            was = start.get("settings", {})
            for key, value in config.settings().items():
                if key in was and was[key] != value:
                    raise SoakError(
                        f"{log.directory}: the run being resumed has {key} {was[key]!r}, "
                        f"not {value!r}"
                    )
        counters = Counters(**last_counters(log.records))
        done = active_seconds(log.records)
        segment = last_segment(log.records) + 1
        since = max(float(r["t"]) for r in log.records)
        log.write(
            {"kind": "gap", "t": _now(), "segment": segment, "since": since, "why": "resumed",
             "counters": counters.as_dict(), "skipped_records": log.skipped}
        )  # fmt: skip
    else:
        log.write(
            {"kind": "start", "t": _now(), "target": session.name, "preset": session.preset,
             "settings": config.settings(), "config": asdict(config)}
        )  # fmt: skip
    runner = None
    if workload is not None:
        missing = sorted(workload.requires - session.capabilities)
        if missing:
            raise SoakError(f"workload {workload.name} needs {', '.join(missing)}, which "
                            f"{session.name} lacks")  # fmt: skip
        try:
            runner = WorkloadRunner(workload, session, seed=config.seed * 1000 + segment)
        except ValueError as e:
            raise SoakError(str(e)) from None
        runner.counters = counters
    sampler = Sampler(session, label=session.name)
    ooms = OomWatch(session)
    remaining = max(0.0, config.duration - done)

    def restart(why: str, panicked: bool) -> bool:
        nonlocal segment
        counters.panics += int(panicked)
        note_oom_kills()  # the rest of the log of the boot that ended
        try:
            session.ensure_shell()
        except (TargetError, OSError) as e:  # the target cannot come back: the soak ends
            log.write({"kind": "error", "t": _now(), "segment": segment,
                       "error": f"restart failed: {e}", "counters": counters.as_dict()})  # fmt: skip
            outcome.stopped = "target lost"
            return False
        counters.restarts += 1
        segment += 1
        log.write({"kind": "restart", "t": _now(), "segment": segment, "why": why,
                   "panic": panicked, "counters": counters.as_dict()})  # fmt: skip
        return True

    def setup() -> bool:
        while runner is not None:
            try:
                runner.setup()
                return True
            except _DIED as e:
                if not restart(_why(e), _panicked(session)):
                    return False
        return True

    def fragmentation() -> dict[str, int]:
        """A SIS kernel's heap fragmentation, from `memstats` (a program: one more spawn)."""
        if "sis_contract" not in session.capabilities:
            return {}
        counters.spawns += 1
        try:
            out = session.run("memstats", timeout=5).output
        except _DIED:
            return {}
        m = _FRAGMENTATION.search(out)
        return {"heap_fragmentation_permille": round(float(m.group(1)) * 10)} if m else {}

    def note_oom_kills() -> None:
        t = _now()
        for kill in ooms.new_kills():
            log.write({**kill, "kind": "event", "t": min(kill["t"] or t, t), "segment": segment})

    def take_sample() -> None:
        note_oom_kills()  # before the sample: the timeline stays in order
        t = _now()
        record: dict[str, Any] = {"kind": "sample", "t": t, "segment": segment}
        try:
            metrics = sampler.sample()
            record["metrics"] = metrics | derived(metrics) | _host_cpu(session) | fragmentation()
            record["source"] = sampler.last_source
        except SampleError as e:
            record = {"kind": "error", "t": t, "segment": segment, "error": str(e)}
        record["counters"] = counters.as_dict()
        log.write(record)
        if on_sample is not None:
            on_sample(record)

    if not setup():
        return _finish(outcome, log, runner)
    started = time.monotonic()
    next_sample = started
    while not stop.is_set():
        now = time.monotonic()
        if now - started >= remaining:
            break
        try:
            if sample and now >= next_sample:
                take_sample()
                next_sample += config.interval
                if next_sample < time.monotonic():  # fell behind: do not burst to catch up
                    next_sample = time.monotonic() + config.interval
                if not session.alive() or session.state.value != "shell":
                    raise ConsoleError(session.death() or f"target is {session.state.value}")
                continue
            if runner is None:
                stop.wait(min(next_sample, started + remaining) - now)
                continue
            kept = len(runner.errors)
            runner.step()
            for failed in runner.errors[kept:]:
                log.write({"kind": "failed_step", "t": _now(), "segment": segment, **failed})
            if runner.cycle_ended and workload.pace:
                until = min(next_sample if sample else now + workload.pace, now + workload.pace)
                stop.wait(max(0.0, until - time.monotonic()))
        except _DIED as e:
            if not restart(_why(e), _panicked(session)) or not setup():
                break
    else:
        outcome.stopped = "interrupted"
    if sample and outcome.stopped != "target lost" and session.alive():
        take_sample()  # the end of the run is a sample too
    return _finish(outcome, log, runner)


def _finish(outcome: SoakOutcome, log: SampleLog, runner: WorkloadRunner | None) -> SoakOutcome:
    outcome.records = list(log.records)
    outcome.errors = list(runner.errors) if runner else []
    outcome.counters = runner.counters.as_dict() if runner else {}
    return outcome


_FRAGMENTATION = re.compile(r"fragmentation (\d+(?:\.\d+)?)%")


def _host_cpu(session: Session) -> dict[str, int]:
    """CPU time the target's process has used, as the host sees it (user + system, ms)."""
    try:
        fields = Path(f"/proc/{session.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (AttributeError, OSError, IndexError):
        return {}
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return {"host_cpu_ms": ticks * 1000 // os.sysconf("SC_CLK_TCK")}


def _now() -> float:
    return round(time.time(), 3)


def _why(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _panicked(session: Session) -> bool:
    return session.state.value == "crashed"

"""Running one experiment on a Session: steady state before, the method, rollbacks that always
run, the steady state after, then the nothing-lost oracle. Writes the JSON journal and the
timeline; returns the verdict as a TestResult.

Rollbacks run whatever happened: after a failed method, on Ctrl-C (then the journal says
`interrupted` and the interrupt goes on up), and when the kernel died or hung (then the
rollback is a restart, which clears every fault of the old boot)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.chaos.experiment import Activity, Experiment, Probe
from sis.harness.chaos.injectors import (
    InjectionError,
    Injector,
    Unavailable,
    injector_for,
)
from sis.harness.chaos.timeline import Timeline
from sis.harness.chaos.volatile import CachedDisk
from sis.harness.chaos.workload import (
    Workload,
    WorkloadError,
    WorkloadOptions,
    Write,
    as_dicts,
    lost,
    workload_for,
)
from sis.harness.console import ConsoleError
from sis.harness.forensics import find_oom_kills
from sis.harness.logs import parse_file
from sis.harness.metrics.collect import SampleError, Sampler
from sis.harness.outdir import write_atomic
from sis.harness.qmp import QMPError
from sis.harness.results import ERROR, FAIL, PASS, SKIP, StepResult, TestResult
from sis.harness.session import Session, State, Stopped, TargetDied
from sis.harness.targets.base import TargetError

PROBE_RETRY_PAUSE_S = 0.5
SUITE = "chaos"


class _Aborted(Exception):
    """The method stopped: `verdict` and `reason` say why."""

    def __init__(self, verdict: str, reason: str) -> None:
        self.verdict = verdict
        self.reason = reason
        super().__init__(reason)


@dataclass
class _Run:
    """What one run of an experiment gathers as it goes."""

    session: Session
    exp: Experiment
    seed: int
    timeline: Timeline = field(default_factory=Timeline)
    activities: list[dict[str, Any]] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    steps: list[StepResult] = field(default_factory=list)
    writes: list[Write] = field(default_factory=list)
    active: list[tuple[Injector, int]] = field(default_factory=list)  # injector, boot number
    notes: list[str] = field(default_factory=list)
    panicked: bool = False
    log_marks: list[tuple[str, int]] = field(default_factory=list)  # kernel log, from offset

    @property
    def label(self) -> str:
        return f"{self.exp.name} seed={self.seed}"


def run_experiment(
    session: Session,
    exp: Experiment,
    *,
    seed: int = 0,
    out: Path,
    workload_options: WorkloadOptions | None = None,
) -> TestResult:
    """Run `exp` on `session` (which may be off); journal and timeline go to `out`."""
    out.mkdir(parents=True, exist_ok=True)
    if exp.crash_points is not None:
        return TestResult(
            target=session.profile.name, preset=session.preset, suite=SUITE, test=exp.name,
            verdict=SKIP, reason="a crash-point experiment boots on a logged disk of its own: "
            f"`sis chaos run {exp.name}` runs it as a job of its own",
        )  # fmt: skip
    stem = out / f"{session.name}.{exp.name}"
    started, t0 = time.time(), time.monotonic()
    run = _Run(session, exp, seed)
    journal: dict[str, Any] = {
        "experiment": exp.name,
        "description": exp.description,
        "target": session.profile.name,
        "preset": session.preset,
        "seed": seed,
        "started": started,
        "status": "completed",
        "deviated": False,
    }

    def finish(verdict: str, reason: str) -> TestResult:
        journal.update(
            verdict=verdict,
            reason=reason,
            ended=time.time(),
            duration_s=time.monotonic() - t0,
            method=run.activities,
            rollbacks=run.rollbacks,
            writes=as_dicts(run.writes),
            notes=run.notes,
        )
        _gather_logs(run, started)
        files = {
            "journal": Path(f"{stem}.journal.json"),
            "timeline": Path(f"{stem}.timeline.jsonl"),
        }
        write_atomic(files["journal"], json.dumps(journal, indent=2, default=str) + "\n")
        run.timeline.write(files["timeline"])
        artifacts = {k: str(v) for k, v in session.artifacts().items()}
        artifacts |= {k: str(v) for k, v in files.items()}
        return TestResult(
            target=session.profile.name,
            preset=session.preset,
            suite=SUITE,
            test=exp.name,
            verdict=verdict,
            reason=reason,
            steps=run.steps,
            duration_s=time.monotonic() - t0,
            started=started,
            artifacts=artifacts,
        )

    # What the target cannot do is known before anything runs: SKIP with the reason.
    lacking = [c for c in exp.requires if c not in session.capabilities]
    if lacking:
        journal["status"] = "skipped"
        return finish(SKIP, f"target lacks {', '.join(lacking)}")
    try:
        injectors = {f: injector_for(f, session) for f in exp.faults}
    except Unavailable as e:
        journal["status"] = "skipped"
        return finish(SKIP, str(e))
    writes = any(a.kind == "workload" for a in exp.method)
    workload = workload_for(session, workload_options) if writes else None
    if workload is None and writes:
        journal["status"] = "skipped"
        return finish(SKIP, "target lacks disk (nothing for the workload to write to)")
    journal["injectors"] = {f: i.how for f, i in injectors.items()}
    journal["workload"] = workload.where if workload else None
    cache = session.disk_cache if isinstance(session.disk_cache, CachedDisk) else None
    if cache is not None:
        journal["disk_cache"] = (
            "volatile write cache: a power loss drops the writes not yet flushed (write log)"
        )
    losses_from = len(cache.losses) if cache is not None else 0

    try:
        session.ensure_shell()
    except TargetError as e:
        journal["status"] = "aborted"
        return finish(ERROR, f"target did not start: {e}")
    if workload is not None:
        try:
            workload.prepare()
        except WorkloadError as e:
            journal["status"] = "aborted"
            return finish(ERROR, f"workload could not be prepared: {e}")
    history_from = len(session.history)
    boots_from = max(0, len(session.boots) - 1)
    _mark_log(run)
    run.timeline.mark("state", f"experiment starts on boot {session.boot_count}")
    _sample(run)

    verdict, reason = PASS, ""
    interrupted = False
    try:
        before = _steady_state(run, workload, "before")
        journal["steady_state_before"] = before
        if not before["ok"]:
            journal["status"] = "aborted"
            raise _Aborted(FAIL, f"steady state did not hold before {exp.name}: {before['why']}")
        _method(run, injectors, workload)
    except _Aborted as e:
        verdict, reason = e.verdict, e.reason
        if journal["status"] == "completed":
            journal["status"] = "failed"
    except (KeyboardInterrupt, Stopped):
        interrupted = True
        journal["status"] = "interrupted"
        with contextlib.suppress(ConsoleError, AttributeError):
            session.console.interrupt()
    finally:
        ok = _rollback(run)
    if interrupted:
        run.notes.append("interrupted: rollbacks ran, the experiment did not finish")
        finish(ERROR, "interrupted")
        raise Stopped(f"{exp.name} was interrupted")
    if not ok and verdict == PASS:
        verdict, reason = ERROR, "rollback failed: " + run.rollbacks[-1].get("error", "")

    if verdict in (PASS, FAIL) and journal["status"] != "aborted":
        try:
            after, loss = _after(run, workload)
        except TargetError as e:
            after, loss = {"ok": False, "why": f"target could not be restarted: {e}"}, ""
        journal["steady_state_after"] = after
        if loss and verdict == PASS:
            verdict, reason = FAIL, loss
        if not after["ok"]:
            journal["deviated"] = True
            if verdict == PASS:
                verdict, reason = (
                    FAIL,
                    f"steady state not restored after {exp.name}: {after['why']}",
                )
    for loss in cache.losses[losses_from:] if cache is not None else []:
        run.notes.append(loss.describe())
        run.timeline.mark("event", loss.describe())
        if loss.error and verdict == PASS:  # the power cut could not lose what it should
            verdict, reason = ERROR, loss.describe()
    for t, state, why in session.history[history_from:]:
        run.timeline.mark("state", f"{state.value}: {why}", t)
    journal["boots"] = [
        {"number": b.number, "started": b.started, "ended": b.ended.value, "artifacts": b.artifacts}
        for b in session.boots[boots_from:]
    ]
    return finish(verdict, reason)


# ------------------------------------------------------------------------------------ method


def _method(run: _Run, injectors: dict[str, Injector], workload: Workload | None) -> None:
    for act in run.exp.method:
        if run.session.stop is not None and run.session.stop.is_set():
            raise Stopped(f"{run.exp.name} was interrupted")
        entry: dict[str, Any] = {"type": act.kind, "name": act.name, "start": time.time()}
        run.activities.append(entry)
        t0 = time.monotonic()
        try:
            entry["output"] = _activity(run, act, injectors, workload)
            entry["ok"] = True
        except TargetDied as e:
            entry.update(ok=False, error=str(e))
            if e.state is State.CRASHED and run.exp.expects_panic and run.active:
                run.panicked = True
                entry["output"] = "panic detected, as this experiment intends"
                entry.update(ok=True, error="")
                _record_step(run, act, entry, time.monotonic() - t0)
                return  # the rest of the method needs the kernel that just died
            raise _Aborted(FAIL, _death_reason(run, e)) from None
        except (InjectionError, WorkloadError, ConsoleError, QMPError, TargetError) as e:
            entry.update(ok=False, error=str(e))
            _record_step(run, act, entry, time.monotonic() - t0)
            raise _Aborted(ERROR, f"lab error in `{act.name}`: {e}") from None
        finally:
            entry["end"] = time.time()
            entry["duration_s"] = time.monotonic() - t0
        _record_step(run, act, entry, entry["duration_s"])
        if entry.get("deviated"):
            raise _Aborted(FAIL, f"{run.exp.name}: probe `{act.name}` failed: {entry['why']}")
        _sample(run)


def _activity(
    run: _Run, act: Activity, injectors: dict[str, Injector], workload: Workload | None
) -> str:
    session = run.session
    if act.kind == "inject":
        inj = injectors[act.fault]
        # Recorded as active first: a kernel that dies while the fault is being set up still
        # gets its rollback.
        run.active.append((inj, session.boot_count))
        what = inj.inject(act.rate, run.seed)
        run.timeline.mark("inject", f"{act.fault}: {what}", fault=act.fault)
        _alive(run, act)
        return what
    if act.kind == "workload":
        assert workload is not None
        first = 1 + max((w.index for w in run.writes), default=-1)
        writes = workload.write(run.label, act.files, first)
        run.writes.extend(writes)
        for w in writes:
            run.timeline.mark("activity", f"write {w.where}: {'acked' if w.acked else w.why}", w.t)
        _alive(run, act)
        acked = sum(1 for w in writes if w.acked)
        return f"{acked} of {len(writes)} writes acknowledged"
    if act.kind == "wait":
        stop = run.session.stop
        if stop is not None and stop.wait(act.seconds):
            raise Stopped(f"{run.exp.name} was interrupted")
        if stop is None:
            time.sleep(act.seconds)
        _alive(run, act)
        return ""
    assert act.probe is not None
    # In the method a kernel that dies or hangs is the verdict, not a false probe.
    result = _probe(run, act.probe, workload, deaths=True)
    run.timeline.mark("probe", f"{act.probe.name}: {'ok' if result['ok'] else result['why']}")
    if not result["ok"]:
        run.activities[-1].update(deviated=True, why=result["why"])
    return result.get("output", "")


def _alive(run: _Run, act: Activity) -> None:
    """A fault may kill the kernel without the lab typing anything (a panic at a syscall of
    the workload): the state says so."""
    state = run.session.state
    if state in (State.CRASHED, State.GONE):
        why = run.session.death() or f"process ended ({run.session.exit_status})"
        raise TargetDied(state, why)


def _death_reason(run: _Run, e: TargetDied) -> str:
    what = {
        State.CRASHED: f"kernel panicked under {run.exp.name}",
        State.HUNG: f"hung under {run.exp.name}",
    }.get(e.state, f"kernel went away under {run.exp.name}")
    return f"{what} ({e})"


def _record_step(run: _Run, act: Activity, entry: dict[str, Any], duration: float) -> None:
    run.steps.append(
        StepResult(
            command=f"[{act.kind}] {act.name}",
            output=str(entry.get("output", "")),
            duration_s=duration,
            ok=bool(entry.get("ok")) and not entry.get("deviated"),
            why=str(entry.get("error") or entry.get("why") or ""),
        )
    )


# ------------------------------------------------------------------------------------ rollback


def _rollback(run: _Run) -> bool:
    """Undo every fault, newest first; a dead, hung or unreachable kernel is restarted (which
    clears the faults of its boot). Then the experiment's own rollbacks. Never raises but
    KeyboardInterrupt is held until the rollback is done."""
    session = run.session
    ok = True
    pending_interrupt = False
    for _ in range(3):
        try:
            ok = _do_rollback(run)
            break
        except KeyboardInterrupt:
            pending_interrupt = True  # a second Ctrl-C: the rollback still runs to its end
    if pending_interrupt:
        run.notes.append("Ctrl-C during rollback: it ran to its end anyway")
    if session.state is not State.SHELL:
        ok = False
    return ok


def _do_rollback(run: _Run) -> bool:
    session = run.session
    ok = True

    def record(name: str, how: str, error: str = "") -> None:
        run.rollbacks.append({"name": name, "t": time.time(), "how": how, "error": error})
        run.timeline.mark(
            "clear" if not name.startswith("run") else "rollback", f"{name}: {error or how}"
        )
        run.steps.append(
            StepResult(command=f"[rollback] {name}", output=how, ok=not error, why=error)
        )

    state = session.state
    if state is not State.SHELL:
        try:
            _cold_boot(session)
            record("bring back the shell", f"{state.value}: restarted (cold boot, same disk)")
        except (TargetError, Stopped) as e:
            record("bring back the shell", "restart", str(e))
            return False
    while run.active:
        inj, boot = run.active.pop()
        if inj.fault == "power_cut":
            record(f"clear {inj.fault}", inj.clear())
            continue
        if boot != session.boot_count:
            record(f"clear {inj.fault}", "cleared by the restart (a new boot has no fault)")
            continue
        try:
            record(f"clear {inj.fault}", inj.clear())
        except (InjectionError, TargetDied, ConsoleError, QMPError) as e:
            try:
                _cold_boot(session)
                record(f"clear {inj.fault}", f"could not clear ({e}): restarted")
            except (TargetError, Stopped) as e2:
                record(f"clear {inj.fault}", "restart", str(e2))
                return False
            run.active.clear()
    for act in run.exp.rollbacks:
        assert act.probe is not None
        result = _probe(run, act.probe, None)
        record(f"run {act.name}", result.get("output", ""), "" if result["ok"] else result["why"])
        ok = ok and result["ok"]
    return ok


def _cold_boot(session: Session) -> None:
    """Power off hard and boot again on the same disk, as a machine does after a crash. Not
    the session's snapshot reset: that puts the disk back too, and would hide (or fake) the
    loss of acknowledged writes."""
    session.power_cycle()


# ------------------------------------------------------------------------------------ after


def _after(run: _Run, workload: Workload | None) -> tuple[dict[str, Any], str]:
    """Steady state after the rollback (and a power cycle when writes are to be checked), then
    the nothing-lost oracle in the guest and, once it is off, on its disk image."""
    session = run.session
    if run.exp.verify and "power_cut" not in run.exp.faults:
        # A power cycle, not a clean reboot: what was acknowledged must survive even that.
        _cold_boot(session)
        run.timeline.mark("state", "power cycled to check acknowledged writes")
    after = _steady_state(run, workload, "after")
    loss = ""
    if run.exp.verify and workload is not None and session.state is State.SHELL:
        seen = workload.read_back(run.writes)
        gone = lost(run.writes, seen)
        if gone:
            cut = "power_cut" in run.exp.faults
            loss = _loss_reason(gone, "after the power cut" if cut else "after the power cycle")
        session.poweroff()
        image = _disk_image(session)
        if image is not None and image.exists():
            seen_off, complaint = workload.offline(image, run.writes)
            gone_off = lost(run.writes, seen_off)
            if gone_off and not loss:
                loss = _loss_reason(gone_off, "in the disk image")
            excused = workload.excuse(complaint) if complaint else ""
            if complaint and not loss and not excused:
                loss = f"file system not clean after {run.exp.name}: {complaint}"
            run.notes.append(f"offline check of {image}: {complaint or 'clean'} {excused}".strip())
        acked = sum(1 for w in run.writes if w.acked)
        run.notes.append(f"{acked} of {len(run.writes)} writes acknowledged; {workload.where}")
    return after, loss


def _loss_reason(gone: list[Write], where: str) -> str:
    first = gone[0]
    more = f" (and {len(gone) - 1} more acknowledged writes)" if len(gone) > 1 else ""
    return f"lost {first.size} acknowledged bytes in {first.where}{more} {where}"


def _disk_image(session: Session) -> Path | None:
    image = session.profile.image.get("disk")
    if image and "builder" not in session.profile.image:
        return Path(image)
    return session.disk_path()


# ------------------------------------------------------------------------------------ probes


def _steady_state(run: _Run, workload: Workload | None, when: str) -> dict[str, Any]:
    results = []
    why = ""
    for probe in run.exp.steady_state:
        r = _probe(run, probe, workload)
        results.append(r)
        run.timeline.mark("probe", f"{when}: {probe.name}: {'ok' if r['ok'] else r['why']}")
        if not r["ok"] and not why:
            why = f"{probe.name}: {r['why']}"
    return {"when": when, "ok": not why, "why": why, "probes": results}


def _probe(
    run: _Run, probe: Probe, workload: Workload | None, *, deaths: bool = False
) -> dict[str, Any]:
    """Check one probe (with its retries). With `deaths`, a kernel that panics, hangs or goes
    away raises TargetDied instead of making the probe false."""
    result: dict[str, Any] = {"name": probe.name, "kind": probe.kind, "t": time.time()}
    for attempt in range(probe.retry + 1):
        ok, why, output = _probe_once(run, probe, workload, deaths)
        if ok or attempt == probe.retry:
            break
        time.sleep(PROBE_RETRY_PAUSE_S)
    result.update(ok=ok, why=why, output=output)
    return result


def _probe_once(
    run: _Run, probe: Probe, workload: Workload | None, deaths: bool
) -> tuple[bool, str, str]:
    session = run.session
    if probe.kind == "run":
        try:
            r = session.run(probe.run, timeout=probe.timeout)
        except TargetDied as e:
            if deaths:
                raise
            return False, str(e), ""
        except ConsoleError as e:
            return False, f"lab error: {e}", ""
        return (*_check_output(probe, r.output, r.status), r.output)
    if probe.kind == "metric":
        values = _sample(run)
        if values is None:
            return False, "no metrics sample could be taken", ""
        if probe.metric not in values:
            return True, "", f"{probe.metric}: not offered by this target (not checked)"
        v = values[probe.metric]
        if probe.min is not None and v < probe.min:
            return False, f"{probe.metric} = {v}, below {probe.min:g}", str(v)
        if probe.max is not None and v > probe.max:
            return False, f"{probe.metric} = {v}, above {probe.max:g}", str(v)
        return True, "", f"{probe.metric} = {v}"
    if probe.kind == "no_log":
        hit = _log_search(run, probe.pattern)
        return (
            hit is None,
            f"log record matching {probe.pattern!r}: {hit}" if hit else "",
            hit or "",
        )
    if workload is None or not run.writes:
        return True, "", "no writes yet"
    seen = workload.read_back(run.writes)
    gone = lost(run.writes, seen)
    return (not gone, _loss_reason(gone, "").strip() if gone else "", f"{len(seen)} checked")


def _check_output(probe: Probe, output: str, status: int | None) -> tuple[bool, str]:
    if probe.status == "nonzero" and status == 0:
        return False, "expected a non-zero exit status, got 0"
    if isinstance(probe.status, int) and status is not None and status != probe.status:
        return (
            False,
            f"`{probe.run}` exited {status} (expected {probe.status}): {output.strip()[-200:]}",
        )
    for rx in probe.expect:
        if not re.search(rx, output, re.MULTILINE):
            return False, f"`{probe.run}`: expected output matching {rx!r}"
    for rx in probe.not_expect:
        if re.search(rx, output, re.MULTILINE):
            return False, f"`{probe.run}`: output must not match {rx!r}"
    return True, ""


def _sample(run: _Run) -> dict[str, int] | None:
    session = run.session
    if session.state is not State.SHELL:
        return None
    caps = session.capabilities
    source = "qmp" if "metrics" in caps else "proc" if "shell" in caps else ""
    if not source:
        return None
    try:
        values = Sampler(session, source, timeout=10).sample()
    except (SampleError, ConsoleError, QMPError, OSError):
        return None
    run.timeline.metric(values)
    return values


# ------------------------------------------------------------------------------------ logs


def _mark_log(run: _Run) -> None:
    path = run.session.artifacts().get("kernel_log")
    if path is not None:
        with contextlib.suppress(OSError):
            run.log_marks.append((str(path), path.stat().st_size))


def _log_texts(run: _Run) -> list[str]:
    """The kernel log written since the experiment started: the rest of the boot it started on,
    and every later boot's whole log."""
    texts = []
    first = dict(run.log_marks)
    seen: set[str] = set()
    for boot in [*run.session.boots]:
        path = boot.artifacts.get("kernel_log")
        if path and path not in seen:
            seen.add(path)
    current = run.session.artifacts().get("kernel_log")
    if current is not None:
        seen.add(str(current))
    for path in sorted(seen):
        if path not in first and not _newer_than(path, run.timeline.started):
            continue
        with contextlib.suppress(OSError):
            with open(path, "rb") as f:
                f.seek(first.get(path, 0))
                texts.append(f.read().decode("utf-8", errors="replace"))
    return texts


def _newer_than(path: str, t: float) -> bool:
    try:
        return Path(path).stat().st_mtime >= t
    except OSError:
        return False


def _log_search(run: _Run, pattern: str) -> str | None:
    rx = re.compile(pattern)
    for text in _log_texts(run):
        for line in text.splitlines():
            if rx.search(line):
                return line.strip()[:200]
    return None


def _gather_logs(run: _Run, started: float) -> None:
    """Every kernel log record of the boots this experiment saw, on the timeline."""
    paths: dict[str, float] = {}
    for boot in run.session.boots:
        path = boot.artifacts.get("kernel_log")
        if path and _newer_than(path, started):
            paths[path] = boot.started
    for path, boot_started in paths.items():
        with contextlib.suppress(OSError):
            run.timeline.add_log(parse_file(path).records, boot_started)
            # OOM kills are the kernel working as designed (memory_pressure expects them):
            # events on the timeline, never a verdict by themselves.
            text = Path(path).read_text(encoding="utf-8", errors="replace")
            for kill in find_oom_kills(text):
                at = boot_started + kill.uptime if kill.uptime is not None else None
                label = f"oom-kill: {kill.victim} (pid {kill.pid}, {kill.constraint})"
                run.timeline.mark("event", label, at, oom_kill=kill.to_dict())

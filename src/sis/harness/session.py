"""The one lifecycle of a lab target: every job that boots a kernel does it through a Session.

A Session owns one target (the reference kernel or a QEMU guest) boot after boot. Its state is
explicit:

    off ──start()──▶ booting ──prompt──▶ shell ──a command panics──▶ crashed
                        │                  │  ──a command times out─▶ hung
                        ▼                  │  ──console/process ends─▶ gone
                     (BootError)           └──poweroff()──▶ off

`ensure_shell()` brings any state back to `shell`: a hung shell is interrupted (Ctrl-C) and,
if no prompt comes back, restarted like a crashed or gone one; `power_cycle()` is a cold boot
that keeps the disk (a power cut). Every transition is journaled in one place
(`NAME.session.jsonl` beside the captures); every boot keeps its own artifacts, listed in
`boots`. How a crash is diagnosed is `sis.harness.crashwatch`.

Sessions are made in exactly two places: `sis.harness.jobs.run_job` (every command's jobs) and
`open_session()` below (long-lived services: `sis metrics serve`, the pytest plugin).

No orphans: the target process gets SIGKILL when the *thread* that started it ends (that is how
Linux defines the parent for PR_SET_PDEATHSIG) and runs in its own process group, which
`kill()` ends as a whole. So a session is started, used and powered off from one thread that
lives as long as the session; a job's session is powered off when its job ends, whatever the
executor does with its threads afterwards.
"""

from __future__ import annotations

import contextlib
import enum
import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sis.harness.console import (
    CommandResult,
    Console,
    ConsoleClosed,
    ConsoleError,
    ConsoleTimeout,
    DeathString,
)
from sis.harness.crashwatch import CrashWatch, crash_view
from sis.harness.forensics import outcome_crash
from sis.harness.outdir import open_file
from sis.harness.qmp import QMPError, QMPMonitor
from sis.harness.targets import make_target
from sis.harness.targets.base import BootError, TargetError
from sis.harness.targets.process import ProcessTarget, launching
from sis.harness.targets.profile import Profile

__all__ = ["Boot", "Ended", "PoweredOff", "Session", "State", "StopToken", "Stopped", "TargetDied", "launching",
           "open_session"]  # fmt: skip

#: How long an interrupted (Ctrl-C) shell may take to give its prompt back before a restart.
INTERRUPT_GRACE_S = 5.0
#: How long a command that should have crashed the kernel may leave its report trailing (a
#: soft-lockup or hung-task report comes seconds after the command, from the kernel's own
#: watchdogs; only a step that expects a crash and gets none waits all of it).
CRASH_WAIT_S = 10.0


class State(enum.Enum):
    OFF = "off"
    BOOTING = "booting"
    SHELL = "shell"
    CRASHED = "crashed"  # a panic (or the profile's panic pattern) was seen
    HUNG = "hung"  # a command did not finish in time; the shell may still be held
    GONE = "gone"  # the console closed or the process ended without a panic


class Ended(enum.Enum):
    """How a boot ended."""

    RUNNING = ""  # not yet
    POWEROFF = "poweroff"  # the lab shut it down
    RESTART = "restart"  # the lab restarted a working machine (a reset between tests)
    POWER_CYCLE = "power cycle"  # a cold boot on purpose (a power cut)
    KILLED = "killed"
    CRASHED = "crashed"
    HUNG = "hung"
    GONE = "gone"

    @classmethod
    def of(cls, state: State) -> Ended:
        return {State.CRASHED: cls.CRASHED, State.HUNG: cls.HUNG}.get(state, cls.GONE)


class DiskCache(Protocol):
    """A model of the disk's volatile write cache (chaos.volatile.CachedDisk): told before each
    boot and when the boot ends, and whether the machine lost power then (its process killed
    while it ran: a power cut, a power cycle)."""

    def booting(self) -> None: ...
    def stopped(self, power_lost: bool) -> str: ...  # what that did to the disk ("": nothing)


class Stopped(Exception):
    """The run was interrupted (its stop token is set): nothing more is started."""


class StopToken(Protocol):
    """Set when the run is interrupted: a threading.Event, or an executor's own (a cluster's
    event seen from a worker). Jobs check it between steps and wait on it instead of sleeping."""

    def is_set(self) -> bool: ...
    def wait(self, timeout: float | None = None) -> bool: ...


class TargetDied(Exception):
    """The kernel panicked, oopsed, hung or went away during a command: the kernel's fault, a
    FAIL. `crash` is the parsed crash (sis.harness.forensics: type, title, guilty frame, text)
    when there is one. After an oops the kernel survived, `state` is SHELL."""

    def __init__(self, state: State, message: str, crash: dict[str, Any] | None = None) -> None:
        self.state = state
        self.crash = crash or {}
        super().__init__(message)


class PoweredOff(TargetDied):
    """The kernel ended cleanly during a command, the way `how` says: "poweroff" (QMP SHUTDOWN
    reason guest-shutdown) or "reboot" (guest-reset; under -no-reboot the machine then ends).
    A FAIL unless the step said it `ends:` that way."""

    def __init__(self, how: str, command: str) -> None:
        self.how = how
        verb = "powered off" if how == "poweroff" else "rebooted"
        super().__init__(State.GONE, f"the kernel {verb} during `{command}`")


#: How long the machine's SHUTDOWN event may trail the console closing.
SHUTDOWN_EVENT_WAIT_S = 2.0


@dataclass
class Boot:
    """One boot of the target: when, its capture files, and how it ended."""

    number: int
    started: float = field(default_factory=time.time)
    seconds_to_shell: float | None = None
    ended: Ended = Ended.RUNNING
    artifacts: dict[str, str] = field(default_factory=dict)
    #: How the boot's crash was diagnosed, when it ended in one: the forensics fields type,
    #: title, frame, corrupted and text (sis.harness.forensics).
    crash: dict[str, Any] = field(default_factory=dict)
    restored: bool = False  # resumed from the snapshot instead of booted
    #: What the kernel did by design that a timeline shows: OOM kills (the victim, the
    #: constraint), as `sis.harness.forensics.OomKill` dicts. Never a crash by themselves.
    events: list[dict[str, Any]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """As plain data (job summaries, reports)."""
        return {**asdict(self), "ended": self.ended.value}


class Session:
    def __init__(
        self,
        target: str | ProcessTarget,
        *,
        preset: str = "default",
        workdir: Path | str = Path("sis-out/targets"),
        name: str | None = None,
        overrides: dict[str, str] | None = None,
        stop: StopToken | None = None,
    ) -> None:
        """`overrides` set the profile's placeholders, e.g. {"append": "sis.bug=oom_hang"};
        once `stop` is set, nothing more is started (Stopped)."""
        self.target = (
            target
            if isinstance(target, ProcessTarget)
            else make_target(
                target, preset=preset, workdir=Path(workdir), name=name, overrides=overrides
            )
        )
        self.stop = stop
        self._state = State.OFF
        self._lock = threading.RLock()
        self.boots: list[Boot] = []
        self.history: list[tuple[float, State, str]] = []
        self.snapshot = False  # a just-booted snapshot exists to reset to
        self.disk_cache: DiskCache | None = None  # set by the chaos phase on a logged disk
        self.crashes = CrashWatch(self.target)
        self._journal = self.target.workdir / f"{self.target.name}.session.jsonl"

    # -- what phases read -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.target.name

    @property
    def profile(self) -> Profile:
        return self.target.profile

    @property
    def preset(self) -> str:
        return self.target.preset

    @property
    def capabilities(self) -> set[str]:
        return self.target.capabilities

    @property
    def console(self) -> Console:
        return self.target.console

    @property
    def qmp(self) -> QMPMonitor | None:
        return self.target.qmp

    @property
    def workdir(self) -> Path:
        return self.target.workdir

    @property
    def overrides(self) -> dict[str, str]:
        """The placeholder values this session's target was made with."""
        return dict(self.target.overrides)

    @property
    def command(self) -> list[str]:
        """The command line of the last start."""
        return list(self.target.argv)

    @property
    def pid(self) -> int | None:
        proc = self.target.proc
        return proc.pid if proc is not None else None

    @property
    def exit_status(self) -> int | None:
        return self.target.exit_status

    @property
    def boot_count(self) -> int:
        """Boots so far (what names each boot's capture files)."""
        return self.target.boots

    def disk_path(self) -> Path:
        """The target's scratch disk image (made for this run)."""
        return self.target.workdir / f"{self.target.name}.disk.img"

    def prepare_disk(self) -> Path | None:
        """Make the scratch disk the next boot will use, before it boots (to keep a copy of it
        as it was); None for a target without one."""
        disk = self.target.values().get("disk")
        return Path(disk) if disk else None

    @property
    def state(self) -> State:
        """The state, refreshed from what can be seen without talking to the shell."""
        with self._lock:
            if self._state in (State.SHELL, State.HUNG, State.BOOTING):
                seen = self._observed()
                if seen is not None:
                    self._transition(seen[0], seen[1])
            return self._state

    def alive(self) -> bool:
        return self.target.alive()

    def command_not_found(self, output: str, status: int | None) -> str:
        """The shell's "no such command" line in `output` (per the profile), or ""."""
        rx = self.profile.console.command_not_found
        if rx is None or status == 0:
            return ""
        m = re.search(rx, output, re.MULTILINE)
        return m.group(0).strip() if m else ""

    def death(self) -> str | None:
        return self.target.death()

    def artifacts(self) -> dict[str, Path]:
        """The capture files of the current (or last) boot."""
        return self.target.artifacts()

    def history_records(self) -> list[dict[str, Any]]:
        return [{"t": t, "state": st.value, "why": why} for t, st, why in self.history]

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, *, restore: bool = False) -> None:
        """Boot to the shell prompt (or, with `restore`, resume the just-booted snapshot), or
        raise BootError (the state then says how it failed)."""
        with self._lock:
            self._check_stop()
            if self._state not in (State.OFF, State.CRASHED, State.HUNG, State.GONE):
                raise TargetError(f"{self.name} is already {self._state.value}")
            self._transition(State.BOOTING, "resume the snapshot" if restore else "start")
            boot = Boot(number=self.target.boots + 1, restored=restore)
            self.boots.append(boot)
            self.crashes.new_boot()
            started = time.monotonic()
            try:
                if self.disk_cache is not None:
                    self.disk_cache.booting()
                self.target.start(restore=restore)
            except BootError as e:
                self._check_stop()
                state = {"panicked": State.CRASHED, "hung": State.HUNG}.get(e.kind, State.GONE)
                self._end_boot(Ended.of(state), diagnose=state is State.CRASHED)
                self._transition(state, str(e))
                raise
            except BaseException as e:
                self._end_boot(Ended.GONE, diagnose=False)
                self._transition(State.GONE, f"could not start: {e}")
                self._check_stop()
                raise
            boot.seconds_to_shell = time.monotonic() - started
            boot.artifacts = self._artifact_names()
            self._transition(State.SHELL, f"boot {boot.number} reached the prompt")
            if self.profile.reset == "snapshot" and not self.snapshot:
                self._save_snapshot()

    def _save_snapshot(self) -> None:
        try:
            self.target.save_snapshot()
        except TargetError as e:  # resets fall back to rebooting; the run goes on
            self._transition(State.SHELL, f"no snapshot: {e}")
            return
        self.snapshot = True
        self._transition(State.SHELL, "snapshot of the just-booted machine saved")

    def ensure_shell(self) -> None:
        """Make sure the shell answers: start if off, interrupt a hung command, restart after a
        crash, a hang that Ctrl-C does not end, or a target that went away."""
        with self._lock:
            self._check_stop()
            state = self.state
            if state is State.SHELL:
                return
            if state is State.OFF:
                self.start()
                return
            if state is State.HUNG and self._interrupt():
                return
            self.restart()

    def restart(self) -> None:
        """Back to a just-booted machine: resumed from the snapshot when there is one (falling
        back to a reboot if that fails), else rebooted."""
        with self._lock:
            self._check_stop()
            ended = Ended.RESTART if self._state is State.SHELL else Ended.of(self._state)
            self._stop_target(ended, "restart")
            # A snapshot puts an old disk back under a disk cache that logged the new one.
            if self.snapshot and self.disk_cache is None:
                try:
                    self.start(restore=True)
                    return
                except TargetError as e:
                    self.snapshot = False
                    self._stop_target(
                        Ended.of(self._state), f"resuming the snapshot failed ({e}); rebooting"
                    )
            self.start()

    reset = restart

    def power_cycle(self) -> None:
        """A cold boot that keeps the disk: the machine loses power (its process is killed,
        nothing is flushed on its behalf) and boots again from the same disk image."""
        with self._lock:
            self._check_stop()
            self._stop_target(Ended.POWER_CYCLE, "power cycle")
            self.start()

    def poweroff(self) -> int | None:
        """Shut the target down the profile's way (`shutdown:`), then make sure it is gone.
        Returns the process exit status."""
        with self._lock:
            if self._state is State.OFF and not self.target.alive():
                return self.target.exit_status
            spec = self.profile.shutdown
            if self.target.alive():
                with contextlib.suppress(ConsoleError, QMPError, OSError):
                    self._ask_shutdown(spec.method, spec.command)
                proc = self.target.proc
                if proc is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        proc.wait(spec.timeout)
            self._stop_target(Ended.POWEROFF, "poweroff")
            return self.target.exit_status

    def kill(self) -> None:
        with self._lock:
            self._stop_target(Ended.KILLED, "killed")

    def abort(self) -> None:
        """End the target process at once, from any thread, without waiting for the session's
        lock: whatever the session's own thread was waiting for ends with it. For interrupts;
        the owning thread still powers the session off."""
        self.target.kill()

    def _stop_target(self, ended: Ended, why: str) -> None:
        self._end_boot(ended)
        running = self.target.alive()
        self.target.kill()
        if self.disk_cache is not None:
            lost = running and ended in (Ended.KILLED, Ended.POWER_CYCLE)
            what = self.disk_cache.stopped(lost)
            if what:
                self._journal_event({"power_loss": what})
        self._transition(State.OFF, why)

    def _check_stop(self) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Stopped(f"{self.name}: the run was interrupted")

    def _ask_shutdown(self, method: str, command: str) -> None:
        qmp = self.target.qmp
        if method == "command" and command and self._state is State.SHELL:
            self.target.console.sendline(command)
        elif method == "powerdown" and qmp is not None:
            qmp.execute("system_powerdown", timeout=5)
        elif qmp is not None:
            qmp.execute("quit", timeout=5)

    # -- commands -------------------------------------------------------------------------------
    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        """Run one command line in the shell. A panic, an oops, a hang or a target that goes
        away raises TargetDied (the state says which, the crash what); other lab trouble is
        ConsoleError."""
        with self._lock:
            if self.state is not State.SHELL:
                raise TargetDied(self._state, f"{self.name} has no shell ({self._state.value})")
            try:
                return self.target.run(command, timeout=timeout)
            except DeathString as e:
                raise self._crash_of(command, e.match.strip()) from None
            except ConsoleTimeout:
                death = self._settle_death()
                if death:
                    self._transition(State.CRASHED, death)
                    raise self._died(command, death) from None
                self._transition(State.HUNG, f"`{command}` did not finish in {timeout:.0f} s")
                raise TargetDied(
                    State.HUNG,
                    f"`{command}` did not finish within {timeout:.0f} s (hung)",
                    crash_view(outcome_crash("hang", f"`{command}` did not finish")),
                ) from None
            except ConsoleClosed:
                death = self._settle_death()
                if death:
                    self._transition(State.CRASHED, death)
                    raise self._died(command, death) from None
                how = self._clean_end()
                if how:
                    self._transition(State.GONE, f"the kernel ended cleanly ({how})")
                    raise PoweredOff(how, command) from None
                self._transition(State.GONE, "console closed")
                crash = self.crashes.diagnose(self._artifact_names(), State.GONE.value)
                raise TargetDied(
                    State.GONE, f"the target went away during `{command}`", crash
                ) from None

    def await_crash(self, command: str, wait: float = CRASH_WAIT_S) -> None:
        """After `command` returned: the crash it caused may still be arriving on the kernel
        log line (a WARN() prints while the command finishes). Wait up to `wait` seconds for a
        death pattern or the target's end, and raise TargetDied as `run` would; return if none."""
        with self._lock:
            deadline = time.monotonic() + wait
            while (seen := self._death_seen()) is None and self.target.alive():
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.05)
            if seen is not None:
                raise self._crash_of(command, seen.match.strip())
            self._transition(State.GONE, f"process exited with status {self.target.exit_status}")
            raise TargetDied(
                State.GONE,
                f"the target went away during `{command}`",
                self.crashes.diagnose(self._artifact_names(), State.GONE.value),
            )

    def await_end(self, command: str, wait: float) -> None:
        """After `command` returned: wait up to `wait` seconds for the machine to end. Raises
        PoweredOff for a clean end, TargetDied for a crash or a target that went away; returns
        if it is still running."""
        with self._lock:
            deadline = time.monotonic() + wait
            while self.target.alive() and not self.target.console.closed:
                if self._death_seen() is not None or time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            if (seen := self._death_seen()) is not None:
                raise self._crash_of(command, seen.match.strip())
            if self.target.alive() and not self.target.console.closed:
                return
            how = self._clean_end()
            if how:
                self._transition(State.GONE, f"the kernel ended cleanly ({how})")
                raise PoweredOff(how, command)
            self._transition(State.GONE, f"process exited with status {self.target.exit_status}")
            raise TargetDied(
                State.GONE,
                f"the target went away during `{command}`",
                self.crashes.diagnose(self._artifact_names(), State.GONE.value),
            )

    # -- internals ------------------------------------------------------------------------------
    def _death_seen(self) -> DeathString | None:
        for con in (self.target.console, self.target.log_console):
            if con is not None and con.death is not None:
                return con.death
        return None

    def _crash_of(self, command: str, match: str) -> TargetDied:
        """A death pattern during `command`: an oops the kernel survived (the shell answers; a
        FAIL of its own, no restart), else a crash."""
        if self.crashes.survived():
            crash = self.crashes.diagnose(self._artifact_names(), "oops")
            title = crash.get("title") or match
            self._transition(State.SHELL, f"oops, the kernel survived: {title}")
            return TargetDied(
                State.SHELL, f"kernel oops during `{command}` (the kernel survived): {title}", crash
            )
        self._transition(State.CRASHED, match)
        return self._died(command, match)

    def _clean_end(self) -> str:
        """After the console closed with no crash seen: "poweroff" or "reboot" when the machine
        says so (its QMP SHUTDOWN event's reason) and reported no panic; "" otherwise."""
        qmp = self.target.qmp
        if qmp is None:
            return ""
        deadline = time.monotonic() + SHUTDOWN_EVENT_WAIT_S
        while True:
            names = {ev.name: ev for ev in qmp.events}
            if "GUEST_PANICKED" in names:
                return ""
            shutdown = names.get("SHUTDOWN")
            if shutdown is not None:
                reason = shutdown.data.get("reason")
                return {"guest-shutdown": "poweroff", "guest-reset": "reboot"}.get(reason, "")
            if time.monotonic() >= deadline:
                return ""
            time.sleep(0.05)

    def _observed(self) -> tuple[State, str] | None:
        """A change visible from outside: a panic on a serial line, the process or console gone."""
        death = self.target.death()
        if death:
            return State.CRASHED, death
        if not self.target.alive():
            return State.GONE, f"process exited with status {self.target.exit_status}"
        console = self.target.console
        if console is not None and console.closed:
            # A kernel that powers off or reboots closes its console before its process ends.
            return State.GONE, "console closed"
        return None

    def _settle_death(self) -> str | None:
        """A panic report may still be arriving when the console closes or a wait times out."""
        time.sleep(0.2)
        return self.target.death()

    def _interrupt(self) -> bool:
        try:
            self.target.console.interrupt()
            self.target.console.wait_prompt(timeout=INTERRUPT_GRACE_S)
        except ConsoleError:
            return False
        self._transition(State.SHELL, "Ctrl-C gave the prompt back")
        return True

    def _end_boot(self, how: Ended, *, diagnose: bool = True) -> None:
        if self.boots and self.boots[-1].ended is Ended.RUNNING:
            boot = self.boots[-1]
            boot.ended = how
            boot.artifacts = self._artifact_names()
            if diagnose and how in (Ended.CRASHED, Ended.GONE, Ended.HUNG):
                boot.crash = boot.crash or self.crashes.diagnose(boot.artifacts, how.value)
            boot.events = self.crashes.events(boot.artifacts)
            for event in boot.events:
                self._journal_event(event)

    def _journal_event(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            with open_file(self._journal, "a", encoding="utf-8") as f:
                f.write(json.dumps({"t": time.time(), "event": event}) + "\n")

    def _died(self, command: str, death: str) -> TargetDied:
        """The crash during `command`, titled by forensics when its report can be parsed."""
        self.crashes.settle()
        crash = self.crashes.diagnose(self._artifact_names(), State.CRASHED.value)
        if self.boots:
            self.boots[-1].crash = crash  # what ended the boot, as the FAIL says
        what = crash.get("title") or death
        return TargetDied(
            State.CRASHED, f"{self.profile.crash_says} during `{command}`: {what}", crash
        )

    def _artifact_names(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.target.artifacts().items()}

    def _transition(self, new: State, why: str) -> None:
        """Every change of state goes through here, and into the journal beside the captures:
        why a target was restarted, and when."""
        if new is self._state and why == (self.history[-1][2] if self.history else ""):
            return
        self._state = new
        now = time.time()
        self.history.append((now, new, why))
        with contextlib.suppress(OSError):
            with open_file(self._journal, "a", encoding="utf-8") as f:
                f.write(json.dumps({"t": now, "state": new.value, "why": why}) + "\n")

    def __repr__(self) -> str:
        return f"<Session {self.name} {self._state.value} boots={len(self.boots)}>"


@contextlib.contextmanager
def open_session(
    target: str,
    *,
    preset: str = "default",
    workdir: Path | str,
    name: str | None = None,
    overrides: dict[str, str] | None = None,
) -> Iterator[Session]:
    """A started session for a long-lived service (`sis metrics serve`, the pytest plugin),
    powered off when the block ends. Jobs get theirs from run_job. Use it from the thread that
    will use and end the session (see the module's note on orphans)."""
    with launching():
        session = Session(target, preset=preset, workdir=workdir, name=name, overrides=overrides)
        try:
            session.start()
            yield session
        finally:
            if session.state is not State.OFF or session.alive():
                session.poweroff()

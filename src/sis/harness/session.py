"""The one lifecycle of a lab target: every job that boots a kernel does it through a Session.

A Session owns one target (the reference kernel or a QEMU guest) boot after boot. Its state is
explicit:

    off ──start()──▶ booting ──prompt──▶ shell ──a command panics──▶ crashed
                        │                  │  ──a command times out─▶ hung
                        ▼                  │  ──console/process ends─▶ gone
                     (BootError)           └──poweroff()──▶ off

`ensure_shell()` brings any state back to `shell`: a hung shell is interrupted (Ctrl-C) and,
if no prompt comes back, restarted like a crashed or gone one. Every boot keeps its own
artifacts (console and kernel-log captures, QMP events, stderr), listed in `boots`.

No orphans: the target process is started with PR_SET_PDEATHSIG, so it gets SIGKILL when the
*thread* that started it ends (that is how Linux defines the parent), and in its own process
group, which `kill()` ends as a whole. So a session must be started, used and powered off from
one thread that lives as long as the session: executors run each job in one thread, the CLI in
its main thread.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sis.harness.console import (
    CommandResult,
    Console,
    ConsoleClosed,
    ConsoleError,
    ConsoleTimeout,
    DeathString,
)
from sis.harness.forensics import Crash, find_crashes, outcome_crash
from sis.harness.outdir import open_file
from sis.harness.qmp import QMPError, QMPMonitor
from sis.harness.targets import make_target
from sis.harness.targets.base import BootError, TargetError
from sis.harness.targets.process import ProcessTarget
from sis.harness.targets.profile import Profile

#: How long an interrupted (Ctrl-C) shell may take to give its prompt back before a restart.
INTERRUPT_GRACE_S = 5.0
#: How much of a boot's capture is searched for its crash report (the end of it).
CRASH_SCAN_BYTES = 4 << 20
#: A crash report takes a moment to finish arriving after its first line.
CRASH_SETTLE_S = 0.3
#: A report is written line by line (a 60-line oops takes ~0.5 s at 115200 baud): it is over
#: when the serial lines have been quiet this long, or after REPORT_MAX_S.
REPORT_QUIET_S = 0.3
REPORT_MAX_S = 5.0
#: How long a shell that lived through an oops has to answer.
SURVIVAL_PROBE_S = 5.0
#: How long a command that should have crashed the kernel may leave its report trailing.
CRASH_WAIT_S = 3.0


class State(enum.Enum):
    OFF = "off"
    BOOTING = "booting"
    SHELL = "shell"
    CRASHED = "crashed"  # a panic (or the profile's panic pattern) was seen
    HUNG = "hung"  # a command did not finish in time; the shell may still be held
    GONE = "gone"  # the console closed or the process ended without a panic


class TargetDied(Exception):
    """The kernel panicked, oopsed, hung or went away during a command: the kernel's fault, a
    FAIL. `crash` is the parsed crash (sis.harness.forensics: type, title, guilty frame, text)
    when there is one. After an oops the kernel survived, `state` is SHELL."""

    def __init__(self, state: State, message: str, crash: dict[str, Any] | None = None) -> None:
        self.state = state
        self.crash = crash or {}
        super().__init__(message)


@dataclass
class Boot:
    """One boot of the target: when, its capture files, and how it ended."""

    number: int
    started: float = field(default_factory=time.time)
    seconds_to_shell: float | None = None
    ended: str = ""  # "" while running, else the state it ended in or "poweroff"
    artifacts: dict[str, str] = field(default_factory=dict)
    #: How the boot's crash was diagnosed, when it ended in one: the forensics fields type,
    #: title, frame, corrupted and text (sis.harness.forensics).
    crash: dict[str, Any] = field(default_factory=dict)
    restored: bool = False  # resumed from the snapshot instead of booted


class Session:
    def __init__(
        self,
        target: str | ProcessTarget,
        *,
        preset: str = "default",
        workdir: Path | str = Path("sis-out/targets"),
        name: str | None = None,
        overrides: dict[str, str] | None = None,
    ) -> None:
        """`overrides` set the profile's placeholders, e.g. {"append": "sis.bug=oom_hang"}."""
        self.target = (
            target
            if isinstance(target, ProcessTarget)
            else make_target(
                target, preset=preset, workdir=Path(workdir), name=name, overrides=overrides
            )
        )
        self._state = State.OFF
        self._lock = threading.RLock()
        self.boots: list[Boot] = []
        self.history: list[tuple[float, State, str]] = []
        self.snapshot = False  # a just-booted snapshot exists to reset to
        # Crashes of this boot's captures already diagnosed, per capture: the next diagnosis
        # is the first one after them, not a follow-on warning the kernel printed later.
        self._diagnosed: dict[str, int] = {}
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

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, *, restore: bool = False) -> None:
        """Boot to the shell prompt (or, with `restore`, resume the just-booted snapshot), or
        raise BootError (the state then says how it failed)."""
        with self._lock:
            if self._state not in (State.OFF, State.CRASHED, State.HUNG, State.GONE):
                raise TargetError(f"{self.name} is already {self._state.value}")
            self._transition(State.BOOTING, "resume the snapshot" if restore else "start")
            boot = Boot(number=self.target.boots + 1, restored=restore)
            self.boots.append(boot)
            self._diagnosed = {}
            started = time.monotonic()
            try:
                self.target.start(restore=restore)
            except BootError as e:
                boot.artifacts = self._artifact_names()
                boot.ended = {"panicked": "crashed", "hung": "hung"}.get(e.kind, "gone")
                if boot.ended == State.CRASHED.value:
                    boot.crash = self._diagnose(boot.artifacts, boot.ended)
                self._transition(State(boot.ended), str(e))
                raise
            except BaseException as e:
                boot.ended = "gone"
                self._transition(State.GONE, f"could not start: {e}")
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
            self._end_boot(self._state.value if self._state is not State.SHELL else "restart")
            self.target.kill()
            self._state = State.OFF
            if self.snapshot:
                try:
                    self.start(restore=True)
                    return
                except TargetError as e:
                    self.snapshot = False
                    self._end_boot(self._state.value)
                    self.target.kill()
                    self._transition(State.OFF, f"resuming the snapshot failed ({e}); rebooting")
            self.start()

    reset = restart

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
            self.target.kill()
            self._end_boot("poweroff")
            self._transition(State.OFF, "poweroff")
            return self.target.exit_status

    def kill(self) -> None:
        with self._lock:
            self.target.kill()
            self._end_boot("killed")
            self._transition(State.OFF, "killed")

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
                    _crash_view(outcome_crash("hang", f"`{command}` did not finish")),
                ) from None
            except ConsoleClosed:
                death = self._settle_death()
                if death:
                    self._transition(State.CRASHED, death)
                    raise self._died(command, death) from None
                self._transition(State.GONE, "console closed")
                crash = self._diagnose(self._artifact_names(), State.GONE.value)
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
                self._diagnose(self._artifact_names(), State.GONE.value),
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
        if self._survived():
            crash = self._diagnose(self._artifact_names(), "oops")
            title = crash.get("title") or match
            self._transition(State.SHELL, f"oops, the kernel survived: {title}")
            return TargetDied(
                State.SHELL, f"kernel oops during `{command}` (the kernel survived): {title}", crash
            )
        self._transition(State.CRASHED, match)
        return self._died(command, match)

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

    def _end_boot(self, how: str) -> None:
        if self.boots and not self.boots[-1].ended:
            boot = self.boots[-1]
            boot.ended = how
            boot.artifacts = self._artifact_names()
            if how in (State.CRASHED.value, State.GONE.value, State.HUNG.value):
                boot.crash = boot.crash or self._diagnose(boot.artifacts, how)

    def _diagnose(self, artifacts: dict[str, str], how: str) -> dict[str, Any]:
        """The crash that ended a boot, from its captures (the kernel log first, then the
        console); a boot that went away or hung without a report gets the lab's outcome."""
        hint = "sis" if self.profile.kind == "sim" else None
        for kind in ("kernel_log", "console"):
            crashes = find_crashes(_read_tail(artifacts.get(kind)), os_hint=hint)
            if crashes:
                first_new = min(self._diagnosed.get(kind, 0), len(crashes) - 1)
                self._diagnosed[kind] = len(crashes)
                return _crash_view(crashes[first_new])
        if how == State.HUNG.value:
            return _crash_view(outcome_crash("hang", "a command did not finish"))
        if how == State.GONE.value:
            return _crash_view(outcome_crash("lost", "the target went away without a report"))
        return {}

    def _died(self, command: str, death: str) -> TargetDied:
        """The crash during `command`, titled by forensics when its report can be parsed."""
        time.sleep(CRASH_SETTLE_S)  # the rest of the report is still on its way
        crash = self._diagnose(self._artifact_names(), State.CRASHED.value)
        if self.boots:
            self.boots[-1].crash = crash  # what ended the boot, as the FAIL says
        what = crash.get("title") or death
        return TargetDied(
            State.CRASHED, f"{self.profile.crash_says} during `{command}`: {what}", crash
        )

    def _survived(self) -> bool:
        """After a crash pattern: did the kernel live on (an oops that killed only the task)?
        Not if the process ended, the machine reported a panic, or the shell does not answer."""
        self._await_quiet()
        qmp = self.target.qmp
        if not self.target.alive() or (
            qmp is not None and any(ev.name == "GUEST_PANICKED" for ev in qmp.events)
        ):
            return False
        for con in (self.target.console, self.target.log_console):
            if con is not None:
                con.clear_death()
        # Twice: when the oops killed the shell itself, the first probe goes (whole or in
        # part) to a tty nobody reads, and the shell init starts in its place answers the second.
        for _ in range(2):
            try:
                probe = self.target.run("echo sis-alive", timeout=SURVIVAL_PROBE_S)
            except ConsoleTimeout:
                continue
            except ConsoleError:
                return False
            if self.target.death() is not None:
                return False
            if probe.output.strip().endswith("sis-alive"):
                return True
        return False

    def _await_quiet(self) -> None:
        """Wait for the end of a report still arriving: its later lines (`Call Trace:`) must
        not count as a second death once the first is cleared."""
        captures = [
            con.capture_path
            for con in (self.target.console, self.target.log_console)
            if con is not None and con.capture_path is not None
        ]
        deadline = time.monotonic() + REPORT_MAX_S
        sizes: list[int] = []
        while time.monotonic() < deadline:
            time.sleep(REPORT_QUIET_S)
            now = [_size(p) for p in captures]
            if now == sizes:
                return
            sizes = now

    def _artifact_names(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.target.artifacts().items()}

    def _transition(self, new: State, why: str) -> None:
        if new is self._state and why == (self.history[-1][2] if self.history else ""):
            return
        self._state = new
        now = time.time()
        self.history.append((now, new, why))
        # A journal of transitions beside the captures: why a target was restarted, and when.
        with contextlib.suppress(OSError):
            with open_file(self._journal, "a", encoding="utf-8") as f:
                f.write(json.dumps({"t": now, "state": new.value, "why": why}) + "\n")

    def __enter__(self) -> Session:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.poweroff()

    def __repr__(self) -> str:
        return f"<Session {self.name} {self._state.value} boots={len(self.boots)}>"


def start_sessions(
    specs: list[str], *, preset: str, workdir: Path | str
) -> list[tuple[str, Session]]:
    """Start one session per target spec, each labelled by its profile's name (numbered when a
    profile repeats); on any failure the ones already started are stopped. Call it from the
    thread that will use and power off the sessions (see the module's note on orphans)."""
    from collections import Counter

    from sis.harness.targets.profile import load_profile

    names = [load_profile(s).name for s in specs]
    counts, seen = Counter(names), Counter[str]()
    labels = []
    for n in names:
        seen[n] += 1
        labels.append(n if counts[n] == 1 else f"{n}-{seen[n]}")
    sessions = [
        Session(s, preset=preset, workdir=workdir, name=f"{label}-{preset}")
        for s, label in zip(specs, labels, strict=True)
    ]
    try:
        for s in sessions:
            s.start()
    except BaseException:
        for s in sessions:
            s.kill()
        raise
    return list(zip(labels, sessions, strict=True))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _read_tail(path: str | None) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - CRASH_SCAN_BYTES))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _crash_view(crash: Crash) -> dict[str, Any]:
    """What results and reports keep of a crash."""
    return {
        "type": str(crash.type),
        "title": crash.title,
        "frame": crash.frame or "",
        "corrupted": crash.corrupted,
        "text": crash.text,
    }

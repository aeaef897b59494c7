"""A target that is a host process with its console, kernel log and QMP monitor on unix
sockets: the reference kernel and QEMU alike. It starts paused, connects every socket, then
continues, so no byte of the boot is missed; it drains both serial lines from the first byte;
and it never leaves the process behind, even if the lab itself is killed."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from sis.harness.console import (
    CommandResult,
    Console,
    ConsoleClosed,
    ConsoleError,
    ConsoleTimeout,
    DeathString,
    connect_unix,
)
from sis.harness.outdir import open_file, write_file
from sis.harness.qmp import QMPError, QMPMonitor
from sis.harness.sockdir import socket_dir
from sis.harness.targets.base import BootError, TargetError
from sis.harness.targets.profile import Profile

#: Set to refuse starting a target outside a job (`sis.harness.jobs.run_job`) or
#: `sis.harness.session.open_session`: the test that proves every command goes through them.
JOBS_ONLY = False
_launch = threading.local()


@contextlib.contextmanager
def launching() -> Iterator[None]:
    """Starting targets is allowed in this thread while the block runs (run_job, open_session)."""
    _launch.depth = getattr(_launch, "depth", 0) + 1
    try:
        yield
    finally:
        _launch.depth -= 1


def _die_with_parent(argv: list[str]) -> list[str]:
    """`argv` run through util-linux's setpriv so that it gets SIGKILL when the thread that
    started it ends (PR_SET_PDEATHSIG, kept across exec): no orphans even if the lab is killed.
    No `preexec_fn`: it is unsafe in a process with threads, and the lab always has some.
    Without setpriv (not a util-linux system) the session's own kill is all there is."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


class ProcessTarget:
    def __init__(
        self,
        profile: Profile,
        *,
        preset: str = "default",
        workdir: Path,
        name: str | None = None,
        overrides: dict[str, str] | None = None,
    ) -> None:
        self.profile = profile
        self.preset = preset
        self.name = name or f"{profile.name}-{preset}"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.console: Console = None  # type: ignore[assignment]
        self.log_console: Console | None = None
        self.qmp: QMPMonitor | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.capabilities = profile.capabilities_for(preset)
        # Placeholder values that win over the preset's, e.g. {"append": "sis.bug=oom_hang"}.
        known = profile.variables(preset)
        unknown = sorted(set(overrides or {}) - set(known))
        if unknown:
            raise TargetError(
                f"profile {profile.name} has no placeholder {unknown[0]!r} to set "
                f"(it has: {', '.join(sorted(known)) or 'none'})"
            )
        self.overrides = dict(overrides or {})
        self.boots = 0
        self.boot_seconds: float | None = None
        self.argv: list[str] = []  # the command line of the last start
        self._values: dict[str, str] = {}  # the image files of the last start (disk, kernel)
        self._sockdir: Path | None = None

    # -- what subclasses provide ----------------------------------------------------------------
    def executable(self) -> list[str]:
        raise NotImplementedError

    def values(self) -> dict[str, str]:
        """Placeholder values beyond sockets and the preset's."""
        return {}

    # -- paths -----------------------------------------------------------------------------------
    def _path(self, what: str) -> Path:
        return self.workdir / f"{self.name}.{what}"

    def _boot_path(self, what: str) -> Path:
        """Captures of this boot: a restarted target keeps the earlier boots' files as they were."""
        return self._path(what if self.boots <= 1 else f"boot{self.boots}.{what}")

    def artifacts(self) -> dict[str, Path]:
        out = {"console": self._boot_path("console.log"), "stderr": self._path("stderr.log")}
        if self.profile.console.kernel_log:
            out["kernel_log"] = self._boot_path("kernel.log")
        out["qmp_events"] = self._path("qmp-events.jsonl")
        if self.proc is not None:
            # The reference kernel saves its crash dump beside its disk image, named with its
            # pid: this boot's process is this boot's dump.
            dumps = sorted(self.workdir.glob(f"sis-crash-*-{self.proc.pid}-*.json"))
            if dumps:
                out["crash_dump"] = dumps[-1]
        return {k: v for k, v in out.items() if v.exists()}

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, *, restore: bool = False) -> None:
        """Start and wait for the shell prompt. With `restore`, resume the snapshot taken by
        `save_snapshot()` instead of booting (targets that support it)."""
        if self.alive():
            raise TargetError(f"{self.name} is already running")
        if JOBS_ONLY and not getattr(_launch, "depth", 0):
            raise TargetError(
                f"{self.name}: a target is started only inside a job (run_job) or open_session()"
            )
        # A missing QEMU is said before any image is built, and both before any socket is made.
        executable = self.executable()
        extra = self._values = self.values()
        # Unix socket paths are limited to 107 bytes: keep them in a short private directory.
        self._sockdir = socket_dir()  # also sweeps those of lab processes killed earlier
        socks = {k: str(self._sockdir / f"{k}.sock") for k in ("console", "log", "qmp")}
        values = {
            **self.profile.variables(self.preset),
            **self.overrides,
            "console_sock": socks["console"],
            "log_sock": socks["log"],
            "qmp_sock": socks["qmp"],
            "name": self.name,
            "console_log": str(self._path("qemu-console.log")),
            "kernel_log": str(self._path("qemu-kernel.log")),
            **extra,
        }
        argv = executable + self.profile.command_line(values)
        if restore:
            argv += self.restore_args(extra)
        if self.profile.start_paused and "-S" not in argv:
            argv.append("-S")
        self.boots += 1
        stderr = open_file(self._path("stderr.log"), "ab")
        started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                _die_with_parent(argv),
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )
        except OSError as e:
            raise TargetError(f"cannot start {argv[0]}: {e.strerror or e}") from None
        finally:
            stderr.close()
        self.argv = argv
        write_file(self._path("command"), shlex.join(argv) + "\n")
        try:
            self._connect(socks)
            if restore:
                self._wait_restored(started)
            else:
                self._wait_boot(started)
        except BaseException:
            self.kill()
            raise

    def _connect(self, socks: dict[str, str]) -> None:
        spec = self.profile.console
        timeout = min(30.0, spec.boot_timeout)
        try:
            sock = self._connect_socket(socks["console"], timeout)
            capture = self._boot_path("console.log")
            self.console = Console(
                sock,
                prompt=spec.prompt_regex,
                capture_path=capture,
                death_patterns=self.profile.panic_patterns,
                name=self.name,
            )
            self.console.newline = spec.line_ending
            self.console.echo = spec.echo
            self.console.marker_style = (
                "separate" if self.profile.marker_style == "separate" else "inline"
            )
            if spec.kernel_log:
                log_capture = self._boot_path("kernel.log")
                self.log_console = Console(
                    self._connect_socket(socks["log"], timeout),
                    prompt=r"\Z\A",
                    capture_path=log_capture,
                    death_patterns=self.profile.panic_patterns,
                    name=f"{self.name}-log",
                )
                self.log_console.share_deaths(self.console)
            self.qmp = QMPMonitor(f"{self.name}-qmp", timeline=self._path("qmp-events.jsonl"))
            self.qmp.connect(socks["qmp"], timeout)
            if self.profile.start_paused:
                self.qmp.execute("cont")
        except (ConsoleError, QMPError) as e:
            status = self.proc.poll() if self.proc else None
            if status is not None:
                raise BootError(
                    "exited",
                    f"{self.name} exited with status {status} before its "
                    f"sockets were up; stderr: {self._stderr_tail()}",
                    self._path("stderr.log"),
                ) from None
            raise BootError("did-not-boot", f"{self.name}: {e}") from None

    def _connect_socket(self, path: str, timeout: float):  # noqa: ANN202 - socket.socket
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise ConsoleError(
                    f"process exited ({self.proc.returncode}) before {path} appeared"
                )
            try:
                return connect_unix(path, timeout=min(0.5, max(0.05, deadline - time.monotonic())))
            except ConsoleError:
                if time.monotonic() > deadline:
                    raise

    def _wait_boot(self, started: float) -> None:
        spec = self.profile.console
        try:
            if spec.boot_marker:
                self.console.expect(re.escape(spec.boot_marker), timeout=spec.boot_timeout)
            self.console.wait_prompt(
                timeout=max(1.0, spec.boot_timeout - (time.monotonic() - started))
            )
        except DeathString as e:
            raise BootError(
                "panicked",
                f"{self.name}: {self.profile.crash_says} while booting: {e.match!r}",
                self._boot_path("console.log"),
            ) from None
        except (ConsoleTimeout, ConsoleClosed) as e:
            raise self.classify_failure(f"no prompt within {spec.boot_timeout:.0f} s", e) from None
        self.boot_seconds = time.monotonic() - started

    def restore_args(self, values: dict[str, str]) -> list[str]:
        """Extra arguments that resume the saved snapshot (and put its disk back)."""
        raise TargetError(f"{self.name} cannot be restored from a snapshot")

    def save_snapshot(self) -> None:
        raise TargetError(f"{self.name} cannot take a snapshot")

    def _wait_restored(self, started: float) -> None:
        """A resumed machine prints no boot: wait until it runs, then ask for a fresh prompt."""
        spec = self.profile.console
        deadline = started + spec.boot_timeout
        assert self.qmp is not None
        while True:
            try:
                status = self.qmp.execute("query-status", timeout=5).get("status")
            except QMPError as e:
                raise BootError("did-not-boot", f"{self.name}: restore: {e}") from None
            if status == "running":
                break
            if status == "paused":  # saved while stopped: the machine comes back stopped
                with contextlib.suppress(QMPError):
                    self.qmp.execute("cont", timeout=5)
                continue
            if time.monotonic() > deadline or (self.proc and self.proc.poll() is not None):
                raise self.classify_failure(f"the snapshot did not resume (status {status})")
            time.sleep(0.02)
        try:
            self.console.sendline("")
            self.console.wait_prompt(timeout=max(1.0, deadline - time.monotonic()))
        except (ConsoleTimeout, ConsoleClosed, DeathString) as e:
            raise self.classify_failure("no prompt after resuming the snapshot", e) from None
        self.boot_seconds = time.monotonic() - started

    def classify_failure(self, what: str, exc: Exception | None = None) -> BootError:
        """After a timeout or a closed console: did it panic, exit, hang or just not boot?"""
        time.sleep(0.2)  # let the last bytes of a panic report arrive
        death = self.death()
        capture = self._boot_path("console.log")
        if death:
            return BootError("panicked", f"{self.name}: {death}", capture)
        status = self.proc.poll() if self.proc else None
        if status is not None:
            return BootError("exited", f"{self.name} exited with status {status}: {what}", capture)
        if not self.console.text.strip() and (
            self.log_console is None or not self.log_console.text.strip()
        ):
            return BootError("hung", f"{self.name} printed nothing: {what}", capture)
        return BootError(
            "did-not-boot" if self.boot_seconds is None else "hung", f"{self.name}: {what}", capture
        )

    def death(self) -> str | None:
        """The panic text seen on either serial line, if any."""
        for con in (self.console, self.log_console):
            if con is None:
                continue
            d = con.death
            if d is not None:
                return f"{d.match.strip()} (pattern {d.pattern!r})"
        return None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def exit_status(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        return self.console.run(
            self.profile.map_command(command),
            timeout,
            check_status=self.profile.marker_style != "none",
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        for con in (self.console, self.log_console):
            if con is not None:
                con.close()
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None

    def _stderr_tail(self, n: int = 400) -> str:
        try:
            return self._path("stderr.log").read_text(errors="replace")[-n:].strip() or "(empty)"
        except OSError:
            return "(none)"

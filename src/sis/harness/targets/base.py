"""The Target interface and the errors that tell infrastructure trouble from kernel faults."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sis.harness.console import CommandResult, Console
    from sis.harness.qmp import QMPMonitor
    from sis.harness.targets.profile import Profile


class TargetError(Exception):
    """The target could not be run (missing QEMU or image, bad profile): an ERROR, not a FAIL."""


class BootError(TargetError):
    """The target did not reach its shell. `kind` says how it failed:
    `did-not-boot`, `panicked`, `hung` or `exited`."""

    def __init__(self, kind: str, message: str, capture: Path | None = None) -> None:
        self.kind = kind
        self.capture = capture
        super().__init__(
            f"{kind}: {message}" + (f" (console capture: {capture})" if capture else "")
        )


class Target(Protocol):
    """How one kind of target is launched and reached: one process per boot. What to do with
    it across boots (restarts, shutdown, states) is the Session's job."""

    name: str
    profile: Profile
    preset: str
    workdir: Path
    capabilities: set[str]
    console: Console
    qmp: QMPMonitor | None
    boots: int  # how many times it was started; names each boot's capture files

    def start(self) -> None: ...
    def run(self, command: str, timeout: float = 30.0) -> CommandResult: ...
    def kill(self) -> None: ...
    def alive(self) -> bool: ...
    def death(self) -> str | None: ...
    def artifacts(self) -> dict[str, Path]: ...

    @property
    def exit_status(self) -> int | None: ...

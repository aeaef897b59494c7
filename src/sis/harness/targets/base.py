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
    name: str
    profile: Profile
    preset: str
    capabilities: set[str]
    console: Console
    qmp: QMPMonitor | None

    def start(self) -> None: ...
    def run(self, command: str, timeout: float = 30.0) -> CommandResult: ...
    def poweroff(self, timeout: float = 15.0) -> int | None: ...
    def kill(self) -> None: ...
    def restart(self) -> None: ...
    def alive(self) -> bool: ...
    def death(self) -> str | None: ...
    def artifacts(self) -> dict[str, Path]: ...

"""The Target interface and the errors that tell infrastructure trouble from kernel faults."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sis.harness.console import CommandResult
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
    """What the lab's readers (metrics sampling, workloads) need of a running target. A
    Session provides it; so does the process target underneath it."""

    @property
    def name(self) -> str: ...
    @property
    def profile(self) -> Profile: ...
    @property
    def preset(self) -> str: ...
    @property
    def capabilities(self) -> set[str]: ...
    @property
    def qmp(self) -> QMPMonitor | None: ...

    def run(self, command: str, timeout: float = 30.0) -> CommandResult: ...
    def alive(self) -> bool: ...
    def death(self) -> str | None: ...

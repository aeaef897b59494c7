"""From a target name (`sim`, a built-in profile, or a profile file) to a Target."""

from __future__ import annotations

from pathlib import Path

from sis.harness.targets.process import ProcessTarget
from sis.harness.targets.profile import load_profile


def make_target(
    target: str,
    *,
    preset: str = "default",
    workdir: Path,
    name: str | None = None,
    overrides: dict[str, str] | None = None,
) -> ProcessTarget:
    profile = load_profile(target)
    profile.variables(preset)  # an unknown preset fails here, before anything starts
    if profile.kind == "sim":
        from sis.harness.targets.sim import SimTarget

        cls: type[ProcessTarget] = SimTarget
    else:
        from sis.harness.targets.qemu import QemuTarget

        cls = QemuTarget
    return cls(profile, preset=preset, workdir=workdir, name=name, overrides=overrides)

"""Targets: the kernels the lab drives — the reference kernel (`sim`) or QEMU running a real
kernel — described by profiles (data files) and started through one `Target` interface."""

from sis.harness.targets.base import BootError, Target, TargetError
from sis.harness.targets.factory import make_target
from sis.harness.targets.profile import Profile, load_profile

__all__ = ["BootError", "Profile", "Target", "TargetError", "load_profile", "make_target"]

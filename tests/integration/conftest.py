"""Integration tests spawn real kernels: the reference kernel as a process, QEMU where present."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis.harness.targets import make_target


@pytest.fixture
def sim(tmp_path: Path):
    """A booted reference kernel (preset default) driven through the lab's sim target."""
    target = make_target("sim", workdir=tmp_path)
    target.start()
    yield target
    target.kill()

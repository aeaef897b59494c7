"""Integration tests spawn real kernels: the reference kernel as a process, QEMU where present."""

from __future__ import annotations

from pathlib import Path

import pytest

from sis.harness.session import Session


@pytest.fixture
def sim(tmp_path: Path):
    """A booted reference kernel (preset default) driven through a Session."""
    session = Session("sim", workdir=tmp_path)
    session.start()
    yield session
    session.kill()

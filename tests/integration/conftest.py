"""Integration tests spawn real kernels: the reference kernel as a process, QEMU where present."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernelproc import KernelProcess
from sis.harness.session import Session


@pytest.fixture
def sim(tmp_path: Path):
    """A booted reference kernel (preset default) driven through a Session."""
    session = Session("sim", workdir=tmp_path)
    session.start()
    yield session
    session.kill()


@pytest.fixture
def kernels(tmp_path: Path):
    """Start `sis kernel` processes (`kernels(*args, qmp=True).boot()`); all are ended after."""
    made: list[KernelProcess] = []

    def make(*args: str, **kw: Any) -> KernelProcess:
        k = KernelProcess(tmp_path, *args, **kw, name=f"k{len(made)}")
        made.append(k)
        return k

    yield make
    for k in made:
        k.close()

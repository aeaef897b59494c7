"""pytest plugin: fixtures that give a test a booted kernel, its shell and its QMP monitor.

    def test_my_kernel(sis_shell):
        assert sis_shell.run("echo hi").output == "hi"

Options: --sis-target (sis, linux-busybox or a profile file; default sis), --sis-preset
(default), --sis-out (where captures go; default a pytest temp dir). The target boots once per
test session and is rebooted before a test if an earlier test left it dead or panicked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sis.harness.console import Console
from sis.harness.qmp import QMPMonitor
from sis.harness.session import Session, open_session
from sis.harness.targets import TargetError


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sis", "SIS kernel targets")
    group.addoption("--sis-target", default="sis", help="sis, linux-busybox or a profile file")
    group.addoption(
        "--sis-preset", default="default", help="default, lowmem, smp-off or no-network"
    )
    group.addoption("--sis-out", default=None, help="directory for console captures and disks")


@pytest.fixture(scope="session")
def sis_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    """The target's Session for the whole test session (booted once, powered off at the end)."""
    opt = request.config.getoption
    out = Path(opt("--sis-out")) if opt("--sis-out") else tmp_path_factory.mktemp("sis")
    opened = open_session(opt("--sis-target"), preset=opt("--sis-preset"), workdir=out)
    try:
        session = opened.__enter__()
    except TargetError as e:
        pytest.fail(f"SIS target did not start: {e}", pytrace=False)
    try:
        yield session
    finally:
        opened.__exit__(None, None, None)


@pytest.fixture
def sis_target(sis_session: Session) -> Session:
    """The booted target at its shell; restarted first if a previous test crashed, hung,
    powered off or killed it."""
    try:
        sis_session.ensure_shell()
    except TargetError as e:
        pytest.fail(f"SIS target could not be restarted: {e}", pytrace=False)
    return sis_session


@pytest.fixture
def sis_shell(sis_target: Session) -> Console:
    """The target's shell console: `.run(cmd)` returns the command's output and status."""
    return sis_target.console


@pytest.fixture
def sis_qmp(sis_target: Session) -> QMPMonitor:
    if sis_target.qmp is None:
        pytest.skip("this target has no QMP monitor")
    return sis_target.qmp

"""A QEMU target resumes from a snapshot of its just-booted machine: after a crash, and between
the tests of a suite that asks for it (`reset: snapshot`)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.harness.results import PASS
from sis.harness.runner import run_suite
from sis.harness.session import Ended, Session, State, TargetDied
from sis.harness.suites import load_suite

pytestmark = [pytest.mark.qemu, needs_linux_busybox]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    s = Session("linux-busybox", workdir=tmp_path_factory.mktemp("snapshot"))
    s.start()
    yield s
    s.poweroff()


def test_a_crash_is_recovered_from_the_snapshot_not_a_reboot(session: Session):
    assert session.snapshot
    session.run("echo after-boot > /tmp/marker")
    with pytest.raises(TargetDied):
        session.run("echo c > /proc/sysrq-trigger")
    assert session.state is State.CRASHED
    session.ensure_shell()
    boot = session.boots[-1]
    assert boot.restored and session.boots[-2].ended is Ended.CRASHED
    assert "Kernel panic" in session.boots[-2].crash["text"]
    # The machine is as it was just after boot: what came later is gone.
    assert "can't open" in session.run("cat /tmp/marker").output
    assert session.run("echo alive").output == "alive"


def test_a_suite_with_reset_snapshot_starts_each_test_fresh(session: Session, tmp_path: Path):
    suite = tmp_path / "fresh.yaml"
    suite.write_text(
        textwrap.dedent("""\
        name: fresh
        reset: snapshot
        tests:
          - name: leaves a file
            steps: [{run: echo x > /tmp/left}]
          - name: does not see it
            steps: [{run: cat /tmp/left, status: nonzero}]
        """)
    )
    results = []
    restored_before = sum(b.restored for b in session.boots)
    run_suite(session, load_suite(str(suite)), results.append)
    assert [r.verdict for r in results] == [PASS, PASS]
    assert sum(b.restored for b in session.boots) == restored_before + 1

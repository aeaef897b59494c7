"""The Session lifecycle on the reference kernel: states, recovery after a crash, a hang, a
power-off and a reboot, per-boot captures, and the profile's shutdown method."""

from __future__ import annotations

import os
import signal
import textwrap
import time
from pathlib import Path

import pytest

from sis.harness.results import FAIL, PASS
from sis.harness.runner import run_suite
from sis.harness.session import Ended, Session, State, TargetDied, open_session
from sis.harness.suites import load_suite
from sis.harness.targets import TargetError


@pytest.fixture
def session(tmp_path: Path):
    s = Session("sim", workdir=tmp_path)
    s.start()
    yield s
    s.poweroff()


def test_states_through_a_panic_and_a_restart(session: Session):
    assert session.state is State.SHELL
    assert session.run("echo hi").output == "hi"
    with pytest.raises(TargetDied) as died:
        session.run("panic boom")
    assert died.value.state is State.CRASHED and session.state is State.CRASHED
    session.ensure_shell()
    assert session.state is State.SHELL and len(session.boots) == 2
    assert session.boots[0].ended is Ended.CRASHED and session.boots[1].ended is Ended.RUNNING
    # Each boot keeps its own console capture: the first one holds the panic.
    first = Path(session.boots[0].artifacts["console"]).read_text(errors="replace")
    assert "KERNEL PANIC" in first
    assert "KERNEL PANIC" not in Path(session.artifacts()["console"]).read_text(errors="replace")
    states = [s.value for _, s, _ in session.history]
    assert states == ["booting", "shell", "crashed", "off", "booting", "shell"]


def test_a_hung_command_is_interrupted_without_a_restart(session: Session):
    with pytest.raises(TargetDied) as died:
        session.run("sleep 30", timeout=0.5)
    assert died.value.state is State.HUNG
    session.ensure_shell()
    assert session.state is State.SHELL and len(session.boots) == 1
    assert session.run("echo back").output == "back"


@pytest.mark.parametrize("command", ["poweroff", "reboot"])
def test_a_kernel_that_powers_off_or_reboots_is_gone_then_restarted(session: Session, command: str):
    with pytest.raises(TargetDied):
        session.run(command)
    deadline = time.monotonic() + 5
    while session.state is not State.GONE and time.monotonic() < deadline:
        time.sleep(0.05)
    assert session.state is State.GONE
    session.ensure_shell()
    assert session.run("echo again").output == "again"


def test_a_killed_target_is_seen_gone_and_restarted(session: Session):
    os.killpg(session.target.proc.pid, signal.SIGKILL)
    session.target.proc.wait(5)
    assert session.state is State.GONE
    session.ensure_shell()
    assert session.state is State.SHELL


def test_after_a_test_powers_off_the_kernel_later_tests_still_pass(tmp_path: Path):
    suite_file = tmp_path / "off.yaml"
    suite_file.write_text(
        textwrap.dedent("""\
        name: power
        tests:
          - name: before
            steps: [{run: echo one, expect: one}]
          - name: powers off
            steps: [{run: poweroff}]
          - name: after poweroff
            steps: [{run: echo two, expect: two}]
          - name: reboots
            steps: [{run: reboot}]
          - name: after reboot
            steps: [{run: echo three, expect: three}]
        """)
    )
    results = []
    with open_session("sim", workdir=tmp_path / "t") as s:
        run_suite(s, load_suite(str(suite_file)), results.append)
    verdicts = {r.test: r.verdict for r in results}
    assert verdicts["before"] == verdicts["after poweroff"] == verdicts["after reboot"] == PASS
    # Powering the kernel off in the middle of a test is still the kernel going away.
    assert verdicts["powers off"] == verdicts["reboots"] == FAIL


def test_shutdown_quit_is_fast(tmp_path: Path):
    profile = tmp_path / "quick.yaml"
    text = (Path(__file__).parents[2] / "src/sis/harness/profiles/sis.yaml").read_text()
    profile.write_text(
        text.replace("name: sis\n", "name: quick\n", 1) + "\nshutdown: {method: quit, timeout: 5}\n"
        if "\nshutdown:" not in text
        else text.replace("name: sis\n", "name: quick\n", 1).replace(
            "method: powerdown", "method: quit"
        )
    )
    s = Session(str(profile), workdir=tmp_path / "t")
    assert s.profile.shutdown.method == "quit"
    s.start()
    started = time.monotonic()
    s.poweroff()
    assert time.monotonic() - started < 1.0
    assert s.state is State.OFF and not s.alive()


def test_crash_wording_follows_the_profile(tmp_path: Path):
    text = (Path(__file__).parents[2] / "src/sis/harness/profiles/sis.yaml").read_text()
    profile = tmp_path / "fw.yaml"
    profile.write_text(
        text.replace("name: sis\n", "name: fw\n", 1) + '\ncrash_says: "the firmware aborted"\n'
    )
    with open_session(str(profile), workdir=tmp_path / "t") as s:
        with pytest.raises(TargetDied, match="the firmware aborted during `panic x`"):
            s.run("panic x")


def test_placeholders_can_be_set_per_session(tmp_path: Path):
    with open_session("sim", workdir=tmp_path, overrides={"append": "sis.bug=leak_on_spawn"}) as s:
        assert '"leak_on_spawn"' in s.run("version --json").output
    with pytest.raises(TargetError, match="no placeholder 'bogus'"):
        Session("sim", workdir=tmp_path, overrides={"bogus": "1"})

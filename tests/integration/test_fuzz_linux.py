"""The fuzzer on real Linux: the linux-busybox image with the syscall executor, driven over its
virtio-serial port. The validation suite answers as Linux must; a fuzz run writes a corpus and
stats; a program that kills its own process or every process it may signal leaves the
executor and the shell standing; a program that panics the kernel is a crash, titled from the
console, that its reproducer replays after the target is resumed. Skipped, with the reason,
without QEMU, a Debian kernel or gcc with a static libc."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.contract.syscalls import AT_FDCWD, O_WRONLY
from sis.harness.commands.fuzz import run_fuzz
from sis.harness.fuzz.fuzzer import FuzzConfig, fuzz_overrides, make_channel
from sis.harness.fuzz.program import Call, Program
from sis.harness.fuzz.validate import run_cases, unexplained
from sis.harness.images import ImageError
from sis.harness.images.arches import arch_spec
from sis.harness.images.fuzz_executor import build_executor
from sis.harness.session import Session
from sis.harness.targets.profile import load_profile

pytestmark = [pytest.mark.qemu, needs_linux_busybox]
TARGET = "linux-busybox"
SIGKILL = 9


@pytest.fixture(scope="module")
def executor_built() -> None:
    try:
        build_executor(arch_spec("amd64"))
    except ImageError as e:
        pytest.skip(f"cannot build the fuzz executor: {e}")


def fuzz_session(workdir: Path, name: str) -> Session:
    overrides = fuzz_overrides(load_profile(TARGET))
    return Session(TARGET, workdir=workdir, name=name, overrides=overrides)


@pytest.fixture(scope="module")
def channel(executor_built, tmp_path_factory: pytest.TempPathFactory):
    session = fuzz_session(tmp_path_factory.mktemp("fuzz-linux"), "fz")
    ch = make_channel(session, cover=False)
    ch.start()
    yield ch
    session.poweroff()


def test_the_validation_suite_answers_as_linux_does(channel):
    run = run_cases(channel, TARGET)
    assert run.arch == "linux-x86_64" and len(run.answers) >= 40
    assert unexplained([run]) == []


def test_programs_that_kill_themselves_or_everyone_leave_the_executor_and_shell(channel):
    # Each batch runs as the init of its own PID namespace: SIGKILL from inside is ignored,
    # and kill(-1) reaches nothing outside it.
    suicide = Program([Call("getpid"), Call("kill", ["@ret:0", SIGKILL]), Call("getpid")])
    everyone = Program([Call("kill", [-1, SIGKILL]), Call("getppid")])
    res = channel.run([suicide, everyone])
    assert res.crash is None and res.executor_status == ""
    assert res.results[0] == [{"ret": 1}, {"ret": 0}, {"ret": 1}]
    assert res.results[1] == [{"ret": -3, "errno": "ESRCH"}, {"ret": 0}]  # nobody to kill
    assert channel.session.run("echo still-here").output.strip() == "still-here"
    assert channel.run([Program([Call("getpid")])]).results == [[{"ret": 1}]]


def test_a_fuzz_run_on_linux_writes_corpus_and_stats(executor_built, tmp_path: Path):
    out = tmp_path / "fz"
    run = run_fuzz(FuzzConfig(target=TARGET, duration=15, seed=3, out=out, batch=32))
    assert run.errors == [] and not run.crashes
    assert run.stats.calls > 0 and run.stats.corpus > 0
    assert list((out / "corpus").glob("*.json"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == TARGET and summary["calls"] == run.stats.calls
    assert "sis_fuzz_exec_total" in (out / "stats.prom").read_text()


def test_a_kernel_panic_from_a_program_is_a_titled_crash_that_replays(executor_built, tmp_path):
    # sysrq "c" panics Linux on purpose: what a real kernel bug found by fuzzing looks like.
    panic = Program(
        [
            Call("openat", [AT_FDCWD, "@data", O_WRONLY, 0], b"/proc/sysrq-trigger\0"),
            Call("write", ["@ret:0", "@data", 1], b"c"),
        ]
    )
    session = fuzz_session(tmp_path / "t", "panic")
    ch = make_channel(session, cover=False)
    try:
        ch.start()
        res = ch.run([Program([Call("getpid")]), panic])
        assert res.crash is not None and res.crash.kind == "panic"
        assert "sysrq" in res.crash.title.lower()
        assert res.results == [[], []]  # the guest died before it could answer
        ch.restart()  # resumed from the just-booted snapshot, executor reconnected
        assert ch.run([Program([Call("getpid")])]).results == [[{"ret": 1}]]
    finally:
        session.poweroff()
    (tmp_path / "panic.json").write_text(panic.to_json())
    again = subprocess.run(
        [sys.executable, "-m", "sis", "fuzz", "repro", str(tmp_path / "panic.json"),
         "--target", TARGET, "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert again.returncode == 1, again.stderr
    assert res.crash.title in again.stdout

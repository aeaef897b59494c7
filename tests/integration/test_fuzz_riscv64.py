"""The fuzzer on riscv64 Linux: Debian trixie's riscv64 kernel in the linux-busybox image, its
executor cross-built with riscv64-linux-gnu-gcc and driven over the profile's virtio-serial
port. The validation suite answers as Linux must (the generic syscall table, the generic open
flags); a fuzz run writes a corpus. Skipped, with the reason, without qemu-system-riscv64 or
the riscv64 cross toolchain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sis.contract.syscalls import AT_FDCWD, O_CREAT, O_DIRECTORY, O_RDONLY, O_RDWR
from sis.harness.fuzz.fuzzer import FuzzConfig, fuzz_overrides, fuzz_session, make_channel
from sis.harness.fuzz.program import Call, Program
from sis.harness.fuzz.validate import run_cases, unexplained
from sis.harness.images import ImageError, build_linux_busybox
from sis.harness.session import Session
from sis.harness.targets.profile import load_profile

# Boots under TCG take tens of seconds on riscv64, more on a busy machine.
pytestmark = [pytest.mark.qemu, pytest.mark.timeout(300)]
TARGET = "linux-busybox-riscv64"


def fuzz_session_for(workdir: Path, name: str) -> Session:
    return Session(
        TARGET, workdir=workdir, name=name, overrides=fuzz_overrides(load_profile(TARGET))
    )


@pytest.fixture(scope="module")
def image() -> None:
    if shutil.which("qemu-system-riscv64") is None:
        pytest.skip("qemu-system-riscv64 not installed (make qemu-deps)")
    try:
        # The user cache, as the profile finds it; the executor is compiled here.
        build_linux_busybox(arch="riscv64", fuzz_executor=True)
    except ImageError as e:
        pytest.skip(f"cannot build the linux-busybox riscv64 image with the fuzz executor: {e}")


@pytest.fixture(scope="module")
def channel(image, tmp_path_factory: pytest.TempPathFactory):
    session = fuzz_session_for(tmp_path_factory.mktemp("fuzz-riscv64"), "fz")
    ch = make_channel(session, cover=False)
    try:
        ch.start()
        yield ch
    finally:
        session.poweroff()


def test_the_validation_suite_answers_as_linux_does_on_riscv64(channel):
    run = run_cases(channel, TARGET)
    assert channel.machine == "riscv64"
    assert run.arch == "linux-riscv64" and len(run.answers) >= 40
    assert unexplained([run]) == []


def test_open_flags_reach_riscv64_with_its_own_numbers(channel):
    # O_DIRECTORY is 0o40000 to programs and 0o200000 to riscv64: a file opened with it is
    # ENOTDIR only if the flag arrived as the kernel numbers it.
    res = channel.run(
        [
            Program([Call("openat", [AT_FDCWD, "@data", O_RDONLY | O_DIRECTORY, 0], b"/\0")]),
            Program(
                [
                    Call("openat", [AT_FDCWD, "@data", O_RDWR | O_CREAT, 0o644], b"./f\0"),
                    Call("openat", [AT_FDCWD, "@data", O_RDONLY | O_DIRECTORY, 0], b"./f\0"),
                ]
            ),
        ]
    )
    assert res.crash is None
    assert res.results[0][0]["ret"] >= 0
    assert res.results[1][0]["ret"] >= 0 and res.results[1][1].get("errno") == "ENOTDIR"


def test_a_fuzz_run_on_riscv64_executes_programs_and_writes_a_corpus(image, tmp_path: Path):
    out = tmp_path / "fz"
    session = fuzz_session_for(out / "targets", "fz-run")
    try:
        session.start()  # the boot is not part of the fuzzing time
        run = fuzz_session(session, FuzzConfig(target=TARGET, duration=20, seed=5, out=out))
    finally:
        session.poweroff()
    assert run.errors == []
    assert run.stats.calls > 0 and run.stats.corpus > 0
    assert list((out / "corpus").glob("*.json"))

"""Real crashes from real Linux: the linux-busybox image built with the crash module, and the
built-in crash_forensics suite run on it - every crash the module can cause, each test from the
just-booted machine (the snapshot resumed where the profile says so: amd64; rebooted on arm64
and riscv64) - every crash with its type, title and guilty frame.
Skipped, with the reason, without QEMU, the kernel's headers, gcc or make."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.harness.images import ImageError, build_linux_busybox, default_image_dir
from sis.harness.results import PASS, TestResult
from sis.harness.runner import run_suite
from sis.harness.session import State, TargetDied, open_session
from sis.harness.suites import load_suite
from sis.harness.targets.profile import PROFILE_DIR

pytestmark = [pytest.mark.qemu, needs_linux_busybox]


def _profile(arch: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the arch's linux-busybox profile that boots the image with the crash module
    (its own cache directory: the plain image other tests boot stays as it is)."""
    name = "linux-busybox" if arch == "amd64" else f"linux-busybox-{arch}"
    out = default_image_dir(f"{name}-crash-module")
    try:
        image = build_linux_busybox(out, arch=arch, crash_module=True)
    except ImageError as e:
        pytest.skip(f"cannot build the crash module for {arch}: {e}")
    assert image.crash_module and "sis_crash" in image.modules
    text = (PROFILE_DIR / f"{name}.yaml").read_text()
    text = text.replace(
        "  builder: linux-busybox\n", f"  builder: linux-busybox\n  dir: {out}\n", 1
    )
    profile = tmp_path_factory.mktemp("profile") / f"{name}-crash.yaml"
    profile.write_text(text)
    return profile


@pytest.fixture(scope="module")
def crash_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _profile("amd64", tmp_path_factory)


#: arch -> the QEMU it needs, beside the amd64 one every test here needs
_QEMU = {"arm64": "qemu-system-aarch64", "riscv64": "qemu-system-riscv64"}


@pytest.fixture(scope="module", params=["amd64", "arm64", "riscv64"])
def any_crash_profile(request: pytest.FixtureRequest, tmp_path_factory) -> Path:
    binary = _QEMU.get(request.param)
    if binary is not None and shutil.which(binary) is None:
        pytest.skip(f"{binary} not installed (make qemu-deps)")
    return _profile(request.param, tmp_path_factory)


# One boot and seven crashes, soft lockup and hung task waits included: minutes under TCG on
# a busy machine, more than the default test timeout.
@pytest.mark.timeout(600)
def test_every_crash_of_the_module_is_parsed_with_its_title_and_guilty_frame(
    any_crash_profile: Path, tmp_path: Path
):
    results: list[TestResult] = []
    suite = load_suite("crash_forensics")
    with open_session(str(any_crash_profile), workdir=tmp_path) as s:
        snapshots = s.profile.reset == "snapshot"
        assert "crash_module" in s.capabilities
        run_suite(s, suite, results.append)
        booted = sum(not b.restored for b in s.boots)
        survived = [why for _, _, why in s.history if why.startswith("oops, the kernel survived")]
    failed = [(r.test, r.reason) for r in results if r.verdict != PASS]
    assert not failed, failed
    titles = {r.crash["title"] for r in results}
    x86 = "arm64" not in any_crash_profile.name and "riscv64" not in any_crash_profile.name
    assert titles >= {
        "BUG: kernel NULL pointer dereference in sis_crash_null",
        "kernel BUG in sis_crash_bug",
        "WARNING in sis_crash_warn",
        # Only x86 has general protection faults: elsewhere the same access is a paging request.
        "general protection fault in sis_crash_gpf"
        if x86
        else "BUG: unable to handle page fault in sis_crash_gpf",
        "BUG: soft lockup in sis_crash_lockup",
        "INFO: task hung in sis_crash_hung",
        "kernel panic: sis_crash: panic as asked",
    }
    # With snapshots, one boot: every other start was a resume of it.
    assert booted == 1 or not snapshots
    # Only the panic ends the machine: every oops, warning, lockup and hung task is survived;
    # but riscv64's BUG() is fatal too (die() panics: "Fatal exception in interrupt").
    fatal = 2 if "riscv64" in any_crash_profile.name else 1
    assert len(survived) == len(results) - fatal, survived


def test_an_oops_that_kills_the_shell_itself_is_survived(crash_profile: Path, tmp_path: Path):
    # `echo` is a builtin: the oops kills the shell, and init starts another one.
    with open_session(str(crash_profile), workdir=tmp_path) as s:
        with pytest.raises(TargetDied) as died:
            s.run("echo null > /proc/sis_crash")
        assert died.value.state is State.SHELL, str(died.value)
        assert "the kernel survived" in str(died.value)
        assert died.value.crash["frame"] == "sis_crash_null"
        assert s.run("echo alive").output == "alive"

"""linux-busybox on arm64 and riscv64: the image is built from Debian's packages (downloaded,
nothing installed on the host), and the built-in profile boots it under qemu-system-aarch64 /
qemu-system-riscv64 and runs a short suite through `sis check`.

One boot per architecture: the full `--preset all` runs are benchmarks
(benchmarks/check_arm64_all_presets.py), not tests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sis.cli import app
from sis.harness.images import ImageError, build_linux_busybox
from sis.harness.targets.profile import load_profile

ARCHES = {
    # arch: (profile, QEMU binary, Debian package with it, `uname -m`)
    "arm64": ("linux-busybox-arm64", "qemu-system-aarch64", "qemu-system-arm", "aarch64"),
    "riscv64": ("linux-busybox-riscv64", "qemu-system-riscv64", "qemu-system-misc", "riscv64"),
}

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", params=sorted(ARCHES))
def arch(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    _, binary, package, _ = ARCHES[name]
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} not installed (apt-get install {package})")
    try:
        # The user cache, as the profile finds it: built once, a no-op check afterwards.
        build_linux_busybox(arch=name)
    except ImageError as e:
        pytest.skip(f"cannot build the linux-busybox {name} image: {e}")
    return name


def test_arch_picks_the_qemu_binary() -> None:
    for profile, binary, _, _ in ARCHES.values():
        assert load_profile(profile).binary == binary


def test_the_profile_boots_the_arch_and_runs_a_suite(arch: str, tmp_path: Path) -> None:
    profile, _, _, machine = ARCHES[arch]
    out = tmp_path / "out"
    r = CliRunner().invoke(
        app,
        ["check", "--target", profile, "--suite", "basic_commands", "--no-readiness",
         "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    verdicts = {x["verdict"] for x in results}
    assert "PASS" in verdicts and verdicts <= {"PASS", "SKIP"}, verdicts
    [job] = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
    assert job["kernel"].startswith("Linux sis-linux ") and job["kernel"].endswith(
        f"{machine} GNU/Linux"
    ), job["kernel"]
    kernel_log = next((out / "targets").glob("*.kernel.log")).read_text(errors="replace")
    assert "Run /init as init process" in kernel_log  # the whole boot log, not `quiet`


UBOOT = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_a_firmware_shell_runs_a_suite_with_honest_verdicts(tmp_path: Path) -> None:
    """The guest contract's worked example: U-Boot's `=> ` shell, no Linux, no /proc."""
    if shutil.which("qemu-system-aarch64") is None or not UBOOT.is_file():
        pytest.skip("needs qemu-system-aarch64 and u-boot-qemu (apt-get install u-boot-qemu)")
    out = tmp_path / "out"
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        (EXAMPLES / "u-boot-suite.yaml").read_text()
        + "  - name: a command the firmware lacks cannot be tested\n"
        "    steps:\n"
        "      - run: kill 1\n"
        "        status: nonzero\n"
    )
    r = CliRunner().invoke(
        app,
        ["check", "--target", str(EXAMPLES / "u-boot-arm64.yaml"), "--suite", str(suite),
         "--out", str(out)],
    )  # fmt: skip
    results = {
        x["test"]: x for x in map(json.loads, (out / "results.jsonl").read_text().splitlines())
    }
    assert r.exit_code == 2, r.output  # the ERROR below
    assert results["a command the firmware lacks cannot be tested"]["verdict"] == "ERROR"
    for test in ("version names U-Boot", "a failing command reports a nonzero status",
                 "memory can be written and read back"):  # fmt: skip
        assert results[test]["verdict"] == "PASS", results[test]
    # No /proc on firmware: the metrics phase is skipped with the reason, not an ERROR.
    assert results["metrics"]["verdict"] == "SKIP"

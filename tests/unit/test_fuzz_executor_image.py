"""The fuzz executor in the linux-busybox image: which compiler builds it (and what to install
when there is none), what it adds to the initramfs, and the profiles' port that only fuzzing
boots get."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sis.harness.fuzz.guest_channel import guest_overrides
from sis.harness.images import ImageError
from sis.harness.images import fuzz_executor as ex
from sis.harness.images.arches import arch_spec
from sis.harness.targets.profile import load_profile


def test_a_missing_cross_compiler_names_the_packages_to_install(monkeypatch):
    monkeypatch.setattr(ex.shutil, "which", lambda name: None)
    with pytest.raises(ImageError, match="apt-get install gcc-aarch64-linux-gnu"):
        ex.compiler_for(arch_spec("arm64"))


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed (make qemu-deps)")
def test_the_executor_and_its_init_hook_go_into_the_initramfs(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    try:
        files = ex.executor_files(arch_spec("amd64"))
    except ImageError as e:
        pytest.skip(str(e))
    binary, mode = files[ex.EXECUTOR_PATH]
    assert binary.startswith(b"\x7fELF") and mode == 0o755
    hook = files[ex.HOOK_PATH][0].decode()
    assert f"/{ex.EXECUTOR_PATH} {ex.PORT_NAME}" in hook
    # Compiled once: the second call finds the cached binary.
    cached = list((tmp_path / "sis" / "images" / "executors").iterdir())
    assert len(cached) == 1
    assert ex.executor_files(arch_spec("amd64"))[ex.EXECUTOR_PATH][0] == binary


@pytest.mark.parametrize("name", ["linux-busybox", "linux-busybox-arm64"])
def test_only_fuzzing_boots_get_the_executor_port(name: str, tmp_path: Path):
    profile = load_profile(name)
    values = profile.variables("default") | {
        "console_sock": "c", "log_sock": "l", "qmp_sock": "q", "name": "n",
        "console_log": "cl", "kernel_log": "kl", "vmlinux": "v", "initramfs": "i", "disk": "d",
    }  # fmt: skip
    plain = " ".join(profile.command_line(values))
    assert "org.sis.fuzz" not in plain
    overrides = guest_overrides(profile, tmp_path)
    fuzzing = " ".join(profile.command_line(values | overrides))
    assert f"name={ex.PORT_NAME}" in fuzzing and overrides["fuzz_sock"] in fuzzing

"""A QEMU profile with no fuzz executor port: `sis fuzz` says so in one sentence, naming what
to add, before anything boots (no exception class, no worker prefix)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sis.cli import app
from sis.harness.targets.profile import PROFILE_DIR


def test_fuzzing_a_profile_without_the_port_says_what_to_add(tmp_path: Path) -> None:
    text = (PROFILE_DIR / "linux-busybox-riscv64.yaml").read_text()
    start = text.index("    # The fuzz executor's port")
    end = text.index("    - -chardev\n    - socket,id=qmp0")
    text = text[:start] + text[end:]
    text = text.replace('    fuzz_executor: "off"\n    fuzz_sock: ""\n', "")
    text = text.replace("name: linux-busybox-riscv64", "name: my-riscv64")
    profile = tmp_path / "my-riscv64.yaml"
    profile.write_text(text)

    r = CliRunner().invoke(
        app, ["fuzz", "--target", str(profile), "--duration", "5", "--out", str(tmp_path / "o")]
    )
    assert r.exit_code == 2
    [line] = [ln for ln in r.output.splitlines() if ln.startswith("sis fuzz:")]
    assert line == (
        f"sis fuzz: my-riscv64 cannot be fuzzed because its profile has no fuzz executor port: "
        f"add the `fuzz_executor` placeholder and its virtio-serial port to {profile}, as the "
        "linux-busybox profile does"
    )
    assert "Error" not in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o" / "targets").exists() or not any(
        (tmp_path / "o" / "targets").iterdir()
    )

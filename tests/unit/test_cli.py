"""The `sis` command itself: its groups, how it fails, and how little it loads to start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sis.cli import app
from sis.cli.errors import fail

runner = CliRunner()


def test_help_lists_every_command_group() -> None:
    r = runner.invoke(app, ["--help"])
    assert r.exit_code == 0, r.output
    for group in ("kernel", "version", "check", "disk", "image", "logs", "metrics"):
        assert group in r.output


def test_fail_prints_one_line_with_the_group_and_exits_with_the_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(typer.Exit) as e:
        fail("logs", "baselines/x.baseline: no such baseline\n  (record one first)", 3)
    assert e.value.exit_code == 3
    assert capsys.readouterr().err == (
        "sis logs: baselines/x.baseline: no such baseline (record one first)\n"
    )


def test_fail_exits_2_by_default() -> None:
    with pytest.raises(typer.Exit) as e:
        fail("check", "bad")
    assert e.value.exit_code == 2


def test_a_missing_disk_image_is_one_line_naming_the_group(tmp_path: Path) -> None:
    r = runner.invoke(app, ["disk", "ls", str(tmp_path / "none.img")])
    assert r.exit_code == 1
    assert r.stderr.startswith("sis disk: ") and len(r.stderr.splitlines()) == 1
    assert "none.img" in r.stderr and "Traceback" not in r.output


def test_an_unknown_image_is_a_usage_error() -> None:
    r = runner.invoke(app, ["image", "build", "windows-95"])
    assert r.exit_code == 2
    assert r.stderr == "sis image: unknown image 'windows-95' (known: linux-busybox)\n"


def test_check_refuses_an_unknown_preset_before_booting(tmp_path: Path) -> None:
    r = runner.invoke(app, ["check", "--preset", "hugemem", "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert r.stderr.startswith("sis check: ") and "hugemem" in r.stderr
    assert not (tmp_path / "out" / "results.jsonl").exists()


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_help_loads_no_harness_and_no_kernel() -> None:
    loaded = _modules_after("import sys\nfrom sis.cli import app\napp.registered_groups")
    assert "typer" in loaded
    assert not {m for m in loaded if m.startswith(("sis.harness", "sis.kernel", "rich.progress"))}


def test_the_kernel_command_loads_no_typer() -> None:
    # What the `sis` entry point imports before `main` sees `sis kernel ...`.
    loaded = _modules_after("import sys\nimport sis.cli")
    assert "typer" not in loaded and not any(m.startswith("sis.harness") for m in loaded)


def test_version_prints_the_version_without_loading_typer() -> None:
    code = "import sys\nsys.argv = ['sis', '--version']\nimport sis.cli\nsis.cli.main()\n"
    code += "print(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    first, modules = out.split("\n", 1)
    from sis import __version__

    assert first == f"sis {__version__}"
    assert "typer" not in modules.split()


def test_version_is_in_the_help_and_works_through_typer() -> None:
    from sis import __version__

    runner = CliRunner()
    assert "--version" in runner.invoke(app, ["--help"]).output
    result = runner.invoke(app, ["-V", "check"])
    assert result.exit_code == 0 and result.output.strip() == f"sis {__version__}"

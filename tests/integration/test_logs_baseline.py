"""`sis logs baseline` and `sis logs check` on the reference kernel, booted for real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sis.cli.logs import logs_app
from sis.harness.commands.logs import check_against_baseline, record_baseline
from sis.harness.logs import log_regression_result, read_baseline
from sis.harness.results import read_results

app = typer.Typer()
app.add_typer(logs_app, name="logs")


@app.callback()
def _main() -> None:
    """sis"""


runner = CliRunner()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A baseline of the unchanged reference kernel's boot, recorded through the CLI."""
    root = tmp_path_factory.mktemp("logs")
    r = runner.invoke(
        app,
        [
            "logs",
            "baseline",
            "--name",
            "boot",
            "--dir",
            str(root / "b"),
            "--workdir",
            str(root / "w"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output
    return root / "b" / "boot.baseline"


def test_baseline_records_the_boot_log(recorded: Path) -> None:
    b = read_baseline(recorded)
    assert (b.target, b.profile, b.preset, b.source) == ("sis", "sis", "default", "kernel_log")
    sigs = b.signatures()
    assert sigs[0].startswith("INFO kernel: SIS Kernel <hash> (<branch>) built <date>")
    assert "INFO net: eth0: link up iface=eth0" in sigs
    assert sigs[-1] == "INFO reboot: Power down"
    # Every number left is part of a name (eth0, ttyS1): run-specific values are masked.
    assert not [s for s in sigs if re.search(r"\d", re.sub(r"\b(eth|ttyS)\d\b", "", s))]


def test_check_of_the_unchanged_kernel_passes(recorded: Path, tmp_path: Path) -> None:
    r = runner.invoke(
        app,
        [
            "logs",
            "check",
            "--name",
            "boot",
            "--dir",
            str(recorded.parent),
            "--workdir",
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "ok: log matches the baseline" in r.output


def test_an_event_the_kernel_does_not_emit_fails_with_a_diff(
    recorded: Path, tmp_path: Path
) -> None:
    edited = tmp_path / "b" / "boot.baseline"
    edited.parent.mkdir()
    lines = recorded.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "Run /sbin/init" in line)
    lines.insert(at, "   1 INFO fs: journal replayed entries=<num>\n")
    edited.write_text("".join(lines))

    r = runner.invoke(
        app,
        [
            "logs",
            "check",
            "--name",
            "boot",
            "--dir",
            str(edited.parent),
            "--workdir",
            str(tmp_path / "w"),
        ],
    )
    assert r.exit_code == 1, r.output
    assert "- INFO fs: journal replayed entries=<num>" in r.output
    assert "  INFO kernel: Run /sbin/init as init process" in r.output
    assert "FAIL: 1 event removed" in r.output
    assert (
        f"sis logs baseline --target sis --preset default --name boot --dir {edited.parent}"
        in r.output
    )
    assert "The full log of this run:" in r.output


def test_sis_check_compares_its_own_run_with_the_recorded_baseline(tmp_path: Path) -> None:
    b = record_baseline("sis", directory=tmp_path / "b", suites=["system_info"])
    assert b.path == tmp_path / "b" / "sis-default.baseline"
    assert read_baseline(b.path).suites == ["system_info"]
    r = subprocess.run(
        [sys.executable, "-m", "sis", "check", "--phases", "suites,log_regression", "--suite",
         "system_info", "--baselines", str(tmp_path / "b"), "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    [result] = [x for x in read_results(tmp_path / "o" / "results.jsonl")[0]
                if x.suite == "log_regression"]  # fmt: skip
    assert (result.verdict, result.test) == ("PASS", "sis-default")
    assert log_regression_result("sis", "default", tmp_path / "b") is not None


def test_a_line_the_serial_port_damaged_is_not_a_removed_event(recorded: Path) -> None:
    # The recording run's own capture, one line of it damaged as a loaded 16550 UART does:
    # a character dropped, another repeated.
    workdir = recorded.parent.parent / "w"
    capture = next(p for p in workdir.rglob("*.log") if "Run /sbin/init" in p.read_text())
    text = capture.read_text()
    damaged = capture.with_name("damaged-" + capture.name)
    damaged.write_text(text.replace("as init process", "as innit proess", 1))

    diff = check_against_baseline("boot", recorded.parent, log=damaged)
    assert diff.ok, diff.render()
    assert not diff.removed and not diff.added
    assert diff.damaged == [
        (
            "INFO kernel: Run /sbin/init as init process",
            "INFO kernel: Run /sbin/init as innit proess",
        )
    ]
    out = diff.render()
    assert "~ INFO kernel: Run /sbin/init as init process" in out
    assert "damaged line in the log: INFO kernel: Run /sbin/init as innit proess" in out
    assert "ok: log matches the baseline, 1 damaged line read as the baseline's" in out

    # A changed word is not damage: the event is removed.
    edited = capture.with_name("edited-" + capture.name)
    edited.write_text(text.replace("as init process", "as a process", 1))
    diff = check_against_baseline("boot", recorded.parent, log=edited)
    assert not diff.ok and not diff.damaged
    assert diff.removed == [("INFO kernel: Run /sbin/init as init process", 1)]

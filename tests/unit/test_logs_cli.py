"""`sis logs` commands on captured logs (no kernel is booted here)."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from sis.cli.logs import logs_app
from sis.harness.logs.baseline import Baseline, collapse, write_baseline

# Mounted as the main command mounts it.
app = typer.Typer()
app.add_typer(logs_app, name="logs")


@app.callback()
def _main() -> None:
    """sis"""


runner = CliRunner()

LOG = (
    "[    0.100000] [INFO] kernel: boot completed in 143.0 ms boot_ms=143.0\r\n"
    "[    0.200000] [INFO] net: eth0: link up iface=eth0\r\n"
    "[    4.110742] [INFO] reboot: Power down\r\n"
)
SIGS = [
    "INFO kernel: boot completed in <dur> boot_ms=<dur>",
    "INFO net: eth0: link up iface=eth0",
    "INFO reboot: Power down",
]


def _setup(tmp_path: Path, signatures: list[str]) -> tuple[Path, Path]:
    log = tmp_path / "kernel.log"
    log.write_text(LOG)
    base = Baseline(target="sim", profile="sis", preset="default", events=collapse(signatures))
    write_baseline(base, tmp_path / "b" / "boot.baseline")
    return log, tmp_path / "b"


def test_check_of_a_matching_log_exits_0(tmp_path: Path) -> None:
    log, base = _setup(tmp_path, SIGS)
    r = runner.invoke(
        app, ["logs", "check", "--name", "boot", "--dir", str(base), "--log", str(log)]
    )
    assert r.exit_code == 0, r.output
    assert "ok: log matches the baseline" in r.output


def test_check_with_a_removed_event_exits_1_with_a_diff(tmp_path: Path) -> None:
    log, base = _setup(tmp_path, SIGS[:2] + ["INFO fs: fsck clean"] + SIGS[2:])
    r = runner.invoke(
        app, ["logs", "check", "--name", "boot", "--dir", str(base), "--log", str(log)]
    )
    assert r.exit_code == 1
    assert "- INFO fs: fsck clean" in r.output
    assert "sis logs baseline --target sim --preset default --name boot" in r.output


def test_added_event_fails_only_with_strict(tmp_path: Path) -> None:
    log, base = _setup(tmp_path, SIGS[1:])
    args = ["logs", "check", "--name", "boot", "--dir", str(base), "--log", str(log)]
    r = runner.invoke(app, args)
    assert r.exit_code == 0 and "+ INFO kernel: boot completed" in r.output
    assert runner.invoke(app, [*args, "--strict"]).exit_code == 1


def test_missing_or_garbled_baseline_exits_2_with_one_line(tmp_path: Path) -> None:
    r = runner.invoke(app, ["logs", "check", "--name", "nope", "--dir", str(tmp_path)])
    assert r.exit_code == 2
    assert r.output.strip().count("\n") == 0 and "no such baseline" in r.output
    (tmp_path / "bad.baseline").write_text("# sis-log-baseline v1\n")
    r = runner.invoke(app, ["logs", "check", "--name", "bad", "--dir", str(tmp_path)])
    assert r.exit_code == 2 and "header has no '# target: ...' line" in r.output


def test_parse_reports_problems_gaps_and_signatures(tmp_path: Path) -> None:
    log = tmp_path / "k.log"
    log.write_text(
        '{"ts":1,"seq":1,"level":"INFO","subsystem":"fs","status":"a"}\n'
        "junk line\n"
        '{"ts":2,"seq":4,"level":"INFO","subsystem":"fs","status":"b","n":7}\n'
    )
    r = runner.invoke(app, ["logs", "parse", str(log), "--signatures"])
    assert r.exit_code == 0
    assert "3: INFO fs: b n=<num>" in r.output
    assert f"{log}:line 2: not a log record" in r.output
    assert "seq 2-3 missing" in r.output
    assert "2 records in 3 lines, 1 malformed, 1 seq gaps" in r.output
    assert runner.invoke(app, ["logs", "parse", str(log), "--strict"]).exit_code == 1


def test_parse_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    r = runner.invoke(app, ["logs", "parse", str(tmp_path / "none.log")])
    assert r.exit_code == 2 and "cannot read" in r.output

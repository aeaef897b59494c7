"""`sis worker` and the `--executor dask` options of `sis check`: what they refuse, in one line,
before anything connects."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sis.cli import app

pytest.importorskip("distributed")

runner = CliRunner()


def test_write_certs_makes_owner_only_credentials(tmp_path: Path) -> None:
    r = runner.invoke(app, ["worker", "--write-certs", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    for name in ("ca.pem", "cert.pem", "key.pem"):
        path = tmp_path / "c" / name
        assert path.read_text().startswith("-----BEGIN")
        assert path.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["worker"], "--scheduler ADDRESS"),
        (["worker", "--scheduler", "tcp://192.0.2.7:8786"], "not on loopback"),
        (["worker", "--scheduler", "tls://192.0.2.7:8786"], "TLS needs credentials"),
        (["check", "--executor", "dask", "--scheduler", "tcp://192.0.2.7:8786"], "--insecure"),
        (["check", "--scheduler", "tls://192.0.2.7:8786"], "are for --executor dask"),
        (["check", "--executor", "ray"], "unknown executor 'ray'"),
    ],
)
def test_what_cannot_be_used_is_refused_in_one_line(
    argv: list[str], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIS_DASK_SCHEDULER", raising=False)
    monkeypatch.delenv("SIS_DASK_TLS", raising=False)
    r = runner.invoke(app, argv)
    assert r.exit_code == 2, r.output
    assert says in r.output and "Traceback" not in r.output


def test_the_scheduler_may_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIS_DASK_SCHEDULER", "tcp://192.0.2.7:8786")
    r = runner.invoke(app, ["check", "--executor", "dask", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "192.0.2.7" in r.output and "--insecure" in r.output

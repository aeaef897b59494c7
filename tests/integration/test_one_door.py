"""Every command that boots a target goes through the one door: it plans jobs and hands them to
an executor, and nothing starts a target process outside `run_job` (the launcher is made to
refuse it here). Each command then leaves the same artifacts in its OUT."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sis.cli import _build_app
from sis.harness import plan as door
from sis.harness.executors.local import LocalExecutor
from sis.harness.targets import process


class RecordingExecutor(LocalExecutor):
    """The local executor, noting every job it is handed."""

    seen: list = []

    def run(self, jobs, report, status=None, stop=None):  # noqa: ANN001, ANN201
        RecordingExecutor.seen.extend(jobs)
        return super().run(jobs, report, status, stop)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    RecordingExecutor.seen = []
    monkeypatch.setattr(door, "make_executor", lambda name, n: RecordingExecutor(n))
    monkeypatch.setattr(process, "JOBS_ONLY", True)
    yield RecordingExecutor.seen


def sis(*args: str) -> tuple[int, str]:
    app: typer.Typer = _build_app()
    r = CliRunner().invoke(app, list(args))
    return r.exit_code, r.output


ARTIFACTS = ("results.jsonl", "jobs.jsonl", "junit.xml", "report.html")


def _has_artifacts(out: Path) -> None:
    for name in ARTIFACTS:
        assert (out / name).is_file(), f"{out / name} missing"
    jobs = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
    assert jobs and all(j["boots"] for j in jobs)


def test_check_chaos_soak_and_fuzz_hand_their_jobs_over_and_write_the_same_files(
    recorded: list, tmp_path: Path
) -> None:
    code, text = sis("check", "--out", str(tmp_path / "check"), "--phases", "suites",
                     "--suite", "system_info")  # fmt: skip
    assert code == 0, text
    code, text = sis("chaos", "run", "slow_io", "--out", str(tmp_path / "chaos"))
    assert code == 0, text
    assert (tmp_path / "chaos" / "chaos.html").is_file()
    assert 'href="chaos.html"' in (tmp_path / "chaos" / "report.html").read_text()
    code, text = sis("soak", "--duration", "4s", "--interval", "1s", "--workload", "",
                     "--out", str(tmp_path / "soak"))  # fmt: skip
    assert code in (0, 2), text  # 4 s of samples may be too few to judge (SKIP), never a FAIL
    assert (tmp_path / "soak" / "soak-report.html").is_file()
    code, text = sis("fuzz", "--duration", "3", "--out", str(tmp_path / "fuzz"))
    assert code == 0, text
    assert (tmp_path / "fuzz" / "fuzz.html").is_file()
    for name in ("check", "chaos", "soak", "fuzz"):
        _has_artifacts(tmp_path / name)
    phases = [job.phases for job in recorded]
    assert phases == [("suites",), ("chaos",), ("soak",), ("fuzz",)]


def test_repro_validate_logs_metrics_and_selftest_hand_their_jobs_over(
    recorded: list, tmp_path: Path
) -> None:
    program = tmp_path / "p.json"
    program.write_text(json.dumps({"calls": [{"name": "getpid", "args": []}]}))
    code, text = sis("fuzz", "repro", str(program), "--out", str(tmp_path / "repro"))
    assert code == 0, text
    code, text = sis("fuzz", "validate", "--case", "close_negative", "--out",
                     str(tmp_path / "validate"))  # fmt: skip
    assert code == 0, text
    code, text = sis("logs", "baseline", "--dir", str(tmp_path / "b"), "--workdir",
                     str(tmp_path / "lw"))  # fmt: skip
    assert code == 0, text
    code, text = sis("logs", "check", "--name", "sis-default", "--dir", str(tmp_path / "b"))
    assert code == 0, text
    code, text = sis("metrics", "collect", "--duration", "2", "--out",
                     str(tmp_path / "m.jsonl"), "--workdir", str(tmp_path / "mw"))  # fmt: skip
    assert code == 0, text
    code, text = sis("selftest", "--job", "chaos/slow_io", "--bug", "fsync_lies", "--out",
                     str(tmp_path / "selftest"))  # fmt: skip
    assert code == 0, text
    phases = [job.phases[0] for job in recorded]
    assert phases == [
        "fuzz_repro", "fuzz_validate", "log_capture", "log_capture", "metrics_collect",
        "chaos", "chaos",
    ]  # fmt: skip
    for out in ("repro", "validate", "lw", "mw", "selftest"):
        _has_artifacts(tmp_path / out)


def test_a_target_started_outside_a_job_is_refused_here(recorded: list, tmp_path: Path) -> None:
    from sis.harness.session import Session
    from sis.harness.targets.base import TargetError

    session = Session("sis", workdir=tmp_path)
    with pytest.raises(TargetError, match="only inside a job"):
        session.start()

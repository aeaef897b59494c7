"""run_job, the one place a job's target is booted and powered off: whatever a phase does
(raises, is stopped), the job ends with results that say so, a summary, and no target left."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from sis.harness import phases
from sis.harness.jobs import Job, run_job
from sis.harness.results import ERROR, PASS, JobSummary, TestResult


@dataclass(frozen=True)
class NoOptions:
    pass


class FakePhase:
    name = "suites"
    requires = frozenset({"shell"})
    after_poweroff = False
    Options = NoOptions

    def __init__(self, body) -> None:  # noqa: ANN001
        self.body = body

    def planned(self, job, options):  # noqa: ANN001, ANN201
        return [("fake", "one")]

    def run(self, session, job, options):  # noqa: ANN001, ANN201
        yield from self.body(session, job)


def _run(monkeypatch, tmp_path: Path, body, stop=None):  # noqa: ANN001, ANN202
    monkeypatch.setitem(phases._loaded, "suites", FakePhase(body))
    job = Job("sis", "default", "sis", ("suites",), str(tmp_path / "targets"))
    got: list = []
    run_job(job, got.append, stop=stop)
    results = [r for r in got if isinstance(r, TestResult)]
    summaries = [r for r in got if isinstance(r, JobSummary)]
    return results, summaries


def test_a_phase_that_raises_is_an_error_result_and_the_target_is_powered_off(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = {}

    def body(session, job):  # noqa: ANN001, ANN202
        seen["session"] = session
        yield TestResult("sis", "default", "fake", "one", PASS)
        raise RuntimeError("the phase broke")

    results, [summary] = _run(monkeypatch, tmp_path, body)
    assert [r.verdict for r in results] == [PASS, ERROR]
    assert results[1].reason == "the lab failed in the suites phase: the phase broke"
    assert summary.boots and not seen["session"].alive()


def test_a_job_stopped_before_it_starts_boots_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stop = threading.Event()
    stop.set()
    results, summaries = _run(monkeypatch, tmp_path, lambda s, j: iter(()), stop)
    assert results == [] and summaries == []
    assert not (tmp_path / "targets").exists()


def test_a_job_stopped_while_it_runs_ends_and_keeps_only_what_came_before(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    stop = threading.Event()

    def body(session, job):  # noqa: ANN001, ANN202
        yield TestResult("sis", "default", "fake", "before", PASS)
        stop.set()
        session.run("sleep 60", timeout=90)  # ended by the stop, not by its timeout
        yield TestResult("sis", "default", "fake", "after", PASS)

    results, [summary] = _run(monkeypatch, tmp_path, body, stop)
    assert [r.test for r in results] == ["before"]
    assert summary.interrupted

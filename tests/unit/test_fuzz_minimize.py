"""Minimization against a fake executor whose "kernel" dies on one call, the way the planted
pwrite_overflow does, plus the corpus and the stats text."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from unittest import mock

import pytest

from sis.harness.fuzz.channel import BatchResult
from sis.harness.fuzz.corpus import Corpus
from sis.harness.fuzz.crash import CrashInfo
from sis.harness.fuzz.minimize import reproduce
from sis.harness.fuzz.program import Call, Program
from sis.harness.fuzz.stats import Stats

TITLE = "SIS panic: pwrite past 2^63"


class FakeKernel:
    """Dies when a pwrite64 of a descriptor that openat returned has offset+count >= 2^63."""

    arch = "sis"

    def __init__(self) -> None:
        self.restarts = 0
        self.runs = 0

    def start(self) -> None: ...
    def stop(self) -> None: ...

    def restart(self) -> None:
        self.restarts += 1

    def run(self, programs: list[Program]) -> BatchResult:
        self.runs += 1
        out = BatchResult()
        for p in programs:
            results: list[dict] = []
            for c in p.calls:
                if c.name == "pwrite64":
                    fd, _, count, offset = c.args
                    opened = isinstance(fd, str) and p.calls[int(fd[5:])].name == "openat"
                    if opened and isinstance(count, int) and offset + count >= 1 << 63:
                        out.results.append(results)
                        out.crash = CrashInfo("panic", TITLE)
                        return out
                results.append({"ret": 3 if c.name == "openat" else 0})
            out.results.append(results)
        return out


def noisy() -> Program:
    return Program(
        [
            Call("getpid"),
            Call("openat", [-100, "@data", 0o102, 0o644], b"./fz0\0"),
            Call("uname", ["@scratch"]),
            Call("getpid"),
            Call("pwrite64", ["@ret:1", "@scratch+8", 64, (1 << 63) - 8]),
            Call("sync"),
        ]
    )


def test_a_crash_is_minimized_to_the_calls_it_needs():
    k = FakeKernel()
    batch = [Program([Call("getpid")]), noisy(), Program([Call("sync")])]
    first = k.run(batch)
    assert first.crash is not None
    repro, cut_short = reproduce(k, batch, first.crash, lambda: None, at=(1, 4))
    assert repro is not None and not cut_short
    assert [c.name for c in repro.calls] == ["openat", "pwrite64"]
    assert repro.calls[1].args[1] == "@scratch"  # arguments simplified too
    assert k.restarts >= 1


def test_a_crash_that_does_not_come_back_has_no_reproducer():
    k = FakeKernel()
    crash = CrashInfo("panic", "something else")
    assert reproduce(k, [noisy()], crash, lambda: None) == (None, False)


def test_minimizing_stops_at_its_deadline_keeping_what_it_has():
    k = FakeKernel()
    batch = [Program([Call("getpid")]), noisy(), Program([Call("sync")])]
    crash = k.run(batch).crash
    assert crash is not None
    clock = iter(range(1000))  # each try takes a second
    with mock.patch("sis.harness.fuzz.minimize.time.monotonic", lambda: next(clock)):
        repro, cut_short = reproduce(k, batch, crash, lambda: None, at=(1, 4), deadline=2)
    assert cut_short
    assert repro is not None and len(repro) > 2  # confirmed, not yet minimized
    assert k.restarts <= 3


def test_the_corpus_keeps_programs_with_new_signal(tmp_path: Path):
    corpus = Corpus(tmp_path / "corpus")
    p = Program([Call("getpid")])
    assert corpus.consider(p, [{"ret": 5}])
    assert not corpus.consider(p, [{"ret": 6}])  # same call, same outcome
    assert corpus.consider(Program([Call("close", [-1])]), [{"ret": -9, "errno": "EBADF"}])
    assert corpus.consider(p, [{"ret": 5, "cover": [1, 2, 3]}])  # new coverage edges
    assert len(corpus) == 3 and corpus.edges == {1, 2, 3}
    again = Corpus(tmp_path / "corpus")  # a later run starts from the saved corpus
    assert len(again) == 2  # one file per distinct program


def test_stats_are_valid_prometheus_text():
    s = Stats()
    s.add_batch(10, 40, 0.01)
    assert s.add_crash("a") and not s.add_crash("a")
    text = s.prometheus()
    assert "sis_fuzz_exec_total 10" in text and "sis_fuzz_crash_titles 1" in text
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr

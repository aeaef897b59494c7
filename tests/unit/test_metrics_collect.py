"""Sources, samplers and the JSONL series, with stand-in targets (no process)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from sis.cli.metrics import parse_listen
from sis.harness.console import CommandResult, ConsoleTimeout
from sis.harness.metrics.collect import (
    JSON_COMMAND,
    PROC_COMMAND,
    SampleError,
    Sampler,
    StaticSource,
    choose_source,
    collect_series,
    read_series,
)
from sis.harness.qmp import QMPError


@dataclass
class FakeQMP:
    reply: object = None
    fail: bool = False
    calls: list[str] = field(default_factory=list)

    def execute(self, command: str, arguments: object = None, timeout: float = 30.0) -> object:
        self.calls.append(command)
        if self.fail:
            raise QMPError(f"{command}: the kernel is not running")
        return self.reply


@dataclass
class FakeTarget:
    capabilities: set[str]
    outputs: dict[str, str] = field(default_factory=dict)
    qmp: FakeQMP | None = None
    up: bool = True
    preset: str = "default"
    profile: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(name="fake"))
    commands: list[str] = field(default_factory=list)

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        self.commands.append(command)
        if command not in self.outputs:
            raise ConsoleTimeout(f"no prompt after {command!r}", pattern="/ # ")
        return CommandResult(command, self.outputs[command], 0, 0.01)

    def alive(self) -> bool:
        return self.up

    def death(self) -> str | None:
        return None if self.up else "KERNEL PANIC (pattern 'KERNEL PANIC')"


def test_the_source_follows_the_capabilities():
    assert choose_source({"shell", "metrics"}) == "qmp"
    assert choose_source({"shell", "metrics"}, has_qmp=False) == "console"
    assert choose_source({"shell", "proc_metrics"}) == "proc"
    with pytest.raises(SampleError, match="proc_metrics"):  # a shell alone is not Linux /proc
        choose_source({"shell", "network"})
    with pytest.raises(SampleError, match="neither"):
        choose_source({"network"})


def test_sis_target_is_sampled_through_qmp():
    t = FakeTarget({"shell", "metrics"}, qmp=FakeQMP({"heap_allocs": 5, "enabled": True}))
    s = Sampler(t)
    assert s.sample() == {"heap_allocs": 5}  # non-integers are not metrics
    assert s.last_source == "qmp" and t.commands == []


def test_qmp_trouble_falls_back_to_the_console():
    t = FakeTarget(
        {"shell", "metrics"},
        outputs={JSON_COMMAND: '{"heap_allocs": 6, "uptime_seconds": 2}'},
        qmp=FakeQMP(fail=True),
    )
    s = Sampler(t)
    assert s.sample() == {"heap_allocs": 6, "uptime_seconds": 2}
    assert s.last_source == "console" and t.qmp is not None and t.qmp.calls == ["x-sis-metrics"]


def test_linux_target_is_sampled_from_proc_with_one_command():
    t = FakeTarget(
        {"shell", "proc_metrics"}, outputs={PROC_COMMAND: "ctxt 10\nprocesses 4\n0.50 0.40"}
    )
    s = Sampler(t, label="lb")
    assert s.sample() == {"ctx_switches": 10, "forks": 4, "uptime_seconds": 0}
    assert t.commands == [PROC_COMMAND] and s.name == "lb" and s.last_source == "proc"


def test_failures_are_one_line_sample_errors():
    down = FakeTarget({"shell", "proc_metrics"}, up=False)
    with pytest.raises(SampleError, match=r"fake: target is down \(KERNEL PANIC"):
        Sampler(down).sample()
    wedged = FakeTarget({"shell", "proc_metrics"})
    with pytest.raises(SampleError, match="no prompt after"):
        Sampler(wedged).sample()
    garbage = FakeTarget({"shell", "proc_metrics"}, outputs={PROC_COMMAND: "sh: cat: not found"})
    with pytest.raises(SampleError, match="line 1: not a line of"):
        Sampler(garbage).sample()
    with pytest.raises(SampleError, match="unknown metrics source"):
        Sampler(garbage, "snmp")


def test_series_lines_are_appended_as_they_are_taken(tmp_path: Path):
    out = tmp_path / "m.jsonl"
    out.write_text('{"t": 1, "target": "old", "preset": "default", "metrics": {}}\n')
    seen: list[dict] = []
    src = StaticSource("sis", "lowmem", {"uptime_seconds": 3})
    summary = collect_series(src, out, interval=0.01, duration=0.05, on_sample=seen.append)
    records, problems = read_series(out)
    assert not problems
    assert summary.samples == len(seen) == len(records) - 1 == 5
    assert records[0]["target"] == "old"  # appended, never truncated
    last = records[-1]
    assert set(last) == {"t", "target", "preset", "source", "metrics"}
    assert (last["target"], last["preset"], last["metrics"]) == (
        "sis",
        "lowmem",
        {"uptime_seconds": 3},
    )
    assert records[-1]["t"] >= records[1]["t"]


def test_a_target_that_goes_down_ends_the_series_with_its_error(tmp_path: Path):
    src = StaticSource("sis", "default", {"uptime_seconds": 1})
    calls = 0

    def on_sample(rec: dict) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            src.up = False

    summary = collect_series(
        src, tmp_path / "m.jsonl", interval=0.01, duration=10, on_sample=on_sample
    )
    records, _ = read_series(tmp_path / "m.jsonl")
    assert summary.stopped == "target down" and summary.errors == 1
    assert [("error" in r) for r in records] == [False, False, True]
    assert records[-1]["error"] == "sis: target is down"


def test_stop_event_interrupts_an_endless_run(tmp_path: Path):
    stop = threading.Event()
    src = StaticSource("sis")
    timer = threading.Timer(0.1, stop.set)
    timer.start()
    summary = collect_series(src, tmp_path / "m.jsonl", interval=0.02, duration=0, stop=stop)
    timer.join()
    assert summary.stopped == "interrupted" and summary.samples >= 2


def test_a_cut_short_series_keeps_its_good_lines(tmp_path: Path):
    out = tmp_path / "m.jsonl"
    good = json.dumps({"t": 1, "target": "a", "preset": "default", "metrics": {"x": 1}})
    out.write_text(f"{good}\n[1]\n{good}\n" + good[:20])
    records, problems = read_series(out)
    assert len(records) == 2
    assert [p.line for p in problems] == [2, 4]
    assert read_series(tmp_path / "missing.jsonl") == ([], [])


@pytest.mark.parametrize(
    "text,expected",
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        (":9000", ("127.0.0.1", 9000)),
        ("[::1]:0", ("::1", 0)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
    ],
)
def test_listen_addresses(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9464", "host:", "host:http", "h:70000"])
def test_bad_listen_addresses(text):
    with pytest.raises(ValueError, match="expected HOST:PORT"):
        parse_listen(text)

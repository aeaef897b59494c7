"""Metrics checks for `sis check` (suite "metrics"), and `promtool` as a library call.

A SIS kernel (capability `metrics`) is checked against contract section 5: the JSON snapshot
has every key as an integer, `--format simple` has the same keys, `--format prometheus` is
clean under promtool and represents every JSON key, QMP `x-sis-metrics` agrees, and counters
move under a small workload. Any other shell target is checked through the /proc mapping."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sis.harness.metrics.collect import (
    CONTRACT_KEYS,
    JSON_COMMAND,
    SampleError,
    Sampler,
    StaticSource,
    choose_source,
)
from sis.harness.metrics.export import MetricsExporter, prometheus_series
from sis.harness.metrics.parse import (
    PromText,
    parse_json_metrics,
    parse_prometheus_text,
    parse_simple_metrics,
)
from sis.harness.results import ERROR, FAIL, PASS, SKIP, StepResult, TestResult
from sis.harness.session import TargetDied

SUITE = "metrics"
PROMTOOL_HINT = "promtool not found (Debian: apt-get install prometheus)"


@dataclass
class PromtoolReport:
    available: bool
    findings: list[str] = field(default_factory=list)
    error: str = ""  # promtool could not run or parse the text at all

    @property
    def clean(self) -> bool:
        return self.available and not self.findings and not self.error


def promtool_available() -> bool:
    return shutil.which("promtool") is not None


def promtool_check(text: str, timeout: float = 30.0) -> PromtoolReport:
    """`promtool check metrics` on `text`: its findings (lint) or parse error, if any."""
    exe = shutil.which("promtool")
    if exe is None:
        return PromtoolReport(False, error=PROMTOOL_HINT)
    try:
        proc = subprocess.run(
            [exe, "check", "metrics"], input=text.encode(), capture_output=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return PromtoolReport(True, error=f"promtool did not run: {e}")
    lines = [
        ln.strip()
        for ln in (proc.stdout + proc.stderr).decode(errors="replace").splitlines()
        if ln.strip()
    ]
    if proc.returncode == 0:
        return PromtoolReport(True)
    errors = [ln for ln in lines if "error" in ln.lower()]
    if errors:
        return PromtoolReport(True, error="; ".join(errors))
    return PromtoolReport(True, findings=lines or [f"promtool exited {proc.returncode}"])


def missing_series(text: PromText, keys: list[str] | tuple[str, ...]) -> list[str]:
    """JSON keys with no series in a parsed exposition (see export.prometheus_series)."""
    out = []
    for key in keys:
        mapped = prometheus_series(key)
        if mapped is None or text.value(mapped[0], **mapped[1]) is None:
            out.append(key)
    return out


# -- the checks --------------------------------------------------------------------------------


class _Run:
    """Runs one check: commands become steps; the verdict comes from the check function."""

    def __init__(self, target: Any, results: list[TestResult]) -> None:
        self.target = target
        self.results = results

    def run(self, name: str, fn: Callable[[list[StepResult]], tuple[str, str]]) -> None:
        started, t0 = time.time(), time.monotonic()
        steps: list[StepResult] = []
        try:
            verdict, reason = fn(steps)
        except SampleError as e:
            verdict, reason = ERROR, str(e)
        except TargetDied as e:  # the kernel died under the check: its fault, not the lab's
            verdict, reason = FAIL, str(e)
        except Exception as e:  # a check that breaks is an ERROR with its reason, not a crash
            verdict, reason = ERROR, f"{type(e).__name__}: {e}"
        self.results.append(
            TestResult(
                target=self.target.profile.name,
                preset=self.target.preset,
                suite=SUITE,
                test=name,
                verdict=verdict,
                reason=reason,
                steps=steps,
                duration_s=time.monotonic() - t0,
                started=started,
            )
        )

    def command(self, steps: list[StepResult], command: str, timeout: float = 30.0) -> str:
        r = self.target.run(command, timeout=timeout)
        ok = r.status in (0, None)
        steps.append(
            StepResult(command, r.output, r.status, r.duration_s, ok, "" if ok else "non-zero exit")
        )
        if not ok:
            raise SampleError(f"{command} exited {r.status}")
        return r.output


def _console_text(output: str) -> str:
    """Console output as the text file it stands for: LF line ends and a final newline (the
    console engine strips the one before the prompt)."""
    text = output.replace("\r\n", "\n")
    return text if text.endswith("\n") or not text else text + "\n"


def _verdict(problems: list[str]) -> tuple[str, str]:
    if not problems:
        return PASS, ""
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return FAIL, "; ".join(problems[:3]) + more


def _exporter_text(name: str, preset: str, values: dict[str, int]) -> str:
    exporter = MetricsExporter([StaticSource(name, preset, values)])
    try:
        return exporter.render()
    finally:
        exporter.stop()


def _promtool_verdict(text: str) -> tuple[str, str]:
    report = promtool_check(text)
    if not report.available:
        return SKIP, PROMTOOL_HINT
    if report.error:
        return FAIL, f"promtool: {report.error}"
    return _verdict([f"promtool: {f}" for f in report.findings])


# What a small workload must move, per source kind.
SIS_WORKLOAD = [
    "echo metrics-check > /sis-metrics-check.txt",
    "cat /sis-metrics-check.txt",
    "ls /",
    "rm /sis-metrics-check.txt",
    "sync",
]
SIS_MOVING = ("vfs_opens", "vfs_writes", "vfs_reads", "ctx_switches", "ctx_switch_count",
              "heap_allocs", "disk_write_ops", "syscalls_total")  # fmt: skip
PROC_WORKLOAD = [
    "ls / > /dev/null",
    "echo metrics-check > /tmp/sis-metrics-check",
    "cat /tmp/sis-metrics-check",
    "rm /tmp/sis-metrics-check",
]
PROC_MOVING = ("ctx_switches", "forks")
PROC_DISK = "dd if=/dev/vda of=/dev/null bs=4096 count=8 iflag=direct"
PROC_REQUIRED = ("uptime_seconds", "ctx_switches", "forks", "mem_total_bytes")


def metrics_checks(target: Any) -> list[TestResult]:
    """The metrics suite on a started target: a list of results, never an exception."""
    results: list[TestResult] = []
    r = _Run(target, results)
    caps = set(target.capabilities)
    try:
        kind = choose_source(caps, target.qmp is not None)
    except SampleError as e:
        why = str(e)
        r.run("metrics", lambda steps: (SKIP, why))
        return results
    sampler = Sampler(target)

    if kind in ("qmp", "console"):

        def json_snapshot(steps: list[StepResult]) -> tuple[str, str]:
            parsed = parse_json_metrics(r.command(steps, JSON_COMMAND))
            problems = [str(p) for p in parsed.problems]
            problems += [f"missing key {k}" for k in CONTRACT_KEYS if k not in parsed.values]
            return _verdict(problems)

        def simple_format(steps: list[StepResult]) -> tuple[str, str]:
            as_json = parse_json_metrics(r.command(steps, JSON_COMMAND)).values
            simple = parse_simple_metrics(r.command(steps, "metricsctl --format simple"))
            problems = [str(p) for p in simple.problems]
            if set(simple.values) != set(as_json):
                diff = sorted(set(simple.values) ^ set(as_json))
                problems.append(f"keys differ from the JSON format: {', '.join(diff[:5])}")
            return _verdict(problems)

        def prometheus_text(steps: list[StepResult]) -> tuple[str, str]:
            text = _console_text(r.command(steps, "metricsctl --format prometheus"))
            parsed = parse_prometheus_text(text)
            problems = [str(p) for p in parsed.problems]
            problems += [f"no series for {k}" for k in missing_series(parsed, CONTRACT_KEYS)]
            return _verdict(problems)

        def prometheus_promtool(steps: list[StepResult]) -> tuple[str, str]:
            if not promtool_available():
                return SKIP, PROMTOOL_HINT
            text = _console_text(r.command(steps, "metricsctl --format prometheus"))
            return _promtool_verdict(text)

        def qmp_snapshot(steps: list[StepResult]) -> tuple[str, str]:
            if target.qmp is None:
                return SKIP, "the target has no QMP monitor"
            values = Sampler(target, "qmp").sample()
            return _verdict([f"missing key {k}" for k in CONTRACT_KEYS if k not in values])

        r.run("json_snapshot", json_snapshot)
        r.run("simple_format", simple_format)
        r.run("prometheus_text", prometheus_text)
        r.run("prometheus_promtool", prometheus_promtool)
        r.run("qmp_snapshot", qmp_snapshot)
        workload, moving = SIS_WORKLOAD, SIS_MOVING
    else:
        reason = "the target has no SIS 'metrics' capability (sampled from /proc instead)"
        for name in ("json_snapshot", "simple_format", "prometheus_text", "prometheus_promtool",
                     "qmp_snapshot"):  # fmt: skip
            r.run(name, lambda steps: (SKIP, reason))

        def proc_mapping(steps: list[StepResult]) -> tuple[str, str]:
            values = sampler.sample()
            steps.append(StepResult(f"sample ({sampler.last_source})", str(values)))
            wanted = list(PROC_REQUIRED)
            if "network" in caps:
                wanted += ["net_rx_packets", "net_tx_packets", "net_rx_bytes", "net_tx_bytes"]
            if "disk" in caps:
                wanted += ["disk_read_ops", "disk_write_ops"]
            return _verdict([f"no value for {k}" for k in wanted if k not in values])

        r.run("proc_mapping", proc_mapping)
        workload, moving = PROC_WORKLOAD, PROC_MOVING
        if "disk" in caps:
            workload, moving = [*workload, PROC_DISK], (*moving, "disk_read_ops")

    def counters_move(steps: list[StepResult]) -> tuple[str, str]:
        before = sampler.sample()
        for command in workload:
            r.command(steps, command)
        after = sampler.sample()
        steps.append(StepResult("compare samples", f"before={before}\nafter={after}"))
        problems = [
            f"{k} did not grow ({before.get(k)} -> {after.get(k)})"
            for k in moving
            if not after.get(k, 0) > before.get(k, 0)
        ]
        if after.get("uptime_seconds", 0) < before.get("uptime_seconds", 0):
            problems.append("uptime_seconds went backwards")
        return _verdict(problems)

    def exporter_promtool(steps: list[StepResult]) -> tuple[str, str]:
        if not promtool_available():
            return SKIP, PROMTOOL_HINT
        text = _exporter_text(target.profile.name, target.preset, sampler.sample())
        steps.append(StepResult("render exporter /metrics", text))
        parsed = parse_prometheus_text(text)
        if parsed.problems:
            return _verdict([str(p) for p in parsed.problems])
        return _promtool_verdict(text)

    r.run("counters_move", counters_move)
    r.run("exporter_promtool", exporter_promtool)
    return results

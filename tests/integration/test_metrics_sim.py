"""Metrics of the reference kernel as a spawned process: QMP and console agree, the checks
pass, the exporter serves over HTTP and survives a dead target, and the CLI cleans up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from sis.cli.metrics import metrics_app
from sis.harness.metrics import (
    CONTRACT_KEYS,
    MetricsExporter,
    Sampler,
    metrics_checks,
    parse_prometheus_text,
    promtool_check,
    read_series,
)
from sis.harness.session import Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_qmp_and_console_snapshots_agree(sim):
    qmp, console = Sampler(sim, "qmp"), Sampler(sim, "console")
    a = qmp.sample()
    b = console.sample()
    c = qmp.sample()
    assert qmp.last_source == "qmp" and console.last_source == "console"
    assert set(a) == set(b) == set(c) and set(CONTRACT_KEYS) <= set(a)
    for key in ("heap_allocs", "vfs_writes", "ctx_switches", "syscalls_total", "uptime_seconds"):
        assert a[key] <= b[key] <= c[key], key  # counters never go down between samples


def test_kernel_prometheus_output_through_the_console(sim):
    text = sim.run("metricsctl --format prometheus").output.replace("\r\n", "\n") + "\n"
    parsed = parse_prometheus_text(text)
    assert parsed.ok, [str(p) for p in parsed.problems]
    report = promtool_check(text)
    if not report.available:
        pytest.skip("promtool not installed (apt-get install prometheus)")
    assert report.clean, report.findings or report.error


def test_metrics_checks_pass_on_the_reference_kernel(sim):
    results = metrics_checks(sim)
    verdicts = {r.test: r.verdict for r in results}
    assert set(verdicts) == {
        "json_snapshot", "simple_format", "prometheus_text", "prometheus_promtool",
        "qmp_snapshot", "counters_move", "exporter_promtool",
    }  # fmt: skip
    allowed = {"PASS", "SKIP"} if shutil.which("promtool") is None else {"PASS"}
    bad = {r.test: r.reason for r in results if r.verdict not in allowed}
    assert not bad, bad
    assert all(r.suite == "metrics" and r.target == "sis" for r in results)


def test_exporter_keeps_serving_when_a_target_dies(tmp_path: Path):
    targets = [Session("sim", workdir=tmp_path, name=f"sis-{i}") for i in (1, 2)]
    exporter = None
    try:
        for t in targets:
            t.start()
        exporter = MetricsExporter(
            [Sampler(t, label=t.name) for t in targets], cache_seconds=0, timeout=3
        )
        exporter.start("127.0.0.1", 0)
        v = scrape(exporter.url)
        for t in targets:
            labels = (("preset", "default"), ("target", t.name))
            assert v[("sis_target_up", labels)] == 1
            assert ("sis_heap_current_bytes", labels) in v
        targets[0].kill()
        started = time.monotonic()
        v = scrape(exporter.url)
        assert time.monotonic() - started < 5
        assert v[("sis_target_up", (("preset", "default"), ("target", "sis-1")))] == 0
        assert ("sis_heap_current_bytes", (("preset", "default"), ("target", "sis-1"))) not in v
        assert v[("sis_target_up", (("preset", "default"), ("target", "sis-2")))] == 1
        assert (
            v[("sis_target_scrape_errors_total", (("preset", "default"), ("target", "sis-1")))] >= 1
        )
    finally:
        if exporter is not None:
            exporter.stop()
        for t in targets:
            t.kill()


def test_collect_command_writes_a_series(tmp_path: Path):
    out = tmp_path / "series.jsonl"
    result = CliRunner().invoke(
        metrics_app,
        ["collect", "--target", "sim", "--interval", "0.2", "--duration", "1",
         "--out", str(out), "--workdir", str(tmp_path / "targets")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records, problems = read_series(out)
    assert not problems and len(records) == 5
    assert {r["source"] for r in records} == {"qmp"}
    assert all(set(CONTRACT_KEYS) <= set(r["metrics"]) for r in records)
    ts = [r["t"] for r in records]
    assert ts == sorted(ts) and 0.5 < ts[-1] - ts[0] < 3


def test_collect_command_refuses_an_unknown_target(tmp_path: Path):
    result = CliRunner().invoke(metrics_app, ["collect", "--target", "nosuch", "--out",
                                              str(tmp_path / "x.jsonl")])  # fmt: skip
    assert result.exit_code == 2
    assert "no such profile" in result.output and "Traceback" not in result.output


def test_serve_command_serves_then_powers_off_its_targets_on_sigterm(tmp_path: Path):
    port = free_port()
    code = "from sis.cli.metrics import metrics_app; metrics_app(prog_name='sis metrics')"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "-t", "sim", "-t", "sim",
         "--listen", f"127.0.0.1:{port}", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    kernels: list[int] = []
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 60
        while True:
            try:
                v = scrape(url)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the exporter never answered"
                time.sleep(0.2)
        for name in ("sis-1", "sis-2"):
            assert v[("sis_target_up", (("preset", "default"), ("target", name)))] == 1
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        kernels = [int(c) for c in children]
        assert len(kernels) == 2
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert "Stopping" in out.decode(), out.decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for pid in kernels:  # powered off, not orphaned
        assert not Path(f"/proc/{pid}").exists() or "Z" in _state(pid), pid


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except OSError:
        return "gone"

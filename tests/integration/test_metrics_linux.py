"""Metrics of a real Linux guest (linux-busybox under QEMU) through the /proc mapping."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sis.harness.images import ImageError, find_kernel
from sis.harness.metrics import (
    MetricsExporter,
    Sampler,
    collect_series,
    metrics_checks,
    read_series,
)
from sis.harness.metrics.export import prometheus_series
from sis.harness.metrics.parse import parse_prometheus_text
from sis.harness.session import Session
from sis.harness.targets import TargetError


def _missing() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
    try:
        find_kernel()
    except ImageError as e:
        return str(e)
    return None


_MISSING = _missing()
pytestmark = [pytest.mark.qemu, pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")]


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    target = Session("linux-busybox", workdir=tmp_path_factory.mktemp("linux-metrics"))
    try:
        target.start()
    except TargetError as e:
        target.kill()
        pytest.skip(f"cannot boot linux-busybox: {e}")
    yield target
    target.poweroff()


def test_proc_sample_has_the_shared_names(guest):
    s = Sampler(guest)
    assert s.source == "proc"
    v = s.sample()
    for key in ("uptime_seconds", "ctx_switches", "forks", "mem_total_bytes",
                "net_rx_bytes", "disk_read_ops"):  # fmt: skip
        assert key in v, key
    assert v["uptime_seconds"] >= 0 and v["mem_total_bytes"] > 64 << 20
    assert all(prometheus_series(k) is not None for k in v)


def test_metrics_checks_use_the_proc_mapping(guest):
    results = {r.test: r for r in metrics_checks(guest)}
    assert results["json_snapshot"].verdict == "SKIP"
    assert "metrics" in results["json_snapshot"].reason
    for name in ("proc_mapping", "counters_move"):
        assert results[name].verdict == "PASS", results[name].reason
    assert results["exporter_promtool"].verdict in ({"PASS", "SKIP"} if shutil.which("promtool") is None else {"PASS"})  # fmt: skip


def test_collect_and_export_a_linux_guest(guest, tmp_path: Path):
    out = tmp_path / "linux.jsonl"
    summary = collect_series(Sampler(guest), out, interval=0.3, duration=0.9)
    records, problems = read_series(out)
    assert summary.errors == 0 and not problems and len(records) == 3
    assert records[-1]["source"] == "proc"
    assert records[-1]["metrics"]["ctx_switches"] > records[0]["metrics"]["ctx_switches"]
    ex = MetricsExporter([guest])
    try:
        parsed = parse_prometheus_text(ex.render())
    finally:
        ex.stop()
    assert parsed.ok
    assert parsed.value("sis_target_up", target="linux-busybox") == 1
    assert parsed.value("sis_forks_total", target="linux-busybox", preset="default") > 0

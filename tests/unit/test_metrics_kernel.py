"""The kernel's metrics on an in-process kernel: counters move under real work, and the three
`metricsctl` formats agree with each other and with contract section 5."""

from __future__ import annotations

import json
import math
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kernelsim import run_program
from sis.harness.metrics.export import BY_KEY, HISTOGRAM, prometheus_series
from sis.harness.metrics.parse import parse_prometheus_text, parse_simple_metrics
from sis.kernel.file import O_CREAT, O_TRUNC, O_WRONLY
from sis.kernel.kmetrics import CONTRACT_KEYS, REGISTRY, prometheus, snapshot


async def capture(libc, argv: list[str]) -> str:
    """Run /bin/argv[0] with its stdout sent to a file; return what it printed."""
    path = "/capture.out"
    fd = await libc.open(path, O_WRONLY | O_CREAT | O_TRUNC)
    saved = await libc.dup(1)
    await libc.dup2(fd, 1)
    try:
        pid = await libc.spawn(argv[0], argv)
        _, status = await libc.wait(pid)
    finally:
        await libc.dup2(saved, 1)
        await libc.close(saved)
        await libc.close(fd)
    assert status == 0, f"{argv} exited {status}"
    rfd = await libc.open(path)
    data = await libc.read_all(rfd)
    await libc.close(rfd)
    return data.decode()


def run(body):
    results: dict = {}

    async def prog(libc, argv):
        await body(libc, results)
        return 0

    status, machine, out = run_program(prog, timeout=30)
    assert status == 0, out.text
    return results, machine


async def write_files(libc, n: int) -> None:
    for i in range(n):
        fd = await libc.open(f"/f{i}.txt", O_WRONLY | O_CREAT | O_TRUNC)
        await libc.write(fd, b"x" * 5000)
        await libc.close(fd)
    await libc.sync()


async def spawn_some(libc, n: int) -> None:
    for _ in range(n):
        await libc.wait(await libc.spawn("echo", ["echo", "-n", ""]))


def test_counters_move_under_a_workload():
    async def body(libc, r):
        k = libc._k
        r["start"] = snapshot(k)
        await write_files(libc, 5)
        r["after_writes"] = snapshot(k)
        await spawn_some(libc, 8)
        r["after_spawns"] = snapshot(k)

    r, _ = run(body)
    a, b, c = r["start"], r["after_writes"], r["after_spawns"]
    assert b["vfs_opens"] >= a["vfs_opens"] + 5
    assert b["vfs_writes"] >= a["vfs_writes"] + 5
    assert b["disk_write_ops"] > a["disk_write_ops"]  # sync put the data on the block device
    assert b["disk_write_bytes"] >= b["disk_write_ops"] * 4096 - a["disk_write_ops"] * 4096
    assert c["ctx_switch_count"] > b["ctx_switch_count"] + 8
    assert c["ctx_switches"] > b["ctx_switches"] + 8
    assert c["heap_allocs"] >= b["heap_allocs"] + 16  # a task struct and a stack per process
    assert c["heap_deallocs"] > b["heap_deallocs"]
    assert c["syscalls_total"] > a["syscalls_total"]
    assert c["ctx_switch_p50_ns"] > 0
    assert c["ctx_switch_p50_ns"] <= c["ctx_switch_p95_ns"] <= c["ctx_switch_p99_ns"]
    assert c["ctx_switch_p99_ns"] <= c["ctx_switch_max_ns"]


def test_reads_are_counted():
    async def body(libc, r):
        await write_files(libc, 1)
        r["before"] = snapshot(libc._k)["vfs_reads"]
        fd = await libc.open("/f0.txt")
        await libc.read_all(fd)
        await libc.close(fd)
        r["after"] = snapshot(libc._k)["vfs_reads"]

    r, _ = run(body)
    assert r["after"] > r["before"]


def test_json_format_has_every_contract_key_as_an_integer():
    async def body(libc, r):
        await spawn_some(libc, 3)
        r["json"] = await capture(libc, ["metricsctl", "--format", "json"])
        r["simple"] = await capture(libc, ["metricsctl", "--format", "simple"])

    r, _ = run(body)
    lines = [ln for ln in r["json"].splitlines() if ln.strip()]
    assert len(lines) == 1
    data = json.loads(lines[0])
    for key in CONTRACT_KEYS:
        assert type(data[key]) is int, key
    assert all(type(v) is int for v in data.values())
    simple = parse_simple_metrics(r["simple"])
    assert simple.ok, simple.summary()
    assert set(simple.values) == set(data)
    # Taken a moment apart: the keys agree, and a counter never goes down.
    assert simple.values["heap_allocs"] >= data["heap_allocs"]


def test_prometheus_format_parses_and_represents_every_json_key():
    async def body(libc, r):
        await write_files(libc, 1)
        await spawn_some(libc, 3)
        r["prom"] = await capture(libc, ["metricsctl", "--format", "prometheus"])
        r["json"] = json.loads(await capture(libc, ["metricsctl", "--format", "json"]))

    r, _ = run(body)
    text, data = r["prom"], r["json"]
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}  # fmt: skip
    for key in data:  # the contract's keys and every extra
        series = prometheus_series(key)
        assert series is not None, f"{key} has no Prometheus series"
        name, labels = series
        # A labelled family (per CPU, per class) represents its JSON sum.
        assert any(n == name and labels.items() <= dict(lb).items() for n, lb in samples), (
            f"{key} -> {name}{labels}"
        )
    assert set(CONTRACT_KEYS) <= set(data)
    # Histogram in seconds with the contract's units; counters end in _total.
    assert families["sis_context_switch_seconds"].type == "histogram"
    for f in families.values():
        assert f.name.startswith("sis_")
        if f.type == "counter":
            assert any(s.name.endswith("_total") for s in f.samples)
    p50 = samples[("sis_context_switch_percentile_seconds", (("percentile", "50"),))]
    assert math.isclose(p50, data["ctx_switch_p50_ns"] / 1e9, rel_tol=0.5)
    parsed = parse_prometheus_text(text)
    assert parsed.ok, [str(p) for p in parsed.problems]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")  # fmt: skip
def test_promtool_finds_nothing_in_the_kernel_output():
    async def body(libc, r):
        await spawn_some(libc, 2)
        r["prom"] = await capture(libc, ["metricsctl", "--format", "prometheus"])

    r, _ = run(body)
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=r["prom"].encode(), capture_output=True
    )
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
        proc.stdout + proc.stderr
    ).decode()


def test_metricsctl_off_stops_latency_timing_but_not_counting():
    async def body(libc, r):
        k = libc._k
        await capture(libc, ["metricsctl", "off"])
        r["status_off"] = await capture(libc, ["metricsctl", "status"])
        before = snapshot(k)
        await spawn_some(libc, 5)
        r["off"] = (before, snapshot(k))
        await capture(libc, ["metricsctl", "on"])
        before = snapshot(k)
        await spawn_some(libc, 5)
        r["on"] = (before, snapshot(k))
        r["prom_on"] = prometheus(k)

    r, _ = run(body)
    assert "off" in r["status_off"]
    before, after = r["off"]
    assert after["ctx_switch_count"] == before["ctx_switch_count"]
    assert after["ctx_switches"] > before["ctx_switches"]
    before, after = r["on"]
    assert after["ctx_switch_count"] > before["ctx_switch_count"]
    assert "sis_context_switch_timing_enabled 1" in r["prom_on"]


def test_kernel_and_exporter_use_the_same_names():
    """One dashboard for both: a JSON key the exporter maps has the kernel's name and type."""
    by_json = {m.json_key: m for m in REGISTRY.metrics if m.json_key}
    for key, fam in BY_KEY.items():
        if key in by_json:
            assert by_json[key].name == fam.name, key
            assert by_json[key].kind == fam.kind, key
    assert REGISTRY.find(HISTOGRAM).kind == "histogram"


def test_no_network_and_no_chaos_read_as_zero_or_absent():
    async def body(libc, r):
        r["snap"] = snapshot(libc._k)
        r["prom"] = prometheus(libc._k)

    r, _ = run(body)  # kernelsim boots with -nic none and without chaos
    assert r["snap"]["net_rx_packets"] == r["snap"]["net_tx_bytes"] == 0
    assert "sis_chaos_injected_faults_total" not in r["prom"]

"""The exporter with stand-in targets: labels, target_up, caching, timeouts, HTTP, promtool."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sis.harness.metrics.collect import CONTRACT_KEYS, SampleError, StaticSource
from sis.harness.metrics.export import MetricsExporter, histogram_buckets, prometheus_series
from sis.harness.metrics.parse import parse_prometheus_text

BUCKETS = {f"ctx_switch_bucket_le_{2**e}_ns": c for e, c in zip(range(8, 12), (0, 2, 5, 9), strict=True)}  # fmt: skip
SIS_SAMPLE = (
    {key: i + 1 for i, key in enumerate(CONTRACT_KEYS)}
    | BUCKETS
    | {
        "ctx_switch_p50_ns": 700,
        "ctx_switch_count": 10,
        "ctx_switch_sum_ns": 9000,
        "ctx_switch_max_ns": 5000,
        "ctx_switches": 12,
        "tasks": 3,
    }
)
LINUX_SAMPLE = {"uptime_seconds": 9, "ctx_switches": 1415, "forks": 103, "mem_total_bytes": 4096}


def values(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple]:
    return name, tuple(sorted(labels.items()))


class Flaky(StaticSource):
    """Counts samples; can be slowed down or made to raise anything."""

    def __init__(self, name: str, delay: float = 0.0, exc: BaseException | None = None) -> None:
        super().__init__(name, "default", dict(LINUX_SAMPLE))
        self.delay, self.exc, self.calls = delay, exc, 0

    def sample(self) -> dict[str, int]:
        self.calls += 1
        time.sleep(self.delay)
        if self.exc is not None:
            raise self.exc
        return super().sample()


def test_series_are_labelled_per_target_and_preset():
    ex = MetricsExporter([
        StaticSource("sis", "default", SIS_SAMPLE),
        StaticSource("sis", "lowmem", SIS_SAMPLE),
        StaticSource("linux-busybox", "default", LINUX_SAMPLE),
    ])  # fmt: skip
    try:
        v = values(ex.render())
    finally:
        ex.stop()
    for preset in ("default", "lowmem"):
        assert v[key("sis_target_up", target="sis", preset=preset)] == 1
        assert v[key("sis_heap_allocations_total", target="sis", preset=preset)] == 4
        assert v[key("sis_uptime_seconds", target="sis", preset=preset)] == 19
    lb = {"target": "linux-busybox", "preset": "default"}
    assert v[key("sis_context_switches_total", **lb)] == 1415
    assert v[key("sis_forks_total", **lb)] == 103
    assert key("sis_heap_allocations_total", **lb) not in v  # no value, no series
    sis = {"target": "sis", "preset": "default"}
    assert v[key("sis_context_switch_seconds_bucket", le="2.048e-06", **sis)] == 9
    assert v[key("sis_context_switch_seconds_bucket", le="+Inf", **sis)] == 10
    assert v[key("sis_context_switch_seconds_sum", **sis)] == pytest.approx(9e-6)
    assert v[key("sis_context_switch_percentile_seconds", percentile="50", **sis)] == 7e-7


def test_every_contract_key_has_a_series_in_the_exporter():
    ex = MetricsExporter([StaticSource("sis", "default", SIS_SAMPLE)])
    try:
        parsed = parse_prometheus_text(ex.render())
    finally:
        ex.stop()
    assert parsed.ok, [str(p) for p in parsed.problems]
    for k in [*CONTRACT_KEYS, *SIS_SAMPLE]:
        series = prometheus_series(k)
        assert series is not None, k
        name, labels = series
        assert parsed.value(name, target="sis", **labels) is not None, k


def test_histogram_is_left_out_when_buckets_are_inconsistent():
    assert histogram_buckets(SIS_SAMPLE) is not None
    assert histogram_buckets(SIS_SAMPLE | {"ctx_switch_bucket_le_512_ns": 7}) is None
    assert histogram_buckets(SIS_SAMPLE | {"ctx_switch_count": 1}) is None
    assert histogram_buckets(LINUX_SAMPLE) is None


def test_a_dead_or_broken_target_is_down_and_the_others_are_served():
    dead = StaticSource("dead", "default", dict(LINUX_SAMPLE), up=False)
    broken = Flaky("broken", exc=RuntimeError("console wedged"))
    wrong = Flaky("wrong", exc=SampleError("wrong: garbage"))
    ok = StaticSource("ok", "default", dict(LINUX_SAMPLE))
    ex = MetricsExporter([dead, broken, wrong, ok], cache_seconds=0)
    try:
        for _ in range(2):
            v = values(ex.render())
            for name in ("dead", "broken", "wrong"):
                assert v[key("sis_target_up", target=name, preset="default")] == 0
                assert key("sis_uptime_seconds", target=name, preset="default") not in v
            assert v[key("sis_target_up", target="ok", preset="default")] == 1
            assert v[key("sis_uptime_seconds", target="ok", preset="default")] == 9
        assert v[key("sis_target_scrape_errors_total", target="broken", preset="default")] == 2
        assert "RuntimeError: console wedged" in ex.collector.last_errors()["broken"]
        dead.up = True  # it came back
        v = values(ex.render())
        assert v[key("sis_target_up", target="dead", preset="default")] == 1
    finally:
        ex.stop()


def test_a_slow_target_does_not_hold_the_scrape():
    slow = Flaky("slow", delay=1.0)
    ex = MetricsExporter([slow, StaticSource("fast", "default", LINUX_SAMPLE)], timeout=0.2)
    try:
        started = time.monotonic()
        v = values(ex.render())
        assert time.monotonic() - started < 0.9
        assert v[key("sis_target_up", target="slow", preset="default")] == 0
        assert v[key("sis_target_up", target="fast", preset="default")] == 1
        time.sleep(1.0)  # the sample in flight lands in the cache for the next scrape
        v = values(ex.render())
        assert v[key("sis_target_up", target="slow", preset="default")] == 1
        assert slow.calls == 1
    finally:
        ex.stop()


def test_scrapes_within_the_cache_time_share_one_sample():
    src = Flaky("cached")
    ex = MetricsExporter([src], cache_seconds=30)
    try:
        for _ in range(5):
            ex.render()
        assert src.calls == 1
    finally:
        ex.stop()
    src2 = Flaky("uncached")
    ex = MetricsExporter([src2], cache_seconds=0)
    try:
        for _ in range(3):
            ex.render()
        assert src2.calls == 3
    finally:
        ex.stop()


def test_two_targets_with_one_name_are_refused():
    with pytest.raises(ValueError, match="same name"):
        MetricsExporter([StaticSource("a"), StaticSource("a")])


def test_http_on_a_free_loopback_port():
    ex = MetricsExporter([StaticSource("sis", "default", SIS_SAMPLE)])
    host, port = ex.start("127.0.0.1", 0)
    try:
        assert host == "127.0.0.1" and port > 0
        threads = [threading.Thread(target=lambda: urllib.request.urlopen(ex.url, timeout=5).read())
                   for _ in range(4)]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with urllib.request.urlopen(ex.url, timeout=5) as r:
            assert r.headers["Content-Type"].startswith("text/plain")
            body = r.read().decode()
        v = values(body)
        assert v[key("sis_target_up", target="sis", preset="default")] == 1
        assert v[key("sis_exporter_scrape_duration_seconds_count")] >= 4
    finally:
        ex.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)


def test_a_busy_port_is_one_clear_error():
    first = MetricsExporter([StaticSource("a")])
    _, port = first.start("127.0.0.1", 0)
    second = MetricsExporter([StaticSource("b")])
    try:
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            second.start("127.0.0.1", port)
    finally:
        first.stop()
        second.stop()


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (apt-get install prometheus)")  # fmt: skip
def test_promtool_finds_nothing_in_the_exporter_output():
    ex = MetricsExporter([
        StaticSource("sis", "default", SIS_SAMPLE),
        StaticSource("linux-busybox", "default", LINUX_SAMPLE),
        StaticSource("gone", "default", {}, up=False),
    ])  # fmt: skip
    try:
        ex.render()  # so the scrape-duration summary has observations
        text = ex.render()
    finally:
        ex.stop()
    proc = subprocess.run(
        ["promtool", "check", "metrics"], input=text.encode(), capture_output=True
    )
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
        proc.stdout + proc.stderr
    ).decode()

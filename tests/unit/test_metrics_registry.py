"""The kernel's metrics registry and latency histogram, without a kernel."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from sis.kernel.metrics import (
    BOUNDS_NS,
    EXPORT_BOUNDS_NS,
    LatencyHistogram,
    MetricError,
    Registry,
    format_value,
)


def test_export_bounds_are_exact_internal_bounds():
    assert set(EXPORT_BOUNDS_NS) <= set(BOUNDS_NS)
    assert list(EXPORT_BOUNDS_NS) == sorted(EXPORT_BOUNDS_NS)


@given(st.lists(st.integers(min_value=0, max_value=10**11), max_size=200))
def test_cumulative_buckets_count_exactly_what_is_below_each_bound(values):
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    for bound, seen in h.cumulative():
        assert seen == sum(1 for v in values if v <= bound)
    assert h.count == len(values) and h.sum_ns == sum(values)


@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=200))
def test_percentiles_are_ordered_and_bounded(values):
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    p50, p95, p99 = (h.percentile(q) for q in (50, 95, 99))
    assert 0 < p50 <= p95 <= p99 <= max(values)
    # The bucket's upper bound is at most 2^(1/4) above the true value (log-linear buckets).
    true_p50 = sorted(values)[max(0, -(-len(values) * 50 // 100) - 1)]
    assert true_p50 <= p50 * 1.0001 or p50 == max(values)
    assert p50 <= max(true_p50 * 1.19 + 1, BOUNDS_NS[0])


def test_empty_histogram_reads_zero():
    h = LatencyHistogram()
    assert h.percentile(99) == 0 and h.count == 0
    assert all(seen == 0 for _, seen in h.cumulative())


def reg() -> Registry[dict]:
    return Registry(prefix="t_")


@pytest.mark.parametrize(
    "kind,name,kw,why",
    [
        ("counter", "t_requests", {}, "_total"),
        ("gauge", "t_requests_total", {}, "_total"),
        ("gauge", "t_latency_milliseconds", {}, "non-base unit"),
        ("gauge", "t_size", {"unit": "kilobytes"}, "not a base unit"),
        ("gauge", "t_size", {"unit": "bytes"}, "must end in _bytes"),
        ("gauge", "x_size_bytes", {"unit": "bytes"}, "start with"),
        ("gauge", "t_size-bytes", {}, "names are"),
        ("gauge", "t_queue_count", {}, "reserved suffix"),
        ("gauge", "t_temp", {"labels": ("le",)}, "bad label"),
        ("gauge", "t_temp", {"labels": ("__x",)}, "bad label"),
        ("histogram", "t_wait_seconds", {"unit": "seconds", "labels": ("cpu",)}, "labelled"),
    ],
)
def test_definitions_that_would_break_conventions_are_refused(kind, name, kw, why):
    r = reg()
    with pytest.raises(MetricError, match=why):
        getattr(r, kind)(name, "help", lambda s: 0, **kw)


def test_duplicates_are_refused():
    r = reg()
    r.gauge("t_a", "a", lambda s: 1, json_key="a")
    with pytest.raises(MetricError, match="twice"):
        r.gauge("t_a", "again", lambda s: 1)
    with pytest.raises(MetricError, match="already taken"):
        r.gauge("t_b", "b", lambda s: 1, json_key="a")


def test_snapshot_and_exposition_come_from_the_same_readers():
    h = LatencyHistogram()
    for ns in (1000, 2000, 3000, 10**6):
        h.record(ns)
    r = reg()
    r.counter("t_ops_total", "Ops.", lambda s: s["ops"], json_key="ops")
    r.gauge("t_used_bytes", "Used.", lambda s: s["used"], unit="bytes", json_key="used")
    r.gauge("t_up_seconds", "Up.", lambda s: 1.5, unit="seconds", json_key="up")
    r.counter("t_by_kind_total", 'Per "kind"\\ok\nnext.', lambda s: {("a\"b",): 2, ("c\n",): 3},
              labels=("kind",), json_key="by_kind")  # fmt: skip
    r.counter("t_empty_total", "Never has series.", lambda s: {}, labels=("kind",))
    r.histogram("t_wait_seconds", "Wait.", lambda s: h, unit="seconds", json_key="wait",
                scale=1e-9)  # fmt: skip
    state = {"ops": 7, "used": 4096}
    snap = r.snapshot(state)
    assert snap["ops"] == 7 and snap["used"] == 4096 and snap["up"] == 1 and snap["by_kind"] == 5
    assert snap["wait_count"] == 4 and snap["wait_sum_ns"] == 1_006_000
    assert snap["wait_p99_ns"] >= 10**6 * 0.99
    assert list(snap)[-1].startswith("wait_bucket_le_")  # buckets come last
    text = r.exposition(state)
    assert "t_empty_total" not in text
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    assert fams["t_ops"].type == "counter"  # the parser strips _total from counter families
    kinds = {s.labels["kind"]: s.value for s in fams["t_by_kind"].samples}
    assert kinds == {'a"b': 2.0, "c\n": 3.0}
    wait = fams["t_wait_seconds"]
    assert wait.type == "histogram"
    count = [s.value for s in wait.samples if s.name == "t_wait_seconds_count"]
    assert count == [4.0]
    inf = [s.value for s in wait.samples if s.labels.get("le") == "+Inf"]
    assert inf == [4.0]


@pytest.mark.parametrize(
    "value,text",
    [(3, "3"), (2.0, "2"), (1e-9 * 14241, "1.4241e-05"), (float("inf"), "+Inf"), (True, "1")],
)
def test_values_are_written_without_noise(value, text):
    assert format_value(value) == text

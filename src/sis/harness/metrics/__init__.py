"""Kernel metrics from outside: sample a target (QMP `x-sis-metrics`, the console, or /proc
on a Linux guest), write JSONL time series, export live metrics to Prometheus, and check a
target's metrics for `sis check`.

    collect.py  sources, samplers, the /proc mapping, the JSONL series
    parse.py    tolerant parsers for JSON, key=value and Prometheus text (problems by line)
    export.py   the Prometheus exporter (prometheus_client custom collector + HTTP server)
    checks.py   metrics_checks(session) and promtool: the `metrics` phase of `sis check`
"""

from sis.harness.metrics.checks import metrics_checks, promtool_check
from sis.harness.metrics.collect import (
    CONTRACT_KEYS,
    SampleError,
    Sampler,
    StaticSource,
    collect_series,
    parse_proc,
    read_series,
)
from sis.harness.metrics.export import MetricsExporter
from sis.harness.metrics.parse import (
    parse_json_metrics,
    parse_prometheus_text,
    parse_simple_metrics,
)

__all__ = [
    "CONTRACT_KEYS",
    "MetricsExporter",
    "SampleError",
    "Sampler",
    "StaticSource",
    "collect_series",
    "metrics_checks",
    "parse_json_metrics",
    "parse_prometheus_text",
    "parse_proc",
    "parse_simple_metrics",
    "promtool_check",
    "read_series",
]

"""Contract section 5: the metrics snapshot every SIS kernel reports."""

from __future__ import annotations

# The keys `metricsctl --format json` prints (integers), in the contract's order.
CONTRACT_KEYS: tuple[str, ...] = (
    "ctx_switch_p50_ns", "ctx_switch_p95_ns", "ctx_switch_p99_ns",
    "heap_allocs", "heap_deallocs", "heap_current_bytes", "heap_peak_bytes", "heap_failures",
    "net_rx_packets", "net_tx_packets", "net_rx_bytes", "net_tx_bytes",
    "vfs_opens", "vfs_reads", "vfs_writes", "disk_read_ops", "disk_write_ops",
    "panic_count", "uptime_seconds",
)  # fmt: skip

# Every Prometheus metric name of a SIS kernel starts with this.
PROMETHEUS_PREFIX = "sis_"

# The commands that print a snapshot, and the QMP command that returns one.
JSON_COMMAND = "metricsctl --format json"
PROMETHEUS_COMMAND = "metricsctl --format prometheus"
QMP_METRICS_COMMAND = "x-sis-metrics"

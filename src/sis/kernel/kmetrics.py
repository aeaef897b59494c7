"""The kernel's metrics (contract section 5): one registry whose readers go to the counter
where each thing is counted — the scheduler's context-switch histogram, the heap, the NICs,
the VFS, the root block device, the panic handler, the syscall validator, the clock.

`snapshot(k)` is the flat JSON view (`metricsctl --format json`, QMP `x-sis-metrics`);
`prometheus(k)` the text exposition format (`metricsctl --format prometheus`). Both come from
`REGISTRY`, so a metric added here appears in both."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sis.contract.metrics import CONTRACT_KEYS, PROMETHEUS_PREFIX
from sis.kernel.metrics import QUANTILES, Registry

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel

NS = 1e-9
REGISTRY: Registry[Kernel] = Registry(prefix=PROMETHEUS_PREFIX)


def _net(k: Kernel, key: str) -> int:
    return k.net.totals().get(key, 0) if k.net is not None else 0


def _disk(k: Kernel, field: str) -> int:
    disk = k.machine.disk
    return getattr(disk.stats, field) if disk is not None else 0


def _percentiles(k: Kernel) -> dict[tuple[str, ...], int]:
    h = k.sched.ctx_switch
    return {(str(q),): h.percentile(q) for q in QUANTILES}


def _chaos(k: Kernel) -> dict[tuple[str, ...], int]:
    if k.chaos is None:
        return {}
    info: dict[str, Any] = k.chaos.info()
    return {(kind,): v for kind, v in info.items() if kind not in ("mode", "rate", "seed")}


def _define(r: Registry[Kernel]) -> None:
    # Scheduler. Timed on the CPU loops' real switches (while `metricsctl on`).
    r.histogram(
        "sis_context_switch_seconds",
        "Context-switch latency measured on the scheduler's real switches.",
        lambda k: k.sched.ctx_switch, unit="seconds", json_key="ctx_switch", scale=NS,
    )  # fmt: skip
    # The JSON snapshot's ctx_switch_pNN_ns, exactly (the exported buckets are coarser). Not a
    # `quantile` label: promtool reserves that for summaries.
    r.gauge(
        "sis_context_switch_percentile_seconds",
        "Context-switch latency percentiles (upper bound of the fine bucket holding them).",
        _percentiles, unit="seconds", labels=("percentile",), scale=NS,
    )  # fmt: skip
    r.gauge(
        "sis_context_switch_max_seconds",
        "Longest context switch timed since boot.",
        lambda k: k.sched.ctx_switch.max_ns, unit="seconds", scale=NS,
    )  # fmt: skip
    r.gauge(
        "sis_context_switch_timing_enabled",
        "1 while context switches are timed (metricsctl on), 0 while they are not.",
        lambda k: int(k.sched.timing_enabled),
    )
    r.counter(
        "sis_context_switches_total",
        "Tasks dispatched onto each CPU (every switch, timed or not).",
        lambda k: {(str(c.index),): c.dispatches for c in k.sched.cpus},
        labels=("cpu",), json_key="ctx_switches",
    )  # fmt: skip
    r.gauge("sis_tasks", "Tasks that exist (running, sleeping or zombie).",
            lambda k: len(k.sched.tasks), json_key="tasks")  # fmt: skip
    r.counter(
        "sis_cpu_busy_seconds_total", "Time each CPU spent running tasks.",
        lambda k: {(str(c.index),): c.busy_ns for c in k.sched.cpus},
        unit="seconds", labels=("cpu",), scale=NS,
    )  # fmt: skip

    # Kernel heap.
    r.counter("sis_heap_allocations_total", "Kernel heap allocations.",
              lambda k: k.heap.stats.allocs, json_key="heap_allocs")  # fmt: skip
    r.counter("sis_heap_deallocations_total", "Kernel heap frees.",
              lambda k: k.heap.stats.deallocs, json_key="heap_deallocs")  # fmt: skip
    r.counter("sis_heap_allocation_failures_total", "Kernel heap allocations that failed.",
              lambda k: k.heap.stats.failures, json_key="heap_failures")  # fmt: skip
    r.gauge("sis_heap_current_bytes", "Kernel heap bytes in use.",
            lambda k: k.heap.stats.current_bytes, unit="bytes",
            json_key="heap_current_bytes")  # fmt: skip
    r.gauge("sis_heap_peak_bytes", "Most kernel heap bytes ever in use.",
            lambda k: k.heap.stats.peak_bytes, unit="bytes", json_key="heap_peak_bytes")  # fmt: skip
    r.gauge("sis_heap_size_bytes", "Size of the kernel heap arena.",
            lambda k: k.heap.size, unit="bytes", json_key="heap_size_bytes")  # fmt: skip

    # Network: totals over every interface (loopback included), from the NIC counters.
    for key, name, what in (
        ("net_rx_packets", "sis_net_receive_packets_total", "Packets received"),
        ("net_tx_packets", "sis_net_transmit_packets_total", "Packets sent"),
        ("net_rx_bytes", "sis_net_receive_bytes_total", "Bytes received"),
        ("net_tx_bytes", "sis_net_transmit_bytes_total", "Bytes sent"),
        ("net_drops", "sis_net_drops_total", "Packets dropped"),
        ("net_errors", "sis_net_errors_total", "Packet errors"),
    ):
        field = key.removeprefix("net_")
        r.counter(
            name, f"{what} on all interfaces.", lambda k, f=field: _net(k, f),
            unit="bytes" if key.endswith("_bytes") else "", json_key=key,
        )  # fmt: skip

    # VFS: successful open/read/write syscalls.
    r.counter("sis_vfs_opens_total", "Files opened.", lambda k: k.vfs["opens"],
              json_key="vfs_opens")  # fmt: skip
    r.counter("sis_vfs_reads_total", "read() calls that succeeded.", lambda k: k.vfs["reads"],
              json_key="vfs_reads")  # fmt: skip
    r.counter("sis_vfs_writes_total", "write() calls that succeeded.", lambda k: k.vfs["writes"],
              json_key="vfs_writes")  # fmt: skip

    # Root block device (the machine's, so counts span reboots of the same process).
    for key, name, help_text, field, unit in (
        ("disk_read_ops", "sis_disk_read_operations_total", "Block reads from the root disk.",
         "reads", ""),
        ("disk_write_ops", "sis_disk_write_operations_total", "Block writes to the root disk.",
         "writes", ""),
        ("disk_read_bytes", "sis_disk_read_bytes_total", "Bytes read from the root disk.",
         "bytes_read", "bytes"),
        ("disk_write_bytes", "sis_disk_written_bytes_total", "Bytes written to the root disk.",
         "bytes_written", "bytes"),
        ("disk_flushes", "sis_disk_flushes_total", "Cache flushes of the root disk.",
         "flushes", ""),
        ("disk_errors", "sis_disk_errors_total", "Failed root-disk operations.", "errors", ""),
    ):  # fmt: skip
        r.counter(name, help_text, lambda k, f=field: _disk(k, f), unit=unit, json_key=key)

    # Faults and life.
    r.counter("sis_panics_total", "Kernel panics since the machine started.",
              lambda k: k.machine.panic_count, json_key="panic_count")  # fmt: skip
    r.gauge("sis_uptime_seconds", "Seconds since boot.", lambda k: k.uptime_s(),
            unit="seconds", json_key="uptime_seconds")  # fmt: skip
    r.counter("sis_syscalls_total", "Syscalls entered.", lambda k: k.syscalls,
              json_key="syscalls_total")  # fmt: skip
    r.counter(
        "sis_syscall_validation_checks_total", "Syscall argument checks by class.",
        lambda k: {(c,): v["checks"] for c, v in k.validator.snapshot().items()},
        labels=("class",),
    )  # fmt: skip
    r.counter(
        "sis_syscall_validation_rejections_total", "Syscall arguments rejected by class.",
        lambda k: {(c,): v["rejections"] for c, v in k.validator.snapshot().items()},
        labels=("class",), json_key="syscall_rejections",
    )  # fmt: skip
    r.counter("sis_chaos_injected_faults_total", "Faults injected by chaos mode, by kind.",
              _chaos, labels=("kind",))  # fmt: skip


_define(REGISTRY)


def snapshot(k: Kernel) -> dict[str, Any]:
    """Every JSON key as an integer: the contract's, then extras (see `Registry.snapshot`)."""
    return REGISTRY.snapshot(k)


def prometheus(k: Kernel) -> str:
    """Text exposition format 0.0.4, clean under `promtool check metrics`."""
    return REGISTRY.exposition(k)


__all__ = ["CONTRACT_KEYS", "REGISTRY", "prometheus", "snapshot"]

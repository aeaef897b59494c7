"""The kernel's metrics snapshot (contract section 5): every value read from the counter
where it is counted — scheduler, heap, NIC, VFS, block device, panics, uptime, syscalls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sis.kernel.kernel import Kernel


def snapshot(k: Kernel) -> dict[str, Any]:
    h = k.heap.stats
    cs = k.sched.ctx_switch
    disk = k.machine.disk.stats if k.machine.disk is not None else None
    net = k.net.totals() if k.net is not None else {}
    out: dict[str, Any] = {
        "ctx_switch_p50_ns": cs.percentile(50),
        "ctx_switch_p95_ns": cs.percentile(95),
        "ctx_switch_p99_ns": cs.percentile(99),
        "ctx_switch_count": cs.count,
        "heap_allocs": h.allocs,
        "heap_deallocs": h.deallocs,
        "heap_current_bytes": h.current_bytes,
        "heap_peak_bytes": h.peak_bytes,
        "heap_failures": h.failures,
        "net_rx_packets": net.get("rx_packets", 0),
        "net_tx_packets": net.get("tx_packets", 0),
        "net_rx_bytes": net.get("rx_bytes", 0),
        "net_tx_bytes": net.get("tx_bytes", 0),
        "vfs_opens": k.vfs["opens"],
        "vfs_reads": k.vfs["reads"],
        "vfs_writes": k.vfs["writes"],
        "disk_read_ops": disk.reads if disk else 0,
        "disk_write_ops": disk.writes if disk else 0,
        "panic_count": k.panic_count,
        "uptime_seconds": int(k.uptime_s()),
        "syscalls_total": k.syscalls,
        "tasks": len(k.sched.tasks),
    }
    return out


# JSON key, Prometheus type, Prometheus name, help
_PROM: list[tuple[str, str, str, str]] = [
    ("heap_allocs", "counter", "sis_heap_allocations_total", "Kernel heap allocations."),
    ("heap_deallocs", "counter", "sis_heap_deallocations_total", "Kernel heap frees."),
    (
        "heap_failures",
        "counter",
        "sis_heap_allocation_failures_total",
        "Kernel heap allocations that failed.",
    ),
    ("heap_current_bytes", "gauge", "sis_heap_current_bytes", "Kernel heap bytes in use."),
    ("heap_peak_bytes", "gauge", "sis_heap_peak_bytes", "Most kernel heap bytes ever in use."),
    (
        "net_rx_packets",
        "counter",
        "sis_net_receive_packets_total",
        "Packets received on all interfaces.",
    ),
    (
        "net_tx_packets",
        "counter",
        "sis_net_transmit_packets_total",
        "Packets sent on all interfaces.",
    ),
    ("net_rx_bytes", "counter", "sis_net_receive_bytes_total", "Bytes received on all interfaces."),
    ("net_tx_bytes", "counter", "sis_net_transmit_bytes_total", "Bytes sent on all interfaces."),
    ("vfs_opens", "counter", "sis_vfs_opens_total", "Files opened."),
    ("vfs_reads", "counter", "sis_vfs_reads_total", "read() calls that succeeded."),
    ("vfs_writes", "counter", "sis_vfs_writes_total", "write() calls that succeeded."),
    (
        "disk_read_ops",
        "counter",
        "sis_disk_read_operations_total",
        "Block reads from the root disk.",
    ),
    (
        "disk_write_ops",
        "counter",
        "sis_disk_write_operations_total",
        "Block writes to the root disk.",
    ),
    ("panic_count", "counter", "sis_panics_total", "Kernel panics since the machine started."),
    ("uptime_seconds", "gauge", "sis_uptime_seconds", "Seconds since boot."),
    ("syscalls_total", "counter", "sis_syscalls_total", "Syscalls entered."),
    ("tasks", "gauge", "sis_tasks", "Tasks that exist (running, sleeping or zombie)."),
]


def prometheus(k: Kernel) -> str:
    """Text exposition format 0.0.4; context-switch latency as a histogram in seconds."""
    snap = snapshot(k)
    out: list[str] = []
    for key, kind, name, help_text in _PROM:
        out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {snap[key]}"]
    hist = k.sched.ctx_switch
    name = "sis_context_switch_seconds"
    out += [
        f"# HELP {name} Context-switch latency measured on the scheduler's real switches.",
        f"# TYPE {name} histogram",
    ]
    for bound_ns, count in hist.buckets():
        out.append(f'{name}_bucket{{le="{bound_ns / 1e9:.9g}"}} {count}')
    out += [
        f'{name}_bucket{{le="+Inf"}} {hist.count}',
        f"{name}_sum {hist.sum_ns / 1e9:.9g}",
        f"{name}_count {hist.count}",
    ]
    for q in (50, 95, 99):
        g = f"sis_context_switch_p{q}_seconds"
        out += [
            f"# HELP {g} Context-switch latency, {q}th percentile.",
            f"# TYPE {g} gauge",
            f"{g} {hist.percentile(q) / 1e9:.9g}",
        ]
    v = k.validator.snapshot()
    out += [
        "# HELP sis_syscall_validation_checks_total Syscall argument checks by class.",
        "# TYPE sis_syscall_validation_checks_total counter",
    ]
    out += [f'sis_syscall_validation_checks_total{{class="{c}"}} {v[c]["checks"]}' for c in v]
    out += [
        "# HELP sis_syscall_validation_rejections_total Syscall arguments rejected by class.",
        "# TYPE sis_syscall_validation_rejections_total counter",
    ]
    out += [
        f'sis_syscall_validation_rejections_total{{class="{c}"}} {v[c]["rejections"]}' for c in v
    ]
    return "\n".join(out) + "\n"

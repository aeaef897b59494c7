"""The Prometheus exporter: live metrics of running targets, sampled at scrape time.

`MetricsExporter(targets).start(host, port)` serves /metrics with prometheus_client. A custom
collector samples every target when Prometheus scrapes (in parallel, each answer cached for a
short while so several scrapers do not multiply the load), labels every series with `target`
and `preset`, and reports `sis_target_up` 0 for a target that died or did not answer in time
while it goes on serving the others.

Names follow the SIS kernel's own exposition (`metricsctl --format prometheus`), so one
dashboard fits both; the flat JSON keys a sample has are mapped through `FAMILIES`.

The HTTP server holds at most `MAX_CONNECTIONS` connections at once (one thread each) and drops
a client that sends nothing for `CONNECTION_TIMEOUT` seconds: idle or slow connections cannot
pile up threads."""

from __future__ import annotations

import re
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Summary, generate_latest, make_wsgi_app
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.utils import floatToGoString

from sis.harness.metrics.collect import MetricSource, SampleError, Sampler

LABELS = ["target", "preset"]
NS_PER_S = 1_000_000_000
#: Connections served at once; one more is answered 503 and closed.
MAX_CONNECTIONS = 32
#: Seconds a connection may stay silent (before or within its request) before it is closed.
CONNECTION_TIMEOUT = 10.0


@dataclass(frozen=True)
class Family:
    key: str  # the JSON key of a sample
    name: str  # the Prometheus family
    kind: str  # counter or gauge
    help: str
    per_unit: int = 1  # raw units per base unit (ns: 10**9); division keeps 700 ns = 7e-07


def _c(key: str, name: str, help: str) -> Family:
    return Family(key, name, "counter", help)


def _g(key: str, name: str, help: str, per_unit: int = 1) -> Family:
    return Family(key, name, "gauge", help, per_unit)


FAMILIES: tuple[Family, ...] = (
    # Contract section 5 (and the same meaning from /proc where it exists).
    _c("heap_allocs", "sis_heap_allocations_total", "Kernel heap allocations."),
    _c("heap_deallocs", "sis_heap_deallocations_total", "Kernel heap frees."),
    _c("heap_failures", "sis_heap_allocation_failures_total", "Kernel heap allocations that failed."),
    _g("heap_current_bytes", "sis_heap_current_bytes", "Kernel heap bytes in use."),
    _g("heap_peak_bytes", "sis_heap_peak_bytes", "Most kernel heap bytes ever in use."),
    _c("net_rx_packets", "sis_net_receive_packets_total", "Packets received on all interfaces."),
    _c("net_tx_packets", "sis_net_transmit_packets_total", "Packets sent on all interfaces."),
    _c("net_rx_bytes", "sis_net_receive_bytes_total", "Bytes received on all interfaces."),
    _c("net_tx_bytes", "sis_net_transmit_bytes_total", "Bytes sent on all interfaces."),
    _c("vfs_opens", "sis_vfs_opens_total", "Files opened."),
    _c("vfs_reads", "sis_vfs_reads_total", "read() calls that succeeded."),
    _c("vfs_writes", "sis_vfs_writes_total", "write() calls that succeeded."),
    _c("disk_read_ops", "sis_disk_read_operations_total", "Reads from the disk(s)."),
    _c("disk_write_ops", "sis_disk_write_operations_total", "Writes to the disk(s)."),
    _c("panic_count", "sis_panics_total", "Kernel panics since the machine started."),
    _g("uptime_seconds", "sis_uptime_seconds", "Seconds since boot."),
    # Extras of the SIS kernel, most of them also read from /proc on Linux.
    _c("ctx_switches", "sis_context_switches_total", "Context switches since boot."),
    _g("ctx_switch_max_ns", "sis_context_switch_max_seconds", "Longest context switch timed.", NS_PER_S),
    _g("heap_size_bytes", "sis_heap_size_bytes", "Size of the kernel heap arena."),
    _c("net_drops", "sis_net_drops_total", "Packets dropped on all interfaces."),
    _c("net_errors", "sis_net_errors_total", "Packet errors on all interfaces."),
    _c("disk_read_bytes", "sis_disk_read_bytes_total", "Bytes read from the disk(s)."),
    _c("disk_write_bytes", "sis_disk_written_bytes_total", "Bytes written to the disk(s)."),
    _c("disk_flushes", "sis_disk_flushes_total", "Cache flushes of the disk(s)."),
    _c("disk_errors", "sis_disk_errors_total", "Failed disk operations."),
    _c("syscalls_total", "sis_syscalls_total", "Syscalls entered."),
    _c("syscall_rejections", "sis_syscall_validation_rejections_total", "Syscall arguments rejected."),
    _g("tasks", "sis_tasks", "Tasks that exist (running, sleeping or zombie)."),
    # Linux, from /proc.
    _c("forks", "sis_forks_total", "Processes and threads created since boot."),
    _c("interrupts", "sis_interrupts_total", "Interrupts serviced since boot."),
    _g("tasks_running", "sis_tasks_running", "Tasks runnable right now."),
    _g("tasks_blocked", "sis_tasks_blocked", "Tasks blocked on I/O right now."),
    _g("mem_total_bytes", "sis_memory_total_bytes", "Usable RAM."),
    _g("mem_free_bytes", "sis_memory_free_bytes", "RAM not used at all."),
    _g("mem_available_bytes", "sis_memory_available_bytes", "RAM available without swapping."),
    _g("mem_slab_bytes", "sis_memory_slab_bytes", "Kernel slab allocator memory."),
    _g("mem_slab_unreclaimable_bytes", "sis_memory_slab_unreclaimable_bytes",
       "Kernel slab memory that cannot be reclaimed (SUnreclaim)."),
)  # fmt: skip
BY_KEY = {f.key: f for f in FAMILIES}
# Contract keys carried by series other than FAMILIES: the context-switch histogram
# (ctx_switch_count, _sum_ns, _bucket_le_*_ns) and the percentile gauge (ctx_switch_pNN_ns).
HISTOGRAM = "sis_context_switch_seconds"
PERCENTILES = "sis_context_switch_percentile_seconds"
_BUCKET_RX = re.compile(r"^ctx_switch_bucket_le_(\d+)_ns$")
_PCT_RX = re.compile(r"^ctx_switch_p(\d+)_ns$")


def prometheus_series(key: str) -> tuple[str, dict[str, str]] | None:
    """The series that represents a JSON key: (sample name, labels), or None if unmapped."""
    if key in BY_KEY:
        return BY_KEY[key].name, {}
    if m := _PCT_RX.match(key):
        return PERCENTILES, {"percentile": m.group(1)}
    if key == "ctx_switch_count":
        return f"{HISTOGRAM}_count", {}
    if key == "ctx_switch_sum_ns":
        return f"{HISTOGRAM}_sum", {}
    if m := _BUCKET_RX.match(key):
        return f"{HISTOGRAM}_bucket", {"le": floatToGoString(int(m.group(1)) / NS_PER_S)}
    return None


def histogram_buckets(values: dict[str, int]) -> tuple[list[tuple[str, float]], float] | None:
    """Cumulative buckets (le, count) ending in +Inf, and the sum in seconds, rebuilt from a
    snapshot's ctx_switch_* keys; None if absent or inconsistent (counts must not decrease)."""
    bounds = sorted((int(m.group(1)), v) for k, v in values.items() if (m := _BUCKET_RX.match(k)))
    count, sum_ns = values.get("ctx_switch_count"), values.get("ctx_switch_sum_ns")
    if not bounds or count is None or sum_ns is None:
        return None
    counts = [c for _, c in bounds] + [count]
    if any(b < a for a, b in zip(counts, counts[1:], strict=False)):
        return None
    buckets = [(floatToGoString(b / NS_PER_S), float(c)) for b, c in bounds]
    return buckets + [("+Inf", float(count))], sum_ns / NS_PER_S


def families_for(samples: Iterable[tuple[list[str], dict[str, int]]]) -> Iterator[Metric]:
    """Prometheus metric families for (label values, flat sample) pairs."""
    samples = list(samples)
    for fam in FAMILIES:
        cls = CounterMetricFamily if fam.kind == "counter" else GaugeMetricFamily
        mf = cls(fam.name, fam.help, labels=LABELS)
        for labels, values in samples:
            if fam.key in values:
                mf.add_metric(labels, values[fam.key] / fam.per_unit)
        if mf.samples:
            yield mf
    hist = HistogramMetricFamily(
        HISTOGRAM,
        "Context-switch latency measured on the scheduler's real switches.",
        labels=LABELS,
    )
    pct = GaugeMetricFamily(
        PERCENTILES, "Context-switch latency percentiles.", labels=[*LABELS, "percentile"]
    )
    for labels, values in samples:
        built = histogram_buckets(values)
        if built is not None:
            hist.add_metric(labels, built[0], built[1])
        for key, v in values.items():
            if m := _PCT_RX.match(key):
                pct.add_metric([*labels, m.group(1)], v / NS_PER_S)
    for mf in (hist, pct):
        if mf.samples:
            yield mf


@dataclass
class _Slot:
    """One target's latest sample, as the collector caches it."""

    source: Any
    lock: threading.Lock
    at: float = -1e9  # monotonic time the last sample finished
    values: dict[str, int] | None = None
    error: str = "not sampled yet"
    duration: float = 0.0
    errors: int = 0
    future: Future[None] | None = None


class TargetsCollector:
    """A prometheus_client collector sampling its targets at scrape time."""

    def __init__(
        self, sources: list[MetricSource], *, cache_seconds: float = 0.5, timeout: float = 5.0
    ) -> None:
        self.slots = [_Slot(s, threading.Lock()) for s in sources]
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(32, len(sources))), thread_name_prefix="sis-metrics"
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _take(self, slot: _Slot) -> None:
        started = time.monotonic()
        values: dict[str, int] | None = None
        try:
            values = slot.source.sample()
            error = ""
        except SampleError as e:
            error = str(e)
        except Exception as e:  # a broken target must not take the exporter down
            error = f"{slot.source.name}: {type(e).__name__}: {e}"
        with slot.lock:
            slot.values, slot.error = values, error
            slot.duration = time.monotonic() - started
            slot.at = time.monotonic()
            slot.errors += 1 if error else 0

    def refresh(self) -> dict[int, str]:
        """Sample every target whose cached answer is stale; wait up to `timeout`. Returns
        {slot index: error} for targets that did not answer in time."""
        now = time.monotonic()
        pending: dict[int, Future[None]] = {}
        for i, slot in enumerate(self.slots):
            with slot.lock:
                if now - slot.at < self.cache_seconds:
                    continue
                if slot.future is None or slot.future.done():
                    slot.future = self._pool.submit(self._take, slot)
                pending[i] = slot.future
        if pending:
            wait(pending.values(), timeout=self.timeout)
        return {
            i: f"no answer within {self.timeout:g} s" for i, f in pending.items() if not f.done()
        }

    def collect(self) -> Iterator[Metric]:
        late = self.refresh()
        up = GaugeMetricFamily("sis_target_up", "1 if the target answered the last sample.",
                               labels=LABELS)  # fmt: skip
        info = GaugeMetricFamily(
            "sis_target_info", "How a target is sampled.", labels=[*LABELS, "source"]
        )
        took = GaugeMetricFamily(
            "sis_target_scrape_duration_seconds", "Time the target's last sample took.",
            labels=LABELS,
        )  # fmt: skip
        errors = CounterMetricFamily(
            "sis_target_scrape_errors_total", "Samples of the target that failed.", labels=LABELS
        )
        answered: list[tuple[list[str], dict[str, int]]] = []
        for i, slot in enumerate(self.slots):
            labels = [slot.source.name, slot.source.preset]
            with slot.lock:
                values = None if i in late else slot.values
                duration, failed = slot.duration, slot.errors + (1 if i in late else 0)
            up.add_metric(labels, 1.0 if values is not None else 0.0)
            info.add_metric([*labels, getattr(slot.source, "last_source", "") or "none"], 1.0)
            took.add_metric(labels, duration)
            errors.add_metric(labels, failed)
            if values is not None:
                answered.append((labels, values))
        yield up
        yield info
        yield took
        yield errors
        yield from families_for(answered)

    def last_errors(self) -> dict[str, str]:
        return {s.source.name: s.error for s in self.slots if s.error}


class MetricsExporter:
    """Serve the live metrics of `targets` (started Target objects, or anything with
    name/preset/sample()/alive()) over HTTP. Use `start(host, port)` and `stop()`, or `with`."""

    def __init__(
        self,
        targets: Iterable[Any],
        *,
        cache_seconds: float = 0.5,
        timeout: float = 5.0,
        source: str = "auto",
    ) -> None:
        sources: list[MetricSource] = [
            t if hasattr(t, "sample") else Sampler(t, source, timeout=timeout) for t in targets
        ]
        names = [(s.name, s.preset) for s in sources]
        if len(set(names)) != len(names):
            raise ValueError("two targets with the same name and preset would share series")
        self.collector = TargetsCollector(sources, cache_seconds=cache_seconds, timeout=timeout)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        # Observed after each scrape, so a scrape shows the durations of the ones before it.
        self.scrape_time = Summary(
            "sis_exporter_scrape_duration_seconds",
            "Time the exporter took to sample all targets and render /metrics.",
            registry=self.registry,
        )
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] | None = None

    def render(self) -> str:
        """What /metrics returns right now."""
        started = time.monotonic()
        try:
            return generate_latest(self.registry).decode()
        finally:
            self.scrape_time.observe(time.monotonic() - started)

    def start(self, host: str = "127.0.0.1", port: int = 9464) -> tuple[str, int]:
        """Listen on host:port (port 0 = any free port); returns the address bound."""
        if self._server is not None:
            raise RuntimeError("the exporter is already serving")
        registry = _TimedRegistry(self)
        try:
            self._server = _serve(host, port, make_wsgi_app(registry))
        except OSError as e:
            raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sis-metrics-http", daemon=True
        )
        self._thread.start()
        self.address = (host, int(self._server.server_address[1]))
        return self.address

    @property
    def url(self) -> str:
        if self.address is None:
            raise RuntimeError("the exporter is not serving")
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(5)
            self._server = None
            self._thread = None
        self.collector.close()

    def __enter__(self) -> MetricsExporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _TimedRegistry:
    """The registry as the HTTP server sees it: every scrape is timed into scrape_time."""

    def __init__(self, exporter: MetricsExporter) -> None:
        self._exporter = exporter

    def collect(self) -> Iterator[Metric]:
        started = time.monotonic()
        try:
            yield from self._exporter.registry.collect()
        finally:
            self._exporter.scrape_time.observe(time.monotonic() - started)

    def restricted_registry(self, names: Iterable[str]) -> Any:
        return self._exporter.registry.restricted_registry(names)


class _QuietHandler(WSGIRequestHandler):
    # StreamRequestHandler sets this on the connection: a silent client is dropped.
    timeout = CONNECTION_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # scrapes are not news


class _BoundedServer(socketserver.ThreadingMixIn, WSGIServer):
    """A thread per connection, at most `max_connections` of them."""

    daemon_threads = True
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(0.5)
                request.sendall(b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # As ThreadingMixIn's, with the slot given back before the client sees the close.
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._slots.release()
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return  # a client that went silent (timed out) or away: nothing to report
        super().handle_error(request, client_address)


def _serve(host: str, port: int, app: Any) -> _BoundedServer:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(_BoundedServer):
        address_family = family

    return make_server(host, port, app, Server, handler_class=_QuietHandler)  # type: ignore[return-value]

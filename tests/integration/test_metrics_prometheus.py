"""A real Prometheus server scrapes the exporter (serving a running reference kernel) and the
values come back through its HTTP API; every query of the Grafana dashboard is valid PromQL."""

from __future__ import annotations

import ctypes
import json
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sis.harness.metrics import MetricsExporter, Sampler
from sis.harness.session import Session

PROMETHEUS = shutil.which("prometheus")
DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "sis-grafana.json"
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="prometheus not installed (apt-get install prometheus)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan server


def get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def query(base: str, promql: str) -> dict:
    return get_json(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prometheus")


@pytest.fixture(scope="module")
def exporter(workdir: Path) -> Iterator[MetricsExporter]:
    target = Session("sim", workdir=workdir / "targets", name="sis-default")
    target.start()
    ex = MetricsExporter([Sampler(target)])
    try:
        ex.start("127.0.0.1", 0)
        # A little work, so rates and the context-switch histogram have something to show.
        for _ in range(3):
            target.run("echo hi > /a.txt")
        yield ex
    finally:
        ex.stop()
        target.kill()


@pytest.fixture(scope="module")
def prometheus(workdir: Path, exporter: MetricsExporter) -> Iterator[str]:
    assert exporter.address is not None
    host, port = exporter.address
    config = workdir / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: sis\n    scrape_timeout: 1s\n"
        f"    static_configs:\n      - targets: ['{host}:{port}']\n"
    )
    web = f"127.0.0.1:{free_port()}"
    log = open(workdir / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [PROMETHEUS or "prometheus", f"--config.file={config}",
         f"--storage.tsdb.path={workdir / 'tsdb'}", f"--web.listen-address={web}"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL,
        start_new_session=True, preexec_fn=_die_with_parent,
    )  # fmt: skip
    base = f"http://{web}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    "prometheus did not become ready: "
                    + (workdir / "prometheus.log").read_text(errors="replace")[-800:]
                )
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def wait_for(base: str, promql: str, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        reply = query(base, promql)
        assert reply["status"] == "success", reply
        if reply["data"]["result"]:
            return reply["data"]["result"]
        assert time.monotonic() < deadline, f"no result for {promql} within {timeout} s"
        time.sleep(0.5)


def dashboard_queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["definition"])
    return exprs


def test_prometheus_scrapes_the_exporter_and_answers_queries(prometheus: str):
    result = wait_for(prometheus, 'sis_uptime_seconds{target="sis"} > 0')
    assert result[0]["metric"]["preset"] == "default"
    assert float(result[0]["value"][1]) > 0
    up = wait_for(prometheus, 'up{job="sis"} == 1')  # Prometheus itself parsed the page
    assert up
    assert wait_for(prometheus, 'sis_target_up{target="sis"} == 1')
    assert wait_for(prometheus, 'sis_vfs_writes_total{target="sis"} > 0')
    buckets = wait_for(prometheus, 'sis_context_switch_seconds_bucket{target="sis"}')
    assert any(b["metric"]["le"] == "+Inf" for b in buckets)
    # Rates need two scrapes in the window.
    wait_for(prometheus, 'rate(sis_uptime_seconds{target="sis"}[10s]) >= 0', timeout=30)


def test_every_dashboard_query_is_valid_promql(prometheus: str):
    wait_for(prometheus, "sis_target_up")
    exprs = dashboard_queries()
    assert len(exprs) > 20
    for expr in exprs:
        promql = expr.replace("$__rate_interval", "10s")
        promql = re.sub(r"\$(target|preset)", ".*", promql)
        if promql.startswith("label_values("):
            inner = promql[len("label_values(") : promql.rindex(",")]
            promql = inner
        reply = query(prometheus, promql)
        assert reply["status"] == "success", (expr, reply)

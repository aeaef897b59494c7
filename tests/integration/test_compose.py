"""compose.yaml: valid against the compose specification, and its metrics stack holds
together. The real Prometheus from Debian checks the configuration the stack mounts and, with
only its scrape address pointed at a real `sis metrics serve` on loopback (the stack's service
name resolves only inside the stack), scrapes it. Grafana's image cannot be had here: its
provisioning is checked against the stack, not run."""

from __future__ import annotations

import ctypes
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
BIN = Path(sys.executable).parent
PROMETHEUS, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="prometheus and promtool not installed (make qemu-deps)",
)


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _mount(service: dict, inside: str) -> Path:
    """The host path a service mounts at INSIDE (short volume syntax)."""
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if target == inside:
            return (ROOT / source).resolve()
    raise AssertionError(f"nothing is mounted at {inside}")


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_compose_yaml_matches_the_compose_specification() -> None:
    proc = _check_jsonschema(COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_misspelt_key_is_caught(tmp_path: Path) -> None:
    bad = tmp_path / "compose.yaml"
    bad.write_text(COMPOSE.read_text().replace("depends_on:", "depend_on:", 1))
    assert _check_jsonschema(bad).returncode != 0


def test_the_lab_is_a_shell_in_the_image_with_the_source_mounted() -> None:
    services = _compose()["services"]
    lab = services["lab"]
    assert lab["build"]["dockerfile"] == "Containerfile"
    assert lab["entrypoint"] == ["bash"]
    assert _mount(lab, lab["working_dir"]) == ROOT
    assert lab["network_mode"] == "none"


def test_published_ports_are_on_loopback_only() -> None:
    for name, service in _compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to every address"


def _exporter_address() -> tuple[str, str]:
    command = _compose()["services"]["exporter"]["command"]
    assert command[:2] == ["metrics", "serve"]
    host, port = command[command.index("--listen") + 1].rsplit(":", 1)
    return host, port


def _prometheus_config() -> Path:
    return _mount(_compose()["services"]["prometheus"], "/etc/prometheus/prometheus.yml")


def test_prometheus_scrapes_the_exporter_service() -> None:
    host, port = _exporter_address()
    assert host == "0.0.0.0", "reachable from the stack's other containers"
    config = yaml.safe_load(_prometheus_config().read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]]  # fmt: skip
    assert targets == [f"exporter:{port}"]
    assert _compose()["services"]["exporter"]["expose"] == [port]


def test_grafana_is_provisioned_with_the_stacks_prometheus_and_the_shipped_dashboard() -> None:
    grafana = _compose()["services"]["grafana"]
    provisioning = _mount(grafana, "/etc/grafana/provisioning")
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["isDefault"]
    port = _compose()["services"]["prometheus"]["ports"][0].rsplit(":", 1)[1]
    assert datasource["url"] == f"http://prometheus:{port}"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "sis.yml").read_text())["providers"]
    dashboards = _mount(grafana, provider["options"]["path"])
    board = json.loads((dashboards / "sis-grafana.json").read_text())
    # The dashboard picks any Prometheus data source through its variable.
    (var,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert var["query"] == datasource["type"]


@needs_prometheus
def test_promtool_accepts_the_stacks_configuration() -> None:
    proc = subprocess.run([PROMTOOL or "promtool", "check", "config", str(_prometheus_config())],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphans


def _wait(what: str, ok: object, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{what} did not come up: {log.read_text(errors='replace')[-800:]}")
        time.sleep(0.3)


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read()
    except OSError:
        return None


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    yield procs
    for p in reversed(procs):
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


@needs_prometheus
def test_the_stacks_prometheus_scrapes_a_real_exporter(
    tmp_path: Path, processes: list[subprocess.Popen]
) -> None:
    exporter_port = _free_port()
    _, port = _exporter_address()
    exporter_log = tmp_path / "exporter.log"
    command = _compose()["services"]["exporter"]["command"]
    command = [w.replace(f"0.0.0.0:{port}", f"127.0.0.1:{exporter_port}") for w in command]
    command = [str(tmp_path / "targets") if w == "/tmp/targets" else w for w in command]
    with exporter_log.open("wb") as log:
        processes.append(subprocess.Popen(
            [str(BIN / "sis"), *command], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            cwd=tmp_path, preexec_fn=_die_with_parent,
        ))  # fmt: skip
    metrics = f"http://127.0.0.1:{exporter_port}/metrics"
    _wait("sis metrics serve", lambda: _get(metrics), processes[-1], exporter_log)

    # The stack's configuration, with only the service name swapped for loopback.
    text = (
        _prometheus_config().read_text().replace(f"exporter:{port}", f"127.0.0.1:{exporter_port}")
    )
    assert f"127.0.0.1:{exporter_port}" in text
    config = tmp_path / "prometheus.yml"
    config.write_text(text)
    web = f"127.0.0.1:{_free_port()}"
    prom_log = tmp_path / "prometheus.log"
    with prom_log.open("wb") as log:
        processes.append(subprocess.Popen(
            [PROMETHEUS or "prometheus", f"--config.file={config}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address={web}"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
        ))  # fmt: skip

    def up() -> bool:
        reply = _get(f"http://{web}/api/v1/query?" + urllib.parse.urlencode({"query": "up"}))
        if not reply:
            return False
        result = json.loads(reply)["data"]["result"]
        return any(r["metric"]["job"] == "sis" and r["value"][1] == "1" for r in result)

    _wait("a successful scrape", up, processes[-1], prom_log, timeout=60)
    reply = _get(f"http://{web}/api/v1/query?" + urllib.parse.urlencode(
        {"query": 'sis_target_up{job="sis"}'}))  # fmt: skip
    assert reply is not None
    (series,) = json.loads(reply)["data"]["result"]
    assert series["value"][1] == "1"

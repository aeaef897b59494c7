"""`--executor dask` against a cluster started with Dask's own commands (`dask scheduler`, two
`dask worker`), all in a network namespace of their own that has only loopback, every
scheduler and worker process under `strace -f -e trace=connect,bind`.

What a user would notice: the same rows as a local run, a client without the cluster's
certificate refused, a worker killed mid-run costing nothing, Ctrl-C leaving no target
running, a job no worker can run told as such, and no socket of the cluster beyond loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from sis.harness.executors.dask import write_credentials  # noqa: E402

BIN = Path(sys.executable).parent
PORT = 8786  # the namespace is new: nothing else listens there
ADDRESS = f"tls://127.0.0.1:{PORT}"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace (unshare -n) needs root"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("unshare", "nsenter", "strace", "ip")),
        reason="needs unshare, nsenter, ip (util-linux, iproute2) and strace",
    ),
    pytest.mark.timeout(600),
]


class Cluster:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.certs = write_credentials(tmp / "certs")
        self.procs: list[subprocess.Popen[bytes]] = []
        # The namespace lives as long as this process: it has loopback and nothing else.
        self.holder = subprocess.Popen(
            ["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 100000"]
        )
        self.ns = ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net"]
        deadline = time.monotonic() + 10
        while self.run(["ip", "-o", "link", "show", "up"]).stdout.count("lo") == 0:
            assert time.monotonic() < deadline, "loopback did not come up in the namespace"
            time.sleep(0.1)
        self.env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.env.pop("SIS_DASK_SCHEDULER", None)

    @property
    def tls(self) -> list[str]:
        c = self.certs
        return [
            "--tls-ca-file",
            str(c / "ca.pem"),
            "--tls-cert",
            str(c / "cert.pem"),
            "--tls-key",
            str(c / "key.pem"),
        ]

    def run(self, argv: list[str], **kw) -> subprocess.CompletedProcess[str]:  # noqa: ANN003
        return subprocess.run(
            [*self.ns, *argv], capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw
        )

    def spawn(self, name: str, argv: list[str], traced: bool = True) -> subprocess.Popen[bytes]:
        trace = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect,bind"]
        trace += ["-o", str(self.tmp / name)]
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it
        p = subprocess.Popen(
            [*self.ns, *(trace if traced else []), *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # strace, dask and its children: one group to stop
        )
        self.procs.append(p)
        return p

    def start(self) -> None:
        self.spawn(
            "scheduler.strace",
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(PORT),
                "--protocol",
                "tls",
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
                *self.tls,
            ],
        )
        for n in (1, 2):
            self.add_worker(f"worker{n}.strace")

    def add_worker(self, name: str, *, sis: bool = False) -> subprocess.Popen[bytes]:
        if sis:  # SIS's wrapper: resources on the command line, sockets on loopback
            argv = [str(BIN / "sis"), "worker", "--scheduler", ADDRESS, "--tls", str(self.certs)]
            return self.spawn(name, argv)
        return self.spawn(
            name,
            [
                str(BIN / "dask"),
                "worker",
                ADDRESS,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "2",
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
                *self.tls,
            ],
        )

    def wait_for_workers(self, n: int) -> None:
        code = (
            "import sys; from distributed import Client; "
            "from sis.harness.executors.dask import security_for; "
            f"c = Client({ADDRESS!r}, security=security_for({ADDRESS!r}, "
            f"__import__('pathlib').Path({str(self.certs)!r}), False), timeout=60); "
            f"c.wait_for_workers({n}, timeout=120); c.close()"
        )
        r = self.run([sys.executable, "-c", code], env=self.env)
        assert r.returncode == 0, r.stderr[-2000:]

    def sis(self, *args: str) -> list[str]:
        return [str(BIN / "sis"), *args]

    def check(self, out: Path, *extra: str) -> list[str]:
        return self.sis(
            "check",
            "--preset",
            "all",
            "--out",
            str(out),
            "--executor",
            "dask",
            "--scheduler",
            ADDRESS,
            "--tls",
            str(self.certs),
            *extra,
        )

    def stop(self) -> None:
        # Workers first, then the scheduler (a scheduler with a client attached may linger).
        # Signals go to each process group: strace passes none on to what it traces.
        for p in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + 10
            while _group_alive(p.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        self.holder.kill()
        self.holder.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.start()
        c.wait_for_workers(2)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, ...]]:
    out = tmp_path_factory.mktemp("local") / "out"
    r = subprocess.run(
        [str(BIN / "sis"), "check", "--preset", "all", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return rows(out)


def rows(out: Path) -> list[tuple[str, ...]]:
    """(target, preset, suite, test, verdict) of each result the report is built from."""
    from sis.harness.results import read_results

    results, _ = read_results(out / "results.jsonl")
    return sorted((r.target, r.preset, r.suite, r.test, r.verdict) for r in results)


def job_processes() -> list[str]:
    """Command lines of targets started by SIS jobs on a Dask worker (their files live in the
    worker's scratch directory)."""
    import psutil

    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if "sis-job-" in line and "sis.kernel" in line:
            found.append(line)
    return found


def test_same_rows_and_files_as_a_local_run(cluster: Cluster, local_rows, tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = cluster.run(cluster.check(out), env=cluster.env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert rows(out) == local_rows
    names = sorted(p.name for p in (out / "targets").iterdir())
    assert "sis-default.console.log" in names and "sis-no-network.disk.img" in names
    # Paths in results name OUT here, not the worker's scratch directory.
    text = (out / "results.jsonl").read_text()
    assert "sis-job-" not in text and str(out) in text
    jobs = [json.loads(line) for line in (out / "jobs.jsonl").read_text().splitlines()]
    assert sorted(j["preset"] for j in jobs) == ["default", "lowmem", "no-network", "smp-off"]


def test_a_client_without_the_certificate_is_refused(cluster: Cluster) -> None:
    code = (
        "from distributed import Client\n"
        "for addr in [{a!r}, {t!r}]:\n"
        "    try:\n"
        "        Client(addr, timeout=5).close()\n"
        "        print('CONNECTED', addr)\n"
        "    except Exception as e:\n"
        "        print('REFUSED', addr, type(e).__name__)\n"
    ).format(a=ADDRESS, t=f"tcp://127.0.0.1:{PORT}")
    r = cluster.run([sys.executable, "-c", code], env=cluster.env, timeout=120)
    assert "CONNECTED" not in r.stdout, r.stdout
    assert r.stdout.count("REFUSED") == 2, r.stdout + r.stderr[-2000:]
    # And `sis check` says what is missing, in one line, before anything runs.
    r = cluster.run(
        cluster.sis("check", "--executor", "dask", "--scheduler", ADDRESS), env=cluster.env
    )
    assert r.returncode == 2
    assert "TLS needs credentials" in r.stderr and "Traceback" not in r.stderr


def test_a_job_no_worker_can_run_is_an_error_naming_what_is_missing(
    cluster: Cluster, tmp_path: Path
) -> None:
    from sis.harness.targets.profile import PROFILE_DIR

    # A QEMU build no worker has (a team's own, under /opt).
    profile = tmp_path / "custom-qemu.yaml"
    text = (PROFILE_DIR / "linux-busybox.yaml").read_text()
    text = re.sub(r"(?m)^name: .*$", "name: custom-qemu", text)
    text = re.sub(r"(?m)^(\s+)binary: .*$", r"\1binary: /opt/lab/qemu-system-x86_64-lab", text)
    assert "qemu-system-x86_64-lab" in text
    profile.write_text(text)
    out = tmp_path / "out"
    env = {**cluster.env, "SIS_DASK_RESOURCE_WAIT": "3"}
    argv = cluster.check(out)
    argv[argv.index("--preset") + 1] = "default"
    r = cluster.run([*argv, "--target", str(profile)], env=env)
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert results and all(x["verdict"] == "ERROR" for x in results)
    assert all("qemu-system-x86_64-lab" in x["reason"] for x in results), results[0]["reason"]


def test_ctrl_c_stops_every_job_and_leaves_no_target_running(
    cluster: Cluster, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    p = subprocess.Popen(
        [*cluster.ns, *cluster.check(out)],
        env=cluster.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while not job_processes():
        assert p.poll() is None and time.monotonic() < deadline, "no job started"
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=90) == 130
    deadline = time.monotonic() + 15
    while job_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job_processes() == []
    # What the interrupted jobs had reported is kept, and the report was written.
    assert (out / "report.html").exists()


def test_a_worker_killed_mid_run_still_gives_complete_results(
    cluster: Cluster, local_rows, tmp_path: Path
) -> None:
    import psutil

    cluster.add_worker("worker3.strace", sis=True)
    cluster.wait_for_workers(3)
    out = tmp_path / "out"
    p = subprocess.Popen(
        [*cluster.ns, *cluster.check(out)],
        env=cluster.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    # Kill the worker process running a job once that job has reported something.
    deadline = time.monotonic() + 180
    victim = None
    while victim is None:
        assert p.poll() is None and time.monotonic() < deadline, "no job got going"
        lines = (out / "results.jsonl").read_text().splitlines() if out.exists() else []
        if (out / "results.jsonl").exists() and lines:
            for proc in psutil.process_iter(["cmdline"]):
                line = " ".join(proc.info["cmdline"] or [])
                if "sis-job-" in line and "sis.kernel" in line:
                    try:
                        victim = proc.parent()
                    except psutil.Error:
                        continue
                    break
        time.sleep(0.1)
    victim.kill()
    assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-3000:] if p.stderr else ""
    assert rows(out) == local_rows
    raw = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert max(x.get("attempt", 0) for x in raw) == 2  # the lost attempt's, kept and marked
    jobs = (out / "jobs.jsonl").read_text()
    assert "worker-lost" in jobs
    assert job_processes() == []  # the killed worker's target died with it


def test_without_an_address_a_cluster_of_its_own_gives_the_same_rows(
    cluster: Cluster, local_rows, tmp_path: Path
) -> None:
    # Traced like the others: the cluster SIS starts must stay on loopback too.
    out = tmp_path / "out"
    trace = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=connect,bind"]
    trace += ["-o", str(cluster.tmp / "own-cluster.strace")]
    argv = cluster.sis("check", "--preset", "all", "--out", str(out), "--executor", "dask")
    r = cluster.run([*trace, *argv], env=cluster.env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert rows(out) == local_rows


def test_shared_out_keeps_files_where_the_workers_wrote_them(
    cluster: Cluster, tmp_path: Path
) -> None:
    out, shared = tmp_path / "out", tmp_path / "shared"
    argv = cluster.sis("check", "--out", str(out), "--executor", "dask")
    r = cluster.run([*argv, "--shared-out", str(shared), "--phases", "suites"], env=cluster.env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (shared / "targets" / "sis-default.console.log").stat().st_size > 0
    assert not (out / "targets" / "sis-default.console.log").exists()
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    paths = [p for x in results for p in x["artifacts"].values()]
    assert paths and all(p.startswith(str(shared)) for p in paths)


def test_every_socket_of_scheduler_and_workers_is_loopback_or_unix(cluster: Cluster) -> None:
    calls = []
    for trace in sorted(cluster.tmp.glob("*.strace")):
        for line in trace.read_text(errors="replace").splitlines():
            if re.search(r"\b(connect|bind)\(", line):
                calls.append(line)
    assert len(calls) > 10, "strace saw no socket calls"
    # The trace sees the sockets that matter: the scheduler binding its port.
    assert any("bind(" in c and f"htons({PORT})" in c for c in calls)
    outside = [c for c in calls if not _local(c)]
    assert outside == [], "\n".join(outside[:20])


def _local(call: str) -> bool:
    if "sa_family=AF_UNIX" in call or "sa_family=AF_NETLINK" in call:
        return True  # a unix socket; netlink is the kernel's own (interface lookups)
    v4 = re.search(r'inet_addr\("([^"]+)"\)', call)
    if v4:
        return v4.group(1).startswith("127.")
    v6 = re.search(r'inet_pton\(AF_INET6, "([^"]+)"', call)
    if v6:
        return v6.group(1) in ("::1", "::ffff:127.0.0.1")
    return False  # another family, or one strace could not decode: not known to be local


def test_a_fuzz_campaigns_second_round_starts_from_the_merged_corpus(
    cluster: Cluster, tmp_path: Path
) -> None:
    """No directory is shared with the workers: the corpus the first round found travels with
    the second round's job."""
    out = tmp_path / "out"
    argv = cluster.sis(
        "fuzz", "--duration", "8", "--round", "4", "--out", str(out), "--executor", "dask",
        "--scheduler", ADDRESS, "--tls", str(cluster.certs),
    )  # fmt: skip
    r = cluster.run(argv, env=cluster.env)
    assert r.returncode == 0, r.stderr[-3000:]
    first = json.loads((out / "jobs" / "r0-w0" / "summary.json").read_text())
    second = json.loads((out / "jobs" / "r1-w0" / "summary.json").read_text())
    found = len(list((out / "jobs" / "r0-w0" / "corpus").glob("*.json")))
    assert first["started_from"] == 0 and found > 0
    assert second["started_from"] == found  # every program the first round kept

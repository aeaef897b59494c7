"""The Dask executor's decisions that need no cluster: what a job asks of a worker, who may be
connected to, what travels with a job, how files come back, and what a lost attempt leaves in
the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from sis.harness.executors import make_executor  # noqa: E402
from sis.harness.executors.dask import (  # noqa: E402
    SchedulerError,
    _missing,
    is_loopback,
    job_resources,
    pack_inputs,
    security_for,
    write_credentials,
)
from sis.harness.executors.dask_worker import (  # noqa: E402
    MEMORY_MIB,
    VM_SLOTS,
    _collect,
    _localize,
    detect_resources,
    write_file,
)
from sis.harness.jobs import Job  # noqa: E402
from sis.harness.results import ResultLog, TestResult, read_results  # noqa: E402
from sis.harness.targets.profile import PROFILE_DIR  # noqa: E402


def job(target: str = "sim", preset: str = "default", suites=None, baselines=None) -> Job:  # noqa: ANN001
    options: dict = {}
    if suites is not None:
        options["suites"] = {"suites": suites}
    if baselines is not None:
        options["log_regression"] = {"baselines": baselines}
    return Job(
        target=target,
        preset=preset,
        target_name="t",
        phases=("suites", "log_regression"),
        workdir="/out/targets",
        options=options,
    )


def test_a_reference_kernel_job_needs_a_slot_and_a_small_process() -> None:
    needs = job_resources(job())
    assert needs[VM_SLOTS] == 1
    assert 0 < needs[MEMORY_MIB] <= 128
    assert not any(k.startswith("qemu-system") for k in needs)


def test_a_qemu_job_needs_its_emulator_and_its_presets_memory(tmp_path: Path) -> None:
    text = (PROFILE_DIR / "linux-busybox-arm64.yaml").read_text()
    needs = job_resources(job(str(PROFILE_DIR / "linux-busybox-arm64.yaml")))
    assert needs["qemu-system-aarch64"] == 1
    assert needs[MEMORY_MIB] > 128  # guest memory plus QEMU's own
    assert "aarch64" in text


def test_a_worker_offers_slots_memory_and_the_emulators_it_has(monkeypatch) -> None:
    monkeypatch.setattr(
        "shutil.which", lambda name: f"/usr/bin/{name}" if name.endswith("x86_64") else None
    )
    found = detect_resources()
    assert found[VM_SLOTS] >= 2 and found[MEMORY_MIB] > 0
    assert found["qemu-system-x86_64"] == found[VM_SLOTS]
    assert "qemu-system-aarch64" not in found


def test_missing_names_what_no_worker_offers() -> None:
    needs = {VM_SLOTS: 1, MEMORY_MIB: 600, "qemu-system-riscv64": 1}
    full = {VM_SLOTS: 4, MEMORY_MIB: 4000, "qemu-system-riscv64": 4}
    assert _missing(needs, [full]) is None
    why = _missing(needs, [{VM_SLOTS: 4, MEMORY_MIB: 4000}])
    assert why is not None and "qemu-system-riscv64" in why
    why = _missing(needs, [{**full, MEMORY_MIB: 100}])
    assert why is not None and MEMORY_MIB in why and "has 100" in why
    assert _missing(needs, []) == "no worker connected"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("tcp://127.0.0.1:8786", True),
        ("tls://localhost:8786", True),
        ("tcp://[::1]:8786", True),
        ("127.0.0.2:8786", True),
        ("tcp://10.0.0.5:8786", False),
        ("tls://lab.example:8786", False),
    ],
)
def test_loopback_is_told_from_the_address(address: str, loopback: bool) -> None:
    assert is_loopback(address) is loopback


def test_plain_tcp_beyond_loopback_needs_insecure_said_out_loud() -> None:
    with pytest.raises(SchedulerError, match="not on loopback"):
        security_for("tcp://10.0.0.5:8786", None, insecure=False)
    assert not security_for("tcp://10.0.0.5:8786", None, insecure=True).require_encryption
    assert not security_for("tcp://127.0.0.1:8786", None, insecure=False).require_encryption


def test_tls_needs_credentials_and_uses_them(tmp_path: Path) -> None:
    with pytest.raises(SchedulerError, match="TLS needs credentials"):
        security_for("tls://10.0.0.5:8786", None, insecure=False)
    with pytest.raises(SchedulerError, match="no ca.pem, cert.pem, key.pem"):
        security_for("tls://10.0.0.5:8786", tmp_path, insecure=False)
    certs = write_credentials(tmp_path / "certs")
    assert all((certs / n).stat().st_mode & 0o077 == 0 for n in ("ca.pem", "cert.pem", "key.pem"))
    sec = security_for("tls://10.0.0.5:8786", certs, insecure=False)
    assert sec.require_encryption and sec.tls_client_cert == str(certs / "cert.pem")
    with pytest.raises(SchedulerError, match="not tls://"):
        security_for("tcp://10.0.0.5:8786", certs, insecure=True)


def test_make_executor_knows_dask_and_checks_the_address_up_front() -> None:
    with pytest.raises(ValueError, match="not on loopback"):
        make_executor("dask", 2, scheduler="tcp://192.0.2.1:8786")
    with pytest.raises(ValueError, match="known: local, dask"):
        make_executor("ray")


def test_input_files_travel_with_the_job_and_come_back_by_their_names(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text((PROFILE_DIR / "sis.yaml").read_text())
    suite = tmp_path / "suites" / "smoke.yaml"
    suite.parent.mkdir()
    suite.write_text("name: smoke\n")
    base = tmp_path / "baselines"
    (base / "sis").mkdir(parents=True)
    (base / "sis" / "default.json").write_text("{}")
    j = job(str(profile), suites=[str(suite), "basic_commands"], baselines=str(base))
    d, files, origins = pack_inputs(j)
    assert files["profile/mine.yaml"] == profile.read_bytes()
    assert files["suites-suite0/smoke.yaml"] == b"name: smoke\n"
    assert files["baselines/sis/default.json"] == b"{}"
    assert origins["profile/mine.yaml"] == str(profile)
    local = _localize(json.loads(json.dumps(d)), tmp_path / "in", tmp_path / "out")
    assert local.target == str(tmp_path / "in" / "profile" / "mine.yaml")
    assert local.options["suites"]["suites"] == [
        str(tmp_path / "in" / "suites-suite0" / "smoke.yaml"),
        "basic_commands",
    ]
    assert local.options["log_regression"]["baselines"] == str(tmp_path / "in" / "baselines")
    assert local.workdir == str(tmp_path / "out" / "targets")


def test_a_fuzz_rounds_merged_corpus_travels_with_it(tmp_path: Path) -> None:
    out = tmp_path / "OUT"
    (out / "corpus").mkdir(parents=True)
    (out / "corpus" / "p1.json").write_text('{"calls": []}')
    j = Job(target="sis", preset="default", target_name="sis", phases=("fuzz",),
            workdir=str(out / "targets"), options={"fuzz": {"corpus_from": "corpus"}})  # fmt: skip
    d, files, origins = pack_inputs(j)
    assert files == {"corpus/p1.json": b'{"calls": []}'}
    assert origins["corpus"] == str(out / "corpus")
    local = _localize(json.loads(json.dumps(d)), tmp_path / "in", tmp_path / "w" / "out")
    assert local.options["fuzz"]["corpus_from"] == str(tmp_path / "in" / "corpus")
    # The first round has no corpus yet: nothing travels, the option stays as it was.
    first = Job(target="sis", preset="default", target_name="sis", phases=("fuzz",),
                workdir=str(tmp_path / "new" / "targets"),
                options={"fuzz": {"corpus_from": "corpus"}})  # fmt: skip
    d, files, _ = pack_inputs(first)
    assert not files and d["options"]["fuzz"]["corpus_from"] == "corpus"


def test_baselines_missing_here_are_missing_there(tmp_path: Path) -> None:
    d, files, _ = pack_inputs(job(baselines=str(tmp_path / "none")))
    assert not files
    local = _localize(d, tmp_path / "in", tmp_path / "out")
    assert not Path(local.options["log_regression"]["baselines"]).exists()


def test_files_come_back_whole_with_holes_kept_and_within_the_limit(tmp_path: Path) -> None:
    root = tmp_path / "w"
    (root / "targets").mkdir(parents=True)
    (root / "targets" / "a.console.log").write_text("hello\n")
    disk = root / "targets" / "a.disk.img"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
        f.seek(1 << 20)
        f.write(b"superblock")
    (root / "targets" / "big.bin").write_bytes(b"x" * 9000)
    files, skipped = _collect(root, limit=8192)
    assert skipped == ["targets/big.bin"]
    sent = sum(len(data) for e in files.values() for _, data in e["extents"])
    assert sent < 64 << 10  # the hole did not travel
    out = tmp_path / "OUT"
    for rel, entry in files.items():
        write_file(out / rel, entry)
    assert (out / "targets" / "a.console.log").read_text() == "hello\n"
    back = out / "targets" / "a.disk.img"
    assert back.stat().st_size == 64 << 20
    assert back.read_bytes() == disk.read_bytes()
    assert back.stat().st_blocks * 512 < 8 << 20  # still sparse here


def _result(test: str, verdict: str, attempt: int) -> TestResult:
    return TestResult("t", "p", "s", test, verdict, attempt=attempt)


def test_verdicts_are_the_last_attempts_and_the_lost_ones_stay_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    log = ResultLog(path, fresh=True)
    for r in [
        _result("a", "PASS", 1),
        _result("b", "FAIL", 1),  # the lost attempt got this far
        _result("a", "PASS", 2),
        _result("b", "PASS", 2),
        _result("c", "PASS", 2),
        TestResult("u", "p", "s", "x", "PASS"),  # a job that ran once, here
    ]:
        log.add(r)
    log.close()
    results, notes = read_results(path)
    assert sorted((r.target, r.test, r.verdict) for r in results) == [
        ("t", "a", "PASS"),
        ("t", "b", "PASS"),
        ("t", "c", "PASS"),
        ("u", "x", "PASS"),
    ]
    assert len(path.read_text().splitlines()) == 6
    assert any("ran 2 times" in n and "2 earlier result(s)" in n for n in notes)


def test_a_local_result_line_has_no_attempt_field() -> None:
    assert "attempt" not in json.loads(TestResult("t", "p", "s", "x", "PASS").to_json())
    assert json.loads(_result("x", "PASS", 2).to_json())["attempt"] == 2


# ------------------------------------------------------------ the client's loop, without a cluster


class _Future:
    def __init__(self) -> None:
        self.status = "pending"
        self.outcome: dict | None = None
        self.error: BaseException | None = None

    def done(self) -> bool:
        return self.status in ("finished", "error", "cancelled")

    def result(self) -> dict:
        assert self.outcome is not None
        return self.outcome

    def exception(self) -> BaseException | None:
        return self.error

    def cancel(self) -> None:
        self.status = "cancelled"


class _Client:
    def scheduler_info(self, n_workers: int = -1) -> dict:
        return {"workers": {"w": {"resources": {VM_SLOTS: 4, MEMORY_MIB: 4096}}}}


def _follower(tmp_path: Path):  # noqa: ANN202
    import queue

    from sis.harness.executors.dask import DaskExecutor, _Follower, _Tracked

    j = Job(
        "sim",
        "default",
        "sis",
        ("suites",),
        str(tmp_path / "out" / "targets"),
        {"suites": {"suites": ["basic_commands"]}},
    )
    t = _Tracked(j, future=_Future())
    reported: list = []
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    ex = DaskExecutor(scheduler="tcp://127.0.0.1:1")
    return _Follower([t], reported.append, None, inbox, _Client(), ex), t, inbox, reported


def _start(run: str, worker: str) -> dict:
    return {
        "kind": "start",
        "job": 0,
        "run": run,
        "worker": worker,
        "host": "127.0.0.1",
        "out": f"/scratch/{run}/out",
        "inputs": f"/scratch/{run}/inputs",
    }


def _res(run: str, test: str) -> dict:
    r = TestResult(
        "sis",
        "default",
        "basic_commands",
        test,
        "PASS",
        artifacts={"console": f"/scratch/{run}/out/targets/sis-default.console.log"},
    )
    from dataclasses import asdict

    return {"kind": "result", "job": 0, "run": run, "data": asdict(r)}


def test_a_lost_attempt_is_kept_marked_and_named_in_the_jobs_timeline(tmp_path: Path) -> None:
    from sis.harness.results import JobSummary

    follow, t, inbox, reported = _follower(tmp_path)
    for msg in [
        _start("a", "tls://w1"),
        _res("a", "one"),
        _start("b", "tls://w2"),
        _res("b", "one"),
        _res("b", "two"),
        {
            "kind": "summary",
            "job": 0,
            "run": "b",
            "data": {"target": "sis", "preset": "default", "history": ()},
        },
        {"kind": "end", "job": 0, "run": "b", "error": None},
    ]:
        inbox.put(msg)
    t.future.status, t.future.outcome = "finished", {"run": "b", "files": {}, "error": None}
    follow.until_done()
    results = [r for r in reported if isinstance(r, TestResult)]
    assert [(r.test, r.attempt) for r in results] == [("one", 1), ("one", 2), ("two", 2)]
    # Paths name OUT here, not the worker's scratch directory.
    assert results[0].artifacts["console"] == str(
        tmp_path / "out" / "targets" / "sis-default.console.log"
    )
    (summary,) = [r for r in reported if isinstance(r, JobSummary)]
    (lost,) = [h for h in summary.history if h["state"] == "worker-lost"]
    assert "attempt 1 on tls://w1" in lost["why"] and "after 1 result(s)" in lost["why"]


def test_past_the_retries_the_untested_rest_is_an_error_that_says_why(tmp_path: Path) -> None:
    follow, t, inbox, reported = _follower(tmp_path)
    inbox.put(_start("a", "tls://w1"))
    inbox.put(_res("a", "pwd shows the working directory"))
    t.future.status = "error"
    t.future.error = RuntimeError("Attempted to run task on 3 workers, all died")
    follow.until_done()
    results = [r for r in reported if isinstance(r, TestResult)]
    errors = [r for r in results if r.verdict == "ERROR"]
    assert results[0].verdict == "PASS" and len(errors) == len(results) - 1 > 0
    assert all("all died" in r.reason and r.attempt == 1 for r in errors)
    assert "pwd shows the working directory" not in {r.test for r in errors}


def test_a_job_no_worker_can_take_is_an_error_after_the_wait(tmp_path: Path) -> None:
    follow, t, inbox, reported = _follower(tmp_path)
    follow.ex.resource_wait = 0.0
    t.needs = {VM_SLOTS: 1, "qemu-system-riscv64": 1}
    follow.until_done()
    results = [r for r in reported if isinstance(r, TestResult)]
    assert results and all(r.verdict == "ERROR" for r in results)
    assert "qemu-system-riscv64" in results[0].reason
    assert t.future.status == "cancelled"

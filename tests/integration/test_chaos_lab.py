"""Chaos experiments on real kernel processes: `sis chaos run` as a user runs it, rollbacks
that run when the kernel dies or the user presses Ctrl-C, skips with the reason, the same seed
giving the same faults, and the same experiments on Linux under QEMU."""

from __future__ import annotations

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

from sis.harness.chaos.experiment import load_experiment
from sis.harness.chaos.runner import run_experiment
from sis.harness.jobs import Job
from sis.harness.plan import Plan, run_plan
from sis.harness.results import read_results
from sis.harness.session import Session, State


def sis(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sis", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def journal(out: Path, name: str) -> dict:
    (path,) = (out / "chaos").glob(f"*.{name}.journal.json")
    return json.loads(path.read_text())


def test_chaos_run_passes_on_the_reference_kernel_and_writes_every_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = sis("chaos", "run", "power_cut", "network_fail", "disk_full", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS: 3 passed, 0 failed, 0 errors, 0 skipped" in r.stderr
    results, problems = read_results(out / "results.jsonl")
    assert not problems and {x.test for x in results} == {"power_cut", "network_fail", "disk_full"}
    assert {x.verdict for x in results} == {"PASS"}
    for name in ("jobs.jsonl", "junit.xml", "report.html"):
        assert (out / name).exists(), name
    page = (out / "chaos.html").read_text()
    assert page.count("<svg xmlns") == 3  # one timeline chart per experiment
    j = journal(out, "power_cut")
    assert j["status"] == "completed" and j["deviated"] is False
    assert any(w["acked"] for w in j["writes"])  # something was owed, and it came back
    assert any("clean" in n for n in j["notes"])  # sis disk fsck after the kernel was off
    kinds = {json.loads(x)["kind"] for x in (out / "chaos").glob("*.disk_full.timeline.jsonl")
             .__next__().read_text().splitlines()}  # fmt: skip
    assert {"inject", "clear", "metric", "log"} <= kinds


def test_chaos_list_names_every_built_in_with_its_fault() -> None:
    r = sis("chaos", "list", timeout=60)
    assert r.returncode == 0
    for name in ("disk_full", "disk_fail", "network_fail", "memory_pressure", "slow_io",
                 "random_panic", "power_cut"):  # fmt: skip
        assert any(line.startswith(name) for line in r.stdout.splitlines()), name


def test_a_malformed_experiment_is_one_line_before_anything_boots(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nmethod:\n  - {inject: meteor}\n")
    r = sis("chaos", "run", str(bad), "--out", str(tmp_path / "out"), timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == f"sis chaos: {bad}:3: method[0]: unknown fault 'meteor' " + (
        "(known: disk_full, disk_fail, network_fail, memory_pressure, slow_io, random_panic, "
        "power_cut, freeze)"
    )
    assert not (tmp_path / "out").exists()


def test_an_experiment_the_preset_cannot_run_is_skipped_with_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = sis("chaos", "run", "network_fail", "--preset", "no-network", "--out", str(out))
    assert r.returncode == 2  # nothing tested is not a pass
    assert "SKIP sis/no-network chaos :: network_fail: target lacks network" in r.stderr


def test_a_kernel_that_dies_mid_experiment_fails_it_and_is_rolled_back_by_restart(
    tmp_path: Path,
) -> None:
    exp_file = tmp_path / "dies.yaml"
    exp_file.write_text(
        "name: dies\nsteady_state:\n  - {run: echo alive, expect: '^alive$'}\n"
        "method:\n  - {inject: slow_io, rate: 10}\n  - {run: panic boom}\n"
    )
    session = Session("sim", workdir=tmp_path / "t")
    try:
        r = run_experiment(session, load_experiment(str(exp_file)), out=tmp_path / "j")
        assert r.verdict == "FAIL"
        assert r.reason.startswith("kernel panicked under dies")
        assert session.state is State.SHELL  # the rollback restarted it
        j = json.loads((tmp_path / "j" / f"{session.name}.dies.journal.json").read_text())
        assert j["status"] == "failed"
        assert [x["name"] for x in j["rollbacks"]][:2] == ["bring back the shell", "clear slow_io"]
        assert j["steady_state_after"]["ok"] is True
    finally:
        session.kill()


def test_ctrl_c_runs_the_rollbacks_and_the_journal_says_interrupted(tmp_path: Path) -> None:
    exp_file = tmp_path / "long.yaml"
    exp_file.write_text(
        "name: long\nmethod:\n  - {inject: network_fail, rate: 100}\n  - {wait: 60}\n"
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sis", "chaos", "run", str(exp_file), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        console = out / "targets" / "sis-default.console.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if console.exists() and b"Chaos mode set to: network_fail" in console.read_bytes():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the fault was never injected")
        os.kill(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "rolled back" in stderr and "Traceback" not in stderr
    j = journal(out, "long")
    assert j["status"] == "interrupted"
    assert [x["name"] for x in j["rollbacks"]] == ["clear network_fail"]
    # The rollback reached the kernel (out of band, through QMP x-sis-chaos): its log says so.
    kernel_log = console.with_name(console.name.replace("console.log", "kernel.log"))
    assert b"chaos mode set to none" in kernel_log.read_bytes()


def test_the_same_seed_gives_the_same_faults(tmp_path: Path) -> None:
    def acked(run: int) -> list[bool]:
        session = Session("sim", workdir=tmp_path / f"t{run}")
        try:
            r = run_experiment(session, load_experiment("disk_full"), seed=7, out=tmp_path / "j")
            assert r.verdict == "PASS", r.reason
            j = json.loads(Path(r.artifacts["journal"]).read_text())
            return [w["acked"] for w in j["writes"]]
        finally:
            session.kill()

    first = acked(1)
    assert False in first  # the fault struck
    assert acked(2) == first


def _linux_missing() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 not installed (sudo make qemu-deps)"
    from sis.harness.images import ImageError, find_kernel

    try:
        find_kernel()
    except ImageError as e:
        return str(e)
    return None


@pytest.mark.qemu
@pytest.mark.skipif(_linux_missing() is not None, reason=_linux_missing() or "")
def test_linux_disk_faults_through_blkdebug_lose_nothing_acknowledged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = sis(
        "chaos", "run", "disk_fail", "--target", "linux-busybox", "--out", str(out), timeout=600
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "PASS: 1 passed" in r.stderr
    j = journal(out, "disk_fail")
    assert "blkdebug" in j["injectors"]["disk_fail"]
    assert j["disk_cache"].startswith("volatile write cache")
    before = [w for w in j["writes"] if w["index"] < 4]  # written before the fault: all owed
    assert len(before) == 4 and all(w["acked"] for w in before)
    acked = [w["acked"] for w in j["writes"]]
    assert True in acked and False in acked  # some writes hit the failing blocks, some did not


def _linux_chaos(out: Path, experiment: str, **options: object) -> tuple[list, dict]:
    job = Job(
        target="linux-busybox", preset="default", target_name="linux-busybox",
        phases=("chaos",), workdir=str(out / "targets"),
        options={"chaos": {"experiments": [experiment], **options}},
    )  # fmt: skip
    return run_plan(Plan("chaos", [[job]], out, 1)), journal(out, experiment)


@pytest.mark.qemu
@pytest.mark.skipif(_linux_missing() is not None, reason=_linux_missing() or "")
def test_a_linux_power_cut_loses_what_was_never_flushed(tmp_path: Path) -> None:
    """The power cut drops the disk's unflushed writes (its write log says which): ext4 with
    barriers keeps every fsynced file, ext4 mounted `nobarrier` loses them."""
    (clean,), j = _linux_chaos(tmp_path / "clean", "power_cut")
    assert clean.verdict == "PASS", clean.reason
    assert any("volatile write cache lost" in n for n in j["notes"])
    (bad,), j = _linux_chaos(tmp_path / "nobarrier", "power_cut", mount_options="nobarrier")
    assert bad.verdict == "FAIL"
    assert re.match(r"lost 4096 acknowledged bytes in /mnt/chaos/f\d+ .*after the power cut$",
                    bad.reason), bad.reason  # fmt: skip

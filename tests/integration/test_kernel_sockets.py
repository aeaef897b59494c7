"""`sis kernel -serial unix:PATH` and `-qmp unix:PATH`: what is at PATH is never lost, a live
kernel's socket is never taken over, and the sockets are private to their owner."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _sis_kernel(*args: str, umask: int | None = None) -> subprocess.Popen:
    preexec = (lambda: os.umask(umask)) if umask is not None else None
    return subprocess.Popen(
        [sys.executable, "-m", "sis.kernel", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def _wait_for_socket(path: Path, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and stat.S_ISSOCK(os.lstat(path).st_mode):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(str(path))
                    return
                except OSError:
                    pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    raise TimeoutError(f"{path} never accepted a connection")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


@pytest.mark.parametrize("option", ["-serial", "-qmp"])
def test_a_regular_file_at_the_socket_path_is_kept_and_refused(tmp_path: Path, option: str):
    precious = tmp_path / "f"
    precious.write_text("precious\n")
    extra = ["-serial", "null"] if option == "-qmp" else []
    r = subprocess.run(
        [sys.executable, "-m", "sis.kernel", *extra, option, f"unix:{precious}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a socket" in lines[0] and "Traceback" not in r.stderr
    assert precious.read_text() == "precious\n"


def test_a_live_kernels_console_is_not_taken_over(tmp_path: Path):
    console = tmp_path / "con.sock"
    first = _sis_kernel("-serial", f"unix:{console}", "-nic", "none")
    try:
        _wait_for_socket(console, first)
        r = subprocess.run(
            [sys.executable, "-m", "sis.kernel", "-serial", f"unix:{console}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "socket in use" in lines[0], r.stderr
        assert first.poll() is None
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(console))  # the first kernel still owns its console
    finally:
        _stop(first)


def test_a_stale_console_socket_is_replaced(tmp_path: Path):
    console = tmp_path / "con.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(console))  # what a killed kernel leaves behind
    dead.close()
    proc = _sis_kernel("-serial", f"unix:{console}", "-nic", "none")
    try:
        _wait_for_socket(console, proc)
    finally:
        _stop(proc)


def test_console_and_qmp_sockets_are_0600_under_umask_000(tmp_path: Path):
    console, qmp = tmp_path / "con.sock", tmp_path / "qmp.sock"
    mode_before = stat.S_IMODE(os.stat(tmp_path).st_mode)
    proc = _sis_kernel("-serial", f"unix:{console}", "-qmp", f"unix:{qmp}", "-nic", "none", umask=0)
    try:
        _wait_for_socket(console, proc)
        _wait_for_socket(qmp, proc)
        assert stat.S_IMODE(os.lstat(console).st_mode) == 0o600
        assert stat.S_IMODE(os.lstat(qmp).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(tmp_path).st_mode) == mode_before
    finally:
        _stop(proc)

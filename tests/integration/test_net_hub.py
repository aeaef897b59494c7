"""Two reference kernels, as separate processes, on one local hub port ping each other through
their shells; a kernel that dies leaves a stale hub socket that the survivor cleans up."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sis.harness.console import SIS_LOG_LINE, Console, connect_unix

ETH0 = re.compile(
    r"(?m)^Interface eth0 (UP|DOWN)  addr (\S+)/24( tentative)? mac (\S+)  "
    r"rx_packets=(\d+) rx_bytes=(\d+) tx_packets=(\d+) tx_bytes=(\d+)"
)


class HubKernel:
    def __init__(self, workdir: Path, hub_dir: Path, port: int, name: str) -> None:
        self.con_path = workdir / f"{name}.sock"
        env = {**os.environ, "SIS_HUB_DIR": str(hub_dir)}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sis.kernel",
                "-nic",
                f"hub,port={port}",
                "-serial",
                f"unix:{self.con_path}",
                "-append",
                "quiet",
                "-name",
                name,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.console = Console(
            connect_unix(self.con_path, 15),
            capture_path=workdir / f"{name}-console.log",
            death_patterns=["KERNEL PANIC"],
            name=name,
        )
        self.console.log_filter = SIS_LOG_LINE
        self.console.wait_prompt(timeout=20)

    def run(self, command: str, timeout: float = 15):
        return self.console.run(command, timeout)

    def address(self, timeout: float = 10.0) -> str:
        """eth0's address once probing has settled."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.run("netstat").output
            m = ETH0.search(out)
            assert m, f"no eth0 line in netstat output:\n{out}"
            if not m.group(3):
                return m.group(2)
            assert time.monotonic() < deadline, f"eth0 address still tentative:\n{out}"
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.console.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.console.close()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[Path, int, list[HubKernel]]]:
    # A short private directory: unix socket paths are limited to 108 bytes.
    hub_dir = Path(tempfile.mkdtemp(prefix="sis-hub-"))
    port = random.randrange(1000, 60000)
    made: list[HubKernel] = []
    yield hub_dir, port, made
    for k in made:
        k.close()
    shutil.rmtree(hub_dir, ignore_errors=True)


def test_two_kernels_on_a_hub_ping_each_other(hub, tmp_path: Path):
    hub_dir, port, made = hub
    a = HubKernel(tmp_path, hub_dir, port, "a")
    made.append(a)
    b = HubKernel(tmp_path, hub_dir, port, "b")
    made.append(b)
    addr_a, addr_b = a.address(), b.address()
    subnet = f"10.0.{port % 256}."
    assert addr_a.startswith(subnet) and addr_b.startswith(subnet) and addr_a != addr_b

    r = a.run(f"ping -c 3 {addr_b}")
    assert r.status == 0, r.output
    assert "3 packets transmitted, 3 received, 0% packet loss" in r.output
    assert re.search(
        rf"(?m)^64 bytes from {re.escape(addr_b)}: icmp_seq=3 ttl=64 time=[\d.]+ ms$", r.output
    )
    r = b.run(f"ping -c 3 -i 0.2 {addr_a}")
    assert r.status == 0 and "3 received" in r.output, r.output

    m = ETH0.search(b.run("netstat").output)
    assert m and m.group(1) == "UP" and int(m.group(5)) >= 6 and int(m.group(7)) >= 6
    assert len(list((hub_dir / str(port)).glob("*.sock"))) == 2

    # b dies without closing its NIC: its socket stays behind until a sends to it.
    b.kill()
    r = a.run(f"ping -c 2 -i 0.2 -W 2 {addr_b}")
    assert r.status == 1 and "0 received" in r.output, r.output
    assert [p.name for p in (hub_dir / str(port)).glob("*.sock")] == [
        f"{m.group(4).replace(':', '')}.sock" for m in [ETH0.search(a.run("netstat").output)]
    ]

    a.console.sendline("poweroff")
    assert a.proc.wait(10) == 0
    assert not (hub_dir / str(port)).exists(), "the last kernel on a port removes its directory"

"""Boot time of the linux-busybox target: uncompressed vmlinux (PVH) vs the Debian bzImage.

Prints one JSON object. Both kernels boot in the same run, interleaved, with the profile's
command line and the same initramfs, so host load affects both alike. Time is measured from
spawning QEMU to the first shell prompt on the console socket, the way a harness sees it
(start paused, connect console, kernel log and QMP, `cont`).

    python benchmarks/boot_linux_busybox.py [--vmlinux-runs 5] [--bzimage-runs 3]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sis.harness.images import ImageError, build_initramfs, build_linux_busybox, extract_vmlinux

_LIBC = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: no orphan if we are killed


def _connect(path: Path, proc: subprocess.Popen[bytes]) -> socket.socket:
    deadline = time.monotonic() + 30
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
            return sock
        except OSError:
            sock.close()
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"QEMU did not open {path} (exit status {proc.poll()})"
                ) from None
            time.sleep(0.01)


def _drain(sock: socket.socket) -> None:
    # An unread socket stalls the guest.
    while sock.recv(65536):
        pass


def command_line(args: list[Any], values: dict[str, Any]) -> list[str]:
    """The profile's args with placeholders filled and {if: VAR, args: [...]} groups resolved."""
    out: list[str] = []
    for item in args:
        if isinstance(item, dict):
            if str(values.get(item["if"], "")).lower() not in {"", "off", "false", "no", "0"}:
                out += command_line(item["args"], values)
        else:
            out.append(str(item).format_map(values))
    return out


def boot_to_prompt(profile: dict[str, Any], kernel: Path, initramfs: Path, disk: Path) -> float:
    """Seconds from spawning QEMU to the first prompt."""
    workdir = Path(tempfile.mkdtemp(prefix="sis-bench-"))
    values = {
        **profile["qemu"]["defaults"],
        "name": "sis-bench",
        "vmlinux": kernel,
        "initramfs": initramfs,
        "disk": disk,
        "console_sock": workdir / "console.sock",
        "log_sock": workdir / "log.sock",
        "qmp_sock": workdir / "qmp.sock",
        "console_log": workdir / "console.log",
        "kernel_log": workdir / "kernel.log",
    }
    args = [profile["qemu"]["binary"], *command_line(profile["qemu"]["args"], values)]
    prompt = re.compile(profile["console"]["prompt_regex"].encode())
    stderr_path = workdir / "qemu.stderr"
    start = time.monotonic()
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            [*args, "-S"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_die_with_parent,
        )
    try:
        console = _connect(values["console_sock"], proc)
        log = _connect(values["log_sock"], proc)
        qmp = _connect(values["qmp_sock"], proc)
        threading.Thread(target=_drain, args=(log,), daemon=True).start()
        qmp_file = qmp.makefile("rwb")
        qmp_file.readline()  # greeting
        for command in ("qmp_capabilities", "cont"):
            qmp_file.write(json.dumps({"execute": command}).encode() + b"\n")
            qmp_file.flush()
            while b'"return"' not in qmp_file.readline():
                pass
        threading.Thread(target=_drain, args=(qmp,), daemon=True).start()
        console.settimeout(120)
        seen = b""
        while not prompt.search(seen):
            chunk = console.recv(65536)
            if not chunk:
                raise RuntimeError(f"console closed before the prompt: {seen[-500:]!r}")
            seen += chunk
        return time.monotonic() - start
    except (OSError, RuntimeError) as exc:
        proc.kill()
        proc.wait(timeout=10)
        stderr = stderr_path.read_text(errors="replace").strip()
        raise RuntimeError(f"{kernel.name}: {exc}; QEMU stderr: {stderr[-500:]}") from exc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vmlinux-runs", type=int, default=5)
    parser.add_argument("--bzimage-runs", type=int, default=3)
    opts = parser.parse_args()

    profile_text = resources.files("sis.harness.profiles").joinpath("linux-busybox.yaml")
    profile = yaml.safe_load(profile_text.read_text())
    if shutil.which(profile["qemu"]["binary"]) is None:
        print(json.dumps({"error": f"{profile['qemu']['binary']} not installed"}))
        return 1
    try:
        image = build_linux_busybox()
    except ImageError as exc:
        print(json.dumps({"error": str(exc)}))
        return 1

    build_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        initramfs = build_initramfs(kernel=image.kernel_version)
        build_times.append(time.perf_counter() - t0)
    bzimage_bytes = image.bzimage.read_bytes()
    t0 = time.perf_counter()
    extract_vmlinux(bzimage_bytes)
    extract_time = time.perf_counter() - t0

    with tempfile.TemporaryDirectory(prefix="sis-bench-disk-") as tmp:
        disk = Path(tmp) / "disk.raw"
        shutil.copyfile(image.disk, disk)
        # Interleaved, so a change in host load during the run hits both kernels.
        order = ["vmlinux", "bzimage"] * min(opts.vmlinux_runs, opts.bzimage_runs)
        order += ["vmlinux"] * (opts.vmlinux_runs - opts.bzimage_runs)
        order += ["bzimage"] * (opts.bzimage_runs - opts.vmlinux_runs)
        kernels = {"vmlinux": image.vmlinux, "bzimage": image.bzimage}
        runs: dict[str, list[float]] = {"vmlinux": [], "bzimage": []}
        for name in order:
            runs[name].append(boot_to_prompt(profile, kernels[name], image.initramfs, disk))

    vmlinux_median = statistics.median(runs["vmlinux"])
    bzimage_median = statistics.median(runs["bzimage"])
    result = {
        "benchmark": "boot_linux_busybox",
        "unit": "seconds",
        "kernel_version": image.kernel_version,
        "busybox_version": image.busybox_version,
        "boot_to_prompt_vmlinux": {
            "median": round(vmlinux_median, 3),
            "runs": [round(t, 3) for t in runs["vmlinux"]],
        },
        "boot_to_prompt_bzimage_baseline": {
            "median": round(bzimage_median, 3),
            "runs": [round(t, 3) for t in runs["bzimage"]],
        },
        "ratio_bzimage_to_vmlinux": round(bzimage_median / vmlinux_median, 2),
        "initramfs_build": {
            "median": round(statistics.median(build_times), 3),
            "bytes": len(initramfs),
        },
        "vmlinux_extract": {
            "seconds": round(extract_time, 3),
            "bytes": image.vmlinux.stat().st_size,
        },
        "host": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The container: built with buildah from a Debian base made here (debootstrap, no registry),
then `sis check` on the reference kernel and on linux-busybox inside it, with no network.

Long (a few minutes, ~1.2 GB of disk on a first run): `make container-test` runs it, and
`make test` runs that when buildah is there and it is root. Storage and configuration live in
their own folder (SIS_CONTAINER_DIR, default /var/tmp/sis-container-test), so the host's
podman setup is neither used nor changed; the base and the layers are reused by a second run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "localhost/sis-container-test:latest"
BASE = "localhost/debian:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
TOOLS = ("buildah", "podman", "debootstrap", "runc")


def _why_not() -> str | None:
    if not os.environ.get("SIS_CONTAINER_TEST"):
        return "long: run by `make container-test` (and by `make test` as root with buildah)"
    if os.geteuid() != 0:
        return "needs root (buildah and podman here run rootful)"
    missing = [t for t in TOOLS if not shutil.which(t) and not Path("/usr/sbin", t).exists()]
    if missing:
        return f"missing {', '.join(missing)} (sudo make qemu-deps)"
    return None


pytestmark = [
    pytest.mark.skipif(_why_not() is not None, reason=_why_not() or ""),
    pytest.mark.timeout(3600),
]


@pytest.fixture(scope="module")
def engine_env() -> dict[str, str]:
    """Environment for buildah and podman: runc with explicit limits (crun cannot raise
    RLIMIT_NOFILE here), storage in a folder of its own."""
    work = Path(os.environ.get("SIS_CONTAINER_DIR", "/var/tmp/sis-container-test"))
    (work / "storage").mkdir(parents=True, exist_ok=True)
    conf, storage = work / "containers.conf", work / "storage.conf"
    conf.write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'runtime = "runc"\n'
    )
    storage.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{work / "storage"}"\n'
        f'runroot = "{work / "run"}"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


def _run(cmd: list[str], env: dict[str, str], **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, text=True, capture_output=True, **kw)  # type: ignore[call-overload]


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (
        f"{proc.args}: exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc.stdout


@pytest.fixture(scope="module")
def built_from() -> str:
    """The commit the wheel in the image is built from."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return head.stdout.strip()


@pytest.fixture(scope="module")
def image(
    engine_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, built_from: str
) -> str:
    _ok(_run([str(ROOT / "scripts/container-base"), BASE], engine_env, timeout=900))
    # The build context: what the Containerfile copies, the wheel built from this checkout.
    context = tmp_path_factory.mktemp("context")
    shutil.copy(ROOT / "Containerfile", context)
    shutil.copy(ROOT / "requirements.lock", context)
    hatchling = Path(os.sys.executable).with_name("hatchling")
    _ok(_run([str(hatchling), "build", "-t", "wheel", "-d", str(context / "dist")], engine_env,
             cwd=ROOT, timeout=300))  # fmt: skip
    build = [
        "buildah", "bud", "--isolation", "chroot", "--layers",
        "--build-arg", f"BASE={BASE}", "--build-arg", "IMAGES=amd64",
        "-t", IMAGE, "-f", str(context / "Containerfile"),
    ]  # fmt: skip
    if HOST_CA.exists():  # pip in the build trusts what the host trusts
        build += [
            "-v",
            f"{HOST_CA}:/run/host-ca.crt:ro",
            "--build-arg",
            "PIP_CERT=/run/host-ca.crt",
        ]
    _ok(_run([*build, str(context)], engine_env, timeout=2400))
    return IMAGE


def _sis(engine_env: dict[str, str], image: str, *args: str) -> subprocess.CompletedProcess:
    return _run(
        ["podman", "run", "--rm", "--network", "none", image, *args], engine_env, timeout=900
    )


def test_the_entrypoint_is_sis_and_names_the_commit(
    engine_env: dict[str, str], image: str, built_from: str
) -> None:
    out = _ok(_sis(engine_env, image, "version"))
    assert built_from and f"SIS Kernel {built_from[:7]}" in out


def test_check_on_the_reference_kernel_passes_inside(
    engine_env: dict[str, str], image: str
) -> None:
    proc = _sis(engine_env, image, "check", "--target", "sis", "--out", "/tmp/out")
    out = _ok(proc)
    assert "PASS" in out + proc.stderr


def test_check_on_linux_busybox_passes_inside_with_no_network(
    engine_env: dict[str, str], image: str
) -> None:
    proc = _sis(engine_env, image, "check", "--target", "linux-busybox", "--out", "/tmp/out")
    out = _ok(proc)
    assert "PASS" in out + proc.stderr

"""The fuzz executor for the linux-busybox image (`sis image build linux-busybox
--fuzz-executor`): `guest/sis_executor.c`, compiled static with the Debian toolchain for the
image's architecture, and the /init hook that starts it when the machine has the fuzzer's
virtio-serial port (`org.sis.fuzz`; profiles add it only when `fuzz_executor` is on, so an
ordinary boot of the same image runs nothing more).

amd64 uses the host's `gcc` (Debian: gcc libc6-dev); arm64 the cross compiler
`aarch64-linux-gnu-gcc` (gcc-aarch64-linux-gnu libc6-dev-arm64-cross); riscv64
`riscv64-linux-gnu-gcc`. A compiled executor is cached by the digest of its source and
compiler, so rebuilding an image does not compile again."""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from sis.harness.images.arches import ArchSpec
from sis.harness.images.cache import default_image_dir, write_atomic
from sis.harness.images.errors import ImageError

__all__ = ["EXECUTOR_PATH", "PORT_NAME", "SOURCE", "compiler_for", "executor_files"]

SOURCE = Path(__file__).parent / "guest" / "sis_executor.c"
#: Where the executor lives in the guest, and the name of its virtio-serial port.
EXECUTOR_PATH = "sbin/sis-executor"
PORT_NAME = "org.sis.fuzz"
HOOK_PATH = "etc/sis-init.d/50-fuzz-executor.sh"

#: Debian arch -> (compiler, the packages that provide it and a static libc)
COMPILERS: dict[str, tuple[str, str]] = {
    "amd64": ("gcc", "gcc libc6-dev"),
    "arm64": ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu libc6-dev-arm64-cross"),
    "riscv64": ("riscv64-linux-gnu-gcc", "gcc-riscv64-linux-gnu libc6-dev-riscv64-cross"),
}
_HOST = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"}

# Sourced by /init (busybox ash) after the modules are loaded. The port exists only when the
# profile asked for it; without a virtio console device the executor is not even started.
HOOK = f"""# The SIS fuzz executor, on the virtio-serial port {PORT_NAME} when the machine has one.
for d in /sys/bus/virtio/drivers/virtio_console/virtio*; do
    [ -e "$d" ] || break
    # Restarted if something kills it; it exits 0 when the port is absent.
    (while /{EXECUTOR_PATH} {PORT_NAME}; [ $? -ne 0 ]; do sleep 0.2; done) \\
        </dev/null >/dev/null 2>&1 &
    break
done
"""


def compiler_for(arch: ArchSpec) -> str:
    """The C compiler that builds static binaries for `arch`; ImageError naming the packages
    to install when there is none."""
    name, packages = COMPILERS.get(arch.debian, ("", ""))
    if not name:
        raise ImageError(f"no fuzz executor for arch {arch.debian}")
    # The host's own gcc targets the host; a cross compiler is needed for the others.
    if _HOST.get(platform.machine()) == arch.debian and shutil.which("gcc"):
        return "gcc"
    path = shutil.which(name)
    if path is None:
        raise ImageError(
            f"the fuzz executor for {arch.debian} needs {name}: install it with "
            f"`apt-get install {packages}`"
        )
    return name


def build_executor(arch: ArchSpec) -> Path:
    """The static executor binary for `arch`, compiled once per source and compiler."""
    cc = compiler_for(arch)
    source = SOURCE.read_bytes()
    version = _compiler_version(cc)
    key = hashlib.sha256(source + version.encode() + arch.debian.encode()).hexdigest()[:16]
    cache = default_image_dir("executors")
    binary = cache / f"sis-executor-{arch.debian}-{key}"
    if binary.exists():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sis-executor-") as tmp:
        out = Path(tmp) / "sis-executor"
        cmd = [cc, "-static", "-O2", "-Wall", "-o", str(out), str(SOURCE)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ImageError(f"compiling the fuzz executor: {e}") from None
        if done.returncode != 0:
            # A missing static libc is the usual cause: name the package.
            first = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            packages = COMPILERS[arch.debian][1]
            raise ImageError(
                f"compiling the fuzz executor with {cc} failed ({first}); "
                f"`apt-get install {packages}` provides the compiler and static libc"
            )
        write_atomic(binary, out.read_bytes())
    binary.chmod(0o755)
    return binary


def _compiler_version(cc: str) -> str:
    try:
        return subprocess.run(
            [cc, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.split("\n", 1)[0]
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageError(f"cannot run {cc}: {e}") from None


def executor_files(arch: ArchSpec) -> dict[str, tuple[bytes, int]]:
    """The initramfs files that add the executor: the binary and its /init hook."""
    binary = build_executor(arch)
    return {
        EXECUTOR_PATH: (binary.read_bytes(), 0o755),
        HOOK_PATH: (HOOK.encode(), 0o644),
    }

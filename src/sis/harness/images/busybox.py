"""The busybox an image carries: the host's static one for the host's architecture, else
Debian's `busybox-static` of the image's architecture, or a file given with `--busybox`."""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sis.harness.images.arches import ArchSpec
from sis.harness.images.debian import DebianArchive
from sis.harness.images.errors import ImageError
from sis.harness.images.kernels import APT_HINT, host_arch

__all__ = ["HOST_BUSYBOX", "REQUIRED_APPLETS", "BusyboxSource", "resolve_busybox"]

HOST_BUSYBOX = (Path("/bin/busybox"), Path("/usr/bin/busybox"))

# The applets the profiles and their suites rely on.
REQUIRED_APPLETS: tuple[str, ...] = tuple(
    (
        "sh ash ls cat touch rm mkdir rmdir pwd stat df sync ps sleep kill ping ifconfig ip "
        "netstat uptime free dmesg mount umount echo uname insmod modprobe setsid stty dd grep "
        "sed awk head tail wc mknod poweroff reboot halt cttyhack hostname acpid"
    ).split()
)
ELF_MAGIC = b"\x7fELF"
# e_machine of each architecture, to refuse a busybox for the wrong one.
_MACHINES = {"amd64": 62, "arm64": 183, "riscv64": 243}


@dataclass(frozen=True)
class BusyboxSource:
    path: Path
    version: str
    # Applet paths such as "bin/ls" from `busybox --list-full` when it runs on this host;
    # None for a foreign architecture: /init links them at boot (`busybox --install -s`).
    applets: list[str] | None
    origin: str


def resolve_busybox(arch: ArchSpec, busybox: str | None, *, refresh: bool = False) -> BusyboxSource:
    if busybox is not None:
        path = Path(busybox).expanduser()
        if not path.is_file():
            raise ImageError(f"--busybox {path}: no such file")
        return _inspect(path, arch, f"file {path}")
    if arch.debian == host_arch():
        for path in HOST_BUSYBOX:
            if path.is_file() and not _dynamic(path.read_bytes()):
                return _inspect(path, arch, "installed on this host")
    root, version = DebianArchive(arch).unpack("busybox-static", refresh=refresh)
    for rel in ("bin/busybox", "usr/bin/busybox"):  # bookworm / merged-/usr trixie
        if (root / rel).is_file():
            return _inspect(root / rel, arch, f"Debian {arch.suite} busybox-static {version}")
    raise ImageError(f"busybox-static {version} for {arch.debian} holds no busybox binary")


def _inspect(path: Path, arch: ArchSpec, origin: str) -> BusyboxSource:
    data = path.read_bytes()
    if not data.startswith(ELF_MAGIC):
        raise ImageError(f"{path} is not an ELF executable")
    machine = struct.unpack_from("<H" if data[5] == 1 else ">H", data, 18)[0]
    if machine != _MACHINES.get(arch.debian, machine):
        raise ImageError(f"{path} is not a {arch.debian} executable (ELF machine {machine})")
    if _dynamic(data):
        raise ImageError(
            f"{path} is dynamically linked and cannot run alone in an initramfs: {APT_HINT}"
        )
    found = re.search(rb"BusyBox (v[0-9][0-9A-Za-z.\-]*)", data)
    version = found.group(1).decode() if found else "unknown"
    if arch.debian == host_arch():
        applets = _list_applets(path)
        names = {Path(p).name for p in applets}
    else:
        # Applet names sit in the binary as one NUL-separated table.
        applets = None
        names = {a for a in REQUIRED_APPLETS if b"\0" + a.encode() + b"\0" in data}
    missing = [a for a in REQUIRED_APPLETS if a not in names]
    if missing:
        raise ImageError(f"{path} {version} lacks applets {' '.join(missing)}: {APT_HINT}")
    return BusyboxSource(path, version, applets, origin)


def _list_applets(path: Path) -> list[str]:
    try:
        return subprocess.run(
            [str(path), "--list-full"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ImageError(f"cannot run {path}: {exc}") from exc


def _dynamic(elf: bytes) -> bool:
    """True if the ELF64 file asks for a dynamic loader (has a PT_INTERP header)."""
    if not elf.startswith(ELF_MAGIC) or elf[4] != 2:
        return False
    endian = "<" if elf[5] == 1 else ">"
    phoff = struct.unpack_from(endian + "Q", elf, 0x20)[0]
    phentsize, phnum = struct.unpack_from(endian + "HH", elf, 0x36)
    pt_interp = 3
    return any(
        struct.unpack_from(endian + "I", elf, phoff + i * phentsize)[0] == pt_interp
        for i in range(phnum)
    )

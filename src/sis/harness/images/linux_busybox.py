"""Build the `linux-busybox` lab image: a Debian kernel plus a busybox initramfs, for QEMU.

Everything comes from packages already installed on the host (`linux-image-amd64`,
`busybox-static`); nothing is downloaded and no root is needed beyond reading `/boot`.
The outputs land in one directory with a `manifest.json` that records every input, so
calling the builder again is a cheap no-op until the kernel or busybox changes
(`sis.harness.images.cache`).

    out_dir/
      vmlinux          the uncompressed ELF kernel, booted through PVH (`-kernel vmlinux`)
      initramfs.cpio.gz  busybox, the virtio/pvpanic modules and /init
      disk.raw         a 64 MiB empty raw scratch disk
      manifest.json
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

from sis.harness.images import cpio as cpio_source
from sis.harness.images import modules as modules_source
from sis.harness.images.cache import (
    default_image_dir,
    ensure_empty_disk,
    file_record,
    locked,
    sources_digest,
    up_to_date,
    write_atomic,
    write_manifest,
)
from sis.harness.images.cpio import Cpio
from sis.harness.images.errors import ImageError
from sis.harness.images.modules import Module, read_module, resolve_modules

__all__ = [
    "APT_HINT",
    "BOOT_MARKER",
    "GUEST_MODULES",
    "LinuxBusyboxImage",
    "build_initramfs",
    "build_linux_busybox",
    "extract_vmlinux",
    "find_kernel",
]

APT_HINT = "apt-get install -y --no-install-recommends linux-image-amd64 busybox-static"

BOOT_MARKER = "SIS-LINUX-READY"
HOSTNAME = "sis-linux"
DISK_SIZE = 64 * 1024 * 1024

# Debian builds these as modules; the virtio ones give the guest its disk, NIC, console and
# balloon, pvpanic-mmio drives QEMU's ISA `-device pvpanic` (ACPI id QEMU0001) and pvpanic-pci
# its PCI twin, so a guest panic reaches QMP as GUEST_PANICKED. button + evdev turn QMP
# `system_powerdown` (the ACPI power button) into an input event that acpid acts on.
GUEST_MODULES: tuple[str, ...] = (
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_console",
    "virtio_balloon",
    "pvpanic",
    "pvpanic_mmio",
    "pvpanic_pci",
    "button",
    "evdev",
)

# The applets the SIS profile and its suites rely on; every other applet busybox reports is
# linked as well.
REQUIRED_APPLETS: tuple[str, ...] = (
    "sh ash ls cat touch rm mkdir rmdir pwd stat df sync ps sleep kill ping ifconfig ip netstat "
    "uptime free dmesg mount umount echo uname insmod modprobe setsid stty dd grep sed awk head "
    "tail wc mknod poweroff reboot halt cttyhack hostname acpid"
).split()

BOOT_DIR = Path("/boot")
MODULES_DIR = Path("/lib/modules")
BUSYBOX = Path("/bin/busybox")

XZ_MAGIC = b"\xfd7zXZ\x00"
GZIP_MAGIC = b"\x1f\x8b\x08"
ELF_MAGIC = b"\x7fELF"

# The code that shapes the image.
_BUILDER_SOURCES = (__file__, cpio_source.__file__, modules_source.__file__)


@dataclass(frozen=True)
class LinuxBusyboxImage:
    """The built artefacts. Pass `disk` to QEMU through a copy or overlay if it must stay empty."""

    out_dir: Path
    vmlinux: Path  # ELF kernel for `-kernel` (PVH boot)
    bzimage: Path  # the installed /boot/vmlinuz it came from (boots too, slower)
    initramfs: Path  # gzip'd newc cpio for `-initrd`
    disk: Path  # empty raw scratch disk, DISK_SIZE bytes
    manifest: Path
    kernel_version: str
    busybox_version: str
    modules: tuple[str, ...]  # kernel modules in the initramfs, in load order
    rebuilt: bool  # False when the existing image was up to date


@dataclass(frozen=True)
class _Plan:
    """What goes into an image, resolved from the host before anything is built."""

    kernel_version: str
    vmlinuz: Path
    busybox_version: str
    applets: list[str]  # paths such as "bin/ls", from `busybox --list-full`
    modules: list[Module]  # in load order


# --------------------------------------------------------------------------- kernel


def find_kernel(kernel_version: str | None = None) -> tuple[str, Path, Path]:
    """Return (version, /boot/vmlinuz-<version>, /lib/modules/<version>) of a Debian kernel."""
    if kernel_version is not None:
        candidates = [kernel_version]
    else:
        found = [p.name.removeprefix("vmlinuz-") for p in BOOT_DIR.glob("vmlinuz-*-amd64")]
        candidates = sorted(found, key=_version_key, reverse=True)
    for version in candidates:
        vmlinuz = BOOT_DIR / f"vmlinuz-{version}"
        modules = MODULES_DIR / version
        if vmlinuz.is_file() and (modules / "modules.dep").is_file():
            if not os.access(vmlinuz, os.R_OK):
                raise ImageError(
                    f"{vmlinuz} is not readable by this user: run as root or "
                    f"`sudo chmod 0644 {vmlinuz}`"
                )
            return version, vmlinuz, modules
    if kernel_version is not None:
        raise ImageError(
            f"kernel {kernel_version} not found (need /boot/vmlinuz-{kernel_version} and "
            f"/lib/modules/{kernel_version}/modules.dep): {APT_HINT}"
        )
    raise ImageError(
        f"no Debian kernel in {BOOT_DIR} (vmlinuz-*-amd64 with its modules): {APT_HINT}"
    )


def build_linux_busybox(
    out_dir: Path | None = None,
    *,
    kernel_version: str | None = None,
    force: bool = False,
) -> LinuxBusyboxImage:
    """Build (or reuse) the linux-busybox image in `out_dir` and return its paths.

    `out_dir` defaults to `default_image_dir()`; `kernel_version` (e.g. "6.1.0-56-amd64")
    to the newest Debian kernel installed; `force` rebuilds even when the manifest matches.
    """
    out_dir = Path(out_dir) if out_dir is not None else default_image_dir()
    plan = _plan(kernel_version)
    inputs = {
        # Any change to this builder (layout, /init, archive format) invalidates old images.
        "builder_sha256": sources_digest(*_BUILDER_SOURCES),
        "kernel_version": plan.kernel_version,
        "vmlinuz": file_record(plan.vmlinuz),
        "busybox_version": plan.busybox_version,
        "busybox": file_record(BUSYBOX),
        "modules": {m.name: file_record(m.path) for m in plan.modules},
        "disk_size": DISK_SIZE,
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "vmlinux": out_dir / "vmlinux",
        "initramfs": out_dir / "initramfs.cpio.gz",
        "disk": out_dir / "disk.raw",
    }
    manifest_path = out_dir / "manifest.json"

    with locked(out_dir / ".lock"):
        rebuilt = force or not up_to_date(manifest_path, inputs, paths)
        if rebuilt:
            manifest_path.unlink(missing_ok=True)
            write_atomic(paths["vmlinux"], extract_vmlinux(plan.vmlinuz.read_bytes()))
            write_atomic(paths["initramfs"], _build_initramfs(plan))
            outputs = {name: path for name, path in paths.items() if name != "disk"}
            write_manifest(manifest_path, inputs, outputs)
        ensure_empty_disk(paths["disk"], DISK_SIZE, replace=rebuilt)

    return LinuxBusyboxImage(
        out_dir=out_dir,
        vmlinux=paths["vmlinux"],
        bzimage=plan.vmlinuz,
        initramfs=paths["initramfs"],
        disk=paths["disk"],
        manifest=manifest_path,
        kernel_version=plan.kernel_version,
        busybox_version=plan.busybox_version,
        modules=tuple(m.name for m in plan.modules),
        rebuilt=rebuilt,
    )


def build_initramfs(kernel_version: str | None = None) -> bytes:
    """The gzip'd initramfs alone, built in memory (nothing is written)."""
    return _build_initramfs(_plan(kernel_version))


def _plan(kernel_version: str | None) -> _Plan:
    version, vmlinuz, modules_dir = find_kernel(kernel_version)
    busybox_version, applets = _busybox_info()
    modules = resolve_modules(modules_dir, GUEST_MODULES)
    return _Plan(version, vmlinuz, busybox_version, applets, modules)


# --------------------------------------------------------------------------- vmlinux


def extract_vmlinux(bzimage: bytes) -> bytes:
    """Recover the ELF vmlinux from a bzImage.

    Under TCG the bzImage spends seconds decompressing itself; the ELF boots directly through
    PVH instead. The payload is the first compressed stream that inflates to an ELF file.
    """
    for magic, inflate in ((XZ_MAGIC, _inflate_xz), (GZIP_MAGIC, _inflate_gzip)):
        start = bzimage.find(magic)
        while start != -1:
            try:
                data = inflate(bzimage[start:])
            except (lzma.LZMAError, zlib.error, EOFError):  # not a stream: keep looking
                data = b""
            if data.startswith(ELF_MAGIC):
                return data
            start = bzimage.find(magic, start + 1)
    raise ImageError(
        "no xz or gzip compressed ELF kernel found in the bzImage; boot it with `-kernel "
        "vmlinuz` instead (slower) or rebuild the kernel with CONFIG_KERNEL_XZ"
    )


def _inflate_xz(data: bytes) -> bytes:
    # One stream only: the bzImage carries trailing bytes after it.
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _inflate_gzip(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


# --------------------------------------------------------------------------- busybox


def _busybox_info() -> tuple[str, list[str]]:
    """Busybox version and applet paths (e.g. `bin/ls`), after checking it is static."""
    if not BUSYBOX.is_file():
        raise ImageError(f"{BUSYBOX} not found: {APT_HINT}")
    if _elf_interpreter(BUSYBOX.read_bytes()):
        raise ImageError(
            f"{BUSYBOX} is dynamically linked and cannot run alone in an initramfs: {APT_HINT}"
        )
    try:
        banner = subprocess.run(
            [str(BUSYBOX)], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()
        listing = subprocess.run(
            [str(BUSYBOX), "--list-full"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.split()
    except (OSError, subprocess.SubprocessError) as exc:
        raise ImageError(f"cannot run {BUSYBOX}: {exc}") from exc
    match = re.search(r"BusyBox (v\S+)", banner[0] if banner else "")
    version = match.group(1) if match else "unknown"
    names = {Path(p).name for p in listing}
    missing = [a for a in REQUIRED_APPLETS if a not in names]
    if missing:
        raise ImageError(f"{BUSYBOX} {version} lacks applets {' '.join(missing)}: {APT_HINT}")
    return version, listing


def _elf_interpreter(elf: bytes) -> bool:
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


# --------------------------------------------------------------------------- /init


def _init_script(modules: list[Module]) -> str:
    names = " ".join(m.name for m in modules)
    return f"""#!/bin/sh
# PID 1 of the SIS linux-busybox image. The kernel log goes to the console= device
# (ttyS1); the shell lives on ttyS0.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/ TERM=dumb

log() {{
    # Priority 2 so the line reaches the console even with `quiet` (console_loglevel 4).
    echo "<2>sis-init: $*" > /dev/kmsg
}}

# The initramfs root is already a writable in-memory file system, /tmp included.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts

# In dependency order, with one modprobe process rather than an insmod per module: every
# process costs tens of ms under TCG.
modprobe -a {names} || log "modprobe -a failed"

# Power button (QMP system_powerdown): busybox acpid runs /etc/acpi/PWRF/00000080.
acpid

hostname {HOSTNAME}
ip link set lo up
# QEMU user networking (slirp): guest 10.0.2.15, gateway and host 10.0.2.2, DNS 10.0.2.3.
if [ -e /sys/class/net/eth0 ]; then
    ip addr add 10.0.2.15/24 dev eth0
    ip link set eth0 up
    ip route add default via 10.0.2.2
    echo "nameserver 10.0.2.3" > /etc/resolv.conf
else
    log "no eth0"
fi

read -r up _ < /proc/uptime
echo "<2>{BOOT_MARKER} uptime=$up" > /dev/kmsg

# The shell: a session leader that opens ttyS0 read-write becomes its controlling tty, so
# Ctrl-C works. Without echo, ash reads plain lines (no line editing, no cursor queries) and
# each command costs a few ms instead of tens.
# $ENV of the interactive shell. `set +m`: no job control (ash ignores +m on its command line).
# sis_kill: kill, then reap the victim before the prompt. When a background child dies while
# ash waits for input, its read() is interrupted and ash takes that for end of input and
# exits; reaping it within the command closes that window.
cat > /etc/sis-shrc <<'RC'
set +m
sis_kill() {{
    kill "$@" || return
    for last; do :; done
    wait "$last" 2>/dev/null
    return 0
}}
RC
while :; do
    setsid sh -c 'exec 0<>/dev/ttyS0 1>&0 2>&0
        stty 115200 -echo
        echo "{BOOT_MARKER}"
        ENV=/etc/sis-shrc PS1="/ # " exec sh -i'
    sleep 1
done
"""


# --------------------------------------------------------------------------- initramfs


def _build_initramfs(plan: _Plan) -> bytes:
    kernel_version, modules = plan.kernel_version, plan.modules
    cpio = Cpio()
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run"}
    dirs |= {"etc", "etc/acpi", "etc/acpi/PWRF", "root", "mnt", "var", "var/log", "var/run"}
    dirs |= {"lib", "lib/modules", f"lib/modules/{kernel_version}"}
    for module in modules:
        parent = Path(module.relpath).parent
        while str(parent) != ".":
            dirs.add(f"lib/modules/{kernel_version}/{parent}")
            parent = parent.parent
    for name in sorted(dirs):
        cpio.directory(name, 0o1777 if name == "tmp" else 0o755)
    # The kernel opens /dev/console for init before devtmpfs is mounted over /dev.
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3, 0o666)

    cpio.file("bin/busybox", BUSYBOX.read_bytes(), 0o755)
    for applet in sorted(plan.applets):
        if applet != "bin/busybox":
            cpio.symlink(applet, "/bin/busybox")

    # A modules.dep for just these modules lets `modprobe` work inside the guest too.
    dep_lines = []
    for module in modules:
        cpio.file(f"lib/modules/{kernel_version}/{module.relpath}", read_module(module))
        dep_lines.append(f"{module.relpath}: {' '.join(module.deps)}".rstrip())
    cpio.file(f"lib/modules/{kernel_version}/modules.dep", ("\n".join(dep_lines) + "\n").encode())

    cpio.file("etc/acpi/PWRF/00000080", b"#!/bin/sh\nsync\nexec poweroff -f\n", 0o755)
    cpio.file("etc/hostname", f"{HOSTNAME}\n".encode())
    cpio.file("etc/hosts", f"127.0.0.1 localhost\n10.0.2.15 {HOSTNAME}\n".encode())
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    cpio.file("etc/group", b"root:x:0:\n")
    cpio.file("init", _init_script(modules).encode(), 0o755)
    return gzip.compress(cpio.finish(), compresslevel=6, mtime=0)

"""Build the `linux-busybox` lab image: a Debian kernel plus a busybox initramfs, for QEMU, for
amd64, arm64 or riscv64.

The kernel and busybox come from the host when it has them for the image's architecture, else
from Debian's packages, downloaded and unpacked without installing anything
(`sis.harness.images.debian`); `kernels` and `busybox` say which. The outputs land in one
directory with a `manifest.json` that records the request (arch, --kernel, --busybox) and every
input, so building again is a cheap no-op until an input changes, and a target that finds the
directory rebuilds it the way it was asked for (`sis.harness.images.target`).

    out_dir/
      vmlinux | Image    the bootable kernel: the ELF vmlinux of an x86 bzImage (PVH boot), the
                         raw Image of arm64/riscv64; `vmlinuz` when it could not be extracted
      initramfs.cpio.gz  busybox, the virtio (and pvpanic) modules and /init
      disk.raw           a 64 MiB scratch disk: an empty ext4 file system (`ext4disk`)
      manifest.json

The steps (resolve the inputs, extract the kernel, assemble the initramfs, write the cache)
are separate functions, so another builder can reuse them and add files of its own.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sis.harness.images import arches as arches_source
from sis.harness.images import busybox as busybox_source
from sis.harness.images import cpio as cpio_source
from sis.harness.images import ext4disk as ext4disk_source
from sis.harness.images import kernels as kernels_source
from sis.harness.images import modules as modules_source
from sis.harness.images import payload as payload_source
from sis.harness.images.arches import ArchSpec, arch_spec
from sis.harness.images.busybox import REQUIRED_APPLETS, BusyboxSource, resolve_busybox
from sis.harness.images.cache import (
    default_image_dir,
    file_record,
    locked,
    sources_digest,
    up_to_date,
    write_atomic,
    write_manifest,
)
from sis.harness.images.cpio import Cpio
from sis.harness.images.errors import ImageError
from sis.harness.images.ext4disk import ensure_ext4_disk
from sis.harness.images.fuzz_executor import executor_files
from sis.harness.images.kernels import APT_HINT, KernelSource, find_kernel, resolve_kernel
from sis.harness.images.modules import Module, read_module, resolve_modules
from sis.harness.images.payload import Payload, extract_payload

__all__ = [
    "APT_HINT",
    "BOOT_MARKER",
    "GUEST_MODULES",
    "LinuxBusyboxImage",
    "Plan",
    "build_initramfs",
    "build_linux_busybox",
    "extract_vmlinux",
    "find_kernel",
    "initramfs_archive",
    "plan_image",
]

BOOT_MARKER = "SIS-LINUX-READY"
HOSTNAME = "sis-linux"
DISK_SIZE = 64 * 1024 * 1024
GUEST_MODULES = arch_spec("amd64").modules

# The code that shapes the image.
_BUILDER_SOURCES = tuple(
    m.__file__ or ""
    for m in (
        arches_source, busybox_source, cpio_source, kernels_source, modules_source, payload_source,
        ext4disk_source,
    )
) + (__file__,)  # fmt: skip


@dataclass(frozen=True)
class LinuxBusyboxImage:
    """The built artefacts. Pass `disk` to QEMU through a copy or overlay if it must stay empty."""

    out_dir: Path
    vmlinux: Path  # the kernel QEMU boots (`-kernel`): payload, or the compressed file
    bzimage: Path  # the kernel file it came from (boots too, slower)
    initramfs: Path  # gzip'd newc cpio for `-initrd`
    disk: Path  # scratch disk, DISK_SIZE bytes: an empty ext4 file system (ext4disk)
    manifest: Path
    kernel_version: str
    busybox_version: str
    modules: tuple[str, ...]  # kernel modules in the initramfs, in load order
    rebuilt: bool  # False when the existing image was up to date
    arch: str = "amd64"  # Debian's name
    kernel_origin: str = ""  # where the kernel came from, for the build line
    busybox_origin: str = ""
    compression: str | None = None  # how the kernel file stored the payload
    extracted: bool = True  # False: `vmlinux` is the compressed kernel, booted as it is
    note: str = ""  # why it was not extracted
    missing_modules: tuple[str, ...] = ()  # wanted, but this kernel has no such module
    fuzz_executor: bool = False  # the fuzzer's syscall executor is in the initramfs
    crash_module: bool = False  # sis_crash.ko is loaded: /proc/sis_crash crashes on demand
    crash_module_note: str = ""  # said when the module's compiler is not the kernel's


@dataclass(frozen=True)
class Plan:
    """What goes into an image, resolved before anything is built."""

    arch: ArchSpec
    kernel: KernelSource
    busybox: BusyboxSource
    modules: list[Module]  # in load order
    missing: tuple[str, ...]  # wanted modules this kernel does not have


def plan_image(
    arch: str | None = None,
    kernel: str | None = None,
    busybox: str | None = None,
    *,
    refresh: bool = False,
) -> Plan:
    spec = arch_spec(arch)
    source = resolve_kernel(spec, kernel, refresh=refresh)
    bb = resolve_busybox(spec, busybox, refresh=refresh)
    missing: list[str] = []
    modules = (
        resolve_modules(source.modules_dir, spec.modules, missing)
        if source.modules_dir is not None
        else []
    )
    return Plan(spec, source, bb, modules, tuple(missing))


def build_linux_busybox(
    out_dir: Path | None = None,
    *,
    arch: str | None = None,
    kernel: str | None = None,
    busybox: str | None = None,
    force: bool = False,
    refresh: bool = False,
    fuzz_executor: bool = False,
    crash_module: bool = False,
) -> LinuxBusyboxImage:
    """Build (or reuse) the linux-busybox image in `out_dir` and return its paths.

    `arch`: amd64 (default), arm64, riscv64 (or x86_64, aarch64). `out_dir` defaults to the
    arch's cache directory (`default_image_dir`). `kernel`: a release or a path (see
    `kernels`); `busybox`: a path. `force` rebuilds even when the manifest matches; `refresh`
    fetches Debian's package index again before choosing (else the cached one is used).
    `fuzz_executor` adds the fuzzer's syscall executor (`sis.harness.images.fuzz_executor`);
    `crash_module` the module that crashes on demand (`sis.harness.images.crash_module`).
    """
    plan = plan_image(arch, kernel, busybox, refresh=refresh)
    crash_note = ""
    if crash_module:
        from dataclasses import replace

        from sis.harness.images.crash_module import crash_module as build_crash_module

        built = build_crash_module(plan.arch, plan.kernel.release)
        plan = replace(plan, modules=[*plan.modules, built.module])
        if built.compiler.differs:
            crash_note = (
                f"compiled with {built.compiler.version}; the kernel was built with "
                f"{built.compiler.kernel or 'an unnamed compiler'}"
            )
    out_dir = Path(out_dir) if out_dir is not None else default_image_dir(plan.arch.image_name)
    # Paths recorded absolute: a target replays this request from any working directory.
    request = {
        "arch": plan.arch.debian,
        "kernel": _absolute(kernel)
        if kernel and plan.kernel.origin.startswith(("file", "unpacked"))
        else kernel,
        "busybox": _absolute(busybox) if busybox else None,
        **({"fuzz_executor": True} if fuzz_executor else {}),
        **({"crash_module": True} if crash_module else {}),
    }
    extra = executor_files(plan.arch) if fuzz_executor else {}
    inputs = {
        # Any change to this builder (layout, /init, archive format) invalidates old images.
        "builder_sha256": sources_digest(*_BUILDER_SOURCES),
        "request": request,
        "arch": plan.arch.debian,
        "kernel_version": plan.kernel.release,
        "vmlinuz": file_record(plan.kernel.image),
        "busybox_version": plan.busybox.version,
        "busybox": file_record(plan.busybox.path),
        "modules": {m.name: file_record(m.path) for m in plan.modules},
        "disk_size": DISK_SIZE,
        "disk_fs": "ext4",
        **{f"extra:{p}": hashlib.sha256(d).hexdigest() for p, (d, _) in sorted(extra.items())},
    }

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / "manifest.json"
    with locked(out_dir / ".lock"):
        previous = _recorded_kernel(manifest_path)
        paths = {
            "vmlinux": out_dir / previous.get("file", _kernel_name(plan.arch, True)),
            "initramfs": out_dir / "initramfs.cpio.gz",
            "disk": out_dir / "disk.raw",
        }
        rebuilt = force or not up_to_date(manifest_path, inputs, paths)
        if rebuilt:
            manifest_path.unlink(missing_ok=True)
            payload = extract_payload(plan.kernel.image.read_bytes(), plan.arch.payload)
            paths["vmlinux"] = out_dir / _kernel_name(plan.arch, payload.extracted)
            for stale in {"vmlinux", "Image", "vmlinuz"} - {paths["vmlinux"].name}:
                (out_dir / stale).unlink(missing_ok=True)
            write_atomic(paths["vmlinux"], payload.data)
            write_atomic(paths["initramfs"], initramfs_archive(plan, extra))
            previous = _kernel_record(paths["vmlinux"], payload)
            outputs = {name: path for name, path in paths.items() if name != "disk"}
            write_manifest(manifest_path, inputs, outputs, extra={"kernel": previous})
        ensure_ext4_disk(paths["disk"], DISK_SIZE, replace=rebuilt)

    return LinuxBusyboxImage(
        out_dir=out_dir,
        vmlinux=paths["vmlinux"],
        bzimage=plan.kernel.image,
        initramfs=paths["initramfs"],
        disk=paths["disk"],
        manifest=manifest_path,
        kernel_version=plan.kernel.release,
        busybox_version=plan.busybox.version,
        modules=tuple(m.name for m in plan.modules),
        rebuilt=rebuilt,
        arch=plan.arch.debian,
        kernel_origin=plan.kernel.origin,
        busybox_origin=plan.busybox.origin,
        compression=previous.get("compression"),
        extracted=bool(previous.get("extracted", True)),
        note=str(previous.get("note", "")),
        missing_modules=plan.missing,
        fuzz_executor=fuzz_executor,
        crash_module=crash_module,
        crash_module_note=crash_note,
    )


def _absolute(path: str) -> str:
    return str(Path(path).expanduser().resolve())


def _kernel_name(arch: ArchSpec, extracted: bool) -> str:
    if not extracted:
        return "vmlinuz"
    return "vmlinux" if arch.payload == "elf" else "Image"


def _kernel_record(path: Path, payload: Payload) -> dict[str, object]:
    return {
        "file": path.name,
        "compression": payload.compression,
        "extracted": payload.extracted,
        "note": payload.note,
    }


def _recorded_kernel(manifest_path: Path) -> dict[str, object]:
    import json

    try:
        record = json.loads(manifest_path.read_text()).get("kernel", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return record if isinstance(record, dict) and isinstance(record.get("file"), str) else {}


def build_initramfs(
    arch: str | None = None, kernel: str | None = None, busybox: str | None = None
) -> bytes:
    """The gzip'd initramfs alone, built in memory (nothing is written)."""
    return initramfs_archive(plan_image(arch, kernel, busybox))


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The ELF vmlinux inside an x86 bzImage (any compression the kernel build supports)."""
    found = extract_payload(bzimage, "elf")
    if not found.extracted:
        raise ImageError(f"{found.note}; boot the bzImage itself with `-kernel` (slower)")
    return found.data


# --------------------------------------------------------------------------- /init


def init_script(plan: Plan) -> str:
    names = " ".join(m.name for m in plan.modules)
    load = f'modprobe -a {names} || log "modprobe -a failed"' if names else ": no modules"
    # A busybox for another architecture cannot list its applets at build time: it links
    # them itself at boot (one process; the applets /init needs are linked already).
    install = "" if plan.busybox.applets is not None else "/bin/busybox --install -s\n"
    return f"""#!/bin/sh
# PID 1 of the SIS linux-busybox image ({plan.arch.debian}). The kernel log goes to the
# console= device; the shell lives on `sis.shell=TTY` from the kernel command line
# (default {plan.arch.shell_tty}).
export PATH=/sbin:/bin:/usr/sbin:/usr/bin HOME=/ TERM=dumb

log() {{
    # Priority 2 so the line reaches the console at any log level.
    echo "<2>sis-init: $*" > /dev/kmsg
}}

# The initramfs root is already a writable in-memory file system, /tmp included.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
{install}
# In dependency order, with one modprobe process rather than an insmod per module: every
# process costs tens of ms under TCG.
{load}

shell_tty={plan.arch.shell_tty}
read -r cmdline < /proc/cmdline
for word in $cmdline; do
    case $word in sis.shell=*) shell_tty=${{word#sis.shell=}} ;; esac
done

# Power button (QMP system_powerdown): busybox acpid runs /etc/acpi/PWRF/00000080.
acpid

# Services an image adds (`initramfs_archive(plan, extra)`): /etc/sis-init.d/*.sh, in order.
for hook in /etc/sis-init.d/*.sh; do [ -e "$hook" ] && . "$hook"; done

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

# The shell's tty appears when its driver binds (a virtio console is probed by modprobe).
n=0
while [ ! -e /dev/$shell_tty ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
[ -e /dev/$shell_tty ] || log "no /dev/$shell_tty for the shell"

read -r up _ < /proc/uptime
echo "<2>{BOOT_MARKER} uptime=$up" > /dev/kmsg

# The shell: a session leader that opens its tty read-write becomes its controlling tty, so
# Ctrl-C works. Without echo, ash reads plain lines (no line editing, no cursor queries) and
# each command costs a few ms instead of tens. A serial line runs at 115200 baud (the default
# 9600 adds ms per command); a virtio console has no speed.
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
case $shell_tty in ttyS*|ttyAMA*) speed=115200 ;; *) speed= ;; esac
export shell_tty speed
while :; do
    setsid sh -c 'exec 0<>/dev/$shell_tty 1>&0 2>&0
        stty $speed -echo
        echo "{BOOT_MARKER}"
        ENV=/etc/sis-shrc PS1="/ # " exec sh -i'
    sleep 1
done
"""


# --------------------------------------------------------------------------- initramfs


def initramfs_archive(plan: Plan, extra: dict[str, tuple[bytes, int]] | None = None) -> bytes:
    """The gzip'd newc initramfs of a plan; `extra` adds files (path -> (data, mode))."""
    release, modules = plan.kernel.release, plan.modules
    cpio = Cpio()
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run"}
    dirs |= {"etc", "etc/acpi", "etc/acpi/PWRF", "root", "mnt", "var", "var/log", "var/run"}
    dirs |= {"lib", "lib/modules", f"lib/modules/{release}"}
    for module in modules:
        parent = Path(module.relpath).parent
        while str(parent) != ".":
            dirs.add(f"lib/modules/{release}/{parent}")
            parent = parent.parent
    for path in extra or {}:
        parent = Path(path).parent
        while str(parent) != ".":
            dirs.add(str(parent))
            parent = parent.parent
    for name in sorted(dirs):
        cpio.directory(name, 0o1777 if name == "tmp" else 0o755)
    # The kernel opens /dev/console for init before devtmpfs is mounted over /dev.
    cpio.char_device("dev/console", 5, 1)
    cpio.char_device("dev/null", 1, 3, 0o666)

    cpio.file("bin/busybox", plan.busybox.path.read_bytes(), 0o755)
    applets = plan.busybox.applets
    if applets is None:  # the rest are linked at boot
        applets = [f"bin/{a}" for a in REQUIRED_APPLETS]
    for applet in sorted(set(applets)):
        if applet != "bin/busybox":
            cpio.symlink(applet, "/bin/busybox")

    # A modules.dep for just these modules lets `modprobe` work inside the guest too.
    dep_lines = []
    for module in modules:
        cpio.file(f"lib/modules/{release}/{module.relpath}", read_module(module))
        dep_lines.append(f"{module.relpath}: {' '.join(module.deps)}".rstrip())
    cpio.file(f"lib/modules/{release}/modules.dep", ("\n".join(dep_lines) + "\n").encode())

    cpio.file("etc/acpi/PWRF/00000080", b"#!/bin/sh\nsync\nexec poweroff -f\n", 0o755)
    cpio.file("etc/hostname", f"{HOSTNAME}\n".encode())
    cpio.file("etc/hosts", f"127.0.0.1 localhost\n10.0.2.15 {HOSTNAME}\n".encode())
    cpio.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    cpio.file("etc/group", b"root:x:0:\n")
    for path, (data, mode) in sorted((extra or {}).items()):
        cpio.file(path, data, mode)
    cpio.file("init", init_script(plan).encode(), 0o755)
    return gzip.compress(cpio.finish(), compresslevel=6, mtime=0)

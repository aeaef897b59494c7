"""The architectures the linux-busybox image is built for, as data: where Debian keeps their
kernels, which modules the guest needs, which tty its shell lives on.

A name may be Debian's (`amd64`, `arm64`, `riscv64`) or the kernel's and QEMU's (`x86_64`,
`aarch64`): profiles say `arch: aarch64`, `sis image build` takes `--arch arm64`."""

from __future__ import annotations

from dataclasses import dataclass

from sis.harness.images.errors import ImageError

__all__ = ["ARCHES", "ArchSpec", "arch_spec"]


@dataclass(frozen=True)
class ArchSpec:
    debian: str  # Debian's architecture name: package suffix and kernel flavour
    qemu: str  # the kernel's and QEMU's name (qemu-system-<qemu>)
    suite: str  # the Debian release whose packages the image is built from
    kernel_prefix: str  # /boot/<prefix>-<version> in the kernel package
    payload: str  # what the bootable kernel is: "elf" (x86 PVH) or "image" (arm64/riscv Image)
    shell_tty: str  # the tty /init starts the shell on (`sis.shell=` on the command line wins)
    modules: tuple[str, ...]  # wanted in the initramfs; missing or built-in ones are skipped

    @property
    def image_name(self) -> str:
        """The image's directory name in the cache: the arch is part of the cache key."""
        return "linux-busybox" if self.debian == "amd64" else f"linux-busybox-{self.debian}"


# ext4 for the chaos disk (made on the host with mkfs.ext4): crc32c_generic first, since ext4
# and jbd2 ask the crypto API for "crc32c" by name and the initramfs has no modules.alias.
EXT4_MODULES = ("crc16", "crc32c_generic", "mbcache", "jbd2", "ext4")

# amd64: Debian builds these as modules; the virtio ones give the guest its disk, NIC, console
# and balloon, pvpanic-mmio drives QEMU's ISA `-device pvpanic` (ACPI id QEMU0001) and
# pvpanic-pci its PCI twin, so a guest panic reaches QMP as GUEST_PANICKED. button + evdev turn
# QMP `system_powerdown` (the ACPI power button) into an input event that acpid acts on.
# arm64: no pvpanic in Debian's config; the virt board's power button is a gpio-keys device
# (PL061 is built in). riscv64: virtio_pci and virtio_console are built in.
ARCHES: dict[str, ArchSpec] = {
    "amd64": ArchSpec(
        debian="amd64",
        qemu="x86_64",
        suite="bookworm",
        kernel_prefix="vmlinuz",
        payload="elf",
        shell_tty="ttyS0",
        modules=(
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
            *EXT4_MODULES,
        ),  # fmt: skip
    ),
    "arm64": ArchSpec(
        debian="arm64",
        qemu="aarch64",
        suite="bookworm",
        kernel_prefix="vmlinuz",
        payload="image",
        shell_tty="hvc0",
        modules=(
            "virtio_mmio",
            "virtio_pci",
            "virtio_blk",
            "virtio_net",
            "virtio_console",
            "virtio_balloon",
            "pvpanic_pci",
            "gpio_keys",
            "evdev",
            *EXT4_MODULES,
        ),  # fmt: skip
    ),
    "riscv64": ArchSpec(
        debian="riscv64",
        qemu="riscv64",
        # Debian's riscv64 port starts with trixie: bookworm has none.
        suite="trixie",
        kernel_prefix="vmlinux",
        payload="image",
        shell_tty="hvc0",
        modules=(
            "virtio_mmio",
            "virtio_pci",
            "virtio_blk",
            "virtio_net",
            "virtio_console",
            "virtio_balloon",
            "pvpanic_pci",
            "evdev",
            *EXT4_MODULES,
        ),  # fmt: skip
    ),
}
_ALIASES = {spec.qemu: name for name, spec in ARCHES.items()} | {"x86-64": "amd64"}


def arch_spec(name: str | None) -> ArchSpec:
    """The spec for a Debian or QEMU architecture name; None is the host's usual amd64."""
    key = "amd64" if name is None else _ALIASES.get(name, name)
    spec = ARCHES.get(key)
    if spec is None:
        known = ", ".join(sorted(ARCHES))
        raise ImageError(f"linux-busybox is not built for arch {name!r} (known: {known})")
    return spec

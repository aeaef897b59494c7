"""Bootable images for QEMU targets, built from the host's packages or Debian's.

* `linux_busybox`: the ``linux-busybox`` image, a Debian kernel plus a busybox initramfs, for
  amd64, arm64 and riscv64.
* `arches`: what differs between those architectures, as data.
* `kernels`, `busybox`: which kernel and busybox an image is built from.
* `debian`: Debian packages of any architecture, fetched and unpacked without installing them.
* `payload`: the bootable kernel inside a compressed kernel file.
* `cpio`: the newc archive writer for initramfs images.
* `modules`: kernel module dependency resolution from ``modules.dep``.
* `cache`: the image cache directory, its manifest of inputs, locking and atomic writes.
* `target`: the image a profile's target boots (``image: {builder: linux-busybox, dir: ...}``).
"""

from sis.harness.images.arches import ARCHES, arch_spec
from sis.harness.images.cache import default_image_dir
from sis.harness.images.errors import ImageError
from sis.harness.images.linux_busybox import (
    APT_HINT,
    BOOT_MARKER,
    GUEST_MODULES,
    LinuxBusyboxImage,
    build_initramfs,
    build_linux_busybox,
    extract_vmlinux,
    find_kernel,
)
from sis.harness.images.target import target_image

__all__ = [
    "APT_HINT",
    "ARCHES",
    "BOOT_MARKER",
    "GUEST_MODULES",
    "ImageError",
    "LinuxBusyboxImage",
    "arch_spec",
    "build_initramfs",
    "build_linux_busybox",
    "default_image_dir",
    "extract_vmlinux",
    "find_kernel",
    "target_image",
]

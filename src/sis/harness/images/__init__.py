"""Bootable images for QEMU targets, built from the host's packages.

* `linux_busybox`: the ``linux-busybox`` image, a Debian kernel plus a busybox initramfs.
* `cpio`: the newc archive writer for initramfs images.
* `modules`: kernel module dependency resolution from ``modules.dep``.
* `cache`: the image cache directory, its manifest of inputs, locking and atomic writes.
"""

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

__all__ = [
    "APT_HINT",
    "BOOT_MARKER",
    "GUEST_MODULES",
    "ImageError",
    "LinuxBusyboxImage",
    "build_initramfs",
    "build_linux_busybox",
    "default_image_dir",
    "extract_vmlinux",
    "find_kernel",
]

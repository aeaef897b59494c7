"""A real kernel under QEMU as a lab target, as its profile describes it."""

from __future__ import annotations

import shutil

from sis.harness.targets.base import TargetError
from sis.harness.targets.process import ProcessTarget

INSTALL_HINT = (
    "install it with `make qemu-deps` (Debian: qemu-system-x86 linux-image-amd64 busybox-static)"
)


class QemuTarget(ProcessTarget):
    def executable(self) -> list[str]:
        binary = self.profile.binary or "qemu-system-x86_64"
        path = shutil.which(binary)
        if path is None:
            raise TargetError(f"{binary} not found: {INSTALL_HINT}")
        return [path]

    def values(self) -> dict[str, str]:
        image = self.profile.image
        if image.get("builder") == "linux-busybox":
            from sis.harness.images import ImageError, build_linux_busybox, default_image_dir

            try:
                built = build_linux_busybox(default_image_dir())
            except ImageError as e:
                raise TargetError(str(e)) from None
            disk = self._path("disk.img")
            if not disk.exists():
                shutil.copyfile(built.disk, disk)  # each VM gets its own scratch disk
            return {
                "vmlinux": str(built.vmlinux),
                "initramfs": str(built.initramfs),
                "disk": str(disk),
            }
        paths = {
            k: str(v)
            for k, v in image.items()
            if k in ("vmlinux", "kernel", "initramfs", "initrd", "disk")
        }
        if "disk" in paths:
            # The user's disk is their master copy: each VM of a run writes its own copy.
            copy = self._path("disk.img")
            if not copy.exists():
                try:
                    shutil.copyfile(paths["disk"], copy)
                except OSError as e:
                    raise TargetError(
                        f"cannot copy the disk {paths['disk']}: {e.strerror}"
                    ) from None
            paths["disk"] = str(copy)
        return paths

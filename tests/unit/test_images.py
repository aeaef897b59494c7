"""Image building without QEMU or a Debian kernel: the cpio archive, module resolution, the
cache and kernel extraction, on files made here."""

from __future__ import annotations

import gzip
import lzma
import os
import stat
from pathlib import Path

import pytest

from sis.harness.images import ImageError, default_image_dir, extract_vmlinux, kernels
from sis.harness.images.cache import ensure_empty_disk, up_to_date, write_manifest
from sis.harness.images.cpio import Cpio
from sis.harness.images.modules import read_module, resolve_modules


def read_newc(archive: bytes) -> list[tuple[str, int, bytes, tuple[int, int]]]:
    """(name, mode, data, rdev) of each entry, as the kernel unpacks a newc archive."""
    entries, pos = [], 0
    while True:
        assert archive[pos : pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, rdev, namesize = fields[1], fields[6], (fields[9], fields[10]), fields[11]
        pos += 110
        name = archive[pos : pos + namesize - 1].decode()
        pos = (pos + namesize + 3) & ~3
        data = archive[pos : pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            assert pos == len(archive)
            return entries
        entries.append((name, mode, data, rdev))


def test_cpio_archive_unpacks_to_what_was_put_in() -> None:
    cpio = Cpio()
    cpio.directory("bin")
    cpio.file("bin/busybox", b"\x7fELF...", 0o755)
    cpio.symlink("bin/ls", "/bin/busybox")
    cpio.char_device("dev/console", 5, 1)
    cpio.file("init", b"#!/bin/sh\n", 0o755)
    archive = cpio.finish()
    assert len(archive) % 4 == 0
    entries = read_newc(archive)
    assert [e[0] for e in entries] == ["bin", "bin/busybox", "bin/ls", "dev/console", "init"]
    by_name = {name: (mode, data, rdev) for name, mode, data, rdev in entries}
    assert stat.S_ISDIR(by_name["bin"][0])
    assert by_name["bin/busybox"] == (stat.S_IFREG | 0o755, b"\x7fELF...", (0, 0))
    assert stat.S_ISLNK(by_name["bin/ls"][0]) and by_name["bin/ls"][1] == b"/bin/busybox"
    assert stat.S_ISCHR(by_name["dev/console"][0]) and by_name["dev/console"][2] == (5, 1)


def test_cpio_archive_is_reproducible() -> None:
    def build() -> bytes:
        cpio = Cpio()
        cpio.file("etc/hostname", b"sis-linux\n")
        return cpio.finish()

    assert build() == build()


@pytest.fixture
def modules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "6.1.0-test-amd64"
    kernel = d / "kernel" / "drivers"
    kernel.mkdir(parents=True)
    (kernel / "virtio.ko.xz").write_bytes(lzma.compress(b"virtio module"))
    (kernel / "virtio_ring.ko.gz").write_bytes(gzip.compress(b"ring module"))
    (kernel / "virtio_blk.ko").write_bytes(b"blk module")
    (d / "modules.dep").write_text(
        "kernel/drivers/virtio_blk.ko: kernel/drivers/virtio_ring.ko.gz kernel/drivers/virtio.ko.xz\n"
        "kernel/drivers/virtio_ring.ko.gz: kernel/drivers/virtio.ko.xz\n"
        "kernel/drivers/virtio.ko.xz:\n"
    )
    (d / "modules.builtin").write_text("kernel/drivers/virtio-pci.ko\n")
    return d


def test_modules_come_with_their_dependencies_in_load_order(modules_dir: Path) -> None:
    mods = resolve_modules(modules_dir, ("virtio-blk", "virtio_pci"))
    assert [m.name for m in mods] == ["virtio", "virtio_ring", "virtio_blk"]
    blk = mods[-1]
    assert blk.relpath == "kernel/drivers/virtio_blk.ko"
    assert blk.deps == ("kernel/drivers/virtio_ring.ko", "kernel/drivers/virtio.ko")
    assert [read_module(m) for m in mods] == [b"virtio module", b"ring module", b"blk module"]


def test_an_unknown_module_is_named(modules_dir: Path) -> None:
    with pytest.raises(ImageError, match="kernel module e1000 not found"):
        resolve_modules(modules_dir, ("e1000",))


def test_the_image_is_up_to_date_only_while_inputs_and_outputs_match(tmp_path: Path) -> None:
    out = tmp_path / "vmlinux"
    out.write_bytes(b"kernel")
    manifest = tmp_path / "manifest.json"
    inputs: dict[str, object] = {"kernel_version": "6.1.0"}
    assert not up_to_date(manifest, inputs, {"vmlinux": out})
    write_manifest(manifest, inputs, {"vmlinux": out})
    assert up_to_date(manifest, inputs, {"vmlinux": out})
    assert not up_to_date(manifest, {"kernel_version": "6.2.0"}, {"vmlinux": out})
    out.write_bytes(b"truncated")
    assert not up_to_date(manifest, inputs, {"vmlinux": out})


def test_the_scratch_disk_is_made_empty_again(tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    ensure_empty_disk(disk, 1 << 20, replace=False)
    assert disk.stat().st_size == 1 << 20 and disk.read_bytes().count(0) == 1 << 20
    with disk.open("r+b") as f:
        f.seek(4096)
        f.write(b"written by a guest")
    ensure_empty_disk(disk, 1 << 20, replace=False)
    assert disk.read_bytes().count(0) == 1 << 20


def test_images_are_cached_under_xdg_cache_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_image_dir() == tmp_path / "sis" / "images" / "linux-busybox"


def test_the_elf_kernel_is_found_inside_a_bzimage() -> None:
    elf = b"\x7fELF" + os.urandom(64)
    setup = b"MZ boot sector" + b"\xfd7zXZ\x00 not a stream" + b"\0" * 32
    bzimage = setup + lzma.compress(elf, format=lzma.FORMAT_XZ) + b"trailing bytes"
    assert extract_vmlinux(bzimage) == elf
    with pytest.raises(ImageError, match="no ELF vmlinux found inside"):
        extract_vmlinux(b"MZ" + gzip.compress(b"not an ELF"))


def test_a_host_without_a_kernel_is_told_which_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernels, "BOOT_DIR", tmp_path)
    with pytest.raises(ImageError, match="linux-image-amd64"):
        kernels.find_kernel()

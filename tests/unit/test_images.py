"""Image building without QEMU or a Debian kernel: the cpio archive, module resolution, the
cache and kernel extraction, on files made here."""

from __future__ import annotations

import gzip
import json
import lzma
import os
import stat
from pathlib import Path

import pytest

from sis.harness.images import (
    ImageError,
    arch_spec,
    busybox,
    default_image_dir,
    extract_vmlinux,
    kernels,
)
from sis.harness.images.cache import ensure_empty_disk, up_to_date, write_manifest
from sis.harness.images.cpio import Cpio
from sis.harness.images.modules import Module, read_module, resolve_modules
from sis.harness.images.payload import Payload, extract_payload
from sis.harness.images.target import image_dir, target_image


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


# --------------------------------------------------------------------------- any kernel


def _legacy_lz4(data: bytes) -> bytes:
    """The legacy lz4 frame the kernel build writes (`lz4 -l`), plus its size trailer."""
    import lz4.block

    out = bytearray(b"\x02\x21\x4c\x18")
    for i in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[i : i + (8 << 20)], store_size=False)
        out += len(block).to_bytes(4, "little") + block
    return bytes(out) + len(data).to_bytes(4, "little")


def _compressed(name: str, data: bytes) -> bytes:
    import bz2

    import zstandard

    return {
        "gzip": lambda: gzip.compress(data),
        "xz": lambda: lzma.compress(data, format=lzma.FORMAT_XZ),
        "bzip2": lambda: bz2.compress(data),
        "lzma": lambda: lzma.compress(data, format=lzma.FORMAT_ALONE),
        "lz4": lambda: _legacy_lz4(data),
        "zstd": lambda: zstandard.ZstdCompressor(level=19).compress(data),
    }[name]()


@pytest.mark.parametrize("compression", ["gzip", "xz", "bzip2", "lzma", "lz4", "zstd"])
def test_the_kernel_is_unpacked_whatever_its_compression(compression: str) -> None:
    elf = b"\x7fELF" + os.urandom(4096) * 3
    setup = b"MZ real-mode setup" + os.urandom(512) + b"\0" * 64
    bzimage = setup + _compressed(compression, elf) + b"\0" * 16
    found = extract_payload(bzimage, "elf")
    assert (found.data, found.compression, found.extracted) == (elf, compression, True)


def test_an_arm64_image_is_found_plain_gzipped_or_inside_a_zboot_stub() -> None:
    image = b"\0" * 0x38 + b"ARM\x64" + os.urandom(2048)
    assert extract_payload(image, "image") == Payload(image, None, True)
    assert extract_payload(gzip.compress(image), "image").data == image
    zboot = b"MZ\0\0zimg" + b"\0" * 120 + _compressed("zstd", image) + b"\0" * 64
    assert extract_payload(zboot, "image").compression == "zstd"


def test_a_kernel_that_cannot_be_unpacked_boots_compressed_and_says_why() -> None:
    kernel = b"MZ" + os.urandom(1024) + gzip.compress(b"not a kernel")
    found = extract_payload(kernel, "elf")
    assert found.data == kernel and not found.extracted
    assert "no ELF vmlinux found" in found.note and "lz4" in found.note
    lzo = extract_payload(b"MZ" + b"\x89LZO\0\r\n\x1a\n" + os.urandom(64), "elf")
    assert not lzo.extracted


def test_the_default_kernel_is_the_newest_plain_flavour_by_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boot, modules = tmp_path / "boot", tmp_path / "modules"
    releases = ["6.1.0-9-amd64", "6.1.0-56-amd64", "6.1.0-100-rt-amd64", "6.1.0-99-cloud-amd64"]
    for release in releases:
        (boot).mkdir(exist_ok=True)
        (boot / f"vmlinuz-{release}").write_bytes(b"kernel")
        (modules / release).mkdir(parents=True)
        (modules / release / "modules.dep").write_text("")
    monkeypatch.setattr(kernels, "BOOT_DIR", boot)
    monkeypatch.setattr(kernels, "MODULES_DIR", modules)
    # A digit-only sort would take the rt kernel (100 > 56); a string sort 6.1.0-9.
    assert kernels.find_kernel()[0] == "6.1.0-56-amd64"
    assert kernels.find_kernel("6.1.0-100-rt-amd64")[0] == "6.1.0-100-rt-amd64"


def test_plain_flavours_and_version_order() -> None:
    assert kernels.is_plain_flavour("6.1.0-56-amd64", "amd64")
    assert kernels.is_plain_flavour("6.12.117+deb13-riscv64", "riscv64")
    for other in ("6.1.0-56-rt-amd64", "6.1.0-56-cloud-amd64", "6.1.0-56-arm64"):
        assert not kernels.is_plain_flavour(other, "amd64")
    ordered = ["6.1.0-9-amd64", "6.1.0-56-amd64", "6.1.0-100-amd64", "6.10.0-1-amd64"]
    assert sorted(reversed(ordered), key=kernels.version_key) == ordered


def test_arches_have_their_own_cache_directory_and_names() -> None:
    assert arch_spec("aarch64") is arch_spec("arm64")
    assert arch_spec(None).debian == "amd64"
    names = {arch_spec(a).image_name for a in ("amd64", "arm64", "riscv64")}
    assert names == {"linux-busybox", "linux-busybox-arm64", "linux-busybox-riscv64"}
    with pytest.raises(ImageError, match="known: amd64, arm64, riscv64"):
        arch_spec("mips")


def test_a_kernel_without_some_wanted_modules_still_builds(modules_dir: Path) -> None:
    missing: list[str] = []
    mods = resolve_modules(modules_dir, ("virtio_blk", "pvpanic_pci"), missing)
    assert [m.name for m in mods][-1] == "virtio_blk" and missing == ["pvpanic_pci"]


def test_zstd_modules_are_decompressed(tmp_path: Path) -> None:
    import zstandard

    path = tmp_path / "virtio_blk.ko.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(b"blk module"))
    module = Module("virtio_blk", path, "virtio_blk.ko", ())
    assert read_module(module) == b"blk module"


def test_a_profile_finds_its_image_in_dir_relative_to_the_profile(tmp_path: Path) -> None:
    profile = tmp_path / "profiles" / "mine.yaml"
    assert image_dir("arm64", "../images/arm", profile) == tmp_path / "images" / "arm"
    assert image_dir("aarch64", None, profile).name == "linux-busybox-arm64"
    with pytest.raises(ImageError, match=r"sis image build linux-busybox --arch riscv64 --out"):
        target_image("riscv64", str(tmp_path / "empty"), None)


def test_a_dir_built_for_another_arch_is_refused(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"inputs": {"request": {"arch": "amd64", "kernel": None, "busybox": None}}})
    )
    with pytest.raises(ImageError, match="holds a amd64 image, but the profile's arch is aarch64"):
        target_image("aarch64", str(tmp_path), None)


def test_a_foreign_busybox_is_checked_without_running_it(tmp_path: Path) -> None:
    # A static aarch64 ELF header (no PT_INTERP) and an applet table, as busybox lays it out.
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    header[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    header[0x20:0x28] = (64).to_bytes(8, "little")
    header[0x36:0x38] = (56).to_bytes(2, "little")
    table = b"\0".join(a.encode() for a in busybox.REQUIRED_APPLETS)
    binary = tmp_path / "busybox"
    binary.write_bytes(bytes(header) + b"\0" + table + b"\0BusyBox v1.35.0 (Debian)\0")
    found = busybox.resolve_busybox(arch_spec("arm64"), str(binary))
    assert (found.version, found.applets) == ("v1.35.0", None)
    with pytest.raises(ImageError, match="not a riscv64 executable"):
        busybox.resolve_busybox(arch_spec("riscv64"), str(binary))
    binary.write_bytes(bytes(header) + b"\0sh\0ls\0")
    with pytest.raises(ImageError, match="lacks applets"):
        busybox.resolve_busybox(arch_spec("arm64"), str(binary))

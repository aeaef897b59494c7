"""The bootable kernel inside a distribution's kernel file.

Under TCG a compressed kernel spends seconds decompressing itself, so the builder hands QEMU
the payload instead: the ELF `vmlinux` of an x86 bzImage (booted through PVH), or the raw
`Image` of an arm64/riscv64 kernel (plain, gzip'd, or wrapped in an EFI zboot stub, which
QEMU cannot boot without firmware). The payload is the first compressed stream, in any of the
formats the kernel build supports (gzip, xz, bzip2, lzma, lzo, lz4, zstd), that inflates to
the right kind of file. Decompression uses the standard library and the `lz4` and `zstandard`
packages; LZO needs the `lzop` program. Where no payload can be recovered, the caller boots the
file as it is, and says so.
"""

from __future__ import annotations

import bz2
import lzma
import shutil
import struct
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COMPRESSIONS", "Payload", "extract_payload", "is_payload"]

ELF_MAGIC = b"\x7fELF"
# The arm64 and riscv64 boot protocols put a magic number at offset 0x38 of an Image.
_IMAGE_MAGICS = (b"ARM\x64", b"RSC\x05")
_LEGACY_LZ4_MAGIC = b"\x02\x21\x4c\x18"
_LZ4_BLOCK = 8 << 20  # a legacy lz4 stream's blocks inflate to at most 8 MiB


def is_payload(data: bytes, kind: str) -> bool:
    """True if `data` boots as it is: an ELF for kind "elf", an arm64/riscv Image for "image"."""
    if kind == "elf":
        return data.startswith(ELF_MAGIC)
    return data[0x38:0x3C] in _IMAGE_MAGICS


def _gzip(data: bytes) -> bytes:
    return zlib.decompressobj(wbits=31).decompress(data)


def _xz(data: bytes) -> bytes:
    # One stream only: the kernel file carries trailing bytes after it.
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)


def _lzma(data: bytes) -> bytes:
    # The header's dictionary size comes from the bytes at hand: bounded, so a chance match
    # of the 3-byte magic cannot ask for gigabytes.
    return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE, memlimit=1 << 29).decompress(data)


def _bzip2(data: bytes) -> bytes:
    return bz2.BZ2Decompressor().decompress(data)


def _zstd(data: bytes) -> bytes:
    import zstandard

    # The kernel build compresses with --ultra -22: windows far beyond the library's default.
    return zstandard.ZstdDecompressor(max_window_size=1 << 31).decompressobj().decompress(data)


def _lz4(data: bytes) -> bytes:
    """The legacy lz4 frame (`lz4 -l`) the kernel build uses: the magic, then blocks, each a
    little-endian compressed size and an lz4 block; it ends at the data's end, another magic,
    or a size no block can have (the build appends the uncompressed size)."""
    import lz4.block

    out, pos = bytearray(), 4
    bound = _LZ4_BLOCK + _LZ4_BLOCK // 255 + 16
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        if size == 0 or size > bound or data[pos : pos + 4] == _LEGACY_LZ4_MAGIC:
            break
        block = data[pos + 4 : pos + 4 + size]
        if len(block) < size:
            break
        out += lz4.block.decompress(block, uncompressed_size=_LZ4_BLOCK)
        pos += 4 + size
    return bytes(out)


def _lzo(data: bytes) -> bytes:
    lzop = shutil.which("lzop")
    if lzop is None:
        raise _Unsupported("LZO needs the lzop program (apt-get install lzop)")
    done = subprocess.run([lzop, "-dc"], input=data, capture_output=True, timeout=120)
    return done.stdout  # a truncated stream still yields what it holds; checked by the caller


class _Unsupported(Exception):
    pass


# (name, magic, inflate), in the order the kernel's scripts/extract-vmlinux tries them.
COMPRESSIONS: tuple[tuple[str, bytes, Callable[[bytes], bytes]], ...] = (
    ("gzip", b"\x1f\x8b\x08", _gzip),
    ("xz", b"\xfd7zXZ\x00", _xz),
    ("bzip2", b"BZh", _bzip2),
    ("lzma", b"\x5d\x00\x00", _lzma),  # then the dictionary size: 00 for the kernel's -9
    ("lzo", b"\x89LZO", _lzo),
    ("lz4", _LEGACY_LZ4_MAGIC, _lz4),
    ("zstd", b"\x28\xb5\x2f\xfd", _zstd),
)


@dataclass(frozen=True)
class Payload:
    data: bytes  # what QEMU boots: the payload, or the input unchanged if none was found
    compression: str | None  # how it was stored ("xz", ...), None if stored plain
    extracted: bool  # False: `data` is the input, booted compressed (slower)
    note: str = ""  # why nothing was extracted


def extract_payload(kernel: bytes, kind: str) -> Payload:
    """The bootable payload of a kernel file (see the module docstring)."""
    if is_payload(kernel, kind):
        return Payload(kernel, None, True)
    problems: list[str] = []
    # Whichever stream starts first: a decompressor stub may hold other formats' magics later.
    starts = sorted(
        (start, name, inflate)
        for name, magic, inflate in COMPRESSIONS
        for start in _occurrences(kernel, magic)
    )
    for start, name, inflate in starts:
        try:
            data = inflate(kernel[start:])
        except _Unsupported as e:
            if str(e) not in problems:
                problems.append(str(e))
            continue
        except Exception:  # noqa: BLE001 - any decoder error means "not a stream here"
            continue
        if is_payload(data, kind):
            return Payload(data, name, True)
    what = "ELF vmlinux" if kind == "elf" else "kernel Image"
    note = f"no {what} found inside (tried {', '.join(n for n, _, _ in COMPRESSIONS)})"
    if problems:
        note += "; " + "; ".join(problems)
    return Payload(kernel, None, False, note)


def _occurrences(data: bytes, magic: bytes, limit: int = 64) -> list[int]:
    """Where `magic` occurs (at most `limit` places: magics of 3-4 bytes occur by chance)."""
    found: list[int] = []
    start = data.find(magic)
    while start != -1 and len(found) < limit:
        found.append(start)
        start = data.find(magic, start + 1)
    return found

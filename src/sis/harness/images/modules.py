"""Kernel modules for an initramfs: the wanted modules and everything they depend on, in load
order, resolved from the kernel's ``modules.dep``; and their contents, decompressed (busybox
``insmod`` takes plain ``.ko`` files only)."""

from __future__ import annotations

import gzip
import lzma
from dataclasses import dataclass
from pathlib import Path

from sis.harness.images.errors import ImageError

__all__ = ["Module", "module_name", "read_module", "resolve_modules"]

_SUFFIXES = (".ko.xz", ".ko.gz", ".ko.zst", ".ko")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path  # on the host, possibly compressed
    relpath: str  # inside /lib/modules/<version>, always ending in .ko
    deps: tuple[str, ...]  # relpaths of everything it needs, as modules.dep lists them


def module_name(filename: str) -> str:
    """The name modprobe knows a module file by: ``virtio-blk.ko.xz`` -> ``virtio_blk``."""
    for suffix in _SUFFIXES:
        if filename.endswith(suffix):
            filename = filename[: -len(suffix)]
            break
    return filename.replace("-", "_")


def resolve_modules(
    modules_dir: Path, wanted: tuple[str, ...], missing: list[str] | None = None
) -> list[Module]:
    """The wanted modules and their dependencies, in load order, from modules.dep. A wanted
    module built into the kernel (modules.builtin) is left out; one unknown is an error, or
    is appended to `missing` when a list is given (a kernel configured without it)."""
    deps: dict[str, list[str]] = {}
    paths: dict[str, str] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        target, sep, rest = line.partition(":")
        if not sep:
            continue
        name = module_name(Path(target).name)
        paths[name] = target
        deps[name] = [module_name(Path(d).name) for d in rest.split()]
    builtin_file = modules_dir / "modules.builtin"
    builtin = (
        {module_name(Path(p).name) for p in builtin_file.read_text().split()}
        if builtin_file.is_file()
        else set()
    )

    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        # modules.dep lists the full closure; visiting it depth first gives a load order.
        for dep in deps[name]:
            visit(dep)
        order.append(name)

    for raw in wanted:
        name = raw.replace("-", "_")
        if name in deps:
            visit(name)
        elif name in builtin:
            continue
        elif missing is not None:
            missing.append(name)
        else:
            raise ImageError(f"kernel module {raw} not found in {modules_dir}/modules.dep")

    return [
        Module(
            name,
            modules_dir / paths[name],
            _uncompressed(paths[name]),
            tuple(_uncompressed(paths[d]) for d in deps[name]),
        )
        for name in order
    ]


def _uncompressed(relpath: str) -> str:
    for suffix in _SUFFIXES:
        if relpath.endswith(suffix):
            return relpath[: -len(suffix)] + ".ko"
    return relpath


def read_module(module: Module) -> bytes:
    """The module file as the kernel loads it (xz and gzip are decompressed)."""
    data = module.path.read_bytes()
    filename = module.path.name
    if filename.endswith(".ko.xz"):
        return lzma.decompress(data)
    if filename.endswith(".ko.gz"):
        return gzip.decompress(data)
    if filename.endswith(".ko.zst"):
        import zstandard

        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
        except zstandard.ZstdError as e:
            raise ImageError(f"{module.path}: {e}") from None
    return data

"""Symbolization: a crash's frames and raw addresses (register dumps, `[<ffffffff...>]` traces)
resolved against a symbol map, with file:line where the vmlinux carries debug info.

Symbol sources, told apart by their content:
* `System.map` or `/proc/kallsyms` (`ffffffff81000000 T _stext [module]`);
* `sis kernel symbols` (`ffff800010000000 00000660 T boot.boot_sequence`);
* an ELF vmlinux (its `.symtab`, and `.debug_line` through `.debug_aranges` for file:line).

One table is read once and kept (in memory, and as a JSON cache beside the user's other caches
keyed by the file's path, size and mtime), so a 100-frame trace costs 100 bisections, not 100
processes. `Kernel Offset:` (KASLR) is subtracted from runtime addresses before lookup.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sis.harness.forensics.find import retitle
from sis.harness.forensics.model import Crash, Frame

_NM = re.compile(r"^([0-9a-fA-F]{8,16}) ([a-zA-Z]) (\S+)(?:\s+\[(\S+)\])?$")
_SIS = re.compile(r"^([0-9a-f]{16}) ([0-9a-f]{8}) ([a-zA-Z]) (\S+)$")
_SKIP_TYPES = set("aAUNn")  # absolute values and debugging symbols are not code
#: A register is shown as a symbol only this close after one whose size is unknown.
NEAR = 0x10000
CACHE_VERSION = 1


class SymbolError(Exception):
    """The symbol file cannot be used: one line for the user."""


@dataclass
class SymbolTable:
    path: str
    addrs: list[int] = field(default_factory=list)  # sorted
    names: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # 0 when unknown
    _by_name: dict[str, int] = field(default_factory=dict, repr=False)
    _lines: _LineTable | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self._by_name:
            for a, n in zip(self.addrs, self.names, strict=True):
                self._by_name.setdefault(n, a)

    def __len__(self) -> int:
        return len(self.addrs)

    def lookup(self, addr: int) -> tuple[str, int, int] | None:
        """(function, offset, size) of the symbol holding `addr`, or None."""
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        start = self.addrs[i]
        gap = self.addrs[i + 1] - start if i + 1 < len(self.addrs) else NEAR
        size = self.sizes[i] or min(gap, NEAR)
        limit = size
        if addr - start >= limit:
            return None
        return self.names[i], addr - start, size

    @property
    def text_start(self) -> int:
        """Where code begins: below it (per-CPU offsets, user space) nothing is named."""
        for name in ("_stext", "_text", "__start"):
            if name in self._by_name:
                return self._by_name[name]
        return self.addrs[0] if self.addrs else 0

    def address_of(self, name: str) -> int | None:
        return self._by_name.get(name)

    def line_of(self, addr: int) -> tuple[str, int] | None:
        return self._lines.lookup(addr) if self._lines is not None else None


_cache: dict[tuple[str, int, int], SymbolTable] = {}
_cache_lock = threading.Lock()


def load_symbols(path: Path | str, *, disk_cache: bool = True) -> SymbolTable:
    """The symbol table of `path`, read once per process (and cached on disk for the next)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as e:
        raise SymbolError(f"cannot read {p}: {e.strerror or e}") from None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    cached = _read_disk_cache(key) if disk_cache else None
    table = cached or _read(p)
    if cached is None and disk_cache:
        _write_disk_cache(key, table)
    if table._lines is None and _is_elf(p):
        table._lines = _LineTable.open(p, _cache_file(key) if disk_cache else None)
    with _cache_lock:
        _cache[key] = table
    return table


def _read(p: Path) -> SymbolTable:
    if _is_elf(p):
        return _read_elf(p)
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            return _read_text(p, f)
    except OSError as e:
        raise SymbolError(f"cannot read {p}: {e.strerror or e}") from None


def _is_elf(p: Path) -> bool:
    try:
        with open(p, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _read_text(p: Path, lines: Iterator[str]) -> SymbolTable:
    rows: list[tuple[int, str, int]] = []
    stub = ""
    for line in lines:
        line = line.strip()
        if m := _SIS.match(line):
            rows.append((int(m.group(1), 16), m.group(4), int(m.group(2), 16)))
        elif m := _NM.match(line):
            if m.group(2) not in _SKIP_TYPES:
                rows.append((int(m.group(1), 16), m.group(3), 0))
        elif "System.map" in line:
            stub = line
    if not rows:
        hint = f" (it says: {stub.split(' ', 2)[-1]})" if stub else ""
        raise SymbolError(
            f"{p}: no symbols (a System.map, /proc/kallsyms, `sis kernel symbols` output or an "
            f"ELF vmlinux is needed){hint}"
        )
    return _table(str(p), rows)


def _read_elf(p: Path) -> SymbolTable:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    rows: list[tuple[int, str, int]] = []
    try:
        with open(p, "rb") as f:
            elf = ELFFile(f)
            symtab = elf.get_section_by_name(".symtab")
            if not isinstance(symtab, SymbolTableSection):
                raise SymbolError(
                    f"{p}: a stripped ELF (no .symtab); use its System.map or an unstripped "
                    "vmlinux (Debian: linux-image-*-dbg)"
                )
            for sym in symtab.iter_symbols():
                e = sym.entry
                if (
                    e.st_value
                    and sym.name
                    and e.st_info.type in ("STT_FUNC", "STT_NOTYPE", "STT_OBJECT")
                    and e.st_shndx != "SHN_ABS"
                ):
                    rows.append((e.st_value, sym.name, e.st_size))
    except (ELFError, OSError, ValueError) as e:
        raise SymbolError(f"{p}: not a readable ELF file: {e}") from None
    if not rows:
        raise SymbolError(f"{p}: the ELF file has no symbols")
    return _table(str(p), rows)


def _table(path: str, rows: list[tuple[int, str, int]]) -> SymbolTable:
    # Sorted by address; of symbols at one address the sized one (the function) wins.
    rows.sort(key=lambda r: (r[0], -r[2], r[1].startswith("__")))
    addrs: list[int] = []
    names: list[str] = []
    sizes: list[int] = []
    for a, n, s in rows:
        if addrs and addrs[-1] == a:
            continue
        addrs.append(a)
        names.append(n)
        sizes.append(s)
    return SymbolTable(path, addrs, names, sizes)


# -- the on-disk cache ---------------------------------------------------------------------------
def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sis" / "symbols"


def _cache_file(key: tuple[str, int, int]) -> Path:
    digest = hashlib.sha256(repr((CACHE_VERSION, *key)).encode()).hexdigest()[:32]
    return _cache_dir() / f"{digest}.json"


def _read_disk_cache(key: tuple[str, int, int]) -> SymbolTable | None:
    try:
        with open(_cache_file(key), encoding="utf-8") as f:
            d = json.load(f)
        if d.get("key") != list(key):
            return None
        return SymbolTable(d["path"], d["addrs"], d["names"], d["sizes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no cache, or a damaged one: read the file itself


def _write_disk_cache(key: tuple[str, int, int], t: SymbolTable) -> None:
    target = _cache_file(key)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(
                {"key": list(key), "path": t.path, "addrs": t.addrs, "names": t.names,
                 "sizes": t.sizes},
                f,
            )  # fmt: skip
        os.replace(tmp, target)
    except OSError:
        pass  # a cache that cannot be written only costs time


# -- file:line from DWARF ------------------------------------------------------------------------
class _LineTable:
    """Address -> (file, line) through .debug_aranges: only the compilation units a crash
    touches are decoded, each once."""

    def __init__(self, f: Any, dwarf: Any, aranges: Any, cache: Path | None) -> None:
        self._f = f
        self._cache = cache  # decoded units are kept beside the symbol cache
        self._dwarf = dwarf
        self._aranges = aranges
        self._cus: dict[int, tuple[list[int], list[tuple[str, int]]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, p: Path, cache: Path | None = None) -> _LineTable | None:
        from elftools.elf.elffile import ELFFile

        try:
            f = open(p, "rb")  # noqa: SIM115 - kept open for lazy DWARF reads
            elf = ELFFile(f)
            if not elf.has_dwarf_info() or elf.get_section_by_name(".debug_line") is None:
                f.close()
                return None
            # A linked vmlinux has final addresses; applying its .rela sections takes minutes.
            dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
            aranges = dwarf.get_aranges()
            if aranges is None:
                f.close()
                return None
            return cls(f, dwarf, aranges, cache)
        except Exception:  # debug info pyelftools cannot read: names without lines
            return None

    def lookup(self, addr: int) -> tuple[str, int] | None:
        with self._lock:
            try:
                off = self._aranges.cu_offset_at_addr(addr)
                if off is None:
                    return None
                if off not in self._cus:
                    self._cus[off] = self._cached(off)
            except Exception:  # a malformed unit: no line for this address
                return None
            addrs, rows = self._cus[off]
        i = bisect.bisect_right(addrs, addr) - 1
        return rows[i] if i >= 0 else None

    def _cached(self, off: int) -> tuple[list[int], list[tuple[str, int]]]:
        """One unit's rows: from the disk cache, else decoded (pure Python, ~0.1 s a unit
        of a distribution kernel) and written there."""
        path = self._cache.with_name(f"{self._cache.stem}.cu{off}.json") if self._cache else None
        if path is not None:
            try:
                with open(path, encoding="utf-8") as f:
                    d = json.load(f)
                return d["addrs"], [(str(a), int(b)) for a, b in d["rows"]]
            except (OSError, ValueError, KeyError, TypeError):
                pass
        addrs, rows = self._decode(off)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump({"addrs": addrs, "rows": rows}, f)
                os.replace(tmp, path)
            except OSError:
                pass
        return addrs, rows

    def _decode(self, off: int) -> tuple[list[int], list[tuple[str, int]]]:
        cu = self._dwarf.get_CU_at(off)
        prog = self._dwarf.line_program_for_CU(cu)
        version = prog.header["version"]
        files = prog.header["file_entry"]
        dirs = prog.header["include_directory"]

        def name(index: int) -> str:
            i = index if version >= 5 else index - 1
            if not 0 <= i < len(files):
                return "?"
            entry = files[i]
            fname = entry.name.decode(errors="replace")
            d = entry.dir_index if version >= 5 else entry.dir_index - 1
            if 0 <= d < len(dirs) and not fname.startswith("/"):
                fname = f"{dirs[d].decode(errors='replace')}/{fname}"
            return fname

        pairs: list[tuple[int, str, int]] = []
        for entry in prog.get_entries():
            st = entry.state
            if st is None or st.end_sequence:
                continue
            pairs.append((st.address, name(st.file), st.line))
        pairs.sort(key=lambda r: r[0])
        return [p[0] for p in pairs], [(_short(p[1]), p[2]) for p in pairs]


def _short(path: str) -> str:
    """Source paths relative to the kernel tree (Debian builds under debian/build/...)."""
    m = re.search(r"(?:^|/)debian/build/[^/]+/(.*)$", path)
    return m.group(1) if m else path


# -- symbolizing a crash -------------------------------------------------------------------------
def symbolize(crash: Crash, symbols: Path | str | SymbolTable) -> Crash:
    """A copy of `crash` with every frame named (function+offset/size) and, where debug info
    allows, given file:line; registers that point into code named too; title recomputed."""
    table = symbols if isinstance(symbols, SymbolTable) else load_symbols(symbols)
    slide = crash.kernel_offset or 0
    frames = [_frame(table, f, slide, return_address=i > 0) for i, f in enumerate(crash.frames)]
    regs: dict[str, str] = {}
    floor = table.text_start
    for name, value in crash.registers.items():
        hit = table.lookup(value - slide) if value - slide >= floor else None
        if hit is not None:
            fn, off, size = hit
            regs[name] = f"{fn}+{off:#x}/{size:#x}" if size else f"{fn}+{off:#x}"
    out = replace(crash, frames=frames, register_symbols=regs, title_args=dict(crash.title_args))
    return retitle(out)


def _frame(table: SymbolTable, f: Frame, slide: int, *, return_address: bool) -> Frame:
    if f.module:
        return f  # a module's symbols are not in the kernel image's map
    link: int | None = None
    if f.function:
        base = table.address_of(f.function)
        if base is not None:
            link = base + (f.offset or 0)
            f = replace(f, address=f.address if f.address is not None else link + slide)
    elif f.address is not None:
        link = f.address - slide
        hit = table.lookup(link)
        if hit is not None:
            fn, off, size = hit
            f = replace(f, function=fn, offset=off, size=size or None)
    if link is not None:
        # A trace holds return addresses: the call is the instruction before.
        where = table.line_of(link - 1 if return_address and link > 0 else link)
        if where is not None:
            f = replace(f, file=where[0], line=where[1])
    return f

"""The kernel symbol map: every function of the kernel gets a stable text address, so a stack
trace in a panic report is a list of addresses that `sis kernel symbols` resolves, like
System.map for a real kernel. Addresses depend only on the source, not on the run."""

from __future__ import annotations

import bisect
import functools
import importlib
import types
from dataclasses import dataclass

TEXT_BASE = 0xFFFF_8000_1000_0000


@dataclass(frozen=True)
class Symbol:
    address: int
    size: int
    name: str


def _codes(obj: object, seen: set[int]) -> list[types.CodeType]:
    out: list[types.CodeType] = []
    stack: list[types.CodeType] = []
    if isinstance(obj, types.FunctionType):
        stack.append(obj.__code__)
    while stack:
        code = stack.pop()
        if id(code) in seen:
            continue
        seen.add(id(code))
        out.append(code)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return out


@functools.cache
def _table() -> tuple[list[Symbol], dict[int, Symbol]]:
    import pkgutil  # here: only a panic or `sis kernel symbols` needs the table

    import sis.kernel

    codes: list[tuple[str, types.CodeType]] = []
    seen: set[int] = set()
    for mod_info in sorted(
        pkgutil.walk_packages(sis.kernel.__path__, "sis.kernel."), key=lambda m: m.name
    ):
        if mod_info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(mod_info.name)
        except Exception:  # a module that cannot load has no symbols
            continue
        short = mod_info.name.removeprefix("sis.kernel.")
        objects = list(vars(module).values())
        for obj in list(objects):
            if isinstance(obj, type) and obj.__module__ == module.__name__:
                objects.extend(
                    v.__func__
                    if isinstance(v, (staticmethod, classmethod))
                    else (v.fget if isinstance(v, property) else v)
                    for v in vars(obj).values()
                )
        for obj in objects:
            if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
                codes.extend((f"{short}.{c.co_qualname}", c) for c in _codes(obj, seen))
    codes.sort(key=lambda nc: (nc[0], nc[1].co_firstlineno))
    symbols: list[Symbol] = []
    by_code: dict[int, Symbol] = {}
    addr = TEXT_BASE
    for name, code in codes:
        size = max(16, (len(code.co_code) + 15) & ~15)
        sym = Symbol(addr, size, name)
        symbols.append(sym)
        by_code[id(code)] = sym
        addr += size
    return symbols, by_code


def address_of(code: types.CodeType, offset: int) -> int | None:
    sym = _table()[1].get(id(code))
    return None if sym is None else sym.address + max(0, offset)


def resolve(address: int) -> tuple[str, int] | None:
    symbols = _table()[0]
    i = bisect.bisect_right([s.address for s in symbols], address) - 1
    if i >= 0 and address < symbols[i].address + symbols[i].size:
        return symbols[i].name, address - symbols[i].address
    return None


def format_symbol_map() -> str:
    """One line a symbol: `<address> <size> T <name>` (nm style)."""
    return "".join(f"{s.address:016x} {s.size:08x} T {s.name}\n" for s in _table()[0])

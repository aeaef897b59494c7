"""QEMU's option syntax, which the reference kernel's command line shares (contract section 1):
a comma separates `key=value` items, and a comma inside a value is written twice (`,,`), so
`file=a,,b.img` names the file `a,b.img` and `file=a,b.img` is the file `a` plus a key `b.img`.
"""

from __future__ import annotations

__all__ = ["escape", "split"]


def escape(value: str) -> str:
    """`value` as it goes into a comma-separated option: each comma doubled."""
    return value.replace(",", ",,")


def split(text: str) -> list[str]:
    """The items of a comma-separated option, `,,` read as a comma inside an item.
    Empty items (a trailing comma) are kept as empty strings."""
    items: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == ",":
            if text.startswith(",,", i):
                current.append(",")
                i += 2
                continue
            items.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    items.append("".join(current))
    return items

"""Allocation bitmaps: bit `i` of byte `i // 8` (least significant first) is item `i`."""

from __future__ import annotations

import re

_NOT_FULL = re.compile(rb"[^\xff]")


def test_bit(buf: bytes | bytearray, i: int) -> bool:
    return bool(buf[i >> 3] & (1 << (i & 7)))


def set_bit(buf: bytearray, i: int) -> None:
    buf[i >> 3] |= 1 << (i & 7)


def clear_bit(buf: bytearray, i: int) -> None:
    buf[i >> 3] &= ~(1 << (i & 7)) & 0xFF


def set_range(buf: bytearray, start: int, end: int) -> None:
    """Set bits [start, end)."""
    i = start
    while i < end and i & 7:
        set_bit(buf, i)
        i += 1
    full = (end - i) >> 3
    if full > 0:
        buf[i >> 3 : (i >> 3) + full] = b"\xff" * full
        i += full * 8
    while i < end:
        set_bit(buf, i)
        i += 1


def find_clear(buf: bytes | bytearray, start: int = 0) -> int | None:
    """Index of the first clear bit at or after bit `start` (rounded down to its byte)."""
    m = _NOT_FULL.search(buf, start >> 3)
    if m is None:
        return None
    byte = buf[m.start()]
    return m.start() * 8 + ((~byte & (byte + 1)).bit_length() - 1)


def count_set(buf: bytes | bytearray) -> int:
    return int.from_bytes(buf, "little").bit_count()

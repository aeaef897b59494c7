"""Raw capture text to event signatures in one pass: what `signatures`, baselines and log
checks use. Lines are read a chunk at a time and records are never kept, so memory stays flat
however long the log; equal signatures are one shared string.

Most lines of a long log are a few templates with other numbers and hex values. So a line
that is one well-formed record is looked up by its *key*, the line with its digits 1-9 made
alike and its stand-alone hex tokens (``0x…``, MACs, UUIDs, 16-digit addresses, hashes,
temporary paths) replaced by a same-length stand-in of the same kind; the key keeps the
line's length, so positions in it are positions in the line. The first line of a key is
parsed and normalized, then *probed*: its digits and hex tokens are changed (same kind,
same length) and the signature computed again. If nothing changes, every line of that key
has that signature and the next ones cost a dictionary lookup; if only digits that the
signature keeps change (``eth0``, ``spectre_v4``), it records where they come from in the
line and builds the signature from them; anything else is parsed every time. Parsing and
masking treat the digits 1-9 alike (`sis.harness.logs.normalize`), which is what makes a key
stand for all its lines.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sis.harness.logs import parse as _parse
from sis.harness.logs.normalize import TMP_ROOTS
from sis.harness.logs.normalize import signature as signature_of
from sis.harness.logs.parse import (
    MAX_JOIN_LINES,
    LogRecord,
    Problem,
    _clean,
    _Parser,
    gc_paused,
    iter_line_chunks,
)

__all__ = ["LogScan", "scan"]

_CACHE_LIMIT = 1 << 17
_ONCE = object()  # a key seen once: not probed yet
_DIGITS = bytes(range(256)).replace(b"0123456789", b"1111111111")
# A zero that parsing or masking tells from other digits: ``0x`` hex, and where JSON would
# read it as a leading zero (after ':', ',', '[', '-' or a blank). Marked before folding.
_ZERO_MARKS = (
    (b"0x", b"\x86x"),
    (b":0", b":\x86"),
    (b",0", b",\x86"),
    (b"[0", b"[\x86"),
    (b"-0", b"-\x86"),
    (b" 0", b" \x86"),
)
_MARKED_BEFORE = frozenset(":,[- ")
_TMP = b"|".join(re.escape(r.lstrip("/").encode()) for r in TMP_ROOTS)


def _fold(raw: bytes) -> bytes:
    if b"0" in raw:
        for zero, mark in _ZERO_MARKS:
            raw = raw.replace(zero, mark)
    return raw.translate(_DIGITS)


# Stand-alone hex tokens: after a blank, '=', a quote, '(', '[' or ',' (or at the start) and
# before a blank, a quote, ',', ';', ')' or ']' (or at the end), where masking does not
# depend on what is around them. Each becomes bytes no ASCII line has, of its own kind.
_HEX_TOKEN = re.compile(
    rb"(?:^|(?<=[\s=\"'(\[,]))(?:"
    rb"(?P<x>0x[0-9a-fA-F]+(?:-0x[0-9a-fA-F]+)?)"  # a range too: 0x1000-0x1fff
    rb"|(?P<uuid>(?=[0-9a-fA-F\-]{0,35}\d)[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})"
    rb"|(?P<mac>(?=[0-9a-fA-F:\-]{0,16}\d)[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){5})"
    rb"|(?P<addr>(?=[0-9a-fA-F]{0,15}[a-fA-F])(?=[0-9a-fA-F]{0,15}\d)[0-9a-fA-F]{16})"
    rb"|(?P<hash>(?=[0-9a-f]{0,39}[a-f])(?=[0-9a-f]{0,39}\d)[0-9a-f]{7,40})"
    rb"|(?P<tmp>/(?:" + _TMP + rb")/)[\w.\-/+~%@]*"
    rb")(?=[\s\"',;)\]]|$)",
    re.ASCII,
)
_UUID = bytes.maketrans(b"0123456789abcdefABCDEF", b"\x81" * 22)
_MAC = bytes.maketrans(b"0123456789abcdefABCDEF", b"\x82" * 22)


def _stand_in(m: re.Match[bytes]) -> bytes:
    kind, token = m.lastgroup, m.group()
    if kind == "x":
        return b"\x80" * len(token)
    if kind == "uuid":
        return token.translate(_UUID)  # the separators stay
    if kind == "mac":
        return token.translate(_MAC)
    if kind == "addr":
        return b"\x83" * len(token)
    if kind == "hash":
        return b"\x84" * len(token)
    root = m.group("tmp")
    return root + b"\x85" * (len(token) - len(root))


def line_key(line: str) -> bytes:
    """The key of an ASCII line (see the module docstring)."""
    return _fold(_HEX_TOKEN.sub(_stand_in, line.encode("ascii")))


# -- probing ------------------------------------------------------------------------------

_HEX_TOKEN_TEXT = re.compile(_HEX_TOKEN.pattern.decode("ascii"), re.ASCII)
_NEXT_DIGIT = str.maketrans("0123456789", "1234567891")  # every digit changes, none to 0
_NEXT_HEX_LETTER = str.maketrans("abcdefABCDEF", "bcdefaBCDEFA")
_NEXT_PATH_LETTER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "bcdefghijklmnopqrstuvwxyza")
# The marked zeros of `_fold`, as text; NUL keeps their place (a printable line has none).
_TEXT_MARKS = tuple((z.decode(), m.replace(b"\x86", b"\x00").decode()) for z, m in _ZERO_MARKS)
_JSON_FLOAT = re.compile(r"[:\[,]\s*-?\d+[.eE]")
_DIGIT = re.compile(r"\d", re.ASCII)


def _next_letters(m: re.Match[str]) -> str:
    return m.group().translate(_NEXT_PATH_LETTER if m.lastgroup == "tmp" else _NEXT_HEX_LETTER)


def _marked(line: str) -> str:
    for zero, mark in _TEXT_MARKS:
        line = line.replace(zero, mark)
    return line


def _changed(line: str) -> str:
    """`line` with every digit that may differ between lines of its key changed, and every
    hex token's letters too: another line of the same key."""
    line = _HEX_TOKEN_TEXT.sub(_next_letters, line)
    return _marked(line).translate(_NEXT_DIGIT).replace("\x00", "0")


def _free_digits(line: str) -> list[int]:
    """Positions of the digits that may differ between lines of one key, outside hex
    tokens: not a marked zero."""
    plain = _HEX_TOKEN_TEXT.sub(lambda m: "_" * len(m.group()), line)
    return [m.start() for m in _DIGIT.finditer(_marked(plain))]


def _with_digits_changed(line: str, positions: list[int]) -> str:
    chars = list(line)
    for i in positions:
        chars[i] = line[i].translate(_NEXT_DIGIT)
    return "".join(chars)


@dataclass
class _Kept:
    """A signature that keeps some of the line's digits: where they are in the line and in
    the signature, and the signatures built so far by those digits."""

    getter: Callable[[str], object]
    pieces: list[str]  # the signature between the kept digits
    positions: list[int]  # line positions of the kept digits, in signature order
    built: dict[object, str] = field(default_factory=dict)

    def build(self, line: str) -> str:
        out = [self.pieces[0]]
        for pos, piece in zip(self.positions, self.pieces[1:], strict=True):
            out.append(line[pos])
            out.append(piece)
        return "".join(out)


# -- the scan -----------------------------------------------------------------------------


@dataclass
class LogScan:
    """What a capture says, without its records: the signature of each record in order (equal
    ones share one string), their line numbers if asked for, and the malformed lines."""

    signatures: list[str]
    lines: list[int]
    problems: list[Problem]
    line_count: int = 0

    @property
    def records(self) -> int:
        return len(self.signatures)


class _Scanner:
    def __init__(self, mixed: bool, want_lines: bool) -> None:
        self.parser = _Parser([], mixed)
        self.probe_parser = _Parser([], mixed)  # its caches only, for probe lines
        self.cache: dict[bytes, object] = {}
        self.strings: dict[str, str] = {}
        self.out: list[str] = []
        self.lines: list[int] | None = [] if want_lines else None

    def signature(self, parser: _Parser, line: str) -> str | None:
        record = parser.fast(line, 1)
        return None if record is None else signature_of(record)

    def entry(self, line: str, sig: str) -> object:
        """What the cache keeps for the key of `line` (see the module docstring)."""
        if line[:1] == "{" and _JSON_FLOAT.search(line):
            return False  # a float's text is its value's: "1.10" reads as 1.1
        probe = self.probe_parser
        changed = _changed(line)
        other = self.signature(probe, changed)
        if other == sig:
            return sig
        if other is None or len(other) != len(sig):
            return False
        digits = _free_digits(line)
        codes = [0] * len(sig)
        for bit in range((len(digits) + 1).bit_length()):
            chosen = [p for j, p in enumerate(digits) if (j + 1) >> bit & 1]
            other = self.signature(probe, _with_digits_changed(line, chosen))
            if other is None or len(other) != len(sig):
                return False
            for q, (a, b) in enumerate(zip(sig, other, strict=True)):
                if a != b:
                    codes[q] |= 1 << bit
        if any(code > len(digits) for code in codes):
            return False
        kept = [(q, digits[code - 1]) for q, code in enumerate(codes) if code]
        if not kept:
            return False
        pieces, last = [], 0
        for q, _ in kept:
            pieces.append(sig[last:q])
            last = q + 1
        pieces.append(sig[last:])
        positions = [p for _, p in kept]
        entry = _Kept(operator.itemgetter(*positions), pieces, positions)
        # The proof: a line with every digit and hex token changed is built right.
        if self.signature(probe, changed) != entry.build(changed):
            return False
        return entry

    def run(self, parser: _Parser) -> None:
        lines, stop, cache = parser.lines, parser.stop, self.cache
        out, where, strings = self.out, self.lines, self.strings
        missing = cache  # a sentinel no value can be
        i = parser.start
        while i < stop:
            line = lines[i]
            i += 1
            if line.isprintable() and line.isascii():
                if not line or line.isspace():
                    continue
                raw = line.encode("ascii")
                folded = _fold(raw)
                value = cache.get(folded, missing)
                if value is missing or value is _ONCE:
                    key = folded
                    if value is missing:
                        key = _fold(_HEX_TOKEN.sub(_stand_in, raw))
                        value = cache.get(key, missing) if key != folded else missing
                    if value is missing or value is _ONCE:
                        record = parser.fast(line, i)
                        if record is None:
                            i = self._slow(parser, line, i)
                            continue
                        sig = signature_of(record)
                        sig = strings.setdefault(sig, sig)
                        if len(cache) >= _CACHE_LIMIT:
                            cache.clear()
                        # Probing costs a few parses: only for a key seen before.
                        cache[key] = _ONCE if value is missing else self.entry(line, sig)
                        out.append(sig)
                        if where is not None:
                            where.append(parser.base + i)
                        continue
                if value.__class__ is str:
                    out.append(value)  # type: ignore[arg-type]
                elif value is False:
                    record = parser.fast(line, i)
                    if record is None:  # cannot happen: the key's first line was one
                        i = self._slow(parser, line, i)
                        continue
                    sig = signature_of(record)
                    out.append(strings.setdefault(sig, sig))
                else:
                    kept: _Kept = value  # type: ignore[assignment]
                    digits = kept.getter(line)
                    sig = kept.built.get(digits)
                    if sig is None:
                        sig = kept.build(line)
                        sig = kept.built[digits] = strings.setdefault(sig, sig)
                    out.append(sig)
                if where is not None:
                    where.append(parser.base + i)
                continue
            if not line.isprintable():
                line = _clean(line)
            if not line or line.isspace():
                continue
            record = parser.fast(line, i)
            if record is None:
                i = self._slow(parser, line, i)
                continue
            self._emit(record)
        parser.next = i

    def _slow(self, parser: _Parser, line: str, i: int) -> int:
        i = parser.slow(line, i)
        for record in parser.records:
            self._emit(record)
        parser.records.clear()
        return i

    def _emit(self, record: LogRecord) -> None:
        sig = signature_of(record)
        self.out.append(self.strings.setdefault(sig, sig))
        if self.lines is not None:
            self.lines.append(record.line)


def scan(data: str | bytes, *, mixed: bool = False, lines: bool = False) -> LogScan:
    """Signatures of every record of a capture, in one streaming pass; `lines=True` also
    gives each record's line number. `mixed=True` for a console capture (see `parse_text`)."""
    scanner = _Scanner(mixed, lines)
    parser = scanner.parser
    carry: list[str] = []
    with gc_paused():
        chunks = iter_line_chunks(data, _parse.CHUNK_CHARS)
        chunk = next(chunks, None)
        while chunk is not None:
            following = next(chunks, None)
            block = carry + chunk if carry else chunk
            parser.lines, parser.start = block, 0
            parser.stop = len(block) if following is None else max(0, len(block) - MAX_JOIN_LINES)
            scanner.run(parser)
            carry = block[parser.next :]
            parser.base += parser.next
            chunk = following
    return LogScan(scanner.out, scanner.lines or [], parser.problems, parser.base)

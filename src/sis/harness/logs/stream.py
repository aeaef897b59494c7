"""Raw capture text to event signatures in one pass: what `signatures`, baselines and log
checks use. Text is read a chunk at a time and records are never kept, so memory stays flat
however long the log; equal signatures are one shared string.

Most lines of a long log are a few templates with other numbers and hex values. So a line
that is one well-formed record is looked up by its *key*: the line with every digit made a
1 but a zero that starts a number (`sis.harness.logs.parse.shape_of`; computed for a whole
chunk at once), and, when that key is not known, its stand-alone hex tokens (``0x…``, MACs,
UUIDs, 16-digit addresses, hashes, temporary paths) replaced by a same-length stand-in of
their kind. A key keeps the line's length, so positions in it are positions in the line.

The first line of a key is parsed and normalized; when the key comes again, the line is
*probed*: its digits and hex tokens are changed (same kind, same length) and the signature
computed again. If nothing changes, every line of that key has that signature and the next
ones cost a dictionary lookup; if only digits that the signature keeps change (``eth0``,
``spectre_v4``), it records where they come from in the line and builds the signature from
them; anything else is parsed every time. Parsing and masking treat digits alike but a
number's leading zero, which is what makes a key stand for all its lines, and probe lines
have their key's shape, so probing meets the parser's and normalizer's caches.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sis.harness.logs import parse as _parse
from sis.harness.logs.normalize import TMP_ROOTS
from sis.harness.logs.normalize import signature as signature_of
from sis.harness.logs.parse import MAX_JOIN_LINES, LogRecord, Problem, _clean, _Parser, gc_paused

__all__ = ["LogScan", "line_key", "scan", "signatures"]

_CACHE_LIMIT = 1 << 17
_PARSER_CACHE_LIMIT = 1 << 12
_ONCE = object()  # a key seen once: not probed yet
_BLANK = object()  # a key whose lines give nothing: blank, or shell output in a console

# -- keys ---------------------------------------------------------------------------------

_np: Any = None
_ZERO_FOLDS_AFTER: Any = None


def _numpy() -> Any:
    """numpy, imported on first use (it is for long logs; a CLI that never scans one should
    not pay for it)."""
    global _np, _ZERO_FOLDS_AFTER
    if _np is None:
        import numpy

        _ZERO_FOLDS_AFTER = numpy.zeros(256, dtype=bool)
        _ZERO_FOLDS_AFTER[list(_parse.ZERO_FOLDS_AFTER.encode("ascii"))] = True
        _np = numpy
    return _np


_FOLD = bytes(range(256)).replace(b"123456789", b"111111111")


def _fold(raw: bytes) -> bytes:
    """`shape_of` over a whole chunk at once: every digit made a 1 but a zero that starts a
    token."""
    folded = raw.translate(_FOLD)
    np = _numpy()
    a = np.frombuffer(raw, dtype=np.uint8)
    zeros = np.flatnonzero(a[1:] == ord("0"))  # each after a character
    zeros = zeros[_ZERO_FOLDS_AFTER[a[zeros]]]
    if not len(zeros):
        return folded
    out = bytearray(folded)
    np.frombuffer(out, dtype=np.uint8)[zeros + 1] = ord("1")
    return bytes(out)


# Stand-alone hex tokens: after a blank, '=', a quote, '(', '[' or ',' (or at the start) and
# before a blank, a quote, ',', ';', ')' or ']' (or at the end), where masking does not
# depend on what is around them. Each becomes bytes no ASCII line has, of its own kind.
_BEFORE = r"[\s=\"'(\[,]"
_TOKEN = (
    r"(?:"
    r"(?P<x>0x[0-9a-fA-F]+(?:-0x[0-9a-fA-F]+)?)"  # a range too: 0x1000-0x1fff
    r"|(?P<uuid>(?=[0-9a-fA-F\-]{0,35}\d)[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})"
    r"|(?P<mac>(?=[0-9a-fA-F:\-]{0,16}\d)[0-9a-fA-F]{2}(?:[:\-][0-9a-fA-F]{2}){5})"
    r"|(?P<addr>(?=[0-9a-fA-F]{0,15}[a-fA-F])(?=[0-9a-fA-F]{0,15}\d)[0-9a-fA-F]{16})"
    r"|(?P<hash>(?=[0-9a-f]{0,39}[a-f])(?=[0-9a-f]{0,39}\d)[0-9a-f]{7,40})"
    r"|(?P<tmp>/(?:" + "|".join(re.escape(r.lstrip("/")) for r in TMP_ROOTS) + r")/)"
    r"[\w.\-/+~%@]*"
    r")(?=[\s\"',;)\]]|$)"
)
# On a line (to probe it): the character before the token is matched (a leading character
# class lets the regex engine skip to candidates), so a line is searched with a newline
# before it.
_HEX_TOKEN = re.compile(f"(?P<before>{_BEFORE})(?=[0-9a-fA-F/])" + _TOKEN, re.ASCII)
_UUID = bytes.maketrans(b"0123456789abcdefABCDEF", b"\x81" * 22)
_MAC = bytes.maketrans(b"0123456789abcdefABCDEF", b"\x82" * 22)


# Hex tokens are whole *fields* (text between the characters around a token), so where a
# line's tokens may be depends only on its *hex shape*, its key with every hex digit made
# alike: the fields that could be tokens are found once per hex shape, and on each line only
# those fields are checked and replaced, without searching the line again.
_HEX_CLASS = bytes.maketrans(b"0123456789abcdefABCDEF", b"\x01" * 22)
_CANDIDATE = re.compile(
    rb"[\s=\"'(\[,](?:\x01x\x01+(?:-\x01x\x01+)?|\x01{8}(?:-\x01{4}){3}-\x01{12}"
    rb"|\x01\x01(?:[:\-]\x01\x01){5}|\x01{7,40}|/(?:"
    + b"|".join(re.escape(r.lstrip("/").encode().translate(_HEX_CLASS)) for r in TMP_ROOTS)
    + rb")/[\w\x01.\-/+~%@]*)(?=[\s\"',;)\]]|$)",
)
_TOKEN_BYTES = re.compile(_TOKEN.encode("ascii"), re.ASCII)
Fields = tuple[tuple[int, int], ...]  # start, end


def _fields(hex_shape: bytes) -> Fields:
    """The fields of a line that may be hex tokens."""
    return tuple((m.start(), m.end() - 1) for m in _CANDIDATE.finditer(b"\n" + hex_shape))


def _token_stand_in(m: re.Match[bytes]) -> bytes:
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


def _with_stand_ins(folded: bytes, fields: Fields) -> bytes:
    """`folded` with the hex tokens among `fields` replaced by their stand-ins."""
    parts: list[bytes] = []
    last = 0
    match = _TOKEN_BYTES.fullmatch
    for start, end in fields:
        m = match(folded, start, end)
        if m is not None:
            parts.append(folded[last:start])
            parts.append(_token_stand_in(m))
            last = end
    if not parts:
        return folded
    parts.append(folded[last:])
    return b"".join(parts)


def line_key(line: str) -> bytes:
    """The key of a printable ASCII line (see the module docstring)."""
    key = _fold(line.encode("ascii"))
    return _with_stand_ins(key, _fields(key.translate(_HEX_CLASS)))


# -- probing ------------------------------------------------------------------------------

_NEXT_DIGIT = str.maketrans("0123456789", "1234567891")  # every digit changes, none to 0
_NEXT_HEX_LETTER = str.maketrans("abcdefABCDEF", "bcdefaBCDEFA")
_NEXT_PATH_LETTER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "bcdefghijklmnopqrstuvwxyza")
# A zero that starts a token stays (the key tells it from other digits); NUL keeps its
# place while the others change (a printable line has none).
_ZERO_FOLDS_AFTER_CLASS = f"[{re.escape(_parse.ZERO_FOLDS_AFTER)}]"
_LEADING_ZERO = re.compile(f"(?<!{_ZERO_FOLDS_AFTER_CLASS})0")
_FREE_DIGIT = re.compile(f"[1-9]|(?<={_ZERO_FOLDS_AFTER_CLASS})0")
# A JSON number with a fraction or an exponent (or text inside a string that looks so).
_JSON_FLOAT = re.compile(r"[:\[,]\s*-?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)\s*[,}\]]")


def _next_letters(m: re.Match[str]) -> str:
    before, token = m.group("before"), m.group()[1:]
    if m.lastgroup == "tmp":
        root = m.group("tmp")  # the root stays: a path elsewhere is not <tmp>
        return before + root + token[len(root) :].translate(_NEXT_PATH_LETTER)
    return before + token.translate(_NEXT_HEX_LETTER)


def _changed(line: str) -> str:
    """`line` with every digit that may differ between lines of its key changed, and every
    hex token's letters too: another line of the same key."""
    line = _HEX_TOKEN.sub(_next_letters, "\n" + line)[1:]
    return _LEADING_ZERO.sub("\x00", line).translate(_NEXT_DIGIT).replace("\x00", "0")


def _free_digits(line: str) -> list[int]:
    """Positions of the digits that may differ between lines of one key, outside hex
    tokens: all but a number's leading zero."""
    plain = _HEX_TOKEN.sub(lambda m: m.group("before") + "_" * (len(m.group()) - 1), "\n" + line)
    return [m.start() - 1 for m in _FREE_DIGIT.finditer(plain)]


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
        # It parses only lines whose key is new: its own caches would seldom serve.
        self.parser = _Parser([], mixed, cache_limit=_PARSER_CACHE_LIMIT)
        self.cache: dict[bytes, object] = {}
        self.fields: dict[bytes, Fields] = {}  # by hex shape
        self.strings: dict[str, str] = {}
        self.out: list[str] = []
        self.lines: list[int] | None = [] if want_lines else None

    def signature(self, line: str) -> str | None:
        record = self.parser.fast(line, 1)
        return None if record is None else signature_of(record)

    def entry(self, line: str, sig: str) -> object:
        """What the cache keeps for the key of `line` (see the module docstring)."""
        if line[:1] == "{" and _JSON_FLOAT.search(line):
            return False  # a float's text is its value's: "1.10" reads as 1.1
        changed = _changed(line)
        other = self.signature(changed)
        if other == sig:
            return sig
        if other is None or len(other) != len(sig):
            return False
        digits = _free_digits(line)
        codes = [0] * len(sig)
        for bit in range((len(digits) + 1).bit_length()):
            chosen = [p for j, p in enumerate(digits) if (j + 1) >> bit & 1]
            other = self.signature(_with_digits_changed(line, chosen))
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
        if self.signature(changed) != entry.build(changed):
            return False
        return entry

    def run(self, lines: list[str], keys: list[bytes], stop: int) -> int:
        """Scan `lines[:stop]` (lines after it only complete a broken JSON record); returns
        the index of the first line not taken."""
        self.parser.lines = lines
        get, out, where = self.cache.get, self.out, self.lines
        append = out.append
        base = self.parser.base + 1  # line numbers count from 1
        i = 0
        while i < stop:
            for n, value in enumerate(map(get, keys[i:stop]), i):
                if value.__class__ is str:
                    append(value)  # type: ignore[arg-type]
                    if where is not None:
                        where.append(base + n)
                    continue
                if value.__class__ is _Kept:
                    sig = value.built.get(value.getter(lines[n]))  # type: ignore[union-attr]
                    if sig is not None:
                        append(sig)
                        if where is not None:
                            where.append(base + n)
                        continue
                after = self._other(value, lines[n], keys[n], n)
                if after != n + 1:  # a broken JSON record took the next lines too
                    i = after
                    break
            else:
                i = stop
        return i

    def _other(self, value: object, line: str, key: bytes, n: int) -> int:
        """A line whose key does not give its signature at once; returns the next index."""
        if value is _BLANK:
            return n + 1
        cache, parser = self.cache, self.parser
        if value is None:
            if not (line.isascii() and line.isprintable()):
                return self._unclean(line, n)
            if not line or line.isspace() or (parser.mixed and _NO_RECORD(line)):
                cache[key] = _BLANK
                return n + 1
            shape = key.translate(_HEX_CLASS)
            fields = self.fields.get(shape)
            if fields is None:
                if len(self.fields) >= _CACHE_LIMIT:
                    self.fields.clear()
                fields = self.fields[shape] = _fields(shape)
            if fields:
                key = _with_stand_ins(key, fields)
                value = cache.get(key)
        if value is None or value is _ONCE:
            record = parser.fast(line, n + 1)
            if record is None:
                return self._slow(line, n)
            sig = signature_of(record)
            sig = self.strings.setdefault(sig, sig)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            # Probing costs a few parses: only for a key seen before.
            cache[key] = _ONCE if value is None else self.entry(line, sig)
        elif value.__class__ is str:
            sig = value  # type: ignore[assignment]
        elif value is False:
            record = parser.fast(line, n + 1)
            if record is None:  # cannot happen: the key's first line was one
                return self._slow(line, n)
            sig = signature_of(record)
            sig = self.strings.setdefault(sig, sig)
        else:
            kept: _Kept = value  # type: ignore[assignment]
            digits = kept.getter(line)
            sig = kept.built.get(digits)  # type: ignore[assignment]
            if sig is None:
                sig = kept.build(line)
                sig = kept.built[digits] = self.strings.setdefault(sig, sig)
        self.out.append(sig)
        if self.lines is not None:
            self.lines.append(parser.base + n + 1)
        return n + 1

    def _unclean(self, line: str, n: int) -> int:
        if not line.isprintable():
            line = _clean(line)
        if not line or line.isspace():
            return n + 1
        record = self.parser.fast(line, n + 1)
        if record is None:
            return self._slow(line, n)
        self._emit(record)
        return n + 1

    def _slow(self, line: str, n: int) -> int:
        parser = self.parser
        after = parser.slow(line, n + 1)
        for record in parser.records:
            self._emit(record)
        parser.records.clear()
        return after

    def _emit(self, record: LogRecord) -> None:
        sig = signature_of(record)
        self.out.append(self.strings.setdefault(sig, sig))
        if self.lines is not None:
            self.lines.append(record.line)


# A console line none of whose characters can start a record is shell output.
_NO_RECORD = re.compile(r"[^<\[{]*\Z").match


def _blocks(data: str | bytes) -> Iterator[tuple[list[str], list[bytes]]]:
    """The lines of a capture a chunk at a time, with their folded keys."""
    for text in _parse.iter_text_chunks(data, _parse.CHUNK_CHARS, crlf=False):
        lines, newline = text.split("\r\n"), b"\r\n"  # a serial line's newline
        if len(lines) - 1 != text.count("\n"):  # LF, or a mix
            text = text.replace("\r\n", "\n")
            lines, newline = text.split("\n"), b"\n"
        raw = text.encode("ascii") if text.isascii() else text.encode("utf-8", "surrogatepass")
        keys = _fold(raw).split(newline)
        if lines[-1] == "":
            lines.pop()
            keys.pop()
        yield lines, keys


def scan(data: str | bytes, *, mixed: bool = False, lines: bool = False) -> LogScan:
    """Signatures of every record of a capture, in one streaming pass; `lines=True` also
    gives each record's line number. `mixed=True` for a console capture (see `parse_text`)."""
    scanner = _Scanner(mixed, lines)
    parser = scanner.parser
    carry: list[str] = []
    carry_keys: list[bytes] = []
    with gc_paused():
        blocks = _blocks(data)
        block = next(blocks, None)
        while block is not None:
            following = next(blocks, None)
            text, keys = block
            if carry:
                text, keys = carry + text, carry_keys + keys
            stop = len(text) if following is None else max(0, len(text) - MAX_JOIN_LINES)
            taken = scanner.run(text, keys, stop)
            carry, carry_keys = text[taken:], keys[taken:]
            parser.base += taken
            block = following
    return LogScan(scanner.out, scanner.lines or [], parser.problems, parser.base)


def signatures(data: str | bytes, *, mixed: bool = False) -> list[str]:
    """The signature of every record of a capture, in order, in one streaming pass that keeps
    no record; equal signatures are one shared string."""
    return scan(data, mixed=mixed).signatures

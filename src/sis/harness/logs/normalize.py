"""Normalization: a log record becomes a stable *event signature*, the same text in every run
of the same kernel doing the same thing, by masking what changes between runs with typed
placeholders while keeping the words that name things.

A signature is ``LEVEL subsystem: body`` (parts a record lacks are left out), where body is
the record's text as the SIS human format shows it (message, then ``k=v`` fields), so a SIS
record gives the same signature in the human and in the JSON format. Runs of whitespace
become one space and the ends are trimmed. Then tokens are masked; at each token start the
first rule of this list that matches wins:

===================== ==================================================================
``<tmp>``             a path under /tmp, /var/tmp or the host's temporary directory
``<addr>``            ``0x``-prefixed hex of any width: ``0x001``, ``0xffffffff81000000``
``<uuid>``            ``123e4567-e89b-12d3-a456-426614174000``
``<mac>``             ``52:54:00:12:34:56`` (or with ``-``)
``<ip>``              IPv6 written with ``::`` or in 8 groups; IPv4 with optional
                      ``/prefix`` and ``:port``
``<date>``            ``2026-11-26``, ``2026-11-26T22:16:45Z``, ``2026-11-26 22:16:45+01:00``
``<time>``            ``22:16:45``, ``22:16:45.123``
(kept)                colon-joined number groups, which are device addresses: SCSI
                      ``0:0:0:0``, PCI ``0000:00:1f.2``, ids ``[8086:100e]``, PNP ``00:04``
``<ver>``             three or more dot-separated numbers: ``6.1.0-13-amd64``, ``3.11.7``
``<hash> (<branch>)`` a build id, hex then a branch in parentheses: ``73c9fd7 (main+)``
``<addr>``            a bare 16-digit hex word with a letter: ``ffff888003a1b000``
``<hash>``            7 to 40 lowercase hex digits with a digit and a letter
``<dur>``             a number with a time unit: ``23.5 ms``, ``0.003s``, ``5 seconds``,
                      ``25 jiffies``
``<size>``            a number with a size unit: ``64 MiB``, ``4096 bytes``, ``26624k``,
                      ``512-byte``
other numbers         by the key before them: ``<pid>`` after a key ending in
                      ``pid``/``tid`` (``pid=42``, ``ppid: 1``, ``PID 7``) or after
                      ``process``/``task``; ``<dur>`` after ``*_ms=``, ``*_us=``, ``*_ns=``,
                      ``*_s=``, ``time``, ``uptime``, ``elapsed``, ``duration``, ``latency``,
                      ``delay``; ``<size>`` after ``*bytes``, ``*size``; kept after a device
                      name with digits and a colon (``PNP0A08:00``); else ``<num>``:
                      ``42``, ``-1``, ``0.674``, ``1e-05``
===================== ==================================================================

Identifiers stay. A token starts only where the character before is not a letter, digit,
``_`` or ``.``, so digits glued to a word belong to it: ``spectre_v4``, ``virtio_blk``,
``eth0``, ``ttyS0``, ``x86/fpu``, ``sha256``, ``i8042``, ``16550A``, ``dquot_6.6.0``,
``X.509``. Digits after the hyphen or slash of a word stay too (``gcc-12``, ``PS/2``,
``swapper/0``), and so does a number joined to a word by a hyphen (``64-bit``); numbers with
a unit (``200984K/261612K``) and ``0x`` hex (``0x10-0x1f``) are masked there all the same.
Text without a digit never changes (temporary paths aside): hex-only tokens such as
``aa:bb:cc:dd:ee:ff`` or ``deadbeefdeadbeef`` stay.

The rules are applied until nothing changes (one pass but for odd text in which masking a
token moves another's boundary), so ``normalize_text`` is idempotent: a signature normalizes
to itself.

Speed: the rules are one compiled pattern that begins with a character class, so the regex
engine skips to candidate characters without trying the rules, and then branches on the
token's first character. The rules treat every digit alike except a ``0`` that starts a token
(of ``0x``), so what they mask in a text is cached by the text's *shape* (`shape_of`: digits
made alike but a number's leading zero) and replayed on every text of that shape: records
that differ only in their numbers are masked once.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable

from sis.harness.logs.formats.record import LogRecord
from sis.harness.logs.parse import shape_of

__all__ = ["PLACEHOLDERS", "TMP_ROOTS", "normalize_text", "signature"]

PLACEHOLDERS = (
    "<tmp>",
    "<addr>",
    "<uuid>",
    "<mac>",
    "<ip>",
    "<date>",
    "<time>",
    "<hash>",
    "<branch>",
    "<ver>",
    "<dur>",
    "<size>",
    "<pid>",
    "<num>",
)

# Shapes repeat (records that differ only in their numbers); whole records rarely do, and
# the streaming pipeline keeps its own cache of lines, so the record cache is small.
_SHAPE_CACHE_SIZE = 1 << 14
_RECORD_CACHE_SIZE = 1 << 12
_DIGIT = re.compile(r"\d", re.ASCII)
_HEX = "[0-9a-fA-F]"
_H16 = f"{_HEX}{{1,4}}"


def _tmp_roots() -> list[str]:
    roots = ["/tmp", "/var/tmp"]
    host = tempfile.gettempdir().rstrip("/")
    if host and host not in roots:
        roots.append(host)
    return roots


_TMP_ROOTS = _tmp_roots()
#: The directories whose paths are masked as <tmp>.
TMP_ROOTS: tuple[str, ...] = tuple(_TMP_ROOTS)
_TMP_MARKERS = tuple(root + "/" for root in _TMP_ROOTS)
_TMP_ALTERNATIVES = "|".join(re.escape(r[1:]) for r in _TMP_ROOTS)

_TIME_UNITS = r"(?:ns|us|\u00b5s|ms|s|sec|secs|seconds?|mins?|minutes?|hours?|jiffies)"
_SIZE_UNITS = r"(?: ?(?:[KMGTPE]i?B|bytes?|B)|[KMGTPEk]|-byte)"

# Each rule below is matched *after* its first character has been consumed (that is what
# lets the pattern begin with a character class), so start conditions are lookbehinds over
# two characters: the one before the token and the token's first.
# ">" counts as a word character: it ends a placeholder that replaced a token which may
# have ended in one, and normalizing a signature must change nothing ("0s/0" -> "<dur>/0",
# and again "<dur>/0", not "<dur>/<num>").
_AFTER_WORD = r"(?<![\w.>].)"  # common to all rules, checked once
_AFTER_HYPHEN_WORD = r"(?<![A-Za-z>]-.)"
_TOKEN = _AFTER_HYPHEN_WORD + r"(?<![A-Za-z>]/.)"
# The rest of a number whose first character (a digit or "-") has been consumed.
_NUMBER_REST = r"(?:(?<=-)\d|(?<=\d))\d*+(?:\.\d++)?+(?:[eE][+-]?\d++)?+"

# The rules, each matched *after* the token's first character has been consumed: `first`
# is that character's class. (name, first, start condition, rest of the pattern).
_Rule = tuple[str, str, str, str]
_TMP: _Rule = ("tmp", "/", "", rf"""(?:{_TMP_ALTERNATIVES})/[^\s,;)\]'"]*""")
_ADDR_0X: _Rule = ("addr", "0", "", rf"x{_HEX}++(?!\w)")
_IPV6_LEADING: _Rule = ("ip", ":", _TOKEN, rf":(?:{_H16}(?::{_H16})*)(?:/\d{{1,3}})?(?![\w:])")
# Tokens with inner punctuation (".", ":", "-"), in priority order.
_PUNCTUATED: list[_Rule] = [
    (
        "uuid",
        "0-9a-fA-F",
        _TOKEN,
        rf"{_HEX}{{7}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}(?![\w-])",
    ),
    ("mac", "0-9a-fA-F", _TOKEN, rf"{_HEX}(?:[:-]{_HEX}{{2}}){{5}}(?![\w:-])"),
    ("ip", "0-9a-fA-F", _TOKEN, rf"{_HEX}{{0,3}}(?::{_H16}){{7}}(?:/\d{{1,3}})?(?![\w:])"),
    (
        "ip",
        "0-9a-fA-F",
        _TOKEN,
        rf"{_HEX}{{0,3}}(?::{_H16})*::(?:{_H16}(?::{_H16})*)?(?:/\d{{1,3}})?(?![\w:])",
    ),
    ("ip", r"\d", _TOKEN, r"\d{0,2}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?(?!\w|\.\d)"),
    (
        "date",
        r"\d",
        _TOKEN,
        r"\d{3}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\w)",
    ),
    ("time", r"\d", _TOKEN, r"\d?:\d{2}:\d{2}(?:\.\d+)?(?![\w:])"),
    # Colon-joined number groups are device addresses: SCSI 0:0:0:0, PCI 0000:00:1f.2.
    ("keep", r"\d", _TOKEN, rf"{_HEX}*(?::{_HEX}+)+(?:\.{_HEX}+)?(?!\w)"),
    ("ver", r"\d", _TOKEN, r"\d*\.\d+\.\d+(?:[\-+~.][0-9A-Za-z]+)*(?!\w)"),
]
# Runs of hex digits, in priority order.
_HEX_RUNS: list[_Rule] = [
    ("buildid", "0-9a-f", _TOKEN, r"[0-9a-f]{6,39} \([\w./\-]+\+?\)"),
    (
        "addr",
        "0-9a-fA-F",
        _TOKEN,
        rf"(?:(?<=[a-fA-F])|(?={_HEX}{{0,14}}[a-fA-F])){_HEX}{{15}}(?!\w)",
    ),
    (
        "hash",
        "0-9a-f",
        _TOKEN,
        r"(?:(?<=[a-f])(?=[0-9a-f]{0,38}\d)|(?<=\d)(?=[0-9a-f]{0,38}[a-f]))[0-9a-f]{6,39}(?!\w)",
    ),
]
# Numbers, in priority order.
_NUMBERS: list[_Rule] = [
    ("dur", r"\-\d", _AFTER_HYPHEN_WORD, rf"{_NUMBER_REST} ?{_TIME_UNITS}(?!\w)"),
    ("size", r"\d", _AFTER_HYPHEN_WORD, rf"\d*+(?:\.\d++)?+{_SIZE_UNITS}(?!\w)"),
    ("num", r"\-\d", _TOKEN, rf"{_NUMBER_REST}(?!\w)(?!-[A-Za-z<])"),
]


def _compile() -> tuple[re.Pattern[str], dict[str, str]]:
    """All rules as one pattern, and the rule of each (empty) marker group that ends one.

    The pattern begins with a character class, so the regex engine skips to candidate
    characters without trying the rules, and then branches on the first character, so that
    a plain number meets only the number rules."""
    rule_of_group: dict[str, str] = {}

    def group(rules: list[_Rule], tag: str) -> str:
        out = []
        for i, (name, first, start, rest) in enumerate(rules):
            marker = f"{name}_{tag}{i}"
            rule_of_group[marker] = name
            out.append(f"(?<=[{first}]){start}{rest}(?P<{marker}>)")
        return "(?:" + "|".join(out) + ")"

    punctuated = rf"(?={_HEX}*[.:\-][0-9a-fA-F:])"
    # A token that starts with a hex letter is only masked if a digit or separator comes
    # within its hex run, or it is 16 digits long: words such as "address" fail at once.
    hex_word = rf"(?={_HEX}{{0,40}}[\d:\-]|{_HEX}{{15}}(?!\w))"
    branches = [
        rf"(?<=/){group([_TMP], 't')}",
        rf"(?<=[a-fA-F]){hex_word}(?:{punctuated}{group(_PUNCTUATED, 'hp')}"
        rf"|{group(_HEX_RUNS, 'hh')})",
        rf"(?<=:){group([_IPV6_LEADING], 'c')}",
        rf"(?<=-){group(_NUMBERS, 'm')}",
        rf"(?<=0)(?=x){group([_ADDR_0X], 'x')}",
        rf"(?<=\d)(?:{punctuated}{group(_PUNCTUATED, 'dp')}|{group(_HEX_RUNS, 'dh')}"
        rf"|{group(_NUMBERS, 'dn')})",
    ]
    pattern = f"[/:\\-0-9a-fA-F]{_AFTER_WORD}(?:" + "|".join(branches) + ")"
    return re.compile(pattern, re.ASCII), rule_of_group


_COMBINED, _RULE_OF_GROUP = _compile()

# What a key before a number says the number is ("pid=42", "PID: 7", "boot_ms=12.5").
_KEY_KINDS = (
    ("pid", re.compile(r"\w*(?:pid|tid|PID|TID)|process|task", re.ASCII)),
    (
        "dur",
        re.compile(
            r"\w*_(?:ms|us|ns|s|sec|secs)|(?:up)?time|elapsed|duration|latency|delay", re.ASCII
        ),
    ),
    ("size", re.compile(r"\w*(?:bytes|size)", re.ASCII)),
)
# The key and its separator, read backwards from the number: "=", ":", ": " or " ". The key
# may be a placeholder already ("<hash>:0" when normalizing a signature again).
_KEY_BACKWARDS = re.compile(r"(=| ?:| )(\w+|>\w+<)", re.ASCII)
# A device name with digits, then a unit number: "PNP0A08:00", "eth0:1".
_DEVICE_NAME = re.compile(r"[A-Za-z_]+\d\w*", re.ASCII)
_KEY_REACH = 40


@functools.lru_cache(maxsize=1024)
def _key_kind(key: str, separator: str) -> str | None:
    if separator == ":" and (_DEVICE_NAME.fullmatch(key) or key.startswith("<")):
        # A unit number after a device name stays; after a placeholder too, because a
        # number left there by normalizing was kept after the name the placeholder replaced.
        return "keep"
    for kind, rx in _KEY_KINDS:
        # A bare space separates a key only for pids ("PID 7", "process 77").
        if rx.fullmatch(key) and (separator != " " or kind == "pid"):
            return kind
    return None


def _number(m: re.Match[str]) -> str:
    """A plain number: what its key says it is, else <num>. (It runs on the text's shape,
    which differs from the text only in digits; keys and separators are the same.)"""
    start = m.start()
    if start == 0 or m.string[start - 1] not in "=: ":
        return "<num>"
    before = m.string[max(0, start - _KEY_REACH) : start]
    key = _KEY_BACKWARDS.match(before[::-1])
    if key is None:
        return "<num>"
    kind = _key_kind(key.group(2)[::-1], key.group(1)[::-1])
    if kind is None or (kind == "pid" and not m.group().isdigit()):
        return "<num>"
    return m.group() if kind == "keep" else f"<{kind}>"


def _const(placeholder: str) -> Callable[[re.Match[str]], str]:
    return lambda _m: placeholder


def _if_digit(placeholder: str) -> Callable[[re.Match[str]], str]:
    """Hex tokens are only masked if they have a digit ("aa:bb:cc:dd:ee:ff" stays): so text
    without digits never changes, which lets `normalize_text` skip it unread."""
    return lambda m: placeholder if _DIGIT.search(m.group()) else m.group()


_REPLACE: dict[str, Callable[[re.Match[str]], str]] = {
    "tmp": _const("<tmp>"),
    "addr": _if_digit("<addr>"),
    "uuid": _if_digit("<uuid>"),
    "mac": _if_digit("<mac>"),
    "ip": _if_digit("<ip>"),
    "date": _const("<date>"),
    "time": _const("<time>"),
    "buildid": _if_digit("<hash> (<branch>)"),
    "hash": _const("<hash>"),
    "keep": lambda m: m.group(),
    "ver": _const("<ver>"),
    "dur": _const("<dur>"),
    "size": _const("<size>"),
    "num": _number,
}
_DISPATCH = {group: _REPLACE[name] for group, name in _RULE_OF_GROUP.items()}

Span = tuple[int, int, str]  # start, end, placeholder


def _pass(text: str) -> tuple[Span, ...]:
    """One application of the rules: what to mask."""
    out: list[Span] = []
    for m in _COMBINED.finditer(text):
        replacement = _DISPATCH[m.lastgroup](m)  # type: ignore[index]
        if replacement != m.group():
            out.append((m.start(), m.end(), replacement))
    return tuple(out)


def _apply(text: str, spans: tuple[Span, ...]) -> str:
    pieces, pos = [], 0
    for start, end, placeholder in spans:
        pieces.append(text[pos:start])
        pieces.append(placeholder)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _may_change(text: str) -> bool:
    return _DIGIT.search(text) is not None or any(m in text for m in _TMP_MARKERS)


@functools.lru_cache(maxsize=_SHAPE_CACHE_SIZE)
def _spans(shape: str) -> tuple[Span, ...] | None:
    """What to mask in any text of this shape, or None if one pass is not enough."""
    spans = _pass(shape)
    if spans:
        once = _apply(shape, spans)
        if _may_change(once) and _pass(once):
            return None
    return spans


def _fixpoint(text: str) -> str:
    # Each pass turns tokens with digits (or temporary paths) into placeholders, so this
    # ends; it takes a second pass only for odd text where masking moved a token boundary.
    while spans := _pass(text):
        text = _apply(text, spans)
    return text


def normalize_text(text: str) -> str:
    """`text` with run-specific values masked (rules in the module docstring). The rules
    are applied until nothing changes, so normalizing a signature gives it back."""
    # Only plain spaces are printable whitespace: anything else means there is work.
    if "  " in text or text[:1] == " " or text[-1:] == " " or not text.isprintable():
        text = " ".join(text.split())
    if not _may_change(text):
        return text
    spans = _spans(shape_of(text))
    if spans is None:
        return _fixpoint(text)
    return _apply(text, spans) if spans else text


@functools.lru_cache(maxsize=_RECORD_CACHE_SIZE)
def _signature(level: str | None, subsystem: str, body: str) -> str:
    text = normalize_text(f"{subsystem}: {body}" if subsystem else body)
    return f"{level} {text}" if level else text


def signature(record: LogRecord) -> str:
    """The event signature of a record: ``LEVEL subsystem: body``, normalized."""
    return _signature(record.level, record.subsystem, record.body)

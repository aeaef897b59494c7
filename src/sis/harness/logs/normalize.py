"""Normalization: a log record becomes a stable *event signature*, the same text in every run
of the same kernel doing the same thing, by masking what changes between runs with typed
placeholders while keeping the words that name things.

A signature is ``LEVEL subsystem: body`` (parts a record lacks are left out), where body is
the record's text as the SIS human format shows it (message, then ``k=v`` fields), so a SIS
record gives the same signature in the human and in the JSON format. Runs of whitespace
become one space and the ends are trimmed. Then, left to right, the first rule that matches
at a token start wins:

==================== ===================================================================
``<tmp>``            a path under /tmp, /var/tmp or the host's temporary directory
``<addr>``           ``0x``-prefixed hex of any width; bare 16-digit hex words with a letter
``<uuid>``           ``123e4567-e89b-12d3-a456-426614174000``
``<mac>``            ``52:54:00:12:34:56`` (or with ``-``)
``<ip>``             IPv4 with optional ``/prefix`` and ``:port``; IPv6 with ``::`` or 8 groups
``<date>``           ``2026-11-26``, ``2026-11-26T22:16:45Z``, ``2026-11-26 22:16:45.1+01:00``
``<time>``           ``22:16:45``, ``22:16:45.123``
``<hash> (<branch>)`` a build id, a hex hash and its branch: ``73c9fd7 (main+)``
``<hash>``           7 to 40 lowercase hex digits with at least one digit and one letter
(kept)               colon-joined number groups: device addresses such as SCSI ``0:0:0:0``,
                     PCI ``0000:00:1f.2``, ids ``[8086:100e]``, PNP ``00:04``
``<ver>``            three or more dot-separated numbers: ``6.1.0-13-amd64``, ``3.11.7``
``<dur>``            a number with a time unit: ``23.5 ms``, ``0.003s``, ``5 seconds``,
                     ``25 jiffies``
``<size>``           a number with a size unit: ``64 MiB``, ``4096 bytes``, ``26624k``,
                     ``512-byte``
``<pid>``            an integer after a key ending in ``pid``/``tid`` (``pid=42``,
                     ``ppid: 1``, ``PID 7``) or after ``process``/``task``
``<dur>``            a number after a duration key: ``boot_ms=``, ``*_us``, ``*_ns``, ``*_s``,
                     ``time``, ``uptime``, ``elapsed``, ``duration``, ``latency``, ``delay``
``<size>``           a number after a size key: ``*bytes``, ``*size``
(kept)               a unit number after a device name with digits: ``PNP0A08:00``
``<num>``            any other number: ``42``, ``-1``, ``0.674``, ``1e-05``
==================== ===================================================================

A token starts where the character before is not a letter, digit, ``_`` or ``.``. So digits
glued to a word are part of an identifier and stay: ``spectre_v4``, ``virtio_blk``,
``eth0``, ``ttyS0``, ``x86/fpu``, ``sha256``, ``i8042``, ``16550A``, ``dquot_6.6.0``,
``X.509``. Digits after the hyphen or slash of a word stay too (``gcc-12``, ``PS/2``,
``swapper/0``), as does a number joined to a word by a hyphen (``64-bit``), except numbers
with a unit (``200984K/261612K``) and ``0x`` hex (``0x10-0x1f``).

Speed: the rules are one compiled pattern that begins with a character class, so the regex
engine skips to candidate characters without trying the rules. The rules treat every digit
alike except ``0`` (of ``0x``), so what they mask in a text is cached by the text's *shape*
(digits 2-9 made alike) and replayed on every text of that shape: records that differ only in
their numbers are masked once. ``normalize_text`` is idempotent: a signature normalizes to
itself.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable

from sis.harness.logs.parse import LogRecord, shape_of

__all__ = ["PLACEHOLDERS", "normalize_text", "signature"]

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

_CACHE_SIZE = 1 << 16
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
_TMP_MARKERS = tuple(root + "/" for root in _TMP_ROOTS)
_TMP_ALTERNATIVES = "|".join(re.escape(r[1:]) for r in _TMP_ROOTS)

_TIME_UNITS = r"(?:ns|us|\u00b5s|ms|s|sec|secs|seconds?|mins?|minutes?|hours?|jiffies)"
_SIZE_UNITS = r"(?: ?(?:[KMGTPE]i?B|bytes?|B)|[KMGTPEk]|-byte)"

# Each rule below is matched *after* its first character has been consumed (that is what
# lets the pattern begin with a character class), so start conditions are lookbehinds over
# two characters: the one before the token and the token's first.
_AFTER_WORD = r"(?<![\w.].)"  # common to all rules, checked once
_AFTER_HYPHEN_WORD = r"(?<![A-Za-z]-.)"
_TOKEN = _AFTER_HYPHEN_WORD + r"(?<![A-Za-z]/.)"
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
    ("num", r"\-\d", _TOKEN, rf"{_NUMBER_REST}(?!\w)(?!-[A-Za-z])"),
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
# The key and its separator, read backwards from the number: "=", ":", ": " or " ".
_KEY_BACKWARDS = re.compile(r"(=| ?:| )(\w+)", re.ASCII)
# A device name with digits, then a unit number: "PNP0A08:00", "eth0:1".
_DEVICE_NAME = re.compile(r"[A-Za-z_]+\d\w*", re.ASCII)
_KEY_REACH = 40


@functools.lru_cache(maxsize=1024)
def _key_kind(key: str, separator: str) -> str | None:
    if separator == ":" and _DEVICE_NAME.fullmatch(key):
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


_REPLACE: dict[str, Callable[[re.Match[str]], str]] = {
    "tmp": _const("<tmp>"),
    "addr": _const("<addr>"),
    "uuid": _const("<uuid>"),
    "mac": _const("<mac>"),
    "ip": _const("<ip>"),
    "date": _const("<date>"),
    "time": _const("<time>"),
    "buildid": _const("<hash> (<branch>)"),
    "hash": _const("<hash>"),
    "keep": lambda m: m.group(),
    "ver": _const("<ver>"),
    "dur": _const("<dur>"),
    "size": _const("<size>"),
    "num": _number,
}
_DISPATCH = {group: _REPLACE[name] for group, name in _RULE_OF_GROUP.items()}

Span = tuple[int, int, str]  # start, end, placeholder


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _spans(shape: str) -> tuple[Span, ...]:
    """What to mask in any text of this shape."""
    out: list[Span] = []
    for m in _COMBINED.finditer(shape):
        replacement = _DISPATCH[m.lastgroup](m)  # type: ignore[index]
        if replacement != m.group():
            out.append((m.start(), m.end(), replacement))
    return tuple(out)


def normalize_text(text: str) -> str:
    """`text` with run-specific values masked (rules in the module docstring)."""
    if "  " in text or "\t" in text or text[:1].isspace() or text[-1:].isspace():
        text = " ".join(text.split())
    if _DIGIT.search(text) is None and not any(m in text for m in _TMP_MARKERS):
        return text
    spans = _spans(shape_of(text))
    if not spans:
        return text
    pieces, pos = [], 0
    for start, end, placeholder in spans:
        pieces.append(text[pos:start])
        pieces.append(placeholder)
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _signature(level: str | None, subsystem: str, body: str) -> str:
    text = normalize_text(f"{subsystem}: {body}" if subsystem else body)
    return f"{level} {text}" if level else text


def signature(record: LogRecord) -> str:
    """The event signature of a record: ``LEVEL subsystem: body``, normalized."""
    return _signature(record.level, record.subsystem, record.body)


def clear_caches() -> None:
    """Forget cached results (for measurements; results never depend on the caches)."""
    _spans.cache_clear()
    _signature.cache_clear()

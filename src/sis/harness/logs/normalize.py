"""Normalization: a log record becomes a stable *event signature*, the same text in every run
of the same kernel doing the same thing, by masking what changes between runs with typed
placeholders while keeping the words that name things.

A signature is ``LEVEL subsystem: body`` (parts that a record lacks are left out), where body is
the record's text as the SIS human format shows it (message, then ``k=v`` fields), so a SIS
record gives the same signature in the human and the JSON format. Whitespace runs become one
space and the ends are trimmed. Then, left to right, the first rule that matches wins:

=========  ==========================================================================
``<tmp>``  a path under /tmp, /var/tmp or the host's temporary directory
``<uuid>`` ``123e4567-e89b-12d3-a456-426614174000``
``<mac>``  ``52:54:00:12:34:56`` (or with ``-``)
``<ip>``   IPv4 with optional ``/prefix`` and ``:port``; IPv6 written with ``::`` or 8 groups
``<date>`` ``2026-11-26``, ``2026-11-26T22:16:45Z``, ``2026-11-26 22:16:45.123+01:00``
``<time>`` ``22:16:45``, ``22:16:45.123``
``<hash> (<branch>)``  a build id, a hash followed by its branch: ``73c9fd7 (main+)``
``<addr>`` ``0x``-prefixed hex of any width, and bare 16-digit hex words (register values)
``<hash>`` 7 to 40 lowercase hex digits with at least one digit and one letter
``<pid>``  a number the context says is a process id: after a key ending in ``pid``/``tid``
           (``pid=42``, ``ppid: 1``, ``PID 7``), after ``process``/``task``, in ``name[42]``
``<dur>``  a number after a duration key (``boot_ms=``, ``*_us``, ``*_ns``, ``*_s``, ``time``,
           ``uptime``, ``elapsed``, ``duration``, ``latency``, ``delay``), or with a time unit:
           ``23.5 ms``, ``0.003s``, ``5 seconds``, ``25 jiffies``
``<size>`` a number after a size key (``*bytes``, ``*size``) or with a size unit: ``64 MiB``,
           ``4096 bytes``, ``26624k``, ``512-byte``
(kept)     colon-joined number groups stay as they are: device addresses such as SCSI
           ``0:0:0:0``, PCI ``0000:00:01.0``, ids ``8086:100e``, PNP ``00:04``
``<ver>``  three or more dot-separated numbers: ``6.1.0-13-amd64``, ``3.11.7``
``<num>``  any other number: ``42``, ``-1``, ``0.674``, ``1e-05``
=========  ==========================================================================

A number only counts as a number at the start of a token: digits glued to a word are part of an
identifier and stay (``spectre_v4``, ``virtio_blk``, ``eth0``, ``ttyS0``, ``x86/fpu``,
``sha256``, ``i8042``, ``dquot_6.6.0``, ``X.509``, ``gcc-12``, ``16550A``, ``64-bit``). So do
digits after a dot. Digits after a slash are a new token (``swapper/<num>``).

The rules are one compiled regular expression applied once, text without digits (or a
temporary path) skips it, and results are cached, so normalizing a long log costs little more
than reading it. ``normalize_text`` is idempotent: a signature normalizes to itself.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Callable

from sis.harness.logs.parse import LogRecord

__all__ = ["PLACEHOLDERS", "normalize_text", "signature"]

PLACEHOLDERS = (
    "<tmp>",
    "<uuid>",
    "<mac>",
    "<ip>",
    "<date>",
    "<time>",
    "<hash>",
    "<branch>",
    "<addr>",
    "<pid>",
    "<dur>",
    "<size>",
    "<ver>",
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

_TIME_UNITS = r"(?:ns|us|\u00b5s|ms|s|sec|secs|seconds?|mins?|minutes?|hours?|jiffies)"
_SIZE_UNITS = r"(?: ?(?:[KMGTPE]i?B|bytes?|B)|[KMGTPEk]|-byte)"
# The rest of a number whose first character (a digit or "-") has been consumed.
_NUMBER_REST = r"(?:(?<=-)\d|(?<=\d))\d*+(?:\.\d++)?+(?:[eE][+-]?\d++)?+"

# Where a token may start. Digits glued to a word, or after a dot, belong to that word; so do
# digits after the hyphen or slash of a word ("gcc-12", "PS/2", "swapper/0"), except for
# numbers with a unit ("200984K/261612K") and 0x-hex after a hyphen ("0x10-0x1f").
# Written as lookbehinds over the token's first character, which the pattern has consumed.
# Every rule needs _AFTER_WORD, so it is checked once, before the rules are tried: most
# candidate characters are hex letters inside words, and they fail right there.
_AFTER_WORD = r"(?<![\w.].)"
_AFTER_HYPHEN_WORD = r"(?<![A-Za-z]-.)"
_TOKEN = _AFTER_HYPHEN_WORD + r"(?<![A-Za-z]/.)"

_TMP_ALTERNATIVES = "|".join(re.escape(r[1:]) for r in _TMP_ROOTS)

# (name, first character class, start condition, rest of the pattern), in priority order.
# Every match starts with a character from the union of the first classes, which lets the
# regex engine skip everything else without trying the rules; context that precedes a number
# (keys such as "pid=") is looked at by the replacement function.
_RULES: list[tuple[str, str, str, str]] = [
    ("tmp", "/", "", rf"""(?:{_TMP_ALTERNATIVES})/[^\s,;)\]'"]*"""),
    ("hexaddr", "0", "", rf"x{_HEX}++(?!\w)"),
    ("uuid", "0-9a-fA-F", _TOKEN, rf"{_HEX}{{7}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}(?![\w-])"),
    ("mac", "0-9a-fA-F", _TOKEN, rf"{_HEX}(?:[:-]{_HEX}{{2}}){{5}}(?![\w:-])"),
    ("ipv6", "0-9a-fA-F", _TOKEN, rf"{_HEX}{{0,3}}(?::{_H16}){{7}}(?:/\d{{1,3}})?(?![\w:])"),
    (
        "ipv6",
        "0-9a-fA-F",
        _TOKEN,
        rf"{_HEX}{{0,3}}(?::{_H16})*::(?:{_H16}(?::{_H16})*)?(?:/\d{{1,3}})?(?![\w:])",
    ),
    ("ipv6", ":", _TOKEN, rf":(?:{_H16}(?::{_H16})*)(?:/\d{{1,3}})?(?![\w:])"),
    ("ip", r"\d", _TOKEN, r"\d{0,2}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?(?!\w|\.\d)"),
    (
        "date",
        r"\d",
        _TOKEN,
        r"\d{3}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\w)",
    ),
    ("time", r"\d", _TOKEN, r"\d?:\d{2}:\d{2}(?:\.\d+)?(?![\w:])"),
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
    # Colon-joined number groups are device addresses: SCSI 0:0:0:0, PCI 0000:00:1f.2.
    ("keep", r"\d", _TOKEN, rf"{_HEX}*(?::{_HEX}+)+(?:\.{_HEX}+)?(?!\w)"),
    ("ver", r"\d", _TOKEN, r"\d*\.\d+\.\d+(?:[\-+~.][0-9A-Za-z]+)*(?!\w)"),
    ("dur", r"\-\d", _AFTER_HYPHEN_WORD, rf"{_NUMBER_REST} ?{_TIME_UNITS}(?!\w)"),
    ("size", r"\d", _AFTER_HYPHEN_WORD, rf"\d*+(?:\.\d++)?+{_SIZE_UNITS}(?!\w)"),
    ("num", r"\-\d", _TOKEN, rf"{_NUMBER_REST}(?!\w)(?!-[A-Za-z])"),
]


def _compile() -> re.Pattern[str]:
    union = "".join(dict.fromkeys(first for _, first, _, _ in _RULES))
    alternatives = [
        f"(?<=[{first}]){start}{rest}(?P<{name}{i}>)"
        for i, (name, first, start, rest) in enumerate(_RULES)
    ]
    return re.compile(f"[{union}]{_AFTER_WORD}(?:" + "|".join(alternatives) + ")", re.ASCII)


_COMBINED = _compile()
_RULE_OF_GROUP = {f"{name}{i}": name for i, (name, _, _, _) in enumerate(_RULES)}

# What a key before a number says the number is ("pid=42", "PID: 7", "boot_ms=12.5").
_KEY_KINDS = (
    ("pid", re.compile(r"\w*(?:pid|tid|PID|TID)|process|task", re.ASCII)),
    ("dur", re.compile(r"\w*_(?:ms|us|ns|s|sec|secs)|(?:up)?time|elapsed|duration|latency|delay")),
    ("size", re.compile(r"\w*(?:bytes|size)", re.ASCII)),
)
# The key and its separator, read backwards from the number: "=", ":", ": " or " " (pids only).
_KEY_BACKWARDS = re.compile(r"(=| ?:| )(\w+)", re.ASCII)
# A device name with digits and a unit number stays: "PNP0A08:00", "eth0:1".
_DEVICE_ID = re.compile(r"[A-Za-z_]+\d\w*", re.ASCII)
_KEY_REACH = 40


@functools.lru_cache(maxsize=1024)
def _key_kind(key: str, sep: str) -> str | None:
    if sep == ":" and _DEVICE_ID.fullmatch(key):
        return "keep"
    for kind, rx in _KEY_KINDS:
        if rx.fullmatch(key) and (sep != " " or kind == "pid"):
            return kind
    return None


def _number(m: re.Match[str]) -> str:
    # Runs on the shape of the text: only digits differ from the original, and keys have none.
    start = m.start()
    if start == 0:
        return "<num>"
    before = m.string[max(0, start - _KEY_REACH) : start]
    if before[-1] not in "=: ":
        return "<num>"
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
    "hexaddr": _const("<addr>"),
    "uuid": _const("<uuid>"),
    "mac": _const("<mac>"),
    "ipv6": _const("<ip>"),
    "ip": _const("<ip>"),
    "date": _const("<date>"),
    "time": _const("<time>"),
    "buildid": _const("<hash> (<branch>)"),
    "addr": _const("<addr>"),
    "hash": _const("<hash>"),
    "keep": lambda m: m.group(),
    "ver": _const("<ver>"),
    "dur": _const("<dur>"),
    "size": _const("<size>"),
    "num": _number,
}
_DISPATCH = {group: _REPLACE[name] for group, name in _RULE_OF_GROUP.items()}


# Which rule matched how, by shape: the rules treat every digit alike except "0" (of "0x"),
# so texts that differ only in their digits 1-9 mask the same spans. Masking a shape once
# and replaying its spans on every text of that shape is what keeps long logs cheap.
_SHAPE = str.maketrans("23456789", "11111111")

Span = tuple[int, int, str | None]  # start, end, placeholder (None: keep the original text)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _spans(shape: str) -> tuple[Span, ...]:
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
    spans = _spans(text.translate(_SHAPE))
    if not spans:
        return text
    pieces, pos = [], 0
    for start, end, placeholder in spans:
        pieces.append(text[pos:start])
        pieces.append(placeholder)  # type: ignore[arg-type]
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _signature(level: str | None, subsystem: str, body: str) -> str:
    head = f"{subsystem}: {body}" if subsystem else body
    text = normalize_text(head)
    return f"{level} {text}" if level else text


def signature(record: LogRecord) -> str:
    """The event signature of a record: ``LEVEL subsystem: body``, normalized."""
    return _signature(record.level, record.subsystem, record.body)

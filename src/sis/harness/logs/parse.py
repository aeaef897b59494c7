"""Kernel log parsing: records out of a kernel-log capture or a console capture.

Three record formats are recognised, line by line:

* ``sis-human``: ``[    1.234567] [INFO] fs: message k=v k2="quoted value"`` (CONTRACT section 4).
  Trailing ``key=value`` tokens become `fields` (values stay strings; a double-quoted value is
  a JSON string). The human format prints the message, or the event name when there is no
  message, so `event` and `message` are both that text.
* ``sis-json``: one object a line, ``{"ts": <µs>, "seq": N, "level": "INFO", "subsystem": "fs",
  "status": "<event>", "msg": "...", ...}``; members beyond those are `fields`.
* ``linux``: printk as a console or ``dmesg`` prints it, ``[    1.234567] message``, optionally
  with a ``<6>`` level prefix (``dmesg -r``) and a ``[  T1]`` caller id. A leading
  ``subsystem: `` or ``driver device: `` head (``x86/fpu:``, ``sd 0:0:0:0:``) becomes
  `subsystem`. Linux records have no sequence number; their level, when a ``<n>`` prefix gives
  it, is one of EMERG ALERT CRIT ERROR WARN NOTICE INFO DEBUG.

What a serial line delivers is taken as it comes and never raises: bytes are decoded as UTF-8
with replacement; LF (or CR LF) ends a line, so line numbers are those an editor shows; ANSI
escapes and other control characters (but TAB; a lone CR too) are dropped. A record may be
glued after other text (``sis> [  1.0] [INFO] ...``), or several records onto one line; each is
found by its start. A JSON record broken over several lines (wrapping, a lost newline) is
joined back when the pieces parse together; a human or Linux line wrapped onto the next keeps
its first part, and the rest is reported. Timestamps at the start of a line may have other
than six decimals.

Two modes. A kernel-log capture (``mixed=False``) should hold only records, so every line that
is not one is a `Problem` with its line number. A console capture (``mixed=True``) interleaves
records with shell output: lines without a record start are shell output and skipped silently;
damaged records are still reported.

Sequence numbers give `Gap`s: ``missing`` (records lost between two seen ones), ``duplicate``
(a record seen twice in the same boot, as when ``dmesg`` replays the ring buffer) and
``reboot`` (seq went back to a value not seen with that timestamp: a new boot). Damaged lines
do not take part in gap detection, so a truncated record also shows as a missing seq. (The
SIS human format and Linux carry no sequence numbers: no gaps there.)

Long logs are cheap: where the parts of a text record are is found once per *shape* (the
text with its digits 2-9 made alike) and reused for every record that differs only in its
numbers; a JSON record's text after ``ts`` and ``seq`` is decoded once however often it
repeats; the cyclic garbage collector, which would only rescan the many new objects, is
paused while parsing; and `iter_records` streams records without keeping them.
"""

from __future__ import annotations

import contextlib
import gc
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sis.harness.console import strip_ansi

__all__ = [
    "FORMAT_HUMAN",
    "FORMAT_JSON",
    "FORMAT_LINUX",
    "LINUX_LEVELS",
    "SIS_LEVELS",
    "Gap",
    "LogRecord",
    "ParseReport",
    "Problem",
    "find_gaps",
    "gc_paused",
    "human_value",
    "iter_records",
    "parse_file",
    "parse_text",
]

FORMAT_HUMAN = "sis-human"
FORMAT_JSON = "sis-json"
FORMAT_LINUX = "linux"

SIS_LEVELS = ("FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE")
# printk's <0>..<7>, named like the SIS levels where they mean the same.
LINUX_LEVELS = ("EMERG", "ALERT", "CRIT", "ERROR", "WARN", "NOTICE", "INFO", "DEBUG")

# A JSON record split over more lines than this is not joined back.
MAX_JOIN_LINES = 8
_EXCERPT = 80
_CACHE_LIMIT = 1 << 16
_EMPTY: Mapping[str, object] = MappingProxyType({})


@dataclass(slots=True)
class LogRecord:
    ts_us: int | None
    seq: int | None
    level: str | None
    subsystem: str
    event: str
    message: str
    #: Extra key/values. Shared between identical records: read it, do not change it.
    fields: Mapping[str, object]
    #: The text after ``subsystem: `` as the human format shows it: message, then k=v fields.
    body: str
    raw: str
    line: int
    format: str


@dataclass(frozen=True, slots=True)
class Problem:
    line: int
    reason: str
    excerpt: str = ""

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" + (f": {self.excerpt!r}" if self.excerpt else "")


@dataclass(frozen=True, slots=True)
class Gap:
    kind: str  # "missing", "duplicate" or "reboot"
    line: int  # the line of the record after the gap
    first: int  # missing: first lost seq; duplicate: the seq; reboot: seq before
    last: int  # missing: last lost seq; duplicate: the seq; reboot: seq after

    def __str__(self) -> str:
        if self.kind == "missing":
            n = self.last - self.first + 1
            span = f"seq {self.first}" if n == 1 else f"seq {self.first}-{self.last}"
            return f"line {self.line}: {span} missing ({n} record{'s' * (n != 1)} lost)"
        if self.kind == "duplicate":
            return f"line {self.line}: seq {self.first} seen again (duplicate)"
        return f"line {self.line}: seq went back from {self.first} to {self.last} (reboot)"


@dataclass
class ParseReport:
    records: list[LogRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    lines: int = 0

    @property
    def reboots(self) -> int:
        return sum(1 for g in self.gaps if g.kind == "reboot")

    def summary(self) -> str:
        counts = {k: sum(1 for g in self.gaps if g.kind == k) for k in ("missing", "duplicate")}
        return (
            f"{len(self.records)} records in {self.lines} lines, "
            f"{len(self.problems)} malformed, {counts['missing']} seq gaps, "
            f"{counts['duplicate']} duplicates, {self.reboots} reboots"
        )


# --------------------------------------------------------------------------------- patterns

# Line cleaning: C0 controls but TAB, DEL and C1 controls go (CR too: lines are split on LF).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
_LEVELS_RX = "|".join(SIS_LEVELS)
_LEVEL_NAME = {name: name for name in SIS_LEVELS}
_HUMAN = re.compile(rf"\[ *(\d{{1,12}})\.(\d{{1,9}})\] \[({_LEVELS_RX})\] ([^\s:]+):(?: |$)")
_TS = re.compile(r"\[ *(\d{1,12})\.(\d{1,9})\] ")
# Where a record can start inside a line. It begins with a character class so that the regex
# engine skips to candidate characters without trying the alternatives at every position.
_START = re.compile(
    r"[<\[{](?:(?<=<)[0-7]>\[ *\d{1,12}\.\d{6}\](?=[ \[]|$)"
    r'|(?<=\[) *\d{1,12}\.\d{6}\](?=[ \[]|$)|(?<=\{)\s*"ts"\s*:)'
)
# A record at the start of a line may have fewer or more decimals than the six of printk.
_LINE_START = re.compile(r"(?:<[0-7]>)?\[ *\d{1,12}\.\d{1,9}\]")
_LINUX = re.compile(r"(?:<([0-7])>)?\[ *(\d{1,12})\.(\d{1,9})\](?:\[ *[TC]\d+\])? ?(.*)", re.DOTALL)
_LEVEL_PREFIX = re.compile(rf"\[({_LEVELS_RX})\] ")
_HUMAN_HEAD = re.compile(r"([^\s:]+):(?: |$)")
# "subsystem: ", "x86/fpu: ", "sd 0:0:0:0: ", "virtio_blk virtio0: ", "00:02: "; colons
# only inside words, so "PM: hibernation: ..." gives "PM".
_WORD = r"[\w.\-/]+(?::[\w.\-/]+)*"
_LINUX_HEAD = re.compile(rf"({_WORD}(?: {_WORD})?): ", re.ASCII)
_KV = re.compile(r' ([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_JSON_FAST = re.compile(r'\{"ts":(\d+),"seq":(\d+),')
_DECODER = json.JSONDecoder()
_NEEDS_QUOTES = re.compile(r'[ "=\r\n\t]')


def _clean(line: str) -> str:
    if "\x1b" in line:
        line = strip_ansi(line)
    return _CONTROL.sub("", line)


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _ts_us(secs: str, frac: str) -> int:
    if len(frac) == 6:
        return int(secs) * 1_000_000 + int(frac)
    return int(secs) * 1_000_000 + int((frac + "00000")[:6])


def human_value(v: object) -> str:
    """A field value as the SIS human format prints it (quoted when it has blanks or quotes)."""
    if type(v) is int:
        return str(v)
    s = str(v)
    return json.dumps(s) if (not s or _NEEDS_QUOTES.search(s)) else s


# -------------------------------------------------------------------------- text layouts
# Where the parts of a text record are depends only on the record's *shape*, its text with
# the digits 2-9 made alike (no pattern here tells them apart). A layout found once serves
# every record that differs only in its numbers, which is most of a long log.

_SHAPE = str.maketrans("23456789", "11111111")
_SHAPE_ASCII = bytes(range(256)).replace(b"23456789", b"11111111")


def shape_of(text: str) -> str:
    """`text` with the digits 2-9 turned into 1 (same length, same offsets)."""
    if text.isascii():  # the common case, and much faster through bytes
        return text.encode("ascii").translate(_SHAPE_ASCII).decode("ascii")
    return text.translate(_SHAPE)


# A human body: where the message ends, and the trailing fields as
# (key start, key end, value start, value end) offsets into the body.
_BodyLayout = tuple[int, tuple[tuple[int, int, int, int], ...]]
# A Linux text after the timestamp: where the subsystem head ends, where the message starts.
_LinuxLayout = tuple[int, int]


def _body_layout(body: str) -> _BodyLayout:
    """Split a human body into its message and its trailing `` k=v k2="v 2"`` fields."""
    if "=" not in body:
        return len(body), ()
    run_start, end = -1, -1
    spans: list[tuple[int, int, int, int]] = []
    for m in _KV.finditer(" " + body):  # the leading space lets the first token be a field
        if m.start() != end:
            run_start, spans = m.start(), []
        end = m.end()
        spans.append((m.start(1) - 1, m.end(1) - 1, m.start(2) - 1, m.end(2) - 1))
    if end != len(body) + 1 or run_start < 0:
        return len(body), ()
    return max(0, run_start - 1), tuple(spans)


def _linux_layout(text: str) -> _LinuxLayout:
    head = _LINUX_HEAD.match(text)
    return (0, 0) if head is None else (head.end(1), head.end())


class _HumanFields(Mapping[str, object]):
    """The k=v fields of a human record, read from its body when first looked at: most
    records of a long log are never asked for their fields, and a dict each would double
    the memory a parsed log takes."""

    __slots__ = ("_body", "_spans", "_values")

    def __init__(self, body: str, spans: tuple[tuple[int, int, int, int], ...]) -> None:
        self._body = body
        self._spans = spans
        self._values: dict[str, object] | None = None

    def _dict(self) -> dict[str, object]:
        if self._values is None:
            body, values = self._body, {}
            for ks, ke, vs, ve in self._spans:
                value: object = body[vs:ve]
                if ve > vs and body[vs] == '"':
                    try:
                        value = json.loads(body[vs:ve])
                    except ValueError:
                        pass
                values[body[ks:ke]] = value
            self._values = values
        return self._values

    def __getitem__(self, key: str) -> object:
        return self._dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __eq__(self, other: object) -> bool:
        return dict(self) == other if isinstance(other, Mapping) else NotImplemented

    def __repr__(self) -> str:
        return repr(self._dict())


def _human_record(
    ts: int, level: str, subsystem: str, body: str, layout: _BodyLayout, raw: str, n: int
) -> LogRecord:
    msg_end, spans = layout
    message = body[:msg_end]
    fields = _HumanFields(body, spans) if spans else _EMPTY
    return LogRecord(
        ts, None, level, subsystem, message, message, fields, body, raw, n, FORMAT_HUMAN
    )


def _linux_record(
    ts: int | None, level: str | None, text: str, layout: _LinuxLayout, raw: str, n: int
) -> LogRecord:
    sub_end, msg_start = layout
    message = text[msg_start:]
    return LogRecord(
        ts, None, level, text[:sub_end], message, message, _EMPTY, message, raw, n, FORMAT_LINUX
    )


# ------------------------------------------------------------------------------ JSON records

_JSON_KEYS = frozenset(("ts", "seq", "level", "subsystem", "status", "event", "msg", "message"))


@dataclass(slots=True)
class _JsonTemplate:
    """A JSON record but its ts and seq: parsed once per distinct text and shared."""

    level: str
    subsystem: str
    event: str
    message: str
    fields: Mapping[str, object]
    body: str


def _json_template(obj: dict, names: dict[str, str]) -> _JsonTemplate | str:
    """The template of a decoded record; takes `obj` over (its extra members become the
    fields). `names` shares the strings of levels, subsystems and events between records."""
    level, subsystem = obj.get("level"), obj.get("subsystem", "")
    if not isinstance(level, str) or not isinstance(subsystem, str):
        return "JSON record without a string level and subsystem"
    event = obj.get("status", obj.get("event", ""))
    message = obj.get("msg", obj.get("message", ""))
    event = event if isinstance(event, str) else str(event)
    message = message if isinstance(message, str) else str(message)
    level = names.setdefault(level, level)
    subsystem = names.setdefault(subsystem, subsystem)
    event = names.setdefault(event, event) if len(event) < 64 else event
    for key in _JSON_KEYS.intersection(obj):
        del obj[key]
    fields = obj
    # The text the human format would show, so that both formats normalize alike.
    body = message or event
    if fields:
        body += " " + " ".join(f"{k}={human_value(v)}" for k, v in fields.items())
    return _JsonTemplate(
        level, subsystem, event, message, MappingProxyType(fields) if fields else _EMPTY, body
    )


def _json_ts_seq(obj: dict) -> tuple[int, int | None] | str:
    ts, seq = obj.get("ts"), obj.get("seq")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts < 0:
        return "JSON record without a numeric ts"
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int)):
        return "JSON record with a non-integer seq"
    return int(ts), seq


def _json_record(t: _JsonTemplate, ts: int, seq: int | None, raw: str, n: int) -> LogRecord:
    return LogRecord(
        ts, seq, t.level, t.subsystem, t.event, t.message, t.fields, t.body, raw, n, FORMAT_JSON
    )


# ------------------------------------------------------------------------------ the parser

_GLUED = (-1, ())  # a layout marker: another record starts inside this one


class _Parser:
    def __init__(self, lines: list[str], mixed: bool) -> None:
        self.lines = lines
        self.mixed = mixed
        self.records: list[LogRecord] = []  # found by the general path, not yet yielded
        self.problems: list[Problem] = []
        self.body_layouts: dict[str, _BodyLayout] = {}  # by shape
        self.linux_layouts: dict[str, _LinuxLayout | None] = {}  # by shape; None: slow path
        self.json_cache: dict[str, _JsonTemplate | None] = {}  # by exact text
        self.names: dict[str, str] = {}  # subsystem names seen, to share their strings

    def problem(self, n: int, reason: str, text: str = "") -> None:
        self.problems.append(Problem(n, reason, _excerpt(text)))

    @staticmethod
    def _remember(cache: dict, key: str, value: object) -> None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value

    def __iter__(self) -> Iterator[LogRecord]:
        lines, pending = self.lines, self.records
        body_layouts, linux_layouts = self.body_layouts, self.linux_layouts
        json_cache, names = self.json_cache, self.names
        i, count = 0, len(lines)
        while i < count:
            line = lines[i]
            i += 1
            if not line.isprintable():
                line = _clean(line)
            if not line or line.isspace():
                continue
            # Fast paths: a whole line that is one well-formed record. Anything else (glued
            # records, damage, other layouts) goes to the general path, `slow`.
            c = line[0]
            if c == "[":
                m = _HUMAN.match(line)
                if m is not None:
                    body = line[m.end() :]
                    shape = shape_of(body)
                    layout = body_layouts.get(shape)
                    if layout is None:
                        layout = _GLUED if _START.search(shape) else _body_layout(shape)
                        self._remember(body_layouts, shape, layout)
                    if layout is not _GLUED:
                        secs, frac, level, subsystem = m.groups()
                        ts = _ts_us(secs, frac)
                        # One string object for each level and subsystem, not one a record.
                        level = _LEVEL_NAME[level]
                        subsystem = names.setdefault(subsystem, subsystem)
                        yield _human_record(ts, level, subsystem, body, layout, line, i)
                        continue
                else:
                    m = _TS.match(line)
                    if m is not None:
                        text = line[m.end() :]
                        shape = shape_of(text)
                        linux = linux_layouts.get(shape, False)
                        if linux is False:
                            damaged = _LEVEL_PREFIX.match(shape) or _START.search(shape)
                            linux = None if damaged else _linux_layout(shape)
                            self._remember(linux_layouts, shape, linux)
                        if linux is not None:
                            ts = _ts_us(m.group(1), m.group(2))
                            yield _linux_record(ts, None, text, linux, line, i)
                            continue
            elif c == "{":
                m = _JSON_FAST.match(line)
                if m is not None:
                    rest = line[m.end() :]
                    t = json_cache.get(rest, False)
                    if t is False:
                        t = self._json_fast_template(line, rest)
                    if t is not None:
                        yield _json_record(t, int(m.group(1)), int(m.group(2)), line, i)
                        continue
            i = self.slow(line, i)
            if pending:
                yield from pending
                pending.clear()

    def _json_fast_template(self, line: str, rest: str) -> _JsonTemplate | None:
        try:
            obj, end = _DECODER.raw_decode(line)
        except ValueError:
            return None  # not remembered: the slow path may join it with the next lines
        t = None
        if isinstance(obj, dict) and not line[end:].strip():
            tpl = _json_template(obj, self.names)
            t = tpl if isinstance(tpl, _JsonTemplate) else None
        self._remember(self.json_cache, rest, t)
        return t

    # -- the general path ------------------------------------------------------------------

    def slow(self, line: str, i: int) -> int:
        """Parse a line any way it may come; returns the index of the next line to read."""
        n = i  # 1-based number of this line
        starts = [m.start() for m in _START.finditer(line)]
        if (not starts or starts[0] != 0) and _LINE_START.match(line):
            starts.insert(0, 0)
        if (not starts or starts[0] != 0) and self._bare_record(line, n):
            return i
        if not starts:
            if not self.mixed:
                junk = "\ufffd" in line or not line.isprintable()
                self.problem(n, "binary junk" if junk else "not a log record", line)
            return i
        if starts[0] > 0 and not self.mixed and line[: starts[0]].strip():
            self.problem(n, "text before the record", line[: starts[0]])
        for k, start in enumerate(starts):
            end = starts[k + 1] if k + 1 < len(starts) else len(line)
            segment = line[start:end]
            if segment.startswith("{"):
                i = self._json_segment(segment, n, i, last=end == len(line))
            else:
                self._text_segment(segment, n)
        return i

    def _bare_record(self, line: str, n: int) -> bool:
        """A line-start JSON object not led by "ts" (another key order), or a Linux record
        with a <n> level prefix but no timestamp (dmesg -r on a kernel without times)."""
        s = line.lstrip()
        if s.startswith("{"):
            try:
                obj, end = _DECODER.raw_decode(s)
            except ValueError:
                return False
            if not isinstance(obj, dict) or "ts" not in obj or "level" not in obj:
                return False
            self._add_json(obj, s, n, s[end:])
            return True
        if len(s) > 3 and s[0] == "<" and s[2] == ">" and s[1] in "01234567" and s[3] != "[":
            text = s[3:]
            level = LINUX_LEVELS[int(s[1])]
            self.records.append(_linux_record(None, level, text, _linux_layout(text), s, n))
            return True
        return False

    def _text_segment(self, segment: str, n: int) -> None:
        m = _LINUX.match(segment)
        if m is None:  # cannot happen for a _START match; be safe anyway
            self.problem(n, "not a log record", segment)
            return
        prio, secs, frac, text = m.groups()
        ts = _ts_us(secs, frac)
        if prio is not None:
            level = LINUX_LEVELS[int(prio)]
            self.records.append(_linux_record(ts, level, text, _linux_layout(text), segment, n))
            return
        lvl = _LEVEL_PREFIX.match(text)
        if lvl is None:
            self.records.append(_linux_record(ts, None, text, _linux_layout(text), segment, n))
            return
        head = _HUMAN_HEAD.match(text, lvl.end())
        if head is None:
            self.problem(n, "truncated record (human record without 'subsystem: ')", segment)
            return
        body = text[head.end() :]
        record = _human_record(
            ts, lvl.group(1), head.group(1), body, _body_layout(body), segment, n
        )
        self.records.append(record)

    def _json_segment(self, segment: str, n: int, i: int, last: bool) -> int:
        try:
            obj, end = _DECODER.raw_decode(segment)
        except ValueError as e:
            if last:
                joined, consumed = self._join_json(segment, i)
                if joined is not None:
                    obj, text = joined
                    self._add_json(obj, text, n, "")
                    return i + consumed
            # A record cut short (lost bytes, a line cut by the capture) lacks its closing brace.
            truncated = not segment.rstrip().endswith("}")
            reason = "truncated JSON record" if truncated else f"malformed JSON record ({e})"
            self.problem(n, reason, segment)
            return i
        self._add_json(obj, segment, n, segment[end:])
        return i

    def _join_json(self, head: str, i: int) -> tuple[tuple[dict, str] | None, int]:
        """Join the following lines to a broken JSON record while they are not records."""
        text = head
        for k in range(MAX_JOIN_LINES):
            if i + k >= len(self.lines):
                break
            nxt = _clean(self.lines[i + k])
            if _START.match(nxt.lstrip()) or _TS.match(nxt):
                break
            text += nxt
            try:
                obj, end = _DECODER.raw_decode(text)
            except ValueError:
                continue
            if isinstance(obj, dict) and not text[end:].strip():
                return (obj, text), k + 1
            break
        return None, 0

    def _add_json(self, obj: object, raw: str, n: int, trailing: str) -> None:
        if not isinstance(obj, dict):
            self.problem(n, "JSON value is not an object", raw)
            return
        has_ts = "ts" in obj
        ts_seq = _json_ts_seq(obj)
        t = _json_template(obj, self.names)
        if isinstance(ts_seq, str) or isinstance(t, str):
            reason = ts_seq if isinstance(ts_seq, str) else t
            if has_ts or not self.mixed:
                self.problem(n, str(reason), raw)
            return
        if trailing.strip() and not self.mixed:
            self.problem(n, "text after the JSON record", trailing)
        self.records.append(
            _json_record(t, ts_seq[0], ts_seq[1], raw[: len(raw) - len(trailing)], n)
        )


# How far back a replayed record is still recognised as a duplicate (a ring buffer's worth).
_DUP_WINDOW = 1 << 16


def find_gaps(records: list[LogRecord]) -> list[Gap]:
    """Missing, duplicate and rewound sequence numbers, in record order.

    A seq at or below the last one is a duplicate when the same (seq, ts) was seen in this
    boot (a `dmesg` replay, a repeated line), otherwise the start of a new boot."""
    gaps: list[Gap] = []
    prev: int | None = None
    seen: dict[int, int | None] = {}  # seq -> ts in the current boot, recent seqs only
    for r in records:
        seq = r.seq
        if seq is None:
            continue
        if prev is not None:
            if seq in seen and seen[seq] == r.ts_us:
                gaps.append(Gap("duplicate", r.line, seq, seq))
                continue  # a replay does not move the boot's position forward
            if seq <= prev:
                gaps.append(Gap("reboot", r.line, prev, seq))
                seen.clear()
            elif seq > prev + 1:
                gaps.append(Gap("missing", r.line, prev + 1, seq - 1))
        seen[seq] = r.ts_us
        prev = seq
        if len(seen) > 2 * _DUP_WINDOW:
            seen = {k: v for k, v in seen.items() if k > seq - _DUP_WINDOW}
    return gaps


def _split_lines(data: str | bytes) -> list[str]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data).decode("utf-8", "replace")
    if "\r\n" in data:
        data = data.replace("\r\n", "\n")  # serial lines end in CR LF; a lone CR stays junk
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def iter_records(
    data: str | bytes, *, mixed: bool = False, problems: list[Problem] | None = None
) -> Iterator[LogRecord]:
    """The records of a capture, one at a time, as `parse_text` finds them; the problems
    go to `problems` if given. Nothing is kept: the way to go through a huge log."""
    parser = _Parser(_split_lines(data), mixed)
    if problems is not None:
        parser.problems = problems
    return iter(parser)


def parse_text(data: str | bytes, *, mixed: bool = False) -> ParseReport:
    """Parse a capture. `mixed=True` for a console capture where records interleave with
    shell output (non-record lines are skipped, not reported)."""
    lines = _split_lines(data)
    parser = _Parser(lines, mixed)
    with gc_paused():
        records = list(parser)
    return ParseReport(records, parser.problems, find_gaps(records), len(lines))


def parse_file(path: str | Path, *, mixed: bool = False) -> ParseReport:
    return parse_text(Path(path).read_bytes(), mixed=mixed)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector. Parsing makes many small objects and no reference
    cycles: the collector would only scan them over and over (a third of the time on long
    logs)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

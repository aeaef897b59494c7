"""Kernel log parsing: records out of a kernel-log capture or a console capture.

The record formats are `sis.harness.logs.formats` (SIS human, SIS JSON, Linux printk); this
module finds records in a stream as a serial line delivers it and hands each to its format.

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
text with its digits made alike but a number's leading zero) and reused for every record that differs only in its
numbers; a JSON record's text after ``ts`` and ``seq`` is decoded once however often it
repeats; the cyclic garbage collector, which would only rescan the many new objects, is
paused while parsing; and `iter_records` streams records without keeping them.
"""

from __future__ import annotations

import contextlib
import gc
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sis.harness.console import strip_ansi
from sis.harness.logs.formats import linux_printk, sis_human, sis_json
from sis.harness.logs.formats.linux_printk import LINUX_LEVELS
from sis.harness.logs.formats.record import SIS_LEVELS, TIMESTAMP, LogRecord, ts_us
from sis.harness.logs.formats.sis_human import human_value

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
    "iter_line_chunks",
    "iter_text_chunks",
    "iter_records",
    "parse_file",
    "parse_text",
    "shape_of",
]

FORMAT_HUMAN = sis_human.FORMAT
FORMAT_JSON = sis_json.FORMAT
FORMAT_LINUX = linux_printk.FORMAT

# A JSON record split over more lines than this is not joined back.
MAX_JOIN_LINES = 8
_EXCERPT = 80
_CACHE_LIMIT = 1 << 16


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
# Where a record of any format can start inside a line: a Linux ``<n>[``, a timestamp (SIS
# human or Linux), a JSON ``{"ts":``. It begins with a character class so that the regex
# engine skips to candidate characters without trying the alternatives at every position.
_START = re.compile(
    r"[<\[{](?:(?<=<)[0-7]>\[ *\d{1,12}\.\d{6}\](?=[ \[]|$)"
    r'|(?<=\[) *\d{1,12}\.\d{6}\](?=[ \[]|$)|(?<=\{)\s*"ts"\s*:)'
)
# A record at the start of a line may have fewer or more decimals than the six of printk.
_LINE_START = re.compile(r"(?:<[0-7]>)?\[ *\d{1,12}\.\d{1,9}\]")


def _clean(line: str) -> str:
    if "\x1b" in line:
        line = strip_ansi(line)
    return _CONTROL.sub("", line)


def _excerpt(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


# Where the parts of a text record are depends only on the record's *shape*: its text with
# every digit made a 1 but a zero that starts a token. No pattern of the formats tells other
# digits apart; a zero does matter where ``0x`` or a JSON number may start, and neither
# starts after a letter, a digit, ``_`` or ``.``. A layout found once serves every record
# that differs only in its numbers, which is most of a long log.

#: What a zero may follow and still be like any other digit.
ZERO_FOLDS_AFTER = string.digits + string.ascii_letters + "_."
_SHAPE = str.maketrans("23456789", "11111111")
_SHAPE_ASCII = bytes(range(256)).replace(b"23456789", b"11111111")
_INNER_ZERO = re.compile(f"(?<=[{re.escape(ZERO_FOLDS_AFTER)}])0")


def shape_of(text: str) -> str:
    """`text` with every digit turned into 1 but zeros that start a token (same length,
    same offsets). `sis.harness.logs.stream` keys lines the same way."""
    if text.isascii():  # the common case, and much faster through bytes
        text = text.encode("ascii").translate(_SHAPE_ASCII).decode("ascii")
    else:
        text = text.translate(_SHAPE)
    return _INNER_ZERO.sub("1", text) if "0" in text else text


# ------------------------------------------------------------------------------ the parser

_GLUED = (-1, ())  # a layout marker: another record starts inside this one


class _Parser:
    """Parses `lines[start:stop]`; the lines after `stop` are only looked at to join a broken
    JSON record. `base` is the number of lines before `lines` (a stream's earlier chunks), so
    that line numbers count from the start of the capture; `next` is where to go on."""

    def __init__(self, lines: list[str], mixed: bool, cache_limit: int = _CACHE_LIMIT) -> None:
        self.lines = lines
        self.cache_limit = cache_limit  # entries in each of the caches below
        self.mixed = mixed
        self.base = 0
        self.start = 0
        self.stop = len(lines)
        self.next = 0
        self.records: list[LogRecord] = []  # found by the general path, not yet yielded
        self.problems: list[Problem] = []
        self.body_layouts: dict[str, sis_human.BodyLayout] = {}  # by shape
        self.linux_layouts: dict[str, linux_printk.Layout | None] = {}  # by shape; None: slow
        self.json_cache: dict[str, sis_json.Template | None] = {}  # by exact text
        self.names: dict[str, str] = {}  # subsystem names seen, to share their strings

    def problem(self, n: int, reason: str, text: str = "") -> None:
        self.problems.append(Problem(n, reason, _excerpt(text)))

    def _remember(self, cache: dict, key: str, value: object) -> None:
        if len(cache) >= self.cache_limit:
            cache.clear()
        cache[key] = value

    def __iter__(self) -> Iterator[LogRecord]:
        lines, pending, fast = self.lines, self.records, self.fast
        i, count = self.start, self.stop
        while i < count:
            line = lines[i]
            i += 1
            if not line.isprintable():
                line = _clean(line)
            if not line or line.isspace():
                continue
            record = fast(line, i)
            if record is not None:
                yield record
                continue
            i = self.slow(line, i)
            if pending:
                yield from pending
                pending.clear()
        self.next = i

    def fast(self, line: str, i: int) -> LogRecord | None:
        """The record of a clean line (no control characters, not blank) that is one
        well-formed record, or None: glued records, damage and other layouts take `slow`.
        `i` is the line's 1-based index in `lines`."""
        c = line[0]
        if c == "[":
            m = sis_human.HEAD.match(line)
            if m is not None:
                body = line[m.end() :]
                shape = shape_of(body)
                layout = self.body_layouts.get(shape)
                if layout is None:
                    layout = _GLUED if _START.search(shape) else sis_human.body_layout(shape)
                    self._remember(self.body_layouts, shape, layout)
                if layout is _GLUED:
                    return None
                secs, frac, level, subsystem = m.groups()
                # One string object for each level and subsystem, not one a record.
                level = sis_human.LEVEL_NAME[level]
                subsystem = self.names.setdefault(subsystem, subsystem)
                return sis_human.record(
                    ts_us(secs, frac), level, subsystem, body, layout, line, self.base + i
                )
            m = TIMESTAMP.match(line)
            if m is not None:
                text = line[m.end() :]
                shape = shape_of(text)
                linux = self.linux_layouts.get(shape, False)
                if linux is False:
                    damaged = sis_human.LEVEL_PREFIX.match(shape) or _START.search(shape)
                    linux = None if damaged else linux_printk.layout(shape)
                    self._remember(self.linux_layouts, shape, linux)
                if linux is not None:
                    ts = ts_us(m.group(1), m.group(2))
                    return linux_printk.record(ts, None, text, linux, line, self.base + i)
        elif c == "{":
            m = sis_json.FAST_HEAD.match(line)
            if m is not None:
                rest = line[m.end() :]
                t = self.json_cache.get(rest, False)
                if t is False:
                    t = self._json_fast_template(line, rest)
                if t is not None:
                    ts, seq = int(m.group(1)), int(m.group(2))
                    return sis_json.record(t, ts, seq, line, self.base + i)
        return None

    def _json_fast_template(self, line: str, rest: str) -> sis_json.Template | None:
        try:
            obj, end = sis_json.DECODER.raw_decode(line)
        except ValueError:
            return None  # not remembered: the slow path may join it with the next lines
        t = None
        if isinstance(obj, dict) and not line[end:].strip():
            tpl = sis_json.template(obj, self.names)
            t = tpl if isinstance(tpl, sis_json.Template) else None
        self._remember(self.json_cache, rest, t)
        return t

    # -- the general path ------------------------------------------------------------------

    def slow(self, line: str, i: int) -> int:
        """Parse a line any way it may come; returns the index of the next line to read."""
        n = self.base + i  # 1-based number of this line
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
                obj, end = sis_json.DECODER.raw_decode(s)
            except ValueError:
                return False
            if not isinstance(obj, dict) or "ts" not in obj or "level" not in obj:
                return False
            self._add_json(obj, s, n, s[end:])
            return True
        if len(s) > 3 and s[0] == "<" and s[2] == ">" and s[1] in "01234567" and s[3] != "[":
            text = s[3:]
            level = LINUX_LEVELS[int(s[1])]
            record = linux_printk.record(None, level, text, linux_printk.layout(text), s, n)
            self.records.append(record)
            return True
        return False

    def _text_segment(self, segment: str, n: int) -> None:
        m = linux_printk.LINE.match(segment)
        if m is None:  # cannot happen for a _START match; be safe anyway
            self.problem(n, "not a log record", segment)
            return
        prio, secs, frac, text = m.groups()
        ts = ts_us(secs, frac)
        level = LINUX_LEVELS[int(prio)] if prio is not None else None
        if level is None:
            human = sis_human.record_after_timestamp(ts, text, segment, n)
            if isinstance(human, str):
                self.problem(n, human, segment)
                return
            if human is not None:
                self.records.append(human)
                return
        layout = linux_printk.layout(text)
        self.records.append(linux_printk.record(ts, level, text, layout, segment, n))

    def _json_segment(self, segment: str, n: int, i: int, last: bool) -> int:
        try:
            obj, end = sis_json.DECODER.raw_decode(segment)
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
            if _START.match(nxt.lstrip()) or TIMESTAMP.match(nxt):
                break
            text += nxt
            try:
                obj, end = sis_json.DECODER.raw_decode(text)
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
        ts_seq = sis_json.ts_seq(obj)
        t = sis_json.template(obj, self.names)
        if isinstance(ts_seq, str) or isinstance(t, str):
            reason = ts_seq if isinstance(ts_seq, str) else t
            if has_ts or not self.mixed:
                self.problem(n, str(reason), raw)
            return
        if trailing.strip() and not self.mixed:
            self.problem(n, "text after the JSON record", trailing)
        self.records.append(
            sis_json.record(t, ts_seq[0], ts_seq[1], raw[: len(raw) - len(trailing)], n)
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


#: Characters of a capture split into lines at a time: memory stays flat however long it is.
CHUNK_CHARS = 1 << 18


def iter_text_chunks(
    data: str | bytes, chunk: int = CHUNK_CHARS, *, crlf: bool = True
) -> Iterator[str]:
    """A capture as pieces of text of about `chunk` characters, each ending at a newline
    (but perhaps the last). Bytes are decoded as UTF-8 with replacement (a piece never ends
    inside a character); CR LF becomes LF unless `crlf` is false (a lone CR stays, as
    junk)."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    newline: str | bytes = b"\n" if isinstance(data, bytes) else "\n"
    pos, size = 0, len(data)
    while pos < size:
        end = data.find(newline, min(pos + chunk, size) - 1)  # type: ignore[arg-type]
        end = size if end < 0 else end + 1
        part = data[pos:end]
        pos = end
        text = part.decode("utf-8", "replace") if isinstance(part, bytes) else part
        if crlf and "\r" in text:
            text = text.replace("\r\n", "\n")  # serial lines end in CR LF
        yield text


def iter_line_chunks(data: str | bytes, chunk: int = CHUNK_CHARS) -> Iterator[list[str]]:
    """The lines of a capture, a list of a few thousand at a time (`iter_text_chunks`): LF
    or CR LF ends a line; a last line without a newline counts."""
    for text in iter_text_chunks(data, chunk):
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        yield lines


class _Stream:
    """The records of a capture, parsed a chunk of lines at a time. Each chunk keeps its last
    few lines for the next one, so that a broken JSON record can still be joined."""

    def __init__(self, data: str | bytes, mixed: bool, problems: list[Problem] | None) -> None:
        self.data = data
        self.parser = _Parser([], mixed)
        if problems is not None:
            self.parser.problems = problems
        self.lines = 0  # lines read so far

    def __iter__(self) -> Iterator[LogRecord]:
        parser, carry = self.parser, []
        chunks = iter_line_chunks(self.data, CHUNK_CHARS)
        chunk = next(chunks, None)
        while chunk is not None:
            following = next(chunks, None)
            lines = carry + chunk if carry else chunk
            parser.lines, parser.start = lines, 0
            parser.stop = len(lines) if following is None else max(0, len(lines) - MAX_JOIN_LINES)
            yield from parser
            carry = lines[parser.next :]
            parser.base += parser.next
            chunk = following
            if chunk is None and carry:  # lines a join looked at but did not take
                chunk, carry = carry, []
        self.lines = parser.base


def iter_records(
    data: str | bytes, *, mixed: bool = False, problems: list[Problem] | None = None
) -> Iterator[LogRecord]:
    """The records of a capture, one at a time, as `parse_text` finds them; the problems
    go to `problems` if given. Nothing is kept: the way to go through a huge log."""
    return iter(_Stream(data, mixed, problems))


def parse_text(data: str | bytes, *, mixed: bool = False) -> ParseReport:
    """Parse a capture. `mixed=True` for a console capture where records interleave with
    shell output (non-record lines are skipped, not reported)."""
    stream = _Stream(data, mixed, None)
    with gc_paused():
        records = list(stream)
    return ParseReport(records, stream.parser.problems, find_gaps(records), stream.lines)


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

"""Parsers for metrics text as it comes off a target: a JSON snapshot (`metricsctl --format
json`), `key=value` lines (`--format simple`) and the Prometheus text exposition format.

They never raise on bad input: each returns what it could read and a list of problems, one per
malformed line, with its line number — what a collector logs and what a check reports."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

Number = int | float


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based; 0 = the text as a whole
    message: str
    text: str = ""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "text"
        shown = self.text if len(self.text) <= 80 else self.text[:77] + "..."
        return f"{where}: {self.message}" + (f": {shown!r}" if shown else "")


@dataclass
class ParsedMetrics:
    """Flat metrics {key: integer} and what was wrong with the text."""

    values: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 3) -> str:
        shown = "; ".join(str(p) for p in self.problems[:limit])
        more = len(self.problems) - limit
        return shown + (f" (and {more} more)" if more > 0 else "")


def _int_value(key: str, value: object, n: int, out: ParsedMetrics) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        out.problems.append(Problem(n, f"{key}: expected an integer, got {value!r}"))
    else:
        out.values[key] = value


def parse_json_metrics(text: str) -> ParsedMetrics:
    """One JSON object per snapshot, on its own line. Every other non-blank line is a problem
    (so interleaved output is noticed), as is a member that is not an integer."""
    out = ParsedMetrics()
    found = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if found:
            out.problems.append(Problem(n, "more output after the JSON object", line))
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            msg = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
            col = f" (column {e.colno})" if isinstance(e, json.JSONDecodeError) else ""
            out.problems.append(Problem(n, f"not JSON: {msg}{col}", line))
            continue
        if not isinstance(obj, dict):
            out.problems.append(Problem(n, f"expected a JSON object, got {type(obj).__name__}"))
            continue
        found = True
        for key, value in obj.items():
            _int_value(str(key), value, n, out)
    if not found:
        out.problems.append(Problem(0, "no JSON object found"))
    return out


_SIMPLE_RX = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\S*)$")


def parse_simple_metrics(text: str) -> ParsedMetrics:
    """`key=value` lines with integer values."""
    out = ParsedMetrics()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        m = _SIMPLE_RX.match(line)
        if not m:
            out.problems.append(Problem(n, "expected key=value", line))
            continue
        key, value = m.groups()
        if key in out.values:
            out.problems.append(Problem(n, f"{key}: given twice", line))
        try:
            out.values[key] = int(value)
        except ValueError:
            out.problems.append(Problem(n, f"{key}: expected an integer, got {value!r}", line))
    if not out.values and not out.problems:
        out.problems.append(Problem(0, "no metrics found"))
    return out


# -- Prometheus text format 0.0.4 --------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_NAME_RX = re.compile(_NAME)
_LABEL_NAME_RX = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
_SUFFIXES = {
    "counter": ("_total", "_created", ""),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "gauge": ("",),
    "untyped": ("",),
}


@dataclass(frozen=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float
    line: int

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


@dataclass
class PromText:
    """What a Prometheus text parse found: families (name -> type), help, samples, problems."""

    types: dict[str, str] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def family_of(self, sample_name: str) -> str | None:
        """The declared family a sample belongs to (`x_bucket` -> `x` for a histogram)."""
        if sample_name in self.types:
            return sample_name
        for suffix in ("_bucket", "_sum", "_count", "_total", "_created"):
            base = sample_name.removesuffix(suffix)
            if base != sample_name and base in self.types:
                return base
        return None

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the first sample called `name` whose labels include `labels`."""
        for s in self.samples:
            if s.name == name and all(dict(s.labels).get(k) == v for k, v in labels.items()):
                return s.value
        return None

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


def _parse_value(text: str) -> float:
    low = text.lower()
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low == "nan":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        raise ValueError(f"bad value {text!r}")
    return float(text)


def _parse_labels(text: str, pos: int) -> tuple[tuple[tuple[str, str], ...], int]:
    """Labels from text[pos] == '{' to the matching '}'; returns them and the index after."""
    labels: list[tuple[str, str]] = []
    i = pos + 1
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == "}":
            return tuple(labels), i + 1
        m = _LABEL_NAME_RX.match(text, i)
        if not m:
            raise ValueError(f"bad label name at column {i + 1}")
        name = m.group()
        i = m.end()
        if text[i : i + 2] != '="':
            raise ValueError(f'expected =" after label {name!r}')
        i += 2
        value: list[str] = []
        while True:
            if i >= len(text):
                raise ValueError(f"unterminated value of label {name!r}")
            c = text[i]
            if c == "\\":
                nxt = text[i + 1 : i + 2]
                if nxt not in ('"', "\\", "n"):
                    raise ValueError(f"bad escape \\{nxt} in label {name!r}")
                value.append("\n" if nxt == "n" else nxt)
                i += 2
                continue
            if c == '"':
                i += 1
                break
            value.append(c)
            i += 1
        if any(k == name for k, _ in labels):
            raise ValueError(f"label {name!r} given twice")
        labels.append((name, "".join(value)))
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == ",":
            i += 1
            continue
        if i < len(text) and text[i] == "}":
            return tuple(labels), i + 1
        raise ValueError(f"expected , or }} at column {i + 1}")


def parse_prometheus_text(text: str) -> PromText:
    """Parse and check the text exposition format 0.0.4 line by line: syntax, HELP/TYPE
    placement, sample names against their family's type, duplicate series, histogram `le`."""
    out = PromText()
    seen_series: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    sampled: set[str] = set()  # families that already have samples
    if text and not text.endswith("\n"):
        out.problems.append(Problem(0, "the text does not end with a newline"))
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                if len(parts) < 3 or not _NAME_RX.fullmatch(parts[2]):
                    out.problems.append(Problem(n, f"{parts[1]} without a valid metric name", line))
                    continue
                name = parts[2]
                if parts[1] == "HELP":
                    if name in out.help:
                        out.problems.append(Problem(n, f"second HELP for {name}", line))
                    out.help[name] = parts[3] if len(parts) > 3 else ""
                else:
                    kind = parts[3].strip() if len(parts) > 3 else ""
                    if kind not in _TYPES:
                        out.problems.append(Problem(n, f"unknown type {kind!r} for {name}", line))
                    elif name in out.types:
                        out.problems.append(Problem(n, f"second TYPE for {name}", line))
                    elif name in sampled:
                        out.problems.append(Problem(n, f"TYPE for {name} after its samples", line))
                    else:
                        out.types[name] = kind
            continue
        m = _NAME_RX.match(line)
        if not m:
            out.problems.append(Problem(n, "a sample must start with a metric name", line))
            continue
        name = m.group()
        i = m.end()
        try:
            labels: tuple[tuple[str, str], ...] = ()
            if i < len(line) and line[i] == "{":
                labels, i = _parse_labels(line, i)
            rest = line[i:].split()
            if not rest or len(rest) > 2 or (i < len(line) and line[i] not in " \t"):
                raise ValueError("expected: name{labels} value [timestamp]")
            value = _parse_value(rest[0])
            if len(rest) == 2 and not re.fullmatch(r"-?\d+", rest[1]):
                raise ValueError(f"bad timestamp {rest[1]!r}")
        except ValueError as e:
            out.problems.append(Problem(n, str(e), line))
            continue
        family = out.family_of(name)
        kind = out.types.get(family or "", "untyped")
        if family is not None:
            suffix = name[len(family) :]
            if suffix not in _SUFFIXES[kind]:
                out.problems.append(Problem(n, f"{name} does not fit {family}, a {kind}", line))
            if kind == "histogram" and suffix == "_bucket" and dict(labels).get("le") is None:
                out.problems.append(Problem(n, "histogram bucket without an le label", line))
        key = (name, tuple(sorted(labels)))
        if key in seen_series:
            out.problems.append(Problem(n, "duplicate series", line))
        seen_series.add(key)
        sampled.add(family or name)
        out.samples.append(Sample(name, labels, value, n))
    return out

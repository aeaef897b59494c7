"""The statistics a soak is judged by, from the libraries the field trusts: pymannkendall's
Hamed–Rao Mann–Kendall test (corrected for autocorrelation, so a healthy sawtooth allocator is
not a trend) and scipy's Theil–Sen slope with its 95% interval.

A memory series is called leaking only when all of these agree, after the warm-up is
discarded: the Hamed–Rao test finds an increasing trend (p < ALPHA), the Theil–Sen interval
lies wholly above the practical minimum rate, and the lower envelope (the minimum of each
window, i.e. what the allocator never gives back) rises at least that fast too. Plain
Mann–Kendall or an OLS slope flags sawtooth and warm-up curves; this does not.

Windowed thresholds (`p99(ctx_switch_p99_ns) < 5ms over 5m`, `errors == 0`) are checked on
every window, and the worst one is named.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.05
MIB = 1024 * 1024
HOUR = 3600.0
#: Below this many samples after the warm-up, a series is not judged.
MIN_SAMPLES = 8
#: Windows the lower envelope is taken over (fewer for short series: at least 4 samples each).
ENVELOPE_WINDOWS = 10


@dataclass(frozen=True)
class Summary:
    n: int
    min: float
    max: float
    mean: float
    stddev: float
    p50: float
    p95: float
    p99: float


def describe(values: list[float] | np.ndarray) -> Summary | None:
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return None
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return Summary(int(a.size), float(a.min()), float(a.max()), float(a.mean()), std, p50, p95, p99)


@dataclass
class LeakAnalysis:
    """One memory series of one boot segment, judged for a leak."""

    metric: str
    n: int  # samples judged (after the warm-up)
    warmup_until: float  # absolute time; samples before it were discarded
    judged: bool = False
    leaking: bool = False
    says: str = ""
    mk_trend: str = ""
    mk_p: float = math.nan
    slope: float = 0.0  # MiB/h, Theil–Sen
    low: float = 0.0  # 95% interval, MiB/h
    high: float = 0.0
    intercept: float = 0.0  # bytes at t0
    t0: float = 0.0
    envelope_slope: float = 0.0  # MiB/h
    envelope: list[tuple[float, float]] = field(default_factory=list)
    hours_to_oom: float | None = None
    hours_to_oom_earliest: float | None = None

    def fitted(self, t: float) -> float:
        return self.intercept + self.slope * MIB / HOUR * (t - self.t0)

    def band(self, t: float) -> tuple[float, float]:
        """The interval's lines through the fit's centre point (for charts)."""
        d = (t - self.t0) * MIB / HOUR
        return self.intercept + self.low * d, self.intercept + self.high * d


def warmup_end(t: np.ndarray, fraction: float, at_least: int = 2) -> int:
    """Index of the first sample after the warm-up: the first `fraction` of the segment's time
    span, and never fewer than `at_least` samples."""
    if t.size == 0:
        return 0
    cut = t[0] + fraction * (t[-1] - t[0])
    return max(min(at_least, t.size), int(np.searchsorted(t, cut, side="left")))


def analyse_leak(
    metric: str,
    t: list[float] | np.ndarray,
    y: list[float] | np.ndarray,
    *,
    min_rate: float = 1.0,
    warmup: float = 0.1,
    capacity: float | None = None,
) -> LeakAnalysis:
    """Judge one memory series (bytes over seconds). `min_rate` is the smallest growth, in
    MiB/h, worth calling a leak; `capacity` the bytes at which memory runs out (for the
    time-to-OOM projection); `warmup` the fraction of the span discarded first."""
    from scipy.stats import theilslopes

    t_all, y_all = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    start = warmup_end(t_all, warmup)
    ts, ys = t_all[start:], y_all[start:]
    a = LeakAnalysis(
        metric, int(ts.size), float(t_all[start] if start < t_all.size else t_all[-1:].sum())
    )
    if ts.size < MIN_SAMPLES or ts[-1] <= ts[0]:
        a.says = f"not judged: {ts.size} samples after the warm-up, {MIN_SAMPLES} needed"
        return a
    a.judged = True
    a.t0 = float(ts.mean())
    hours = (ts - a.t0) / HOUR
    mib = ys / MIB
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        import pymannkendall

        mk = pymannkendall.hamed_rao_modification_test(ys, alpha=ALPHA)
        fit = theilslopes(mib, hours, alpha=0.95)
    a.mk_trend, a.mk_p = str(mk.trend), float(mk.p)
    a.slope, a.low, a.high = float(fit.slope), float(fit.low_slope), float(fit.high_slope)
    # The line through the centre of the data, so the band pivots where the fit is surest.
    a.intercept = float(np.median(mib - a.slope * hours)) * MIB
    a.envelope = _lower_envelope(ts, ys)
    if len(a.envelope) >= 3:
        et = np.array([p[0] for p in a.envelope])
        ey = np.array([p[1] for p in a.envelope]) / MIB
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            a.envelope_slope = float(theilslopes(ey, (et - a.t0) / HOUR).slope)
    if capacity and a.slope > 0:
        left = (capacity - ys[-1]) / MIB
        a.hours_to_oom = max(0.0, left / a.slope)
        if a.high > 0:
            a.hours_to_oom_earliest = max(0.0, left / a.high)
    trend = a.mk_trend == "increasing" and a.mk_p < ALPHA
    interval = a.low > min_rate
    envelope = len(a.envelope) >= 3 and a.envelope_slope >= min_rate
    a.leaking = bool(trend and interval and envelope)
    fig = f"{a.slope:+.2f} MiB/h (95% interval {a.low:+.2f} .. {a.high:+.2f})"
    mk_text = f"Hamed–Rao Mann–Kendall: {a.mk_trend}, p={a.mk_p:.2g}"
    env = f"lower envelope {a.envelope_slope:+.2f} MiB/h"
    if a.leaking:
        a.says = f"leaking {fig}; {mk_text}; {env}; more than the {min_rate:g} MiB/h allowed"
    else:
        missing = []
        if not trend:
            missing.append("no significant increasing trend")
        if not interval:
            missing.append(f"the interval is not wholly above {min_rate:g} MiB/h")
        if not envelope:
            missing.append(f"the {env} is below {min_rate:g} MiB/h")
        a.says = f"no leak: {', '.join(missing)}; slope {fig}; {mk_text}"
    return a


def _lower_envelope(t: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
    """The minimum of each of up to ENVELOPE_WINDOWS equal windows: what is never given back."""
    windows = min(ENVELOPE_WINDOWS, t.size // 4)
    if windows < 3:
        return []
    out = []
    for idx in np.array_split(np.arange(t.size), windows):
        i = idx[int(np.argmin(y[idx]))]
        out.append((float(t[i]), float(y[i])))
    return out


# -- durations and thresholds ------------------------------------------------------------------

_DURATION_RX = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|min|sec|s|m|h|d)?")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float) -> float:
    """Seconds from `90`, `10s`, `5m`, `2h`, `1h30m`, `250ms`; ValueError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    s = str(text).strip().lower()
    total, pos = 0.0, 0
    for m in _DURATION_RX.finditer(s):
        if m.start() != pos or (m.group(2) is None and m.end() != len(s)):
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2) or "s"]
        pos = m.end()
        while pos < len(s) and s[pos] == " ":
            pos += 1
    if not s or pos != len(s):
        raise ValueError(f"{text!r} is not a duration (e.g. 90, 10s, 5m, 2h, 1h30m)")
    return total


AGGREGATES = ("p50", "p90", "p95", "p99", "max", "min", "mean", "increase", "rate")
_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_UNITS = {
    "ns": ("_ns", 1), "us": ("_ns", 1e3), "ms": ("_ns", 1e6), "s": ("_ns", 1e9),
    "B": ("_bytes", 1), "KiB": ("_bytes", 1024), "MiB": ("_bytes", MIB), "GiB": ("_bytes", 1024**3),
}  # fmt: skip
_RULE_RX = re.compile(
    r"^\s*(?:(?P<agg>[a-z0-9]+)\((?P<m1>[A-Za-z_][A-Za-z0-9_]*)\)|(?P<m2>[A-Za-z_][A-Za-z0-9_]*))"
    r"\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<num>-?\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]+)?"
    r"(?:\s+over\s+(?:any\s+)?(?P<window>.+?))?\s*$"
)


@dataclass(frozen=True)
class Threshold:
    text: str
    metric: str
    op: str
    value: float
    aggregate: str = ""  # "" = every sample on its own
    window: float = 0.0  # seconds; 0 = the whole run (with an aggregate) or each sample


def parse_threshold(text: object) -> Threshold:
    """`errors == 0`, `p99(ctx_switch_p99_ns) < 5ms over 5m`, `max(heap_current_bytes) < 64MiB`,
    `increase(net_errors) == 0 over 1m`; ValueError saying what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"a threshold is a string such as 'errors == 0', not {text!r}")
    m = _RULE_RX.match(text)
    if not m:
        raise ValueError(
            f"{text!r} is not a threshold: METRIC OP NUMBER or AGG(METRIC) OP NUMBER [over "
            f"DURATION], AGG one of {', '.join(AGGREGATES)}"
        )
    agg, metric = m.group("agg") or "", m.group("m1") or m.group("m2")
    if agg and agg not in AGGREGATES:
        raise ValueError(f"{text!r}: unknown aggregate {agg!r} (one of {', '.join(AGGREGATES)})")
    value = float(m.group("num"))
    unit = m.group("unit")
    if unit:
        if unit not in _UNITS:
            raise ValueError(f"{text!r}: unknown unit {unit!r} (one of {', '.join(_UNITS)})")
        suffix, scale = _UNITS[unit]
        if not metric.endswith(suffix):
            raise ValueError(f"{text!r}: {unit} fits metrics ending in {suffix}, not {metric}")
        value *= scale
    window = parse_duration(m.group("window")) if m.group("window") else 0.0
    if m.group("window") and not agg:
        raise ValueError(f"{text!r}: a window needs an aggregate, e.g. max({metric}) ... over")
    return Threshold(text.strip(), metric, m.group("op"), value, agg, window)


@dataclass
class ThresholdOutcome:
    rule: Threshold
    ok: bool | None  # None: the metric was never sampled
    says: str
    worst: float | None = None
    window: tuple[float, float] | None = None  # the (start, end) that broke it, or the worst


def _increase(v: np.ndarray) -> float:
    """Counter growth; a drop is a restart of the counter (its new value is growth)."""
    if v.size < 2:
        return 0.0
    d = np.diff(v)
    return float(np.where(d >= 0, d, v[1:]).sum())


def _aggregate(agg: str, t: np.ndarray, v: np.ndarray) -> float:
    if agg.startswith("p"):
        return float(np.percentile(v, float(agg[1:])))
    if agg == "increase":
        return _increase(v)
    if agg == "rate":
        span = float(t[-1] - t[0]) if t.size > 1 else 0.0
        return _increase(v) / span if span > 0 else 0.0
    return float({"max": np.max, "min": np.min, "mean": np.mean}[agg](v))


def check_threshold(rule: Threshold, t: list[float], v: list[float]) -> ThresholdOutcome:
    """Check `rule` on a series; a failure names the window (or the sample) that broke it,
    and the value there."""
    ta, va = np.asarray(t, dtype=float), np.asarray(v, dtype=float)
    if ta.size == 0:
        return ThresholdOutcome(rule, None, f"{rule.text}: {rule.metric} was never sampled")
    holds = _OPS[rule.op]
    if not rule.aggregate:
        bad = [i for i in range(ta.size) if not holds(va[i], rule.value)]
        if not bad:
            return ThresholdOutcome(rule, True, f"{rule.text}: held in all {ta.size} samples")
        i = bad[0]
        return ThresholdOutcome(
            rule, False,
            f"{rule.text}: broken in {len(bad)} of {ta.size} samples, first at "
            f"+{ta[i] - ta[0]:.0f} s ({_fmt(va[i])}, by {_fmt(abs(va[i] - rule.value))})",
            float(va[i]), (float(ta[i]), float(ta[i])),
        )  # fmt: skip
    if not rule.window or ta[-1] - ta[0] <= rule.window:
        value = _aggregate(rule.aggregate, ta, va)
        ok = holds(value, rule.value)
        span = (float(ta[0]), float(ta[-1]))
        verdict = "held" if ok else f"broken by {_fmt(abs(value - rule.value))}"
        return ThresholdOutcome(
            rule, ok, f"{rule.text}: {verdict} over the whole run ({_fmt(value)})", value, span
        )
    windows: list[tuple[float, float, float]] = []  # (value, start, end)
    for i in range(ta.size):
        j = int(np.searchsorted(ta, ta[i] + rule.window, side="right"))
        if j == ta.size and ta[j - 1] - ta[i] < rule.window * 0.999:
            break  # a tail shorter than a window lies inside the windows before it
        windows.append((_aggregate(rule.aggregate, ta[i:j], va[i:j]), ta[i], ta[j - 1]))
    broken = sum(1 for w in windows if not holds(w[0], rule.value))
    worst_value, *span = max(windows, key=lambda w: _badness(rule, w[0]))
    worst = (0.0, float(span[0]), float(span[1]))
    windows_n = len(windows)
    start = ta[0]
    where = f"+{worst[1] - start:.0f}..+{worst[2] - start:.0f} s"
    if broken:
        says = (
            f"{rule.text}: broken in {broken} of {windows_n} windows; worst {where}: "
            f"{_fmt(worst_value)}, by {_fmt(abs(worst_value - rule.value))}"
        )
    else:
        says = (
            f"{rule.text}: held in all {windows_n} windows (closest {where}: {_fmt(worst_value)})"
        )
    return ThresholdOutcome(rule, not broken, says, worst_value, (worst[1], worst[2]))


def _badness(rule: Threshold, value: float) -> float:
    """How far `value` is on the wrong side of the rule (negative: how far on the right side)."""
    if rule.op in ("<", "<="):
        return value - rule.value
    if rule.op in (">", ">="):
        return rule.value - value
    distance = abs(value - rule.value)
    return distance if rule.op == "==" else -distance


def _fmt(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 100 else f"{x:.3g}"

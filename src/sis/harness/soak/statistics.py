"""The statistics a soak is judged by, from the libraries the field trusts: pymannkendall's
Hamed–Rao Mann–Kendall test (corrected for autocorrelation, so a healthy sawtooth allocator is
not a trend) and scipy's Theil–Sen slope with its 95% interval.

The warm-up is found in the data (`find_warmup`): a change point after which the series grows
several times slower and never falls back to where it was (caches filling, then full), sought
again in what follows until the rest has no such change. A memory series is called
leaking only when all of these agree on that rest: the Hamed–Rao test finds an increasing
trend (p < ALPHA), the Theil–Sen interval lies wholly above the practical minimum rate, and the
lower envelope (the minimum of each window, i.e. what the allocator never gives back) rises at
least that fast too. Plain Mann–Kendall or an OLS slope flags sawtooth and warm-up curves; this
does not.

A leak rule that cannot tell a leak from a warm-up says so (`LeakAnalysis.undecided`, a SKIP):
too few samples after the warm-up, a judged stretch whose growth still falls off (its second
half grows at a third of its first half's rate or less: a warm-up still ending), or a growth
over the judged stretch too small in absolute terms to matter over it: no larger than the rise the warm-up itself made (a cache still filling
after its first burst grows like that), than the series' scatter about its trend, or than a
thousandth of the memory there is. A soak long enough for a leak to outgrow them tells them
apart, and the verdict says about how long that is.

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
#: Below this many samples after the warm-up, a series is not judged (the lower envelope needs
#: three windows of four).
MIN_SAMPLES = 12
#: Windows the lower envelope is taken over (fewer for short series: at least 4 samples each).
ENVELOPE_WINDOWS = 10
#: Samples before and after a candidate change point (after it, a slope needs its interval).
_BEFORE, _SIDE = 2, 4
#: A warm-up grows at least this many times as fast as the series does after it.
_BURST = 3.0
#: A growth within the judged stretch below this share of the memory there is does not matter
#: over it: a kernel's caches and bookkeeping drift by that much (a clean Linux guest's slab
#: caches grow ~30 KiB a minute for many minutes), and a leak that matters outgrows it.
MATTERS = 1 / 1000


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


@dataclass(frozen=True)
class WarmUp:
    """Where a series' warm-up ends, as found in the data."""

    start: int  # index of the first sample after the warm-up
    rise: float  # what the series rose during the warm-up (bytes; never below 0)
    changes: int  # change points found (0: nothing but the first sample was discarded)
    settled: bool  # the rest grows at one steady rate (False: it was still slowing down)


@dataclass
class LeakAnalysis:
    """One memory series of one boot segment, judged for a leak."""

    metric: str
    n: int  # samples judged (after the warm-up)
    warmup_until: float  # absolute time; samples before it were not judged
    judged: bool = False
    leaking: bool = False
    undecided: str = ""  # why the data cannot tell a leak from the warm-up ("": they can)
    says: str = ""
    warmup_rise: float = 0.0  # bytes
    warmup_changes: int = 0
    mk_trend: str = ""
    mk_p: float = math.nan
    slope: float = 0.0  # MiB/h, Theil–Sen
    low: float = 0.0  # 95% interval, MiB/h
    high: float = 0.0
    intercept: float = 0.0  # bytes at t0
    t0: float = 0.0
    span_s: float = 0.0  # time the judged samples cover
    scatter: float = 0.0  # bytes: robust spread of the judged samples about the trend
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


def _theil_sen(
    y: np.ndarray, x: np.ndarray, *, var_s: float | None = None
) -> tuple[float, float, float]:
    """(slope, low, high): the Theil–Sen slope with Sen's (1968) 95% interval. `var_s`, the
    variance of the Mann–Kendall S corrected for autocorrelation (Hamed–Rao), widens the
    interval as the test's own p-value is widened (never narrows it): a sawtooth's samples are
    not independent, and an interval that assumes they are is too sure of itself."""
    from scipy.stats import norm

    n = y.size
    if n < 2:
        return 0.0, 0.0, 0.0
    i, j = np.triu_indices(n, k=1)  # each pair once: half the memory of a full matrix
    dx = x[j] - x[i]
    keep = dx > 0
    slopes = np.sort((y[j] - y[i])[keep] / dx[keep])
    del i, j, dx, keep
    if slopes.size == 0:
        return 0.0, 0.0, 0.0
    _, counts = np.unique(y, return_counts=True)
    ties = sum(float(k * (k - 1) * (2 * k + 5)) for k in counts if k > 1)
    plain = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    variance = max(plain, var_s) if var_s is not None and math.isfinite(var_s) else plain
    c = float(norm.ppf(0.975)) * math.sqrt(max(variance, 0.0))
    m = slopes.size
    lo = max(int(round((m - c) / 2.0)) - 1, 0)
    hi = min(int(round((m + c) / 2.0)), m - 1)
    return float(np.median(slopes)), float(slopes[lo]), float(slopes[hi])


def _two_line_split(t: np.ndarray, y: np.ndarray) -> int | None:
    """The split index where two straight lines (one each side) fit best, by least squares;
    None when the series is too short for both sides."""
    n = t.size
    if n < _BEFORE + _SIDE:
        return None
    x = t - t[0]
    scale = max(float(np.abs(y - y[0]).max()), 1.0)
    v = (y - y[0]) / scale  # centred and scaled: sums of squares stay well conditioned

    def sse(xs: np.ndarray, vs: np.ndarray) -> np.ndarray:
        """Residual sum of squares of the OLS line through each prefix."""
        c = np.arange(1, xs.size + 1, dtype=float)
        sx, sy = np.cumsum(xs), np.cumsum(vs)
        sxx, sxy, syy = np.cumsum(xs * xs), np.cumsum(xs * vs), np.cumsum(vs * vs)
        vxx = sxx - sx * sx / c
        vxy = sxy - sx * sy / c
        vyy = syy - sy * sy / c
        with np.errstate(all="ignore"):
            out = vyy - np.where(vxx > 0, vxy * vxy / np.where(vxx > 0, vxx, 1.0), 0.0)
        return np.maximum(out, 0.0)

    head = sse(x, v)  # head[i]: the first i+1 samples
    tail = sse(x[::-1], v[::-1])[::-1]  # tail[i]: samples i..n-1
    splits = np.arange(_BEFORE, n - _SIDE + 1)
    total = head[splits - 1] + tail[splits]
    return int(splits[int(np.argmin(total))])


def find_warmup(
    t: list[float] | np.ndarray,
    y: list[float] | np.ndarray,
    *,
    at_least: int = 1,
    fraction: float = 0.0,
    min_after: int = MIN_SAMPLES,
) -> WarmUp:
    """Where the warm-up ends: the first `at_least` samples (and the first `fraction` of the
    time span, a floor the user may set), then every change point (where two lines fit best)
    before which the series rose in a burst, significantly and at least _BURST times as fast
    as it grows after, and after which it stays at or above the level it reached (a
    sawtooth's drop back to its base is not a warm-up ending): `_slows_down`. The search goes
    on in what follows, so a warm-up that tapers off in steps is followed to its end; it stops
    where the rest has no such change (`settled`) or where fewer than `min_after` samples
    would be left."""
    ta, ya = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    if ta.size == 0:
        return WarmUp(0, 0.0, 0, False)
    cut = ta[0] + fraction * (ta[-1] - ta[0])
    k = min(ta.size, max(at_least, int(np.searchsorted(ta, cut, side="left"))))
    changes = 0
    settled = False
    while ta.size - k >= min_after:
        ts, ys = ta[k:], ya[k:]
        b = _two_line_split(ts, ys)
        if b is None or not _slows_down(ts, ys, b):
            settled = True
            break
        k += b
        changes += 1
    if not changes:
        return WarmUp(k, 0.0, 0, settled)
    # The level the warm-up reached: the median of the first samples after it (one is noise).
    rise = float(np.median(ya[k : k + _SIDE]) - ya[0]) if k < ya.size else float(ya[-1] - ya[0])
    return WarmUp(k, max(0.0, rise), changes, settled)


def _slows_down(t: np.ndarray, y: np.ndarray, b: int) -> bool:
    """Whether the split at `b` ends a warm-up. The line fitted to the samples after it, drawn
    back at the steepest slope its 95% interval allows, must pass well above the samples before
    it (by more than three times the scatter after: the series rose faster than it grows now);
    that rise a burst, at least _BURST times as fast as the growth after (a leak whose pace
    follows a load that slows, say from 450 to 220 MiB/h, has no warm-up); and the level
    reached kept (the samples after do not fall back below those before, as a sawtooth's drop
    to its base does)."""
    slope, _, high = _theil_sen(y[b:], t[b:])
    level = float(np.median(y[b:] - slope * t[b:]))
    scatter = 1.4826 * float(np.median(np.abs(y[b:] - level - slope * t[b:])))
    top = level + slope * t[b]  # where the line after begins
    back = top + max(high, 0.0) * (t[:b] - t[b])
    deficit = -float(np.median(y[:b] - back))
    if deficit <= 3 * scatter or deficit <= 0:
        return False
    first = min(3, b)
    rate = (top - float(np.median(y[:first]))) / max(t[b] - float(np.mean(t[:first])), 1e-9)
    if rate <= _BURST * max(high, 0.0):
        return False
    return bool(np.percentile(y[b:], 10) >= np.median(y[:b]))


def analyse_leak(
    metric: str,
    t: list[float] | np.ndarray,
    y: list[float] | np.ndarray,
    *,
    min_rate: float = 1.0,
    warmup: float = 0.0,
    capacity: float | None = None,
) -> LeakAnalysis:
    """Judge one memory series (bytes over seconds). `min_rate` is the smallest growth, in
    MiB/h, worth calling a leak; `capacity` the bytes at which memory runs out (for the
    time-to-OOM projection, and the yardstick of a growth that matters: MATTERS); `warmup` a share of the time span never judged, whatever the data
    say (the warm-up itself is found in the data: `find_warmup`)."""
    import pymannkendall

    t_all, y_all = np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    w = find_warmup(t_all, y_all, fraction=warmup)
    ts, ys = t_all[w.start :], y_all[w.start :]
    until = float(t_all[w.start]) if w.start < t_all.size else float(t_all[-1:].sum())
    a = LeakAnalysis(metric, int(ts.size), until, warmup_rise=w.rise, warmup_changes=w.changes)
    found = _warmup_text(a, t_all)
    if ts.size < MIN_SAMPLES or ts[-1] <= ts[0]:
        a.undecided = (
            f"{ts.size} samples to judge ({found}), {MIN_SAMPLES} needed to tell a leak from "
            "a warm-up: soak longer or sample more often"
        )
        a.says = f"not judged: {a.undecided}"
        return a
    a.judged = True
    a.t0 = float(ts.mean())
    a.span_s = float(ts[-1] - ts[0])
    hours = (ts - a.t0) / HOUR
    mib = ys / MIB
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        mk = pymannkendall.hamed_rao_modification_test(ys, alpha=ALPHA)
        if not math.isfinite(mk.p):
            # A series with no scatter about its trend (an exact line) has no autocorrelation
            # to correct for, and Hamed–Rao divides by zero: the plain test is the right one.
            mk = pymannkendall.original_test(ys, alpha=ALPHA)
    a.mk_trend, a.mk_p = str(mk.trend), float(mk.p)
    a.slope, a.low, a.high = _theil_sen(mib, hours, var_s=float(mk.var_s))
    # The line through the centre of the data, so the band pivots where the fit is surest.
    a.intercept = float(np.median(mib - a.slope * hours)) * MIB
    a.envelope = _lower_envelope(ts, ys)
    if len(a.envelope) >= 3:
        et = np.array([p[0] for p in a.envelope])
        ey = np.array([p[1] for p in a.envelope]) / MIB
        a.envelope_slope = _theil_sen(ey, (et - a.t0) / HOUR)[0]
    if capacity and a.slope > 0:
        left = (capacity - ys[-1]) / MIB
        a.hours_to_oom = max(0.0, left / a.slope)
        if a.high > 0:
            a.hours_to_oom_earliest = max(0.0, left / a.high)
    trend = a.mk_trend == "increasing" and a.mk_p < ALPHA
    interval = a.low > min_rate
    envelope = len(a.envelope) >= 3 and a.envelope_slope >= min_rate
    fig = f"{a.slope:+.2f} MiB/h (95% interval {a.low:+.2f} .. {a.high:+.2f})"
    mk_text = f"Hamed–Rao Mann–Kendall: {a.mk_trend}, p={a.mk_p:.2g}"
    env = f"lower envelope {a.envelope_slope:+.2f} MiB/h"
    if trend and interval and envelope:
        slowing = _still_slowing(ts, mib)
        if slowing:
            a.undecided = (
                f"grew {fig}, but {slowing} ({found}): a warm-up still ending cannot be "
                "told from a leak; a longer soak would show where it levels off"
            )
            a.says = f"not judged: {a.undecided}; {mk_text}"
            return a
        # Growth the data vouch for over the judged stretch (the interval's lower end), against
        # the rise the warm-up made, the scatter of the series about its trend and a share of
        # the memory there is: no more than any, and a cache still filling, the series' own
        # wandering or a kernel's bookkeeping explains it as well as a leak does.
        grown = a.low * MIB / HOUR * a.span_s
        a.scatter = 1.4826 * float(np.median(np.abs(mib - a.intercept / MIB - a.slope * hours)))
        a.scatter *= MIB
        floors = [
            (w.rise, "the warm-up rose", "a cache still filling after its burst grows as much"),
            (a.scatter, "the series scatters by", "the series wanders that far on its own"),
        ]
        if capacity:
            floors.append((
                capacity * MATTERS, "that are a thousandth of the memory there is",
                "a kernel's caches and bookkeeping drift that much",
            ))  # fmt: skip
        floor, what, why = max(floors)
        if grown <= floor:
            needed = floor / (a.low * MIB / HOUR) * 1.25 + (a.warmup_until - t_all[0])
            a.undecided = (
                f"grew {fig}, but that is at least {_bytes(grown)} over the "
                f"{_span(a.span_s)} judged, no more than the {_bytes(floor)} {what} "
                f"({found}): too little to call a leak, as {why}; a soak of about "
                f"{_span(needed)} would tell"
            )
            a.says = f"not judged: {a.undecided}; {mk_text}"
            return a
        a.leaking = True
        a.says = (
            f"leaking {fig}; {mk_text}; {env}; more than the {min_rate:g} MiB/h allowed ({found})"
        )
        return a
    missing = []
    if not trend:
        missing.append("no significant increasing trend")
    if not interval:
        missing.append(f"the interval is not wholly above {min_rate:g} MiB/h")
    if not envelope:
        missing.append(f"the {env} is below {min_rate:g} MiB/h")
    a.says = f"no leak: {', '.join(missing)}; slope {fig}; {mk_text} ({found})"
    return a


def _still_slowing(t: np.ndarray, mib: np.ndarray) -> str:
    """Why the judged stretch is a warm-up still ending ("" when it is not): its second half
    grows significantly slower than its first, by at least _BURST times."""
    h = t.size // 2
    hours = (t - t[0]) / HOUR
    first, first_low, _ = _theil_sen(mib[:h], hours[:h])
    second, _, second_high = _theil_sen(mib[h:], hours[h:])
    if first > 0 and second_high < first_low and second * _BURST <= first:
        return (
            f"it grew {first:+.2f} MiB/h in the first half of the judged stretch and "
            f"{second:+.2f} MiB/h in the second"
        )
    return ""


def _warmup_text(a: LeakAnalysis, t: np.ndarray) -> str:
    at = a.warmup_until - float(t[0]) if t.size else 0.0
    if a.warmup_changes == 0:
        return f"no warm-up found; judged from +{at:.0f} s"
    return f"warm-up found ending at +{at:.0f} s, rising {_bytes(a.warmup_rise)}"


def _bytes(b: float) -> str:
    b = abs(b)
    if b >= MIB:
        return f"{b / MIB:.2f} MiB"
    return f"{b / 1024:.0f} KiB" if b >= 1024 else f"{b:.0f} B"


def _span(s: float) -> str:
    if s >= 2 * HOUR:
        return f"{s / HOUR:.1f} h"
    return f"{s / 60:.0f} min" if s >= 120 else f"{s:.0f} s"


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

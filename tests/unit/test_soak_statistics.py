"""Soak statistics that do not cry wolf: a healthy sawtooth or a warm-up is not a leak, the
warm-up is found in the data (whatever share of the run it takes), a leak rule that cannot tell
a leak from a warm-up says so instead of guessing, a real leak under a sawtooth or after a
warm-up is found with an interval containing its true rate, and windowed thresholds name the
window that broke them."""

from __future__ import annotations

import numpy as np
import pytest

from sis.harness.soak.statistics import (
    HOUR,
    MIB,
    analyse_leak,
    check_threshold,
    find_warmup,
    parse_duration,
    parse_threshold,
)

N = 360  # an hour at 10 s


def _t() -> np.ndarray:
    return np.arange(N) * 10.0


def _sawtooth(rng: np.random.Generator, cycles: float = 2.4, height: float = 60 * MIB):
    phase = (np.arange(N) * cycles / N) % 1.0
    return 200 * MIB + height * phase + rng.normal(0, MIB, N)


@pytest.mark.parametrize("seed", range(10))
def test_a_healthy_sawtooth_is_not_a_leak(seed: int):
    a = analyse_leak("heap", _t(), _sawtooth(np.random.default_rng(seed)))
    assert a.judged and not a.leaking, a.says


def _warm_up(t: np.ndarray, rise: float = 50 * MIB, tau: float = 120.0) -> np.ndarray:
    return 100 * MIB + rise * (1 - np.exp(-t / tau))


def test_a_warm_up_curve_is_found_in_the_data_and_not_called_a_leak():
    t = _t()
    y = _warm_up(t) + np.random.default_rng(1).normal(0, 0.2 * MIB, N)
    w = find_warmup(t, y)
    # Found where the curve has done nearly all its rising (4 time constants: 98%), not at a
    # fixed share of the run, and nothing of the flat hour after it is thrown away.
    assert w.changes >= 1 and w.settled
    assert 200 <= t[w.start] <= 900 and w.rise > 40 * MIB
    a = analyse_leak("heap", t, y)
    assert a.judged and not a.leaking and not a.undecided, a.says
    assert "warm-up found ending at +" in a.says
    # Judged whole, the warm-up is a trend to the Mann–Kendall test (a naive judge's leak).
    import pymannkendall

    assert pymannkendall.hamed_rao_modification_test(y).trend == "increasing"


@pytest.mark.parametrize("seed", range(5))
def test_a_leak_after_a_warm_up_is_found_at_its_rate(seed: int):
    rate = 20.0  # MiB/h
    t = _t()
    noise = np.random.default_rng(seed).normal(0, 0.2 * MIB, N)
    y = _warm_up(t, rise=10 * MIB) + rate * MIB * t / HOUR + noise
    w = find_warmup(t, y)
    assert w.changes >= 1 and t[w.start] <= 900
    a = analyse_leak("heap", t, y)
    assert a.leaking, a.says
    assert a.high >= rate and a.low <= rate * 1.02  # the warm-up's last tail adds a little
    # The same leak after a warm-up five times as large has not outgrown it within the hour:
    # a cache still filling would look the same, and the verdict says how long would tell.
    b = analyse_leak("heap", t, _warm_up(t, rise=50 * MIB) + rate * MIB * t / HOUR + noise)
    assert not b.leaking and "a soak of about" in b.undecided, b.says


@pytest.mark.parametrize("seed", range(5))
def test_a_leak_from_the_first_sample_has_no_warm_up(seed: int):
    t = _t()
    y = 100 * MIB + 30.0 * MIB * t / HOUR + np.random.default_rng(seed).normal(0, 0.5 * MIB, N)
    w = find_warmup(t, y)
    assert (w.start, w.changes, w.rise) == (1, 0, 0.0)
    assert analyse_leak("heap", t, y).leaking


@pytest.mark.parametrize("seed", range(10))
def test_a_sawtooth_has_no_warm_up_to_find(seed: int):
    """A tooth's drop back to its base is not a warm-up ending: the level is not kept."""
    t = _t()
    w = find_warmup(t, _sawtooth(np.random.default_rng(seed)))
    assert w.changes == 0 and w.start == 1


def test_a_warm_up_that_leaves_too_few_samples_is_skipped_not_judged():
    t = np.arange(30) * 2.0  # a minute at 2 s
    y = _warm_up(t, rise=2 * MIB, tau=20.0)  # still rising at the end
    a = analyse_leak("slab", t, y)
    assert not a.leaking and a.undecided, a.says
    assert a.says.startswith("not judged: ")


def _busybox_minute(rng: np.random.Generator, creep: float = 3.5) -> tuple[np.ndarray, np.ndarray]:
    """A clean guest's slab caches over a minute at 2 s: a burst of ~300 KiB when the workload
    starts, then a creep of a few MiB/h in whole pages."""
    t = np.arange(31) * 2.0
    y = 16 * MIB + np.where(t >= 10, 280 * 1024, 0) + creep * MIB * t / HOUR
    y += rng.integers(0, 2, t.size) * 4096
    return t, np.floor(y / 4096) * 4096


@pytest.mark.parametrize("seed", range(5))
def test_a_short_soak_does_not_call_a_warm_up_creep_a_leak(seed: int):
    t, y = _busybox_minute(np.random.default_rng(seed))
    a = analyse_leak("mem_slab_bytes", t, y)
    assert not a.leaking, a.says
    assert a.undecided and "a soak of about" in a.undecided
    # An hour of the same creep outgrows the burst: then it is a leak.
    t2 = np.arange(360) * 10.0
    y2 = 16 * MIB + np.where(t2 >= 10, 280 * 1024, 0) + 3.5 * MIB * t2 / HOUR
    assert analyse_leak("mem_slab_bytes", t2, y2).leaking


def test_an_exact_line_is_a_leak():
    """No scatter at all (a planted leak of a fixed size per event, sampled evenly)."""
    t = np.arange(31) * 1.0
    a = analyse_leak("heap_current_bytes", t, 35840 + 4096 * 5 * t)
    assert a.leaking and a.mk_trend == "increasing", a.says


def test_a_fast_leak_is_caught_in_a_minute():
    t = np.arange(31) * 2.0
    y = 26 * MIB + 500 * MIB * t / HOUR + np.random.default_rng(0).normal(0, 250 * 1024, t.size)
    a = analyse_leak("mem_used_bytes", t, y)
    assert a.leaking and not a.undecided, a.says


def test_a_growth_too_small_to_matter_against_the_memory_there_is_is_not_judged():
    """A minute in the middle of a clean guest's soak: slab caches creeping in whole pages."""
    t = np.arange(31) * 2.0
    y = 17 * MIB + np.floor(2.5 * MIB * t / HOUR / 4096) * 4096
    a = analyse_leak("mem_slab_bytes", t, y, capacity=205 * MIB)
    assert not a.leaking and "a thousandth of the memory" in a.undecided, a.says
    # Without the capacity to weigh it against, a steady staircase is a trend.
    assert analyse_leak("mem_slab_bytes", t, y).leaking


def test_a_growth_inside_the_scatter_is_not_judged():
    t = np.arange(31) * 2.0
    y = 26 * MIB + 6 * MIB * t / HOUR + np.random.default_rng(3).normal(0, 256 * 1024, t.size)
    a = analyse_leak("mem_used_bytes", t, y)
    assert not a.leaking, a.says


def test_a_flat_series_is_not_judged_leaking():
    a = analyse_leak("heap", _t(), np.full(N, 35840.0))
    assert a.judged and not a.leaking and a.slope == 0


@pytest.mark.parametrize("seed", range(5))
def test_a_leak_under_a_sawtooth_is_found_with_its_rate(seed: int):
    rate = 40.0  # MiB/h: two thirds of a sawtooth tooth over the hour
    t = _t()
    y = _sawtooth(np.random.default_rng(seed)) + rate * MIB * t / 3600
    a = analyse_leak("heap", t, y, capacity=1024 * MIB)
    assert a.leaking, a.says
    assert a.low <= rate <= a.high
    assert a.says.startswith("leaking +")
    assert a.hours_to_oom is not None and 5 < a.hours_to_oom < 30


def test_a_leak_slower_than_the_minimum_rate_is_not_reported():
    t = _t()
    y = 100 * MIB + 0.5 * MIB * t / 3600 + np.random.default_rng(0).normal(0, 1000, N)
    assert not analyse_leak("heap", t, y, min_rate=1.0).leaking
    assert analyse_leak("heap", t, y, min_rate=0.1).leaking


def test_too_few_samples_are_not_judged():
    a = analyse_leak("heap", [0, 1, 2, 3], [1, 2, 3, 4])
    assert not a.judged and "not judged" in a.says


def test_durations():
    assert parse_duration("2h") == 7200
    assert parse_duration("1h30m") == 5400
    assert parse_duration("10s") == parse_duration("10") == 10
    assert parse_duration("250ms") == 0.25
    for bad in ("", "ten", "5x", "-1s"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_threshold_syntax():
    r = parse_threshold("p99(ctx_switch_p99_ns) < 5ms over any 5 min")
    assert (r.aggregate, r.metric, r.op, r.value, r.window) == (
        "p99", "ctx_switch_p99_ns", "<", 5e6, 300.0,
    )  # fmt: skip
    assert parse_threshold("errors == 0").aggregate == ""
    for bad, why in (
        ("errors = 0", "not a threshold"),
        ("p42x(errors) < 1", "unknown aggregate"),
        ("max(heap_current_bytes) < 5ms", "fits metrics ending in _ns"),
        ("errors < 1 over 5m", "a window needs an aggregate"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_threshold(bad)


def test_a_bad_last_minute_is_not_averaged_away():
    """k6 #2379: 100% errors in the last minute showed as 5.8% overall."""
    t = np.arange(0, 1200, 10.0)
    failing = np.where(t >= 1140, 1.0, 0.0)  # the error ratio per sample
    overall = check_threshold(parse_threshold("mean(error_ratio) < 0.1"), t, failing)
    windowed = check_threshold(parse_threshold("mean(error_ratio) < 0.1 over 1m"), t, failing)
    assert overall.ok
    assert not windowed.ok
    assert windowed.window is not None and windowed.window[0] >= 1080
    assert "broken in" in windowed.says and "worst +" in windowed.says


def test_a_counter_rule_names_the_first_sample_that_broke_it():
    out = check_threshold(parse_threshold("errors == 0"), [0, 10, 20, 30], [0, 0, 2, 2])
    assert not out.ok
    assert "broken in 2 of 4 samples, first at +20 s (2, by 2)" in out.says


def test_increase_survives_a_counter_reset():
    rule = parse_threshold("increase(net_errors) == 0")
    assert not check_threshold(rule, [0, 10, 20, 30], [5, 5, 1, 1]).ok  # reset to 1: one error
    assert check_threshold(rule, [0, 10, 20, 30], [5, 5, 0, 0]).ok


def test_a_metric_never_sampled_is_not_a_pass():
    assert check_threshold(parse_threshold("forks < 10"), [], []).ok is None

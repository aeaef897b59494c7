"""Planted bugs that move with `sis.bug_seed`: each readiness job catches its bug wherever the
seed puts the trigger, and stays quiet on the clean kernel. The seeds are chosen here to reach
the ends of every range (contract section 9); the jobs themselves never see them.

Each case boots its own reference kernels; the cases of one test run side by side, since
they mostly wait (ping timeouts, power cycles, soak intervals)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from sis.contract.bugs import (
    NULL_DEREF_IOCTL_FUNCTION,
    PWRITE_OVERFLOW_FUNCTION,
    Placement,
    placement,
)
from sis.contract.syscalls import IOCTL_BY_NAME
from sis.harness.chaos.experiment import load_experiment
from sis.harness.chaos.runner import run_experiment
from sis.harness.commands.fuzz import run_fuzz
from sis.harness.crash_probe import probe_crashes
from sis.harness.fuzz.fuzzer import FuzzConfig
from sis.harness.session import Session
from sis.harness.soak.judge import judge
from sis.harness.soak.run import SoakConfig, run_soak


def first_seed(test: Callable[[Placement], bool]) -> int:
    return next(s for s in range(10_000) if test(placement(s)))


def append(bug: str | None, seed: int) -> str:
    return f"sis.bug={bug} sis.bug_seed={seed}" if bug else f"sis.bug_seed={seed}"


def side_by_side(fn: Callable[..., Any], cases: Iterable[tuple], at_once: int = 4) -> list[Any]:
    """fn(*case) for every case, `at_once` at a time (2 cores: the kernels mostly wait)."""
    cases = list(cases)
    with ThreadPoolExecutor(max_workers=min(at_once, len(cases))) as pool:
        return list(pool.map(lambda c: fn(*c), cases))


def session(tmp: Path, label: str, cmdline: str) -> Session:
    s = Session("sim", workdir=tmp / label, name=f"sim-{label}", overrides={"append": cmdline})
    s.start()
    return s


# -- the crash probe: the drawn ioctl, whatever kind of file it applies to ------------------------

IOCTL_SEEDS = [
    first_seed(lambda p, kind=kind: IOCTL_BY_NAME[p.ioctl_request].applies_to == kind)
    for kind in ("tty", "blk", "sock", "file")
]


def test_the_crash_probe_names_the_drawn_ioctl_and_is_quiet_on_the_clean_kernel(tmp_path: Path):
    def probe(label: str, cmdline: str):
        s = session(tmp_path, label, cmdline)
        try:
            return probe_crashes(s)
        finally:
            s.kill()

    cases = [(f"bug{seed}", append("null_deref_ioctl", seed)) for seed in IOCTL_SEEDS]
    results = side_by_side(probe, [*cases, ("clean", append(None, IOCTL_SEEDS[0]))])
    for seed, r in zip(IOCTL_SEEDS, results, strict=False):
        drawn = placement(seed).ioctl_request
        assert r.verdict == "FAIL", (seed, r.reason)
        assert re.match(
            rf"kernel crashed in ioctl {drawn}: .*\b{NULL_DEREF_IOCTL_FUNCTION}$", r.reason
        )
    assert results[-1].verdict == "PASS", results[-1].reason


# -- the fuzzer: pwrite_overflow for any field width, null_deref_ioctl for any request ----------

PWRITE_SEEDS = [first_seed(lambda p, k=k: p.pwrite_field_bits == k) for k in (33, 47, 62)]
FUZZ_BUDGET_S = 150.0  # the longest a case may take; most take seconds


def fuzz(tmp: Path, label: str, cmdline: str, syscalls: list[str], duration: float):
    config = FuzzConfig(
        target="sis", duration=duration, seed=len(label), out=tmp / label,
        syscalls=syscalls, append=cmdline, stop_on_crash=True,
    )  # fmt: skip
    return run_fuzz(config)


@pytest.mark.parametrize(
    "bug, seeds, syscalls, guilty",
    [
        ("pwrite_overflow", PWRITE_SEEDS, ["openat", "pwrite64"], PWRITE_OVERFLOW_FUNCTION),
        ("null_deref_ioctl", IOCTL_SEEDS[:3], ["openat", "socket", "ioctl"],
         NULL_DEREF_IOCTL_FUNCTION),
    ],
)  # fmt: skip
def test_the_fuzzer_finds_the_bug_wherever_the_seed_puts_it(tmp_path, bug, seeds, syscalls, guilty):
    cases = [(tmp_path, f"bug{s}", append(bug, s), syscalls, FUZZ_BUDGET_S) for s in seeds]
    clean = (tmp_path, "clean", append(None, seeds[-1]), syscalls, 20.0)
    runs = side_by_side(fuzz, [*cases, clean])
    for seed, run in zip(seeds, runs, strict=False):
        assert run.crashes, (seed, run.errors, run.stats.calls)
        (crash,) = run.crashes.values()
        assert crash.title.endswith(guilty) and crash.repro is not None
        assert len(crash.repro) <= 3  # minimized: open the file, make the call
    assert not runs[-1].crashes and runs[-1].stats.calls > 0, runs[-1].crashes


# -- chaos: fsync_lies, net_wedge, oom_hang at the ends of their ranges ---------------------------

# 0: net_wedge at the 2nd failed send, oom_hang at the 1st failure, fsync lies 1 call in 4;
# 2: 1st send, 2nd failure, 1 in 2; 5: 4th send, 3rd failure, 1 in 4 (the far ends).
CHAOS_SEEDS = [0, 2, 5]
CHAOS = {"fsync_lies": "power_cut", "net_wedge": "network_fail", "oom_hang": "memory_pressure"}
MEANT = {
    "fsync_lies": r"^lost \d+ acknowledged bytes in ",
    "net_wedge": r"^steady state not restored after network_fail",
    "oom_hang": r"^hung under memory_pressure",
}


def experiment(tmp: Path, label: str, cmdline: str, name: str):
    s = Session("sim", workdir=tmp / label, name=f"sim-{label}", overrides={"append": cmdline})
    try:
        return run_experiment(s, load_experiment(name), seed=len(label), out=tmp / label / "out")
    finally:
        s.kill()


def test_chaos_placement_covers_the_ranges():
    ps = [placement(s) for s in CHAOS_SEEDS]
    assert {p.net_wedge_failed_sends for p in ps} >= {1, 4}
    assert {p.oom_hang_failures for p in ps} == {1, 2, 3}
    assert 4 in {p.fsync_lie_period for p in ps}


def test_chaos_experiments_catch_their_bug_for_each_seed_and_pass_the_clean_kernel(tmp_path):
    cases = [
        (tmp_path, f"{bug}-{seed}", append(bug, seed), exp)
        for bug, exp in CHAOS.items()
        for seed in CHAOS_SEEDS
    ]
    cleans = [(tmp_path, f"clean-{exp}", append(None, 5), exp) for exp in CHAOS.values()]
    results = side_by_side(experiment, [*cases, *cleans])
    for (_, label, _, _), r in zip(cases, results, strict=False):
        bug = label.rsplit("-", 1)[0]
        assert r.verdict == "FAIL" and re.search(MEANT[bug], r.reason), (label, r.reason)
    for (_, label, _, _), r in zip(cleans, results[len(cases) :], strict=False):
        assert r.verdict == "PASS", (label, r.reason)


# -- soak: leak_on_spawn within a minute, the smallest leak the ranges allow included -----------

SMALLEST_LEAK = first_seed(lambda p: p.leak_bytes == 1024 and p.leak_period == 3)
LEAK_SEEDS = [SMALLEST_LEAK, first_seed(lambda p: p.leak_period == 2), 0]


def soak(tmp: Path, label: str, cmdline: str):
    s = session(tmp, label, cmdline)
    try:
        records = run_soak(s, SoakConfig(interval=1.0, duration=40, seed=1), tmp / label / "soak")
    finally:
        s.poweroff()
    return judge(records.records)


def test_the_soak_catches_every_placed_leak_within_a_minute_and_passes_the_clean_kernel(tmp_path):
    cases = [(tmp_path, f"leak{s}", append("leak_on_spawn", s)) for s in LEAK_SEEDS]
    judged = side_by_side(soak, [*cases, (tmp_path, "clean", append(None, SMALLEST_LEAK))])
    for seed, j in zip(LEAK_SEEDS, judged, strict=False):
        assert j.verdict == "FAIL", (seed, [r.says for r in j.rules])
        assert "leaking +" in j.failed[0].says, j.failed[0].says
    assert judged[-1].verdict == "PASS", [r.says for r in judged[-1].rules]

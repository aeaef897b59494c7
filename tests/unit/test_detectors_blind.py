"""The readiness jobs learn nothing from the planted bugs: no detector module names a bug, its
guilty function or a trigger, and the fuzzer's special values are a general list."""

from __future__ import annotations

from pathlib import Path

import sis
from sis.contract.bugs import NAMES, NULL_DEREF_IOCTL_FUNCTION, PWRITE_OVERFLOW_FUNCTION
from sis.harness.fuzz.generate import PAGE, SECTOR, SPECIAL

HARNESS = Path(sis.__file__).parent / "harness"
DETECTORS = [HARNESS / d for d in ("chaos", "soak", "fuzz", "forensics")] + [
    HARNESS / "crash_probe.py"
]


def _sources() -> list[Path]:
    out = []
    for d in DETECTORS:
        out += [d] if d.is_file() else [p for p in d.rglob("*") if p.suffix in (".py", ".yaml")]
    return out


def test_no_detector_names_a_planted_bug_or_its_trigger():
    words = [*NAMES, NULL_DEREF_IOCTL_FUNCTION, PWRITE_OVERFLOW_FUNCTION, "sis.bug", "bug_seed"]
    # Trigger values the bugs have had at fixed places (a detector tuned to them would show).
    words += ["(1 << 63) - 8", "(1 << 63) - 4096", "tty_ioctl_get_ldisc_private"]
    sources = _sources()
    assert len(sources) > 20
    for path in sources:
        text = path.read_text()
        for w in words:
            assert w not in text, f"{path.relative_to(HARNESS)} holds {w!r}"


def test_special_values_are_the_general_list():
    special = set(SPECIAL)
    for k in range(64):  # every bit width, with its neighbours
        assert {(1 << k) - 1, 1 << k, (1 << k) + 1} <= special, k
    for width in (8, 16, 32, 64):  # each integer width's boundaries
        assert {(1 << (width - 1)) - 1, 1 << (width - 1), (1 << width) - 1} <= special
        assert -(1 << (width - 1)) in special
    for size in (SECTOR, PAGE):
        assert {size - 1, size, size + 1, -size} <= special
    # Nothing else: every value is within 1 of one of those centres.
    centres = {0, -1, SECTOR, PAGE, -SECTOR, -PAGE} | {1 << k for k in range(65)}
    for w in (8, 16, 32, 64):
        centres |= {(1 << (w - 1)) - 1, (1 << w) - 1, -(1 << (w - 1))}
    for v in special:
        assert any(abs(v - c) <= 1 for c in centres), hex(v)
    assert (1 << 63) - 8 not in special and (1 << 63) - 4096 not in special

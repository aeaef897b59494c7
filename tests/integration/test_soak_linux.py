"""A short soak of a clean Linux guest: its slab caches are still filling a minute after boot
(a few hundred KiB, then a creep of a few MiB/h), which a judge that discards a fixed share of
the run calls a leak. A 60-second soak of linux-busybox with no bug is not a FAIL, and a leak
rule that cannot tell says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from qemu_marks import needs_linux_busybox
from sis.harness.session import open_session
from sis.harness.soak.judge import FAIL, SKIP, judge
from sis.harness.soak.run import SoakConfig, run_soak

pytestmark = [pytest.mark.qemu, needs_linux_busybox]


def test_a_minute_of_a_clean_linux_is_not_called_leaking(tmp_path: Path):
    with open_session("linux-busybox", workdir=tmp_path / "t") as session:
        config = SoakConfig(interval=2.0, duration=60.0, seed=1)
        records = run_soak(session, config, tmp_path / "soak").records
    samples = [r for r in records if r["kind"] == "sample"]
    assert len(samples) >= 20, f"only {len(samples)} samples in a minute"
    j = judge(records)
    leaks = [r for r in j.rules if r.name.startswith("no leak in ")]
    assert {r.name for r in leaks} >= {
        "no leak in mem_used_bytes",
        "no leak in mem_slab_unreclaimable_bytes",
    }
    assert j.verdict != FAIL, [r.says for r in j.failed]
    for rule in leaks:
        assert rule.verdict != FAIL
        if rule.verdict == SKIP:
            assert rule.says.startswith("not judged: ") and "soak" in rule.says, rule.says

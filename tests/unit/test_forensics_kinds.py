"""Crash forensics on the reports teams really have: OOM kills as events (never crashes), the
unexpected reboot, streaming a capture of any size with bounded memory, old and new formats of one
report giving one title, and dedup across whole and cut-short copies."""

from __future__ import annotations

import io
import json
import random
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sis.cli import app
from sis.harness.forensics import (
    CrashType,
    dedup,
    find_crashes,
    find_oom_kills,
    group_title,
    stream_crashes,
)
from sis.harness.forensics import find as find_module
from sis.harness.forensics.reporters import linux

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "crashes"
runner = CliRunner()


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").partition("\n\n")[2]


# -- OOM kills are events ------------------------------------------------------------------------
MEMCG_5X = """\
[  101.000001] stress-ng invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=0
[  101.000002] CPU: 0 PID: 4410 Comm: stress-ng Not tainted 6.1.0-18-amd64 #1
[  101.000003] Call Trace:
[  101.000004]  <TASK>
[  101.000005]  dump_stack_lvl+0x44/0x5c
[  101.000006]  dump_header+0x4a/0x211
[  101.000007]  oom_kill_process.cold+0xb/0x10
[  101.000008]  out_of_memory+0x1fd/0x4c0
[  101.000009]  </TASK>
[  101.000010] oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/stress,task_memcg=/stress,task=stress-ng,pid=4410,uid=0
[  101.000011] Memory cgroup out of memory: Killed process 4410 (stress-ng) total-vm:268472kB, anon-rss:261888kB, file-rss:1204kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:0
"""
OLD_SACRIFICE = """\
Out of memory: Kill process 1234 (java) score 900 or sacrifice child
Killed process 1240 (java-worker) total-vm:2048000kB, anon-rss:1024000kB, file-rss:0kB
"""


def test_oom_kills_are_events_with_victim_and_constraint() -> None:
    (memcg,) = find_oom_kills(MEMCG_5X)
    assert (memcg.pid, memcg.victim, memcg.constraint, memcg.memcg) == (
        4410,
        "stress-ng",
        "memcg",
        "/stress",
    )
    assert memcg.invoker == "stress-ng" and memcg.start_line == 1 and memcg.line == 11
    assert memcg.anon_rss_kb == 261888 and memcg.uptime == pytest.approx(101.000011)
    (glob,) = find_oom_kills(fixture("linux/5"))
    assert (glob.victim, glob.constraint, glob.kind) == ("sort", "global", "oom-kill")
    (old,) = find_oom_kills(OLD_SACRIFICE)  # the child sacrificed is the one killed
    assert (old.pid, old.victim, old.constraint) == (1240, "java-worker", "global")
    assert json.loads(json.dumps(old.to_dict()))["victim"] == "java-worker"


@pytest.mark.parametrize("text", [MEMCG_5X, OLD_SACRIFICE, "linux/5"])
def test_an_oom_kill_is_never_a_crash(text: str) -> None:
    assert find_crashes(fixture(text) if text.startswith("linux/") else text) == []


def test_a_panic_on_oom_stays_a_crash() -> None:
    for msg in ("Out of memory and no killable processes...", "System is deadlocked on memory"):
        (c,) = find_crashes(MEMCG_5X + f"[  101.5] Kernel panic - not syncing: {msg}\n")
        assert c.type is CrashType.PANIC and group_title(c.title) == f"kernel panic: {msg}"
        assert c.start_line == 12  # the OOM report before it is not part of the crash


# -- the unexpected reboot -----------------------------------------------------------------------
BANNER = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12) #1 SMP"


def _boots(between: str) -> str:
    first = [f"[    0.000000] {BANNER}", "[    1.000000] Run /init as init process"]
    second = [f"[    0.000000] {BANNER}", "[    0.100000] Command line: console=ttyS0"]
    return "\n".join([*first, *([between] if between else []), *second]) + "\n"


def test_a_new_boot_with_no_report_before_it_is_an_unexpected_reboot() -> None:
    (c,) = find_crashes(_boots(""))
    assert (c.type, c.title, c.start_line, c.fatal) == (
        CrashType.REBOOT,
        "unexpected kernel reboot",
        3,
        True,
    )
    assert find_crashes(_boots("[    9.000000] reboot: Restarting system")) == []
    panic = "[    9.000000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"
    assert [c.type for c in find_crashes(_boots(panic))] == [CrashType.PANIC]
    assert find_crashes(f"[    0.000000] {BANNER}\n") == []  # one boot is no reboot


# -- old and new formats of one report -----------------------------------------------------------
def test_every_era_of_a_null_dereference_names_the_same_function() -> None:
    new = "\n".join(
        [
            "[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000010",
            "[ 1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI",
            "[ 1.0] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1",
            "[ 1.0] RIP: 0010:foo_ioctl+0x21/0x2c [foo]",
            "[ 1.0] Call Trace:",
            "[ 1.0]  <TASK>",
            "[ 1.0]  vfs_ioctl+0x1a/0x40",
            "[ 1.0]  </TASK>",
        ]
    )
    v4 = "\n".join(
        [
            "BUG: unable to handle kernel NULL pointer dereference at 0000000000000010",
            "IP: [<ffffffffa0001234>] foo_ioctl+0x21/0x2c [foo]",
            "Oops: 0000 [#1] SMP",
            "CPU: 0 PID: 1 Comm: sh Not tainted 4.4.0 #1",
            "RIP: 0010:[<ffffffffa0001234>]  [<ffffffffa0001234>] foo_ioctl+0x21/0x2c [foo]",
            "Call Trace:",
            " [<ffffffff81234567>] do_vfs_ioctl+0x1a/0x40",
            " [<ffffffff81234567>] entry_SYSCALL_64_fastpath+0x1a/0x40",
            "---[ end trace 1234567890abcdef ]---",
        ]
    )
    arm = "\n".join(
        [
            "Unable to handle kernel NULL pointer dereference at virtual address 00000010",
            "Internal error: Oops: 5 [#1] SMP ARM",
            "CPU: 0 PID: 1 Comm: sh Not tainted 4.9.0 #1",
            "PC is at foo_ioctl+0x21/0x2c [foo]",
            "LR is at vfs_ioctl+0x1a/0x40",
            "[<c0123456>] (foo_ioctl [foo]) from [<c0123456>] (vfs_ioctl+0x1a/0x40)",
            "[<c0123456>] (vfs_ioctl) from [<c0123456>] (ret_fast_syscall+0x0/0x1c)",
        ]
    )
    riscv = "\n".join(
        [
            "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000010",
            "Oops [#1]",
            "CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1",
            "epc : foo_ioctl+0x21/0x2c [foo]",
            " ra : vfs_ioctl+0x1a/0x40",
            "epc : ffffffff01234567 ra : ffffffff80234567 sp : ff2000000012bd50",
            "status: 0000000200000120 badaddr: 0000000000000010 cause: 000000000000000d",
            "[<ffffffff01234567>] foo_ioctl+0x21/0x2c [foo]",
            "[<ffffffff80234567>] vfs_ioctl+0x1a/0x40",
            "[<ffffffff80003f76>] ret_from_syscall+0x0/0x2",
        ]
    )
    for text, arch in ((new, "x86_64"), (v4, "x86_64"), (arm, "arm"), (riscv, "riscv64")):
        (c,) = find_crashes(text)
        assert c.title == "BUG: kernel NULL pointer dereference in foo_ioctl", text
        assert (c.frame, c.arch, c.corrupted) == ("foo_ioctl", arch, False), text


def test_a_cut_short_report_says_so_and_groups_with_the_whole_one() -> None:
    whole = fixture("linux/6")
    cut = "\n".join(whole.splitlines()[: whole.splitlines().index(next(
        ln for ln in whole.splitlines() if "Call Trace:" in ln)) + 2])  # fmt: skip
    (a,), (b,) = find_crashes(whole), find_crashes(cut)
    assert b.corrupted and b.title == a.title + " (corrupted)" and b.frame == a.frame
    (group,) = dedup([b, a, b])
    assert group.count == 3 and group.crash is a and group_title(b.title) == a.title


# -- streaming -----------------------------------------------------------------------------------
def _corpus_text(seed: int, n: int) -> str:
    rng = random.Random(seed)
    paths = sorted(p for p in (FIXTURES / "linux").iterdir() if p.is_file())
    parts = [fixture(f"linux/{rng.choice(paths).name}") for _ in range(n)]
    return "\n".join(parts)


def _key(cs: list) -> list[tuple[str, int, int, bool]]:
    return [(c.title, c.start_line, c.end_line, c.corrupted) for c in cs]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_streaming_in_small_windows_finds_what_reading_whole_finds(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _corpus_text(seed, 25)
    whole = find_crashes(text)
    monkeypatch.setattr(find_module, "WINDOW_LINES", 97)
    streamed = list(stream_crashes(io.BytesIO(text.encode())))
    assert _key(streamed) == _key(whole) and whole


def test_a_report_with_no_end_is_cut_and_memory_stays_bounded() -> None:
    head = "[    1.000000] BUG: soft lockup - CPU#0 stuck for 22s! [sh:1]\n"
    body = "[    1.000001] spinning and spinning, never a closing line ({})\n"
    lines = 60_000  # ~4 MB: memory must not grow with it
    data = io.BytesIO((head + "".join(body.format(n) for n in range(lines))).encode())
    tracemalloc.start()
    crashes = list(stream_crashes(data))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    first = crashes[0]
    assert first.corrupted and f"cut at {linux.MAX_LINES} lines" in first.corrupted_reason
    assert first.end_line - first.start_line + 1 == linux.MAX_LINES
    assert len(crashes) == 1  # what follows the cut is no new report
    assert peak < 40 * 1024 * 1024, peak


def test_parse_json_streams_a_list_even_for_one_huge_line(tmp_path: Path) -> None:
    cap = tmp_path / "big.log"
    cap.write_bytes(b"x" * 100_000 + b"\n" + fixture("linux/9").encode())
    r = runner.invoke(app, ["crash", "parse", "--json", str(cap)])
    assert r.exit_code == 0, r.output
    (c,) = json.loads(r.stdout)
    assert c["title"] == "WARNING in sis_crash_warn" and c["start_line"] > 1
    r = runner.invoke(app, ["crash", "parse", "--json", str(tmp_path)])
    assert r.exit_code == 2 and "cannot read" in r.stderr and len(r.stderr.splitlines()) == 1


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "BUG: kernel NULL pointer dereference, address: 0",
                    "Call Trace:",
                    " <IRQ>",
                    " </IRQ>",
                    "RIP: 0010:f+0x1/0x2",
                    " g+0x1/0x2",
                    "unreferenced object 0xffff (size 8):",
                    "  backtrace:",
                    "Kernel panic - not syncing: x",
                    "WARNING: possible circular locking dependency detected",
                    "Out of memory: Killed process 1 (a)",
                    BANNER,
                    "[   9",
                ]
            ),
            st.text(max_size=30),
        ),
        max_size=60,
    ),
    st.integers(min_value=3, max_value=40),
)
def test_any_text_parses_and_streams_the_same(lines: list[str], window: int) -> None:
    text = "\n".join(lines)
    whole = find_crashes(text)
    for c in whole:
        assert 1 <= c.start_line <= c.end_line and c.title
        assert c.corrupted == c.title.endswith("(corrupted)") or c.os != "linux"
    # Small reports and small windows, so that reports straddle the windows' edges.
    saved = linux.MAX_LINES, find_module.CARRY_LINES, find_module.WINDOW_LINES
    linux.MAX_LINES, find_module.CARRY_LINES, find_module.WINDOW_LINES = 12, 20, window
    try:
        small = find_crashes(text, os_hint="linux")
        data = io.BytesIO(text.encode("utf-8", "replace"))
        streamed = list(stream_crashes(data, os_hint="linux"))
    finally:
        linux.MAX_LINES, find_module.CARRY_LINES, find_module.WINDOW_LINES = saved
    assert _key(streamed) == _key(small)


def test_a_line_of_other_output_inside_task_markers_does_not_end_the_trace() -> None:
    text = "\n".join(
        [
            "[ 10.1] INFO: task sh:1 blocked for more than 120 seconds.",
            "[ 10.1] Call Trace:",
            "[ 10.1]  <TASK>",
            "[ 10.1]  __schedule+0x1/0x2",
            "[ 10.1] e1000: eth0 NIC Link is Up 1000 Mbps Full Duplex",
            "[ 10.1]  schedule+0x1/0x2",
            "[ 10.1]  foo_wait_for_device+0x1/0x2 [foo]",
            "[ 10.1]  entry_SYSCALL_64_after_hwframe+0x1/0x2",
            "[ 10.1]  </TASK>",
        ]
    )
    (c,) = find_crashes(text)
    assert (c.title, c.corrupted) == ("INFO: task hung in foo_wait_for_device", False)

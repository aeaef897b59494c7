"""Crash forensics: every kernel death in a console capture parsed, titled, symbolized and
deduplicated (modelled on syzkaller's pkg/report).

    find_crashes(text, os_hint=None) -> [Crash]       every crash in a capture, [] for none
    stream_crashes(binary_file) -> Iterator[Crash]    the same, memory bounded for any size
    find_oom_kills(text) -> [OomKill]                 OOM kills: events, never crashes
    symbolize(crash, symbols_path) -> Crash           System.map, vmlinux (ELF), `sis kernel symbols`
    dedup(crashes) -> [CrashGroup(crash, count, first_seen, last_seen)]   by group_title()
    outcome_crash("lost" | "hang", detail) -> Crash   deaths that left no report
    run_crashes(out_dir) -> [Crash]                   the crashes in a run's captures
"""

from __future__ import annotations

from sis.harness.forensics.captures import run_crashes
from sis.harness.forensics.dedup import CrashGroup, dedup, group_title
from sis.harness.forensics.find import find_crashes, retitle, stream_crashes
from sis.harness.forensics.model import Crash, CrashType, Frame, outcome_crash
from sis.harness.forensics.oom import OomKill, find_oom_kills, iter_oom_kills
from sis.harness.forensics.symbolize import SymbolError, SymbolTable, load_symbols, symbolize

__all__ = [
    "Crash",
    "CrashGroup",
    "CrashType",
    "Frame",
    "OomKill",
    "SymbolError",
    "SymbolTable",
    "dedup",
    "find_crashes",
    "find_oom_kills",
    "group_title",
    "iter_oom_kills",
    "load_symbols",
    "outcome_crash",
    "retitle",
    "run_crashes",
    "stream_crashes",
    "symbolize",
]

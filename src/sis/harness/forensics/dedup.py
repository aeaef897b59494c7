"""The same bug hit twice is one entry with a count: crashes grouped by their normalized title,
in the order each title was first seen. A report cut short or interleaved keeps its title with
` (corrupted)` after it; it joins the group of the whole reports of the same title."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sis.harness.forensics.model import Crash


class CrashGroup(NamedTuple):
    crash: Crash  # the most complete report of the group (not corrupted, when there is one)
    count: int
    first_seen: float | None  # epoch seconds, None when no crash of the group has a time
    last_seen: float | None


CORRUPTED_SUFFIX = " (corrupted)"


def group_title(title: str) -> str:
    """The title crashes are grouped by: the title without ` (corrupted)`."""
    return title.removesuffix(CORRUPTED_SUFFIX)


def dedup(crashes: Iterable[Crash]) -> list[CrashGroup]:
    groups: dict[str, list[Crash]] = {}
    for crash in crashes:
        groups.setdefault(group_title(crash.title), []).append(crash)
    out = []
    for members in groups.values():
        best = next((c for c in members if not c.corrupted), members[0])
        seen = [c.seen for c in members if c.seen is not None]
        out.append(
            CrashGroup(best, len(members), min(seen) if seen else None, max(seen) if seen else None)
        )
    return out

"""Comparing a run's normalized log with a baseline.

The comparison is of *multisets* of signatures: an event the baseline has more often than
the run is **removed**, a regression; an event the run has more often is **added**, allowed
unless the check is strict. Order is not judged, because records of concurrent tasks
interleave differently from run to run (on the SIS reference kernel everything else is
deterministic), but the diff that is shown follows the order of the log (`difflib` on the
signature sequences), in unified-diff style, with events that only moved left out.

A serial line under load drops or repeats a character now and then ("has been" read as
"haaeen"), and a damaged line no longer matches its event. So a missing event and an added
one that it becomes by a few dropped or repeated characters (`damaged`) are one event read
through a damaged line: shown apart (``~``), neither removed nor added. Real changes seldom
look so: a changed word or digit inserts or replaces characters, which damage does not.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DIFF_CONTEXT", "MAX_DIFF_LINES", "BaselineDiff", "DiffLine", "compare", "damaged"]

DIFF_CONTEXT = 2
MAX_DIFF_LINES = 200
# Damage: at most this many dropped or repeated characters, and one per this many characters
# of the event; pairs are only looked for among this many removed and added events.
_MAX_DAMAGE = 4
_CHARS_PER_DAMAGE = 8
_MAX_PAIRING = 200


@dataclass
class DiffLine:
    op: str  # " " context, "-" removed (in the baseline, not in the run), "+" added,
    # "~" the baseline's event read through a damaged line (`read_as`)
    signature: str
    count: int = 1
    baseline_line: int = 0
    log_line: int = 0
    read_as: str = ""


@dataclass
class BaselineDiff:
    removed: list[tuple[str, int]]  # signature, how many fewer times than in the baseline
    added: list[tuple[str, int]]  # signature, how many more times
    moved: int  # events present in both, in another order (not judged)
    strict: bool
    hunks: list[list[DiffLine]]
    #: (baseline signature, what the run's damaged line gave): not removed, not added.
    damaged: list[tuple[str, str]] = field(default_factory=list)
    baseline_path: Path | None = None
    log_path: Path | None = None
    what: str = ""  # "sis/default"
    accept: str = ""  # the command that re-records the baseline
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.removed and not (self.strict and self.added)

    @property
    def regression(self) -> bool:
        return bool(self.removed)

    def summary(self) -> str:
        n_removed = sum(n for _, n in self.removed)
        n_added = sum(n for _, n in self.added)
        parts = []
        if n_removed:
            parts.append(f"{n_removed} event{'s' * (n_removed != 1)} removed")
        if n_added:
            allowed = "" if self.strict else " (allowed)"
            parts.append(f"{n_added} event{'s' * (n_added != 1)} added{allowed}")
        if not parts:
            parts.append("log matches the baseline")
        if self.damaged:
            n = len(self.damaged)
            parts.append(f"{n} damaged line{'s' * (n != 1)} read as the baseline's (not checked)")
        if self.moved:
            parts.append(f"{self.moved} in a different order (not checked)")
        return ", ".join(parts)

    def render(self, max_lines: int = MAX_DIFF_LINES) -> str:
        """The readable diff: header, unified-diff-like hunks, verdict, what to do."""
        out: list[str] = []
        if self.removed or self.added or self.damaged:
            where = f" ({self.what})" if self.what else ""
            out.append(f"--- {self.baseline_path or 'baseline'}{where}")
            out.append(f"+++ {self.log_path or 'this run'}")
            shown, total = 0, sum(len(h) for h in self.hunks)
            for hunk in self.hunks:
                if shown >= max_lines:
                    break
                first_b = next((d.baseline_line for d in hunk if d.baseline_line), 0)
                first_l = next((d.log_line for d in hunk if d.log_line), 0)
                where = [f"baseline line {first_b}"] if first_b else []
                where += [f"log line {first_l}"] if first_l else []
                out.append(f"@@ {', '.join(where)} @@" if where else "@@")
                for d in hunk[: max_lines - shown]:
                    times = f"  (x{d.count})" if d.count > 1 else ""
                    out.append(f"{d.op} {d.signature}{times}")
                    if d.read_as:
                        out.append(f"~   damaged line in the log: {d.read_as}")
                    shown += 1
            if shown < total:
                out.append(f"... {total - shown} more diff lines not shown")
        verdict = "FAIL" if not self.ok else "ok"
        out.append(f"{verdict}: {self.summary()}")
        if self.removed:
            out.append(
                "Removed events are a regression: the kernel no longer logs what the baseline "
                "expects."
            )
        if (self.removed or self.added) and self.accept:
            out.append(f"If the new log is right, accept it as the baseline: {self.accept}")
        return "\n".join(out)


def compare(
    expected: Sequence[str],
    actual: Sequence[str],
    *,
    strict: bool = False,
    expected_lines: Sequence[int] | None = None,
    actual_lines: Sequence[int] | None = None,
) -> BaselineDiff:
    """Compare two signature sequences: removed and added events as multisets; the hunks of
    an order-following diff of the two, showing removals and additions but not moves."""
    want, got = Counter(expected), Counter(actual)
    removed_budget = want - got
    added_budget = got - want
    pairs = _damaged_pairs(
        [s for s, _ in _in_order(expected, removed_budget)],
        [s for s, _ in _in_order(actual, added_budget)],
    )
    damaged_budget: Counter[str] = Counter()
    read_as: dict[str, list[str]] = {}
    for was, got_sig in pairs:
        removed_budget[was] -= 1
        added_budget[got_sig] -= 1
        damaged_budget[was] += 1
        read_as.setdefault(was, []).append(got_sig)
    removed = [(s, n) for s, n in _in_order(expected, removed_budget)]
    added = [(s, n) for s, n in _in_order(actual, added_budget)]
    moved = 0
    merged: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(None, expected, actual, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                merged.append(
                    DiffLine(
                        " ",
                        expected[i1 + k],
                        baseline_line=_at(expected_lines, i1 + k),
                        log_line=_at(actual_lines, j1 + k),
                    )
                )
            continue
        for i in range(i1, i2):
            sig = expected[i]
            if removed_budget[sig] > 0:
                removed_budget[sig] -= 1
                merged.append(DiffLine("-", sig, baseline_line=_at(expected_lines, i)))
            elif damaged_budget[sig] > 0:
                damaged_budget[sig] -= 1
                was = read_as[sig].pop(0)
                merged.append(DiffLine("~", sig, baseline_line=_at(expected_lines, i), read_as=was))
            else:
                moved += 1
        for j in range(j1, j2):
            sig = actual[j]
            if added_budget[sig] > 0:
                added_budget[sig] -= 1
                merged.append(DiffLine("+", sig, log_line=_at(actual_lines, j)))
    return BaselineDiff(
        removed=removed,
        added=added,
        moved=moved,
        strict=strict,
        hunks=_hunks(merged),
        damaged=pairs,
    )


def damaged(a: str, b: str) -> bool:
    """Whether one of `a` and `b` is the other with a few characters dropped or repeated,
    as a serial line damages text: no character is new or replaced."""
    if a == b:
        return False
    if _edited(a, b) or _edited(b, a):
        return False
    limit = min(_MAX_DAMAGE, max(len(a), len(b)) // _CHARS_PER_DAMAGE)
    return _damage(a, b, limit) <= limit or _damage(b, a, limit) <= limit


def _edited(a: str, b: str) -> bool:
    """Whether `b` is `a` with whole words left out, or one word cut at its start or end
    ("unmounted" -> "mounted", "link up" -> "link"): what an edit does, not a damaged line."""
    wa, wb = a.split(), b.split()
    if len(wb) < len(wa):
        it = iter(wa)
        return all(w in it for w in wb)  # a subsequence of the words
    if len(wa) != len(wb):
        return False
    changed = [(x, y) for x, y in zip(wa, wb, strict=True) if x != y]
    return len(changed) == 1 and (
        changed[0][0].startswith(changed[0][1]) or changed[0][0].endswith(changed[0][1])
    )


def _damage(a: str, b: str, limit: int) -> int:
    """How many dropped characters of `a` and repeated characters in `b` make `b` from `a`
    (more than `limit` if that is too many or if `b` needs any other change)."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    too_many = limit + 1
    # prev[j]: the damage that makes b[:j] from a[:i - 1]; a band of width 2*limit+1.
    prev = [0] + [too_many] * len(b)
    for j in range(1, min(len(b), limit) + 1):
        prev[j] = min(prev[j - 1] + 1, too_many) if _repeat(b, j - 1) else too_many
    for i in range(1, len(a) + 1):
        cur = [too_many] * (len(b) + 1)
        cur[0] = min(i, too_many)
        for j in range(max(1, i - limit), min(len(b), i + limit) + 1):
            best = prev[j] + 1  # a[i - 1] dropped
            if a[i - 1] == b[j - 1]:
                best = min(best, prev[j - 1])
            if _repeat(b, j - 1):
                best = min(best, cur[j - 1] + 1)  # b[j - 1] repeats its neighbour
            cur[j] = min(best, too_many)
        prev = cur
    return prev[len(b)]


def _repeat(b: str, k: int) -> bool:
    return (k > 0 and b[k - 1] == b[k]) or (k + 1 < len(b) and b[k + 1] == b[k])


def _damaged_pairs(removed: list[str], added: list[str]) -> list[tuple[str, str]]:
    """Removed events paired with the added ones their damaged lines gave, each at most
    once, the least damaged first."""
    if not removed or not added or len(removed) * len(added) > _MAX_PAIRING**2:
        return []
    pairs: list[tuple[str, str]] = []
    taken: set[str] = set()
    for was in removed:
        for got in added:
            if got not in taken and damaged(was, got):
                pairs.append((was, got))
                taken.add(got)
                break
    return pairs


def _at(lines: Sequence[int] | None, i: int) -> int:
    return lines[i] if lines is not None and i < len(lines) else 0


def _in_order(seq: Sequence[str], counts: Counter[str]) -> list[tuple[str, int]]:
    """The signatures of `counts`, in their first order of appearance in `seq`."""
    seen: dict[str, int] = {}
    for sig in seq:
        if counts[sig] > 0 and sig not in seen:
            seen[sig] = counts[sig]
    return list(seen.items())


def _hunks(merged: list[DiffLine], context: int = DIFF_CONTEXT) -> list[list[DiffLine]]:
    """Changes with `context` lines around them; runs of one line repeated collapse."""
    changed = [i for i, d in enumerate(merged) if d.op != " "]
    if not changed:
        return []
    ranges: list[list[int]] = []
    for i in changed:
        lo, hi = max(0, i - context), min(len(merged), i + context + 1)
        if ranges and lo <= ranges[-1][1]:
            ranges[-1][1] = max(ranges[-1][1], hi)
        else:
            ranges.append([lo, hi])
    hunks = []
    for lo, hi in ranges:
        hunk: list[DiffLine] = []
        for d in merged[lo:hi]:
            last = hunk[-1] if hunk else None
            if last is not None and (last.op, last.signature, last.read_as) == (
                d.op,
                d.signature,
                d.read_as,
            ):
                last.count += 1
            else:
                hunk.append(DiffLine(d.op, d.signature, 1, d.baseline_line, d.log_line, d.read_as))
        hunks.append(hunk)
    return hunks

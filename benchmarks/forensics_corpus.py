"""Crash forensics on its own fixture corpus: recall, false alarms and guilty-function agreement,
by kind of report, against the labels written in each fixture's header.

Prints one JSON object. The corpus is tests/data/crashes/<os>/<n>; each fixture names its source
in its first note: `real: URL` (a report pasted in a public bug tracker or mailing list) or
`written from the kernel's printing code` (tests/data/crashes/written.py). The two are counted
apart: the written ones are labelled by the same hands that wrote the rules, the real ones are
the fairer test. Labels are those of the header (`TITLE`, `TYPE`, `FRAME`, `CORRUPTED`), known
misses included.

* `recall`: expected crashes the parser reports (paired in order within a fixture);
* `false_alarms`: fixtures with no crash where the parser reports one, and `extra`: reports
  beyond the expected count in fixtures that have crashes;
* `guilty`: of the paired crashes whose label names a function, the share where the parser names
  the same one (`guilty_n` of them); `wrongly_named`: of those whose label says no function can
  be named (`unnameable`), how many the parser names one for (a confident wrong frame);
  `title` and `type`: the share of paired crashes whose whole title and type agree.

    .venv/bin/python benchmarks/forensics_corpus.py [--source real|written|all]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from sis.harness.forensics import find_crashes

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "data" / "crashes"


def read_fixture(path: Path) -> tuple[list[str], list[dict[str, str]], str]:
    raw = path.read_text(encoding="utf-8")
    head, _, text = raw.partition("\n\n")
    notes: list[str] = []
    expected: list[dict[str, str]] = []
    for line in head.split("\n"):
        if line.startswith("#") or not line:
            notes.append(line)
            continue
        key, _, value = line.partition(": ")
        if key == "TITLE":
            expected.append({})
        expected[-1][key] = value
    return notes, expected, text


def source_of(notes: list[str]) -> str:
    first = notes[0] if notes else ""
    if first.startswith("# real"):
        return "real"
    if first.startswith("# written"):
        return "written"
    return "other"  # hand-written early fixtures and damaged copies of real captures


def _blank() -> dict[str, int]:
    return dict.fromkeys(
        (
            "fixtures",
            "expected",
            "found",
            "extra",
            "guilty_n",
            "guilty_ok",
            "title_ok",
            "type_ok",
            "unnamed_n",
            "unnamed_named",
        ),
        0,
    )


def measure(source: str) -> dict[str, object]:
    by_kind: dict[str, dict[str, int]] = defaultdict(_blank)
    clean = {"fixtures": 0, "false_alarms": 0}
    misses: list[str] = []
    for path in sorted(p for p in FIXTURES.glob("*/*") if p.is_file()):
        notes, expected, text = read_fixture(path)
        if source != "all" and source_of(notes) != source:
            continue
        found = find_crashes(text)
        name = f"{path.parent.name}/{path.name}"
        if not expected:
            clean["fixtures"] += 1
            if found:
                clean["false_alarms"] += 1
                misses.append(f"{name}: false alarm {found[0].title!r}")
            continue
        for n, exp in enumerate(expected):
            k = by_kind[exp["TYPE"]]
            k["fixtures"] += n == 0
            k["expected"] += 1
            if n >= len(found):
                misses.append(f"{name}: not found {exp['TITLE']!r}")
                continue
            got = found[n]
            k["found"] += 1
            k["title_ok"] += got.title == exp["TITLE"]
            k["type_ok"] += str(got.type) == exp["TYPE"]
            if exp["FRAME"] != "-":
                k["guilty_n"] += 1
                k["guilty_ok"] += got.frame == exp["FRAME"]
                if got.frame != exp["FRAME"]:
                    misses.append(f"{name}: guilty {got.frame!r}, label {exp['FRAME']!r}")
            else:  # no function can be named: naming one is a confident wrong frame
                k["unnamed_n"] += 1
                k["unnamed_named"] += got.frame is not None
                if got.frame is not None:
                    misses.append(f"{name}: guilty {got.frame!r}, label: none can be named")
            if got.title != exp["TITLE"]:
                misses.append(f"{name}: title {got.title!r}, label {exp['TITLE']!r}")
        if len(found) > len(expected):
            by_kind[expected[0]["TYPE"]]["extra"] += len(found) - len(expected)

    def ratio(a: int, b: int) -> float | None:
        return round(a / b, 3) if b else None

    kinds = {}
    total = _blank()
    for kind, k in sorted(by_kind.items()):
        for key in total:
            total[key] += k[key]
        kinds[kind] = {
            "fixtures": k["fixtures"],
            "expected": k["expected"],
            "recall": ratio(k["found"], k["expected"]),
            "extra": k["extra"],
            "guilty": ratio(k["guilty_ok"], k["guilty_n"]),
            "guilty_n": k["guilty_n"],
            "wrongly_named": k["unnamed_named"],
            "title": ratio(k["title_ok"], k["found"]),
            "type": ratio(k["type_ok"], k["found"]),
        }
    return {
        "source": source,
        "overall": {
            "crash_fixtures": total["fixtures"],
            "expected_crashes": total["expected"],
            "recall": ratio(total["found"], total["expected"]),
            "extra_reports": total["extra"],
            "guilty": ratio(total["guilty_ok"], total["guilty_n"]),
            "guilty_n": total["guilty_n"],
            "unnameable": total["unnamed_n"],
            "wrongly_named": total["unnamed_named"],
            "title": ratio(total["title_ok"], total["found"]),
            "no_crash_fixtures": clean["fixtures"],
            "false_alarms": clean["false_alarms"],
        },
        "by_kind": kinds,
        "disagreements": misses,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", choices=("real", "written", "other", "all"), default=None)
    args = ap.parse_args()
    sources = [args.source] if args.source else ["real", "written", "all"]
    json.dump({s: measure(s) for s in sources}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

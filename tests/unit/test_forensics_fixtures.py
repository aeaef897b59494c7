"""Every crash fixture in tests/data/crashes/<os>/<n> parses to the crashes its header names.

A fixture is `# notes` lines (the first names where the text comes from), then one `TITLE:`,
`TYPE:`, `FRAME:`, `CORRUPTED:` group per crash expected (none: no crash in the text), a blank
line, and the raw capture. The expected values are written by hand from the report (its kind's
rule for the guilty frame), before the parser reads it.

A fixture the parser is known to get wrong says so in a `# known-miss: why` note: its test
expects the parser to still disagree (strict xfail), so a fix shows, and the corpus figures
(benchmarks/forensics_corpus.py) count it as the miss it is.

After a deliberate change to the reporters, `SIS_UPDATE_CRASH_FIXTURES=1 pytest tests/unit/
test_forensics_fixtures.py` rewrites the headers from what the parser now finds (not those of
known misses): review the diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sis.harness.forensics import Crash, find_crashes

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "crashes"
KEYS = ("TITLE", "TYPE", "FRAME", "CORRUPTED")
UPDATE = os.environ.get("SIS_UPDATE_CRASH_FIXTURES") == "1"


def _fixtures() -> list[Path]:
    return sorted(
        (p for p in FIXTURES.glob("*/*") if p.is_file()),
        key=lambda p: (p.parent.name, int(p.name) if p.name.isdigit() else 0, p.name),
    )


def split_fixture(path: Path) -> tuple[list[str], list[dict[str, str]], str]:
    raw = path.read_bytes().decode("utf-8")
    head, _, text = raw.partition("\n\n")
    notes: list[str] = []
    expected: list[dict[str, str]] = []
    for line in head.split("\n"):
        if line.startswith("#") or not line:
            notes.append(line)
            continue
        key, _, value = line.partition(": ")
        assert key in KEYS, f"{path}: unknown header line {line!r}"
        if key == "TITLE":
            expected.append({})
        expected[-1][key] = value
    return notes, expected, text


def _header(c: Crash) -> dict[str, str]:
    return {
        "TITLE": c.title,
        "TYPE": str(c.type),
        "FRAME": c.frame or "-",
        "CORRUPTED": "yes" if c.corrupted else "no",
    }


def test_there_are_fixtures_of_each_os() -> None:
    names = {p.parent.name for p in _fixtures()}
    assert {"linux", "sis", "firmware"} <= names


def test_every_fixture_names_its_source() -> None:
    for path in _fixtures():
        notes, _, _ = split_fixture(path)
        assert notes and notes[0].startswith("# "), f"{path}: the first note names the source"


@pytest.mark.parametrize("path", _fixtures(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture(path: Path) -> None:
    notes, expected, text = split_fixture(path)
    found = [_header(c) for c in find_crashes(text)]
    if any(n.startswith("# known-miss:") for n in notes):
        assert found != expected, f"{path}: the parser now gets it right: drop known-miss"
        pytest.xfail(next(n for n in notes if n.startswith("# known-miss:"))[2:])
    if UPDATE:
        head = [*notes, *(f"{k}: {h[k]}" for h in found for k in KEYS)]
        path.write_bytes(("\n".join(head) + "\n\n" + text).encode("utf-8"))
        return
    assert found == expected, f"{path}: the parser now finds {found}"

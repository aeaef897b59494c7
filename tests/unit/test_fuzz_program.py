"""Fuzz programs: JSON, references kept right through edits, the executor batch."""

from __future__ import annotations

import pytest

from sis.harness.fuzz.program import Call, Program, concat, to_wire

OPEN = Call("openat", [-100, "@data", 0o102, 0o644], b"./fz0\0")


def prog() -> Program:
    return Program([OPEN, Call("write", ["@ret:0", "@scratch", 8]), Call("close", ["@ret:0"])])


def test_json_round_trip_and_listing():
    p = prog()
    assert Program.from_json(p.to_json()).to_json() == p.to_json()
    assert p.listing().splitlines() == [
        'r0 = openat(-0x64, &"./fz0", 0x42, 0x1a4)',
        "write(r0, &scratch, 0x8)",
        "close(r0)",
    ]


@pytest.mark.parametrize(
    "text, says",
    [
        ('{"calls": [{"name": "nope", "args": []}]}', "unknown syscall"),
        ('{"calls": [{"name": "close", "args": ["@ret:0"]}]}', "refers to later call"),
        ("[1, 2]", "not a fuzz program"),
    ],
)
def test_bad_programs_are_one_clear_error(text: str, says: str):
    with pytest.raises(ValueError, match=says):
        Program.from_json(text)


def test_removing_a_call_rebases_references_and_breaks_those_to_it():
    p = prog().remove(0)
    assert [c.args[0] for c in p.calls] == [-1, -1]
    q = concat([Program([Call("getpid")]), prog()]).remove(0)
    assert q.calls[1].args[0] == "@ret:0"


def test_inserting_a_call_moves_later_references():
    p = prog().insert(1, Call("getpid"))
    assert [c.name for c in p.calls] == ["openat", "getpid", "write", "close"]
    assert p.calls[2].args[0] == "@ret:0"
    p = prog().insert(0, Call("getpid"))
    assert p.calls[2].args[0] == "@ret:1"


def test_a_batch_rebases_each_programs_references():
    calls, starts = to_wire([prog(), prog()], {"openat": 56, "write": 64, "close": 57})
    assert starts == [0, 3]
    assert calls[4]["args"][0] == "@ret:3" and calls[1]["args"][0] == "@ret:0"
    assert calls[0]["data"] == b"./fz0\0".hex()
    assert concat([prog(), prog()]).calls[5].args == ["@ret:3"]

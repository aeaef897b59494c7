"""Generation and mutation: reproducible by seed, well-formed, never an unsafe call."""

from __future__ import annotations

import random

import pytest

from sis.contract.syscall_args import DESCRIPTIONS
from sis.harness.fuzz.generate import Generator, enabled_calls
from sis.harness.fuzz.program import Program, ret_ref


def well_formed(p: Program) -> None:
    assert 0 < len(p)
    for i, c in enumerate(p.calls):
        d = DESCRIPTIONS[c.name]
        assert not d.unsafe
        assert len(c.args) == len(d.args)
        for a in c.args:
            assert isinstance(a, int | str)
            k = ret_ref(a)
            assert k is None or k < i
            if a == "@data" or (isinstance(a, str) and a.startswith("@data")):
                assert c.data is not None


def test_the_same_seed_makes_the_same_programs():
    def run(seed: int) -> list[str]:
        g = Generator(random.Random(seed), enabled_calls())
        return [g.generate().to_json() for _ in range(50)]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_generated_and_mutated_programs_are_well_formed():
    g = Generator(random.Random(1), enabled_calls())
    corpus: list[Program] = []
    p = g.generate()
    for _ in range(3000):
        p = g.mutate(p, corpus) if corpus else g.generate()
        well_formed(p)
        corpus.append(p)
        corpus = corpus[-30:]


def test_consumers_usually_get_a_producer():
    g = Generator(random.Random(2), enabled_calls(["read", "openat"]))
    progs = [g.generate() for _ in range(300)]
    linked = sum(
        1 for p in progs for c in p.calls if c.name == "read" and ret_ref(c.args[0]) is not None
    )
    assert linked > 50


def test_some_arguments_are_hostile_on_purpose():
    g = Generator(random.Random(3), enabled_calls(["read"]))
    seen = {c.args[1] for _ in range(2000) for c in g.generate().calls if c.name == "read"}
    assert 0 in seen and 0xFFFF_8000_0000_0000 in seen  # NULL and a kernel pointer


def test_syscalls_option_is_checked():
    with pytest.raises(ValueError, match="unknown syscall 'nope'"):
        enabled_calls(["nope"])
    with pytest.raises(ValueError, match="never fuzzed"):
        enabled_calls(["reboot"])
    assert [d.name for d in enabled_calls(["read", "write"])] == ["read", "write"]

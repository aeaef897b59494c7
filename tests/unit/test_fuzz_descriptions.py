"""The fuzzing descriptions cover the syscall table and agree with it."""

from __future__ import annotations

from sis.contract.syscall_args import ARCHES, DESCRIPTIONS, RESOURCES, Buf, Len, Res
from sis.contract.syscalls import TABLE


def test_every_syscall_of_the_table_is_described_with_its_arguments():
    assert {d.base for d in DESCRIPTIONS.values()} == {s.name for s in TABLE}
    assert {s.name for s in TABLE} <= set(DESCRIPTIONS)  # each has a plain description
    for d in DESCRIPTIONS.values():
        spec = next(s for s in TABLE if s.name == d.base)
        assert len(d.args) == len(spec.args), d.name
        assert d.numbers == DESCRIPTIONS[d.base].numbers


def test_buffers_and_lengths_point_at_each_other():
    for d in DESCRIPTIONS.values():
        for i, a in enumerate(d.args):
            if isinstance(a, Buf):
                assert isinstance(d.args[a.len_arg], Len) and d.args[a.len_arg].buf_arg == i
            if isinstance(a, Res):
                assert a.resource in RESOURCES
        assert d.ret is None or d.ret in RESOURCES


def test_numbers_per_architecture():
    assert DESCRIPTIONS["openat"].numbers == {
        "sis": 56, "linux-arm64": 56, "linux-riscv64": 56, "linux-x86_64": 257,
    }  # fmt: skip
    assert DESCRIPTIONS["read"].numbers["linux-x86_64"] == 0
    assert set(DESCRIPTIONS["sis_kinfo"].numbers) == {"sis"}  # SIS's own calls only on SIS
    for d in DESCRIPTIONS.values():
        assert set(d.numbers) <= set(ARCHES)


def test_calls_that_end_the_machine_are_never_fuzzed():
    for name in ("reboot", "exit", "exit_group", "sis_panic"):
        assert DESCRIPTIONS[name].unsafe

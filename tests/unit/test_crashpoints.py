"""Crash points over logs written here: a toy disk whose "files" are fixed sectors, so the
oracle's verdict at each point can be worked out by hand."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from sis.harness.chaos.crashpoints import (
    Ack,
    ImageCheck,
    check_crash_points,
    crash_states,
    sparse_copy,
)
from sis.harness.chaos.writelog import LogWriter, read_log

SECTOR = 512
FILES = 4  # file i lives in sector 8 + i


class SectorFiles:
    """A Checker for the toy disk: `/f<i>` is sector 8 + i."""

    def __init__(self) -> None:
        self.images = 0

    def check(self, image: Path, paths: list[str]) -> ImageCheck:
        self.images += 1
        data = image.read_bytes()
        out: dict[str, str | None] = {}
        for p in paths:
            i = int(p[2:])
            block = data[(8 + i) * SECTOR : (9 + i) * SECTOR]
            out[p] = hashlib.sha256(block).hexdigest() if any(block) else None
        return ImageCheck(out)


def _content(i: int) -> bytes:
    return bytes([i + 1]) * SECTOR


def _workload(path: Path, *, flush_before_ack: bool, files: int = FILES) -> list[Ack]:
    """Each file written, flushed (or not), then acknowledged by a mark write at sector 60;
    the acknowledgement is known from the mark's entry on."""
    w = LogWriter(path, SECTOR)
    acks = []
    for i in range(files):
        w.write(8 + i, _content(i))
        if flush_before_ack:
            w.flush()
        w.write(60, bytes([i]) * SECTOR)  # the mark
        digest = hashlib.sha256(_content(i)).hexdigest()
        acks.append(Ack(f"/f{i}", SECTOR, digest, known_by=w.count))
        if not flush_before_ack:
            w.flush()  # the flush comes, but after the acknowledgement
    w.close()
    return acks


def _base(tmp_path: Path) -> Path:
    base = tmp_path / "base.img"
    base.write_bytes(bytes(64 * SECTOR))
    return base


def test_honest_flushes_pass_at_every_point(tmp_path):
    acks = _workload(tmp_path / "log", flush_before_ack=True)
    log = read_log(tmp_path / "log")
    checker = SectorFiles()
    results = check_crash_points(log, _base(tmp_path), acks, checker, reorders=3, seed=1)
    assert results and all(r.ok for r in results), [r.reason() for r in results if not r.ok]
    assert [r.name for r in results if " " not in r.name[6:]] == [f"flush {k}" for k in range(5)]
    assert checker.images == len(results)
    assert max(r.checked for r in results) == FILES
    side_by_side = check_crash_points(
        log, _base(tmp_path), acks, SectorFiles(), reorders=3, seed=1, jobs=3
    )
    assert side_by_side == results  # the same points, verdicts and order


def test_an_acknowledgement_before_the_flush_fails_at_that_flush_point(tmp_path):
    acks = _workload(tmp_path / "log", flush_before_ack=False)
    log = read_log(tmp_path / "log")
    results = check_crash_points(log, _base(tmp_path), acks, SectorFiles(), jobs=2)
    failed = {r.name for r in results if not r.ok}
    # Each file's acknowledgement lands in the interval before its flush: `flush i` (only the
    # flushed data survives) loses file i; the in-order prefixes keep it.
    assert {f"flush {i}" for i in range(FILES)} <= failed
    assert not any("prefix" in name for name in failed)
    first = next(r for r in results if r.name == "flush 0")
    assert first.lost[0]["path"] == "/f0" and first.lost[0]["got"] is None
    assert "at flush 0" in first.reason() and "/f0" in first.reason()
    # After the last flush everything is durable: that point passes.
    assert next(r for r in results if r.name == f"flush {FILES}").ok


def test_no_flush_at_all_loses_everything_acknowledged(tmp_path):
    w = LogWriter(tmp_path / "log", SECTOR)
    w.write(8, _content(0))
    w.write(60, bytes(SECTOR))
    w.close()
    ack = Ack("/f0", SECTOR, hashlib.sha256(_content(0)).hexdigest(), known_by=2)
    results = check_crash_points(read_log(tmp_path / "log"), _base(tmp_path), [ack], SectorFiles())
    assert not results[0].ok and results[0].name == "flush 0"


def test_a_later_write_to_the_same_place_is_allowed(tmp_path):
    w = LogWriter(tmp_path / "log", SECTOR)
    w.write(8, _content(0))
    w.flush()
    w.write(60, bytes(SECTOR))
    w.write(8, _content(3))  # rewritten, never acknowledged
    w.close()
    ack = Ack(
        "/f0",
        SECTOR,
        hashlib.sha256(_content(0)).hexdigest(),
        known_by=3,
        later=frozenset({hashlib.sha256(_content(3)).hexdigest()}),
    )
    results = check_crash_points(
        read_log(tmp_path / "log"), _base(tmp_path), [ack], SectorFiles(), reorders=4
    )
    assert all(r.ok for r in results)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(["w", "f"]), max_size=25),
    st.integers(0, 5),
    st.integers(0, 3),
    st.integers(0, 99),
)
def test_states_cover_every_flush_point_in_order(tmp_path_factory, ops, prefixes, reorders, seed):
    path = tmp_path_factory.mktemp("log") / "log"
    w = LogWriter(path, SECTOR)
    for op in ops:
        w.write(8, bytes(SECTOR)) if op == "w" else w.flush()
    w.close()
    log = read_log(path)
    states = list(crash_states(log, max_prefixes=prefixes, reorders=reorders, seed=seed))
    flushes = [s for s in states if " " not in s.name[6:]]
    assert len(flushes) == ops.count("f") + 1
    durable = [s.durable for s in states]
    assert durable == sorted(durable)  # the replay only ever moves forward
    for s in states:
        assert all(s.durable <= i < s.cut for i in s.extra)
        assert s.cut <= len(log.entries)
    per_interval: dict[int, int] = {}
    for s in states:
        if "prefix" in s.name:
            per_interval[s.flush] = per_interval.get(s.flush, 0) + 1
    assert all(n <= prefixes for n in per_interval.values())
    again = list(crash_states(log, max_prefixes=prefixes, reorders=reorders, seed=seed))
    assert again == states  # the same seed, the same points


def test_sparse_copy_keeps_data_and_holes(tmp_path):
    src = tmp_path / "src"
    with open(src, "wb") as f:
        f.truncate(8 << 20)
        f.seek(3 << 20)
        f.write(b"x" * 5000)
    dst = tmp_path / "dst"
    sparse_copy(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert dst.stat().st_blocks * 512 < 1 << 20


def test_a_guest_mark_places_its_acknowledgement_at_the_entry_that_wrote_it(tmp_path):
    from sis.harness.chaos.crashrun import _acks
    from sis.harness.chaos.workload import Write

    w = LogWriter(tmp_path / "log", SECTOR)
    w.write(8, _content(0))
    w.flush()
    mark = b"sis-ack abc 1\n".ljust(8 * SECTOR, b"\0")  # a 4 KiB O_DIRECT write
    w.write(100, mark)
    w.write(9, _content(1))
    w.close()
    log = read_log(tmp_path / "log")
    digest = hashlib.sha256(_content(0)).hexdigest()
    writes = [
        Write(0, "/f0", SECTOR, digest, True, mark="sis-ack abc 1"),
        Write(1, "/f1", SECTOR, "x", True, mark="sis-ack abc 2"),  # its mark never came
        Write(2, "/f0", SECTOR, "later", False),
    ]
    acks = _acks(writes, {}, log)
    assert [(a.path, a.known_by) for a in acks] == [("/f0", 3), ("/f1", len(log.entries))]
    assert acks[0].later == frozenset({"later"})
    # The reference kernel's acknowledgements come as log counts instead of marks.
    assert _acks(writes[:1], {0: 2}, log)[0].known_by == 2

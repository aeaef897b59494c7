"""The dm-log-writes reader: logs written here, read back, replayed onto disks."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sis.harness.chaos.writelog import (
    DISCARD,
    FLUSH,
    MAGIC,
    MARK,
    LogFormatError,
    LogWriter,
    apply_entries,
    parse_log,
    read_log,
)

SECTOR = 512
DISK_SECTORS = 64

# One operation of a device: ("write", sector, nr, fill byte) | ("flush",) | ("discard", ...)
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.integers(0, DISK_SECTORS - 8),
            st.integers(1, 8),
            st.integers(0, 255),
        ),
        st.tuples(st.just("flush")),
        st.tuples(st.just("discard"), st.integers(0, DISK_SECTORS - 8), st.integers(1, 8)),
        st.tuples(
            st.just("mark"),
            st.text(
                st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                min_size=1,
                max_size=40,
            ),
        ),
    ),
    max_size=30,
)


def _record(path, operations):
    """Write the log of `operations` and return the disk they leave (in memory)."""
    disk = bytearray(DISK_SECTORS * SECTOR)
    w = LogWriter(path, SECTOR)
    for op in operations:
        if op[0] == "write":
            _, sector, nr, fill = op
            data = bytes([fill]) * (nr * SECTOR)
            w.write(sector, data)
            disk[sector * SECTOR : (sector + nr) * SECTOR] = data
        elif op[0] == "flush":
            w.flush()
        elif op[0] == "discard":
            _, sector, nr = op
            w.discard(sector, nr)
            disk[sector * SECTOR : (sector + nr) * SECTOR] = bytes(nr * SECTOR)
        else:
            w.mark(op[1])
    w.close()
    return bytes(disk)


@settings(max_examples=60, deadline=None)
@given(ops)
def test_a_log_replays_to_the_disk_it_recorded(tmp_path_factory, operations):
    path = tmp_path_factory.mktemp("log") / "log"
    disk = _record(path, operations)
    log = read_log(path)
    assert len(log.entries) == len(operations) == log.counted
    kinds = [
        "flush" if e.flags & FLUSH else "discard" if e.flags & DISCARD else
        "mark" if e.flags & MARK else "write"
        for e in log.entries
    ]  # fmt: skip
    assert kinds == [op[0] for op in operations]
    marks = [e.mark for e in log.entries if e.flags & MARK]
    assert marks == [op[1] for op in operations if op[0] == "mark"]
    replayed = io.BytesIO(bytes(DISK_SECTORS * SECTOR))
    apply_entries(replayed, log.entries, log.sectorsize)
    assert replayed.getvalue() == disk
    assert log.flushes() == [i for i, op in enumerate(operations) if op[0] == "flush"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_garbage_is_a_format_error_never_a_crash(data):
    try:
        parse_log(data)
    except LogFormatError as e:
        assert str(e)


@settings(max_examples=60, deadline=None)
@given(ops, st.integers(0, 10_000))
def test_a_log_cut_short_keeps_its_whole_entries(tmp_path_factory, operations, cut):
    """A writer killed mid-entry leaves a partial tail: the entries before it are read, and an
    uncounted tail never makes the log unreadable."""
    path = tmp_path_factory.mktemp("log") / "log"
    _record(path, operations)
    full = path.read_bytes()
    # The super block as a writer that counts only now and then leaves it: zero entries.
    head = struct.pack("<QQQI", MAGIC, 1, 0, SECTOR).ljust(SECTOR, b"\0")
    short = head + full[SECTOR : SECTOR + cut]
    log = parse_log(short)
    whole = read_log(path).entries
    assert len(log.entries) <= len(whole)
    assert log.entries == whole[: len(log.entries)]


def test_a_counted_entry_that_is_missing_is_an_error(tmp_path):
    path = tmp_path / "log"
    _record(path, [("write", 0, 2, 7), ("flush",)])
    data = path.read_bytes()
    with pytest.raises(LogFormatError, match="entry 0 at byte 512"):
        parse_log(data[: SECTOR * 2])
    with pytest.raises(LogFormatError, match="counts 2 entries"):
        parse_log(data[: SECTOR * 4])


def test_not_a_log(tmp_path):
    (tmp_path / "x").write_bytes(b"\0" * 4096)
    with pytest.raises(LogFormatError, match="bad magic"):
        read_log(tmp_path / "x")
    with pytest.raises(LogFormatError, match="No such file"):
        read_log(tmp_path / "missing")
    bad = struct.pack("<QQQI", MAGIC, 1, 0, 1000).ljust(SECTOR, b"\0")
    with pytest.raises(LogFormatError, match="sector size"):
        parse_log(bad)


def test_a_log_whose_super_block_was_never_written(tmp_path):
    """QEMU writes the super block at the first flush: a guest that never flushed leaves zeros
    there, and the entries are read with the sector size the lab gave the log."""
    path = tmp_path / "log"
    _record(path, [("write", 3, 2, 9), ("write", 0, 1, 1)])
    data = bytearray(path.read_bytes())
    data[:SECTOR] = bytes(SECTOR)
    with pytest.raises(LogFormatError, match="bad magic"):
        parse_log(bytes(data))
    log = parse_log(bytes(data), unwritten_super=SECTOR)
    assert [e.sector for e in log.entries] == [3, 0] and log.counted == 0


def test_the_reference_kernels_block_log_is_read_as_it_is_written(tmp_path):
    """`-drive file=IMG,log=LOG`: the kernel's block layer logs in the same format, and counts
    every entry at once, so a reader mid-run sees each completed operation."""
    from sis.kernel.drivers.block import FileBlockDevice, LoggedBlockDevice, create_image

    image = tmp_path / "disk.img"
    create_image(image, 16 * 4096)
    before = image.read_bytes()
    dev = LoggedBlockDevice(FileBlockDevice(image), tmp_path / "log")
    dev.write_block(3, b"a" * 4096)
    assert read_log(tmp_path / "log").counted == 1  # already counted, before any flush
    dev.flush()
    dev.write_block(5, b"b" * 4096)
    dev.write_block(3, b"c" * 4096)
    dev.close()
    log = read_log(tmp_path / "log")
    assert log.sectorsize == 4096 and log.counted == 4
    assert [(e.sector, e.is_flush) for e in log.entries] == [
        (3, False),
        (0, True),
        (5, False),
        (3, False),
    ]
    replayed = io.BytesIO(before)
    apply_entries(replayed, log.entries, log.sectorsize)
    assert replayed.getvalue() == image.read_bytes()

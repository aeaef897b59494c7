"""The journal: replay of committed transactions, discarding interrupted ones, automatic
commits when the journal fills, and retrying commits that failed with a write error."""

from __future__ import annotations

import pytest

from sis.kernel.drivers.block import MemoryBlockDevice
from sis.kernel.drivers.mock import MockBlockDevice, PowerCut
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, fsck, journal
from sis.kernel.fs.layout import Superblock

ROOT = FileSystem.ROOT_INO


def state_of(dev) -> journal.JournalState:
    sb = Superblock.parse(dev.read_block(0), dev.block_count)
    return journal.read_state(dev, sb)


def committed_not_checkpointed() -> tuple[MockBlockDevice, int]:
    """A disk whose last transaction (creating /f = b"payload") is durable in the journal
    but was never written home."""
    dev = MockBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"payload")
    fs.journal.checkpoint = lambda blocks: None  # type: ignore[method-assign]
    fs.sync()
    return dev, f


def test_committed_transaction_is_replayed_at_mount() -> None:
    dev, f = committed_not_checkpointed()
    assert state_of(dev).status == "committed"
    report = fsck(dev)
    assert report.clean, report.findings
    assert any(
        "committed transaction" in x.message and x.severity == "info" for x in report.findings
    )
    fs = FileSystem.mount(dev)
    assert fs.replayed
    assert fs.read(fs.lookup(ROOT, "f"), 0, 100) == b"payload"
    assert state_of(dev).status == "empty"
    assert fsck(dev).findings == []
    # The next transactions go on normally after a replay.
    fs.write(f, 7, b"!")
    fs.unmount()
    assert FileSystem.mount(dev).read(f, 0, 100) == b"payload!"


def test_read_only_mount_replays_in_memory_only() -> None:
    dev, f = committed_not_checkpointed()
    writes = dev.stats.writes
    dev.read_only = True
    fs = FileSystem.mount(dev)
    assert fs.read_only and fs.read(f, 0, 100) == b"payload"
    fs.unmount()
    assert dev.stats.writes == writes
    assert state_of(dev).status == "committed"


def test_interrupted_commit_is_discarded() -> None:
    dev = MockBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    fs = FileSystem.mount(dev)
    keep = fs.create(ROOT, "keep", 0o644)
    fs.sync()
    fs.create(ROOT, "lost", 0o644)
    dirty = fs.cache.dirty_count
    # Power fails right before the commit block: descriptor and blocks are in the journal.
    dev.crash_after_writes = dev.writes_done + 1 + dirty
    with pytest.raises(PowerCut):
        fs.sync()
    image = dev.snapshot()
    assert state_of(image).status == "incomplete"
    report = fsck(image)
    assert report.clean and "interrupted" in report.findings[0].message
    fs2 = FileSystem.mount(image)
    assert not fs2.replayed
    assert [e.name for e in fs2.readdir(ROOT)] == [".", "..", "keep"]
    assert fs2.lookup(ROOT, "keep") == keep
    fs2.create(ROOT, "next", 0o644)  # the journal is reused normally
    fs2.unmount()
    assert fsck(image).clean
    assert {e.name for e in FileSystem.mount(image).readdir(ROOT)} == {".", "..", "keep", "next"}


def test_transaction_failing_its_checksum_is_discarded() -> None:
    dev, _ = committed_not_checkpointed()
    sb = Superblock.parse(dev.read_block(0), dev.block_count)
    victim = sb.journal_start + 3  # a logged block
    block = bytearray(dev.read_block(victim))
    block[100] ^= 0xFF
    dev.write_block(victim, bytes(block))
    assert state_of(dev).status == "incomplete"
    fs = FileSystem.mount(dev)
    assert [e.name for e in fs.readdir(ROOT)] == [".", ".."]
    assert fsck(dev).clean


def test_journal_header_corruption_is_refused() -> None:
    dev = MemoryBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    dev.write_block(1, bytes(4096))
    with pytest.raises(KernelError) as e:
        FileSystem.mount(dev)
    assert e.value.errno == Errno.EINVAL and "journal header is corrupt" in str(e.value)
    assert not fsck(dev).clean


def test_large_file_commits_automatically_with_a_small_journal() -> None:
    dev = MemoryBlockDevice(12 * 1024)  # 48 MiB
    FileSystem.format(dev, journal_blocks=128)
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "big", 0o644)
    data = bytes(range(256)) * (32 * 4096)  # 32 MiB
    assert fs.write(f, 0, data) == len(data)
    assert fs.journal.commits >= (32 * 1024 * 1024) // (128 * 4096)
    assert fs.cache.dirty_count <= fs.journal.capacity
    fs.fsync(f)
    assert fsck(dev).clean
    fs.unmount()
    fs = FileSystem.mount(dev)
    assert fs.read(f, 0, len(data)) == data
    assert fs.stat(f).size == len(data)


def test_failed_checkpoint_is_finished_by_the_next_commit() -> None:
    dev = MockBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"safe")
    fs.sync()
    fs.write(f, 0, b"new!")
    fs.create(ROOT, "g", 0o644)
    dev.fail_blocks = {fs.sb.inode_table_start}  # writing the inode table home fails
    with pytest.raises(KernelError) as e:
        fs.sync()
    assert e.value.errno == Errno.EIO and "retried" in e.value.detail
    assert fs.journal.pending is not None and fs.commit_failures == 1
    # The transaction reached the journal: a crash now recovers it.
    crashed = FileSystem.mount(dev.snapshot())
    assert crashed.read(f, 0, 4) == b"new!" and crashed.lookup(ROOT, "g")
    # While the disk keeps failing, so does every commit; reads and changes go on in memory.
    with pytest.raises(KernelError):
        fs.fsync(f)
    fs.write(f, 4, b" and more")
    assert fs.read(f, 0, 100) == b"new! and more"
    # Once the disk recovers, the next sync writes everything.
    dev.fail_blocks = set()
    fs.sync()
    assert fs.journal.pending is None
    fs.unmount()
    assert fsck(dev).findings == []
    fs = FileSystem.mount(dev)
    assert fs.read(f, 0, 100) == b"new! and more" and fs.lookup(ROOT, "g")


def test_failed_journal_write_keeps_the_previous_state() -> None:
    dev = MockBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "f", 0o644)
    fs.write(f, 0, b"safe")
    fs.sync()
    fs.write(f, 0, b"next")
    dev.fail_blocks = {fs.sb.journal_start + 2}
    with pytest.raises(KernelError) as e:
        fs.sync()
    assert e.value.errno == Errno.EIO
    assert fs.journal.pending is None  # nothing was committed
    assert FileSystem.mount(dev.snapshot()).read(f, 0, 4) == b"safe"
    dev.fail_blocks = set()
    fs.unmount()
    assert FileSystem.mount(dev).read(f, 0, 4) == b"next"


def test_operation_fails_when_the_full_journal_cannot_commit() -> None:
    dev = MockBlockDevice(1024)
    FileSystem.format(dev, journal_blocks=64)
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "f", 0o644)
    dev.write_failure_rate = 1.0
    with pytest.raises(KernelError) as e:
        for i in range(100):
            fs.write(f, i * 4096, b"x" * 4096)
    assert e.value.errno == Errno.EIO
    size = fs.stat(f).size
    assert 0 < size < 100 * 4096
    dev.write_failure_rate = 0.0
    fs.unmount()
    fs = FileSystem.mount(dev)
    assert fs.stat(f).size == size
    assert fsck(dev).clean


def test_read_error_rolls_the_operation_back() -> None:
    dev = MockBlockDevice(1024)
    FileSystem.format(dev, inodes=200, journal_blocks=64)
    fs = FileSystem.mount(dev)
    for i in range(31):  # inodes 2..32 fill the first inode-table block
        fs.create(ROOT, f"f{i}", 0o644)
    fs.unmount()
    fs = FileSystem.mount(dev)
    fs.readdir(ROOT)
    before = fs.statfs()
    # Creating the next file allocates inode 33, then must read the second table block.
    dev.fail_blocks = {fs.sb.inode_table_start + 1}
    with pytest.raises(KernelError) as e:
        fs.create(ROOT, "new", 0o644)
    assert e.value.errno == Errno.EIO
    assert fs.statfs() == before
    assert fs.cache.dirty_count == 0
    dev.fail_blocks = set()
    assert fs.create(ROOT, "new", 0o644) == 33  # the inode bitmap was restored
    fs.sync()
    assert fsck(dev).clean


def test_transaction_with_several_descriptor_blocks() -> None:
    dev = MemoryBlockDevice(8192)
    FileSystem.format(dev, journal_blocks=2100)
    fs = FileSystem.mount(dev)
    f = fs.create(ROOT, "f", 0o644)
    data = bytes(range(251)) * (1500 * 4096 // 251)
    fs.write(f, 0, data)
    assert fs.cache.dirty_count > journal.DESC_ENTRIES
    fs.journal.checkpoint = lambda blocks: None  # type: ignore[method-assign]
    fs.sync()
    pending = state_of(dev)
    assert pending.status == "committed" and len(pending.blocks) > journal.DESC_ENTRIES
    assert fsck(dev).clean
    fs = FileSystem.mount(dev)
    assert fs.replayed and fs.read(f, 0, len(data)) == data
    assert fsck(dev).findings == []

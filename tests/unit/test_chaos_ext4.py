"""The host side of the ext4 chaos disk: made with mkfs.ext4, read back through debugfs,
checked with e2fsck; and the kernel log lines that excuse a file system marked with errors."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from sis.harness.chaos.hostcheck import Ext4Checker, e2fsprogs_missing
from sis.harness.chaos.workload import io_error_reported
from sis.harness.images.ext4disk import MARK_BYTES, ensure_ext4_disk

needs_e2fsprogs = pytest.mark.skipif(
    bool(e2fsprogs_missing())
    or shutil.which("mkfs.ext4") is None
    and not Path("/usr/sbin/mkfs.ext4").exists(),
    reason="e2fsprogs not installed",
)
SIZE = 16 << 20


def _debugfs(image: Path, *commands: str) -> None:
    for c in commands:
        subprocess.run(["debugfs", "-w", "-R", c, str(image)], capture_output=True, check=True)


@needs_e2fsprogs
def test_the_disk_is_ext4_with_its_tail_left_free_and_made_once(tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    ensure_ext4_disk(disk, SIZE, replace=False)
    out = subprocess.run(["dumpe2fs", "-h", str(disk)], capture_output=True, text=True).stdout
    assert "has_journal" in out
    block_count = int(next(ln for ln in out.splitlines() if ln.startswith("Block count:"))
                      .split()[-1])  # fmt: skip
    assert block_count * 4096 == SIZE - MARK_BYTES
    made = disk.stat().st_mtime_ns
    ensure_ext4_disk(disk, SIZE, replace=False)
    assert disk.stat().st_mtime_ns == made  # the same fresh disk: not made again
    _debugfs(disk, "mkdir /x")
    ensure_ext4_disk(disk, SIZE, replace=False)
    assert disk.stat().st_mtime_ns != made  # written to: a fresh one instead


@needs_e2fsprogs
def test_the_checker_reads_files_back_and_finds_a_damaged_file_system(tmp_path: Path) -> None:
    disk = tmp_path / "disk.raw"
    ensure_ext4_disk(disk, SIZE, replace=True)
    payload = tmp_path / "payload"
    payload.write_bytes(b"acknowledged\n" * 300)
    _debugfs(disk, "mkdir /chaos", f"write {payload} /chaos/f0")
    checker = Ext4Checker("/mnt")
    found = checker.check(disk, ["/mnt/chaos/f0", "/mnt/chaos/f1"])
    assert found.fsck == ""
    assert found.contents == {
        "/mnt/chaos/f0": hashlib.sha256(payload.read_bytes()).hexdigest(),
        "/mnt/chaos/f1": None,
    }
    # Zero the root directory's block: e2fsck -fn must say so, by name.
    root = subprocess.run(
        ["debugfs", "-R", "blocks /", str(disk)], capture_output=True, text=True
    ).stdout.split()[0]
    with open(disk, "r+b") as f:
        f.seek(int(root) * 4096)
        f.write(bytes(4096))
    damaged = checker.check(disk, ["/mnt/chaos/f0"])
    assert damaged.fsck.startswith("e2fsck -fn exit ")
    assert "Directory inode 2" in damaged.fsck and "directory corrupted" in damaged.fsck
    assert damaged.contents == {"/mnt/chaos/f0": None}


def test_only_the_kernel_reporting_a_disk_error_excuses_fsck_findings() -> None:
    assert io_error_reported(["[ 5.1] I/O error, dev vda, sector 4096 op 0x1:(WRITE)"])
    assert io_error_reported(["[ 5.2] Aborting journal on device vda-8."])
    assert io_error_reported(["EXT4-fs error (device vda): ext4_find_entry:1683: comm sh"])
    assert not io_error_reported(["[ 1.0] virtio_blk virtio1: [vda] 131072 512-byte blocks"])
    assert not io_error_reported(["I/O error, dev vdb, sector 8"])  # another disk


class _Shell:
    """Stands in for a linux-busybox session: records each command, answers like ash."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.boots: list = []

    def run(self, command: str, timeout: float = 30.0):
        from sis.harness.console import CommandResult

        self.commands.append(command)
        out = "sectors=131072\n" if "sectors=" in command else ""
        return CommandResult(command, out, 0, 0.0)


def test_the_workload_marks_an_acknowledgement_only_after_it_is_durable() -> None:
    from sis.harness.chaos.workload import Ext4Files

    shell = _Shell()
    w = Ext4Files(shell)  # type: ignore[arg-type]
    writes = w.write("run", 2)
    assert [x.acked for x in writes] == [True, True]
    assert writes[0].mark != writes[1].mark and writes[0].mark.startswith("sis-ack ")
    command = shell.commands[-1]
    mark = command.index("oflag=direct")
    # write the file, fsync it, rename it, fsync the directory: then the mark, never before.
    assert command.index("sync /mnt/chaos/.f1.tmp") < command.index("mv ") < mark
    assert command.index("sync /mnt/chaos;") < mark
    assert "seek=16128" in command  # the reserved last MiB of a 64 MiB disk
    assert "errors=remount-ro" in shell.commands[0]

    early = Ext4Files(_Shell(), ack_before_fsync=True, mount_options="nobarrier")  # type: ignore[arg-type]
    early.write("run", 1)
    command = early.session.commands[-1]
    assert command.index("oflag=direct") < command.index("sync /mnt/chaos/.f0.tmp")
    assert "errors=remount-ro,nobarrier" in early.session.commands[0]

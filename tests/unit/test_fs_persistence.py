"""Data survives on a disk image file: across unmount and re-open, and across the process
being killed (synced data intact, unsynced data gone, nothing corrupt)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sis.kernel.drivers.block import FileBlockDevice, create_image
from sis.kernel.fs import FileSystem, fsck, resolve, walk

ROOT = FileSystem.ROOT_INO


def make_image(tmp_path, size: int = 8 * 1024 * 1024):
    path = tmp_path / "disk.img"
    create_image(path, size)
    dev = FileBlockDevice(path)
    FileSystem.format(dev, clock=lambda: 123)
    dev.close()
    return path


def test_round_trip_through_an_image_file(tmp_path) -> None:
    path = make_image(tmp_path)
    dev = FileBlockDevice(path)
    fs = FileSystem.mount(dev, clock=lambda: 1_000)
    docs = fs.mkdir(ROOT, "docs", 0o700)
    f = fs.create(docs, "notes.txt", 0o600)
    payload = b"line\n" * 50_000  # 250 KB, into the indirect range
    fs.write(f, 0, payload)
    empty = fs.create(ROOT, "empty", 0o644)
    fs.sync()
    fs.unmount()
    dev.close()

    dev = FileBlockDevice(path)
    fs = FileSystem.mount(dev)
    assert resolve(fs, "/docs/notes.txt", ROOT) == f
    assert fs.read(f, 0, len(payload) + 10) == payload
    st = fs.stat(f)
    assert (st.mode & 0o7777, st.size, st.mtime_ns) == (0o600, len(payload), 1_000)
    assert fs.stat(empty).size == 0
    assert [p for p, _ in walk(fs)] == ["/", "/docs", "/docs/notes.txt", "/empty"]
    assert fsck(dev).clean
    dev.close()


def test_unmount_syncs(tmp_path) -> None:
    path = make_image(tmp_path)
    dev = FileBlockDevice(path)
    fs = FileSystem.mount(dev)
    fs.write(fs.create(ROOT, "f", 0o644), 0, b"kept")
    fs.unmount()
    dev.close()
    dev = FileBlockDevice(path)
    fs = FileSystem.mount(dev)
    assert fs.read(fs.lookup(ROOT, "f"), 0, 10) == b"kept"
    dev.close()


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from sis.kernel.drivers.block import FileBlockDevice
    from sis.kernel.fs import FileSystem

    dev = FileBlockDevice(sys.argv[1])
    fs = FileSystem.mount(dev)
    root = fs.ROOT_INO
    a = fs.create(root, "acked", 0o644)
    fs.write(a, 0, b"A" * 100_000)
    fs.fsync(a)
    b = fs.create(root, "unacked", 0o644)
    fs.write(b, 0, b"B" * 100_000)
    fs.write(a, 0, b"overwritten but never synced")
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_killed_process_keeps_what_it_synced(tmp_path) -> None:
    path = make_image(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(path)], capture_output=True, timeout=60
    )
    assert proc.returncode == -9, proc.stderr.decode()
    dev = FileBlockDevice(path)
    assert fsck(dev).clean
    fs = FileSystem.mount(dev)
    assert fs.read(fs.lookup(ROOT, "acked"), 0, 200_000) == b"A" * 100_000
    assert [e.name for e in fs.readdir(ROOT)] == [".", "..", "acked"]
    dev.close()


def test_abandoned_mount_loses_only_unsynced_changes(tmp_path) -> None:
    path = make_image(tmp_path)
    dev = FileBlockDevice(path)
    fs = FileSystem.mount(dev)
    d = fs.mkdir(ROOT, "d", 0o755)
    fs.sync()
    fs.create(d, "never-synced", 0o644)
    dev.close()  # no unmount: like pulling the plug
    dev = FileBlockDevice(path)
    fs = FileSystem.mount(dev)
    assert [e.name for e in fs.readdir(d)] == [".", ".."]
    assert fsck(dev).clean
    dev.close()

"""Crash dumps hold recent kernel logs: only their owner may read them, whatever the umask."""

import os
import stat
import tempfile

import pytest

from kernelsim import run_program
from sis.kernel.fs.tools import create_disk


async def _panic(libc, argv):
    await libc.wait(await libc.spawn("panic", ["panic", "dump me"]))
    return 0


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def loose_umask(monkeypatch, tmp_path):
    """A permissive umask, and a temp directory of the test's own."""
    old = os.umask(0o002)
    monkeypatch.delenv("SIS_CRASH_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    os.umask(old)


def _dumps(directory):
    found = sorted(directory.glob("sis-crash-*.json"))
    assert found, f"no crash dump in {directory}"
    return found


def test_default_crash_directory_is_private(loose_umask):
    _, m, out = run_program(_panic)
    assert m.panic_count == 1
    crash = loose_umask / "sis-crash"
    assert _mode(crash) == 0o700
    (dump,) = _dumps(crash)
    assert _mode(dump) == 0o600
    assert f"Saved to {dump}" in out.text


def test_an_old_world_readable_crash_directory_is_made_private(loose_umask):
    crash = loose_umask / "sis-crash"
    crash.mkdir(mode=0o755)
    os.chmod(crash, 0o755)
    run_program(_panic)
    assert _mode(crash) == 0o700
    assert all(_mode(d) == 0o600 for d in _dumps(crash))


def test_dumps_are_private_in_sis_crash_dir_and_beside_the_disk_image(loose_umask, monkeypatch):
    chosen = loose_umask / "chosen"
    chosen.mkdir(mode=0o755)
    monkeypatch.setenv("SIS_CRASH_DIR", str(chosen))
    run_program(_panic)
    assert all(_mode(d) == 0o600 for d in _dumps(chosen))
    assert _mode(chosen) == 0o755  # the user's own directory is left as it is

    monkeypatch.delenv("SIS_CRASH_DIR")
    images = loose_umask / "images"
    images.mkdir()
    create_disk(images / "disk.img", 8 << 20)
    run_program(_panic, args=["-drive", f"file={images / 'disk.img'}"])
    assert all(_mode(d) == 0o600 for d in _dumps(images))


def test_panic_report_points_at_commands_that_exist(loose_umask):
    _, _, out = run_program(_panic)
    steps = out.text[out.text.index("DEBUGGING STEPS:") : out.text.index("COMMON CAUSES:")]
    assert "sis kernel symbols" in steps
    assert "sis crash" not in out.text

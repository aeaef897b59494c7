"""Disk images are locked while open, as QEMU locks its images: one writer, or any readers."""

import subprocess
import sys

import pytest

from sis.kernel.drivers.block import BLOCK_SIZE, FileBlockDevice, create_image
from sis.kernel.errno import Errno, KernelError


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "two.img"
    create_image(path, 16 * BLOCK_SIZE)
    return path


def _refused(path, read_only=False) -> str:
    with pytest.raises(KernelError) as e:
        FileBlockDevice(path, read_only=read_only)
    assert e.value.errno == Errno.EBUSY
    return e.value.detail


def test_a_writer_excludes_every_other_user(image):
    writer = FileBlockDevice(image)
    assert _refused(image) == 'Failed to get "write" lock: image is in use by another process'
    assert "shared" in _refused(image, read_only=True)
    writer.close()
    FileBlockDevice(image).close()  # released with the device


def test_readers_share_and_keep_writers_out(image):
    a = FileBlockDevice(image, read_only=True)
    b = FileBlockDevice(image, read_only=True)
    _refused(image)
    a.close()
    b.close()
    FileBlockDevice(image).close()


def test_another_process_is_refused_and_a_dead_holder_releases(image):
    holder = FileBlockDevice(image)
    probe = (
        "import sys\n"
        "from sis.kernel.drivers.block import FileBlockDevice\n"
        "from sis.kernel.errno import KernelError\n"
        "try:\n"
        "    FileBlockDevice(sys.argv[1])\n"
        "except KernelError as e:\n"
        "    sys.exit(e.detail)\n"
    )
    run = subprocess.run([sys.executable, "-c", probe, str(image)], capture_output=True, text=True)
    assert run.returncode == 1 and '"write" lock' in run.stderr
    holder.close()
    run = subprocess.run([sys.executable, "-c", probe, str(image)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_dropped_device_does_not_keep_the_lock(image):
    FileBlockDevice(image).write_block(0, bytes(BLOCK_SIZE))  # never closed explicitly
    FileBlockDevice(image).close()

"""The offline tools behind `sis disk`: create, fsck, ls and cat on image files."""

from __future__ import annotations

import os

import pytest

from sis.kernel.drivers.block import FileBlockDevice
from sis.kernel.errno import Errno, KernelError
from sis.kernel.fs import FileSystem, tools

ROOT = FileSystem.ROOT_INO


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "disk.img"
    tools.create_disk(path, 8 * 1024 * 1024)
    return path


def test_create_disk(image) -> None:
    assert os.path.getsize(image) == 8 * 1024 * 1024
    report = tools.fsck_image(image)
    assert report.clean and report.findings == []
    assert report.directories == 1 and report.files == 0
    assert "clean" in report.summary()
    assert tools.list_dir(image) == []


def test_create_disk_refuses_to_overwrite(image) -> None:
    with pytest.raises(KernelError) as e:
        tools.create_disk(image, 4 * 1024 * 1024)
    assert e.value.errno == Errno.EEXIST
    tools.create_disk(image, 4 * 1024 * 1024, overwrite=True)
    assert os.path.getsize(image) == 4 * 1024 * 1024


def test_create_disk_too_small(tmp_path) -> None:
    path = tmp_path / "tiny.img"
    with pytest.raises(KernelError) as e:
        tools.create_disk(path, 64 * 1024)
    assert e.value.errno == Errno.EINVAL and "too small" in str(e.value)
    assert not path.exists()


def test_ls_and_cat(image) -> None:
    tools.write_file(image, "/hello.txt", b"hello world\n")
    dev = FileBlockDevice(image)
    fs = FileSystem.mount(dev)
    d = fs.mkdir(ROOT, "docs", 0o755)
    fs.write(fs.create(d, "a", 0o600), 0, b"x" * 5000)
    fs.unmount()
    dev.close()

    entries = tools.list_dir(image)
    assert [(e.name, e.is_dir, e.size) for e in entries] == [
        ("docs", True, 4096),
        ("hello.txt", False, 12),
    ]
    assert [(e.name, e.size, e.mode & 0o777) for e in tools.list_dir(image, "/docs")] == [
        ("a", 5000, 0o600)
    ]
    assert [e.name for e in tools.list_dir(image, "/docs/a")] == ["a"]
    assert tools.read_file(image, "/hello.txt") == b"hello world\n"
    assert tools.read_file(image, "docs/a") == b"x" * 5000
    tools.write_file(image, "/hello.txt", b"bye")
    assert tools.read_file(image, "/hello.txt") == b"bye"


def test_tool_errors(image) -> None:
    with pytest.raises(KernelError) as e:
        tools.read_file(image, "/missing")
    assert e.value.errno == Errno.ENOENT
    with pytest.raises(KernelError) as e:
        tools.read_file(image, "/")
    assert e.value.errno == Errno.EISDIR
    with pytest.raises(KernelError) as e:
        tools.list_dir(image, "/missing/")
    assert e.value.errno == Errno.ENOENT


def test_not_a_sis_image(tmp_path) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\x7fELF" + bytes(8188))
    with pytest.raises(KernelError) as e:
        tools.list_dir(junk)
    assert e.value.errno == Errno.EINVAL
    assert e.value.detail == "not a SIS file system (no SISFS001 signature in block 0)"
    report = tools.fsck_image(junk)
    assert not report.clean and "not a SIS file system" in report.findings[0].message
    odd = tmp_path / "odd.img"
    odd.write_bytes(b"abc")
    with pytest.raises(KernelError) as e:
        tools.read_file(odd, "/x")
    assert e.value.errno == Errno.EINVAL and "not a whole number of 4 KiB blocks" in str(e.value)
    with pytest.raises(KernelError) as e:
        tools.fsck_image(tmp_path / "absent.img")
    assert e.value.errno == Errno.ENOENT


def test_inspection_never_writes_the_image(image) -> None:
    # Leave a committed but un-checkpointed transaction in the journal.
    dev = FileBlockDevice(image)
    fs = FileSystem.mount(dev)
    fs.write(fs.create(ROOT, "pending", 0o644), 0, b"in the journal only")
    fs.journal.checkpoint = lambda blocks: None  # type: ignore[method-assign]
    fs.sync()
    dev.close()
    before = image.read_bytes()
    assert [e.name for e in tools.list_dir(image)] == ["pending"]
    assert tools.read_file(image, "/pending") == b"in the journal only"
    report = tools.fsck_image(image)
    assert report.clean and report.findings[0].severity == "info"
    assert image.read_bytes() == before


def test_disk_inspect_answers_one_line_per_request(image, tmp_path) -> None:
    """`sis disk inspect`, the lab's checker of reference-kernel images: fsck and file digests
    for each request line; a bad line is an error line, and the next request is still served."""
    import json

    from typer.testing import CliRunner

    from sis.cli.disk import disk_app

    asks = [
        json.dumps({"image": str(image), "paths": ["/none"]}),
        "not json",
        json.dumps({"image": str(tmp_path / "missing.img"), "paths": []}),
    ]
    r = CliRunner().invoke(disk_app, ["inspect"], input="\n".join(asks) + "\n")
    assert r.exit_code == 0, r.output
    first, bad, missing = (json.loads(line) for line in r.output.splitlines())
    assert first == {"clean": True, "findings": [], "files": {"/none": None}}
    assert bad["error"].startswith("not a request")
    assert missing["clean"] is False and missing["findings"][0].startswith("cannot check")

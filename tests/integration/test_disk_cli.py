"""`sis disk`: offline tools on images the kernel wrote."""

from __future__ import annotations

import subprocess
import sys

SIS = [sys.executable, "-m", "sis.cli"]


def sis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SIS, *args], capture_output=True, text=True, timeout=60)


def test_create_write_from_the_kernel_then_inspect_offline(tmp_path):
    img = tmp_path / "d.img"
    assert sis("disk", "create", str(img), "--size", "16M").returncode == 0
    assert img.stat().st_size == 16 << 20
    script = "mkdir /etc\necho hello disk > /etc/motd\nsync\npoweroff\n"
    k = subprocess.run(
        [sys.executable, "-m", "sis.kernel", "-nic", "none", "-drive", f"file={img}"],
        input=script,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert k.returncode == 0, k.stderr
    ls = sis("disk", "ls", str(img), "/etc")
    assert ls.returncode == 0 and "motd" in ls.stdout
    cat = sis("disk", "cat", str(img), "/etc/motd")
    assert cat.stdout == "hello disk\n"
    fsck = sis("disk", "fsck", str(img))
    assert fsck.returncode == 0 and "clean" in fsck.stdout


def test_bad_images_get_one_line(tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\x07" * 65536)
    fsck = sis("disk", "fsck", str(junk))
    assert (
        fsck.returncode == 1
        and "NOT CLEAN" in fsck.stdout
        and "not a SIS file system" in fsck.stdout
    )
    for args in (
        ["ls", str(junk)],
        ["cat", str(tmp_path / "none.img"), "/x"],
        ["create", str(tmp_path / "x.img"), "--size", "lots"],
    ):
        r = sis("disk", *args)
        assert r.returncode != 0, args
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr

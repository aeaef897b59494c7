"""A QEMU target's files: the user's disk image is never shared between VMs."""

from __future__ import annotations

from pathlib import Path

from sis.harness.targets import make_target

PROFILE = """\
name: mine
kind: qemu
image:
  vmlinux: {vmlinux}
  disk: {disk}
qemu:
  binary: qemu-system-x86_64
  args: [-kernel, "{{vmlinux}}", -drive, "file={{disk}},format=raw"]
console:
  prompt_regex: '\\$ $'
"""


def test_each_vm_writes_its_own_copy_of_the_users_disk(tmp_path: Path):
    disk = tmp_path / "master.img"
    disk.write_bytes(b"master" * 100)
    profile = tmp_path / "mine.yaml"
    profile.write_text(PROFILE.format(vmlinux=tmp_path / "vmlinux", disk=disk))
    a = make_target(str(profile), workdir=tmp_path / "out", name="a").values()
    b = make_target(str(profile), workdir=tmp_path / "out", name="b").values()
    assert a["disk"] != b["disk"] and str(disk) not in (a["disk"], b["disk"])
    Path(a["disk"]).write_bytes(b"changed by VM a")
    assert disk.read_bytes() == b"master" * 100
    assert Path(b["disk"]).read_bytes() == b"master" * 100

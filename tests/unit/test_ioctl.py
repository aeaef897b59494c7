"""ioctl: every request of the contract's table is answered on the files it applies to, with
Linux's meaning, and refused with ENOTTY elsewhere."""

from __future__ import annotations

import struct

from kernelsim import run_program
from sis.contract import syscalls as sc
from sis.contract.syscall_args import DESCRIPTIONS, Choice
from sis.kernel.shell.libc import SysError
from sis.kernel.syscall.sysioctl import HANDLERS

ENOTTY = 25


def _run(body, args: list[str] | None = None) -> dict:
    """Run `body(libc, ioctl, out)` as a user program; `ioctl(fd, name, data)` returns
    (ret, the argument's bytes after the call)."""
    out: dict = {}

    async def prog(libc, argv):
        async def ioctl(fd: int, name: str, data: bytes = bytes(64)) -> tuple[int, bytes]:
            argp = await libc.put(data)
            ret = await libc.sys.ioctl(fd, sc.IOCTL_BY_NAME[name].nr, argp)
            return ret, libc.peek(argp, len(data))

        await body(libc, ioctl, out)
        return 0

    status, m, text = run_program(prog, args=args or ["-nic", "user"])
    assert status == 0 and m.panic_count == 0, text.text[-2000:]
    return out


def test_the_table_has_a_handler_for_every_request_and_the_descriptions_declare_them_all():
    assert len(sc.IOCTLS) >= 20
    assert {i.name for i in sc.IOCTLS} == set(HANDLERS)
    request = DESCRIPTIONS["ioctl"].args[1]
    assert isinstance(request, Choice)
    assert set(request.values) == {i.nr for i in sc.IOCTLS}


def test_termios_round_trips_and_echo_follows_it():
    async def body(libc, ioctl, out):
        _, termios = await ioctl(0, "TCGETS", bytes(36))
        iflag, oflag, cflag, lflag, line, cc = struct.unpack(sc.TERMIOS_FORMAT, termios)
        out["echo_before"] = bool(lflag & 0o10)
        out["canonical"] = bool(lflag & 0o2)
        out["vintr"] = cc[0]
        no_echo = struct.pack(sc.TERMIOS_FORMAT, iflag, oflag, cflag, lflag & ~0o10, line, cc)
        out["set"] = (await ioctl(0, "TCSETS", no_echo))[0]
        out["echo_after"] = bool(
            struct.unpack(sc.TERMIOS_FORMAT, (await ioctl(0, "TCGETS"))[1][:36])[3] & 0o10
        )
        raw = struct.pack(sc.TERMIOS_FORMAT, iflag, oflag, cflag, lflag & ~0o2, line, cc)
        out["raw"] = (await ioctl(0, "TCSETSF", raw))[0]

    out = _run(body)
    assert out["echo_before"] and out["canonical"] and out["vintr"] == 3  # ^C
    assert out["set"] == 0 and not out["echo_after"]
    assert out["raw"] == -22  # EINVAL: this discipline is canonical only


def test_window_size_process_group_and_line_discipline():
    async def body(libc, ioctl, out):
        await ioctl(0, "TIOCSWINSZ", struct.pack("<HHHH", 50, 132, 0, 0))
        out["winsz"] = struct.unpack("<HHHH", (await ioctl(0, "TIOCGWINSZ", bytes(8)))[1])
        await ioctl(0, "TIOCSPGRP", struct.pack("<i", 77))
        out["pgrp"] = struct.unpack("<i", (await ioctl(0, "TIOCGPGRP", bytes(4)))[1])[0]
        out["ldisc"] = struct.unpack("<i", (await ioctl(0, "TIOCGETD", b"\xff" * 4))[1])[0]
        out["setd_other"] = (await ioctl(0, "TIOCSETD", struct.pack("<i", 2)))[0]
        out["outq"] = (await ioctl(0, "TIOCOUTQ", b"\xff" * 4))[1]

    out = _run(body)
    assert out["winsz"] == (50, 132, 0, 0) and out["pgrp"] == 77 and out["ldisc"] == 0
    assert out["setd_other"] == -22 and out["outq"] == bytes(4)


def test_file_requests_fionread_fionbio_cloexec_and_block_size():
    async def body(libc, ioctl, out):
        fd = await libc.open("/f", sc.O_RDWR | sc.O_CREAT, 0o644)
        await libc.write(fd, b"x" * 1000)
        await libc.sys.lseek(fd, 100, 0)
        out["fionread"] = struct.unpack("<i", (await ioctl(fd, "FIONREAD", bytes(4)))[1])[0]
        out["figetbsz"] = struct.unpack("<i", (await ioctl(fd, "FIGETBSZ", bytes(4)))[1])[0]
        out["tty_on_file"] = (await ioctl(fd, "TCGETS", bytes(36)))[0]
        out["blk_on_file"] = (await ioctl(fd, "BLKGETSIZE64", bytes(8)))[0]
        await ioctl(fd, "FIOCLEX", b"")
        out["cloexec"] = fd in libc.task.files.cloexec
        out["inherited"] = libc.task.files.fork().is_open(fd)
        await ioctl(fd, "FIONCLEX", b"")
        out["inherited_again"] = libc.task.files.fork().is_open(fd)
        await ioctl(0, "FIONBIO", struct.pack("<i", 1))
        try:
            await libc.read(0, 10)
        except SysError as e:
            out["nonblocking_read"] = e.errno.name
        await ioctl(0, "FIONBIO", struct.pack("<i", 0))
        out["unknown"] = await libc.sys.ioctl(fd, 0x12345678, 0)
        out["upper_half_ignored"] = await libc.sys.ioctl(
            0, (1 << 32) | sc.TIOCGWINSZ, await libc.put(bytes(8))
        )

    out = _run(body)
    assert out["fionread"] == 900 and out["figetbsz"] == 4096
    assert out["tty_on_file"] == out["blk_on_file"] == out["unknown"] == -ENOTTY
    assert out["cloexec"] and not out["inherited"] and out["inherited_again"]
    assert out["nonblocking_read"] == "EAGAIN" and out["upper_half_ignored"] == 0


def test_the_root_disk_answers_block_requests(tmp_path):
    from sis.kernel.fs.tools import create_disk

    image = tmp_path / "disk.img"
    create_disk(image, 16 << 20)

    async def body(libc, ioctl, out):
        fd = await libc.open("/dev/vda", sc.O_RDONLY, 0)
        for name, fmt in (("BLKGETSIZE64", "<Q"), ("BLKGETSIZE", "<Q"), ("BLKSSZGET", "<i"),
                          ("BLKPBSZGET", "<I"), ("BLKBSZGET", "<i"), ("BLKROGET", "<i"),
                          ("BLKIOMIN", "<I"), ("BLKIOOPT", "<I")):  # fmt: skip
            ret, data = await ioctl(fd, name, b"\xff" * struct.calcsize(fmt))
            out[name] = (ret, struct.unpack(fmt, data)[0])
        out["BLKFLSBUF"] = (await ioctl(fd, "BLKFLSBUF", b""))[0]
        out["first_bytes"] = len(await libc.read(fd, 4096))
        try:
            await libc.open("/dev/vda", sc.O_RDWR, 0)
        except SysError as e:
            out["write_open"] = e.errno.name

    out = _run(body, ["-nic", "none", "-drive", f"file={image}"])
    assert out["BLKGETSIZE64"] == (0, 16 << 20)
    assert out["BLKGETSIZE"] == (0, (16 << 20) // 512)
    assert out["BLKSSZGET"] == (0, 512) and out["BLKPBSZGET"] == (0, 4096)
    assert out["BLKBSZGET"] == (0, 4096) and out["BLKROGET"] == (0, 0)
    assert out["BLKIOMIN"] == (0, 4096) and out["BLKIOOPT"] == (0, 0)
    assert out["BLKFLSBUF"] == 0 and out["first_bytes"] == 4096 and out["write_open"] == "EBUSY"


def _ifreq(name: str, tail: bytes = b"") -> bytes:
    return name.encode().ljust(16, b"\0") + tail.ljust(24, b"\0")


def test_sockets_describe_the_interfaces():
    async def body(libc, ioctl, out):
        s = await libc.sys.socket(sc.AF_INET, sc.SOCK_DGRAM, 0)
        ret, r = await ioctl(s, "SIOCGIFINDEX", _ifreq("eth0"))
        out["index"] = struct.unpack_from("<i", r, 16)[0]
        out["name"] = (await ioctl(s, "SIOCGIFNAME", _ifreq("", struct.pack("<i", out["index"]))))[
            1
        ][:16].rstrip(b"\0")
        out["flags"] = struct.unpack_from(
            "<H", (await ioctl(s, "SIOCGIFFLAGS", _ifreq("eth0")))[1], 16
        )[0]
        out["lo_flags"] = struct.unpack_from(
            "<H", (await ioctl(s, "SIOCGIFFLAGS", _ifreq("lo")))[1], 16
        )[0]
        out["addr"] = sc.unpack_sockaddr_in(
            (await ioctl(s, "SIOCGIFADDR", _ifreq("eth0")))[1][16:32]
        )
        out["mask"] = sc.unpack_sockaddr_in(
            (await ioctl(s, "SIOCGIFNETMASK", _ifreq("eth0")))[1][16:32]
        )
        out["brd"] = sc.unpack_sockaddr_in(
            (await ioctl(s, "SIOCGIFBRDADDR", _ifreq("eth0")))[1][16:32]
        )
        out["mtu"] = struct.unpack_from(
            "<i", (await ioctl(s, "SIOCGIFMTU", _ifreq("eth0")))[1], 16
        )[0]
        out["hw"] = (await ioctl(s, "SIOCGIFHWADDR", _ifreq("eth0")))[1][16:24]
        out["missing"] = (await ioctl(s, "SIOCGIFADDR", _ifreq("nope0")))[0]
        out["on_tty"] = (await ioctl(0, "SIOCGIFADDR", _ifreq("eth0")))[0]
        buf = await libc.put(bytes(400))
        ret, conf = await ioctl(s, "SIOCGIFCONF", struct.pack("<i4xQ", 400, buf))
        used = struct.unpack_from("<i", conf)[0]
        records = libc.peek(buf, used)
        out["conf"] = [records[i : i + 16].rstrip(b"\0") for i in range(0, used, 40)]
        out["fionread_empty"] = struct.unpack("<i", (await ioctl(s, "FIONREAD", b"\xff" * 4))[1])[0]

    out = _run(body)
    assert out["name"] == b"eth0" and out["index"] >= 1
    assert out["flags"] & 0x1 and out["flags"] & 0x2 and not out["flags"] & 0x8  # UP, BROADCAST
    assert out["lo_flags"] & 0x8  # LOOPBACK
    assert out["addr"] == (sc.AF_INET, 0x0A00020F, 0)  # 10.0.2.15, QEMU's user network
    assert out["mask"][1] == 0xFFFFFF00 and out["brd"][1] == 0x0A0002FF
    assert out["mtu"] == 1500 and struct.unpack_from("<H", out["hw"])[0] == 1
    assert out["missing"] == -19 and out["on_tty"] == -ENOTTY  # ENODEV, ENOTTY
    assert b"eth0" in out["conf"] and b"lo" in out["conf"]
    assert out["fionread_empty"] == 0

"""The syscall layer seen from a user program: numbers, validation rules, errnos."""

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernelsim import run_program
from sis.kernel.errno import Errno

E = Errno
AT_FDCWD = -100
MAP = (3, 0x22)  # PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS


def run(body, **kw):
    results = {}

    async def prog(libc, argv):
        await body(libc, results)
        return 0

    status, machine, out = run_program(prog, **kw)
    assert status == 0, out.text
    assert machine.panic_count == 0, out.text
    return results, machine


async def buf(libc, data=b"", size=4096):
    addr = await libc.syscall(222, 0, size, *MAP, -1, 0)
    assert addr > 0
    if data:
        libc.task.mm.store(addr, data)
    return addr


def test_unknown_and_out_of_range_numbers_are_enosys():
    async def body(libc, r):
        r["big"] = await libc.syscall(600)
        r["neg"] = await libc.syscall(-1)
        r["hole"] = await libc.syscall(450)
        r["getpid"] = await libc.syscall(172)

    r, m = run(body)
    assert r["big"] == r["neg"] == r["hole"] == -E.ENOSYS
    assert r["getpid"] > 1
    v = m.kernel.validator
    assert v.rejections["nr"] >= 2


def test_fd_rules():
    async def body(libc, r):
        b = await buf(libc)
        r["neg"] = await libc.syscall(63, -1, b, 10)
        r["big"] = await libc.syscall(63, 1024, b, 10)
        r["closed"] = await libc.syscall(63, 77, b, 10)
        r["close_twice"] = [await libc.syscall(57, 5), await libc.syscall(57, 5)]
        r["dirfd_bad"] = await libc.syscall(56, 99, await libc.cstr("x"), 0, 0)

    r, _ = run(body)
    assert r["neg"] == r["big"] == r["closed"] == -E.EBADF
    assert r["close_twice"] == [-E.EBADF, -E.EBADF]
    assert r["dirfd_bad"] == -E.EBADF


def test_pointer_rules():
    async def body(libc, r):
        r["null"] = await libc.syscall(64, 1, 0, 4)
        r["zero_page"] = await libc.syscall(64, 1, 0x800, 4)
        r["kernel"] = await libc.syscall(64, 1, 0xFFFF_0000_0000_1000, 4)
        r["wrap"] = await libc.syscall(64, 1, 0xFFFF_FFFF_FFFF_FFF0, 0x100)
        r["unmapped"] = await libc.syscall(64, 1, 0x1000_0000, 4)
        b = await buf(libc, size=4096)
        r["past_end"] = await libc.syscall(64, 1, b + 4090, 100)
        r["ok"] = await libc.syscall(64, 1, b, 0)
        ro = await libc.syscall(222, 0, 4096, 1, 0x22, -1, 0)
        r["read_into_readonly"] = await libc.syscall(63, 0, ro, 4)

    r, _ = run(body)
    for key in (
        "null",
        "zero_page",
        "kernel",
        "wrap",
        "unmapped",
        "past_end",
        "read_into_readonly",
    ):
        assert r[key] == -E.EFAULT, key
    assert r["ok"] == 0


def test_length_path_flag_mode_whence_signal_pid_rules():
    async def body(libc, r):
        b = await buf(libc, size=8192)
        r["len"] = await libc.syscall(64, 1, b, 0x7FFFF001)
        long = await buf(libc, b"a" * 5000, size=8192)
        r["path_long"] = await libc.syscall(56, AT_FDCWD, long, 0, 0)
        r["flags"] = await libc.syscall(56, AT_FDCWD, await libc.cstr("/x"), 0x4000_0000, 0)
        r["mode"] = await libc.syscall(56, AT_FDCWD, await libc.cstr("/x"), 0o100, 0o10000)
        fd = await libc.syscall(56, AT_FDCWD, await libc.cstr("/f"), 0o102, 0o644)
        r["whence"] = await libc.syscall(62, fd, 0, 5)
        r["sig"] = await libc.syscall(129, 1, 65)
        r["pid"] = await libc.syscall(129, -2, 0)
        r["kill_none"] = await libc.syscall(129, 9999, 0)

    r, m = run(body)
    assert r["len"] == -E.EINVAL
    assert r["path_long"] == -E.ENAMETOOLONG
    assert r["flags"] == r["mode"] == r["whence"] == r["sig"] == r["pid"] == -E.EINVAL
    assert r["kill_none"] == -E.ESRCH
    snap = m.kernel.validator.snapshot()
    for cls in ("length", "path", "flags", "mode", "whence", "signal", "pid"):
        assert snap[cls]["rejections"] >= 1, cls


def test_mmap_rules_and_munmap():
    async def body(libc, r):
        r["prot"] = await libc.syscall(222, 0, 4096, 8, 0x22, -1, 0)
        r["both"] = await libc.syscall(222, 0, 4096, 3, 0x23, -1, 0)
        r["neither"] = await libc.syscall(222, 0, 4096, 3, 0x20, -1, 0)
        r["unknown_flag"] = await libc.syscall(222, 0, 4096, 3, 0x22 | 0x1000000, -1, 0)
        r["unaligned"] = await libc.syscall(222, 0x1001, 4096, 3, 0x32, -1, 0)
        a = await libc.syscall(222, 0, 8192, 3, 0x22, -1, 0)
        r["write_ok"] = await libc.syscall(63, 0, a, 0)
        r["munmap"] = await libc.syscall(215, a, 8192)
        r["after_unmap"] = await libc.syscall(64, 1, a, 1)
        r["brk0"] = await libc.syscall(214, 0)
        r["brk_grow"] = await libc.syscall(214, r["brk0"] + 10000)

    r, _ = run(body)
    assert (
        r["prot"] == r["both"] == r["neither"] == r["unknown_flag"] == r["unaligned"] == -E.EINVAL
    )
    assert r["write_ok"] == 0 and r["munmap"] == 0
    assert r["after_unmap"] == -E.EFAULT
    assert r["brk_grow"] == r["brk0"] + 10000


def test_socket_argument_rules():
    async def body(libc, r):
        r["domain"] = await libc.syscall(198, 99, 2, 0)
        r["type"] = await libc.syscall(198, 2, 7, 0)
        r["proto"] = await libc.syscall(198, 2, 2, -1)

    r, _ = run(body)
    assert r["domain"] == -E.EAFNOSUPPORT
    assert r["type"] == -E.EINVAL
    assert r["proto"] == -E.EINVAL


def test_file_syscalls_roundtrip():
    async def body(libc, r):
        p = await libc.cstr("/dir")
        r["mkdir"] = await libc.syscall(34, AT_FDCWD, p, 0o755)
        r["mkdir_again"] = await libc.syscall(34, AT_FDCWD, p, 0o755)
        fd = await libc.syscall(56, AT_FDCWD, await libc.cstr("/dir/f.txt"), 0o102, 0o644)
        data = await buf(libc, b"hello world")
        r["write"] = await libc.syscall(64, fd, data, 11)
        r["lseek"] = await libc.syscall(62, fd, 6, 0)
        out = await buf(libc)
        r["read"] = await libc.syscall(63, fd, out, 100)
        r["data"] = libc.task.mm.load(out, 5)
        st = await buf(libc)
        r["fstat"] = await libc.syscall(80, fd, st)
        r["size"] = struct.unpack_from("<q", libc.task.mm.load(st, 128), 48)[0]
        r["fsync"] = await libc.syscall(82, fd)
        r["rename"] = await libc.syscall(
            276, AT_FDCWD, await libc.cstr("/dir/f.txt"), AT_FDCWD, await libc.cstr("/dir/g.txt"), 0
        )
        r["open_old"] = await libc.syscall(56, AT_FDCWD, await libc.cstr("/dir/f.txt"), 0, 0)
        r["rmdir_full"] = await libc.syscall(35, AT_FDCWD, p, 0x200)
        r["unlink"] = await libc.syscall(35, AT_FDCWD, await libc.cstr("/dir/g.txt"), 0)
        r["rmdir"] = await libc.syscall(35, AT_FDCWD, p, 0x200)
        r["chdir_missing"] = await libc.syscall(49, p)
        r["dup3"] = await libc.syscall(24, 1, 100, 0)
        r["dup3_same"] = await libc.syscall(24, 1, 1, 0)
        r["write_dir"] = await libc.syscall(56, AT_FDCWD, await libc.cstr("/"), 1, 0)

    r, m = run(body)
    assert r["mkdir"] == 0 and r["mkdir_again"] == -E.EEXIST
    assert r["write"] == 11 and r["lseek"] == 6 and r["read"] == 5 and r["data"] == b"world"
    assert r["fstat"] == 0 and r["size"] == 11 and r["fsync"] == 0
    assert r["rename"] == 0 and r["open_old"] == -E.ENOENT
    assert r["rmdir_full"] == -E.ENOTEMPTY and r["unlink"] == 0 and r["rmdir"] == 0
    assert r["chdir_missing"] == -E.ENOENT
    assert r["dup3"] == 100 and r["dup3_same"] == -E.EINVAL
    assert r["write_dir"] == -E.EISDIR
    assert m.kernel.vfs["opens"] >= 3


# Calls that end the machine or the program by design are left out of the random mix.
_SAFE_NUMBERS = st.integers(-5, 600).filter(lambda n: n not in (93, 94, 142, 501))
_ARG = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.integers(-200, 5000),
    st.sampled_from(
        [0, 1, 2, -100, 0x1000, 0x7FFFF000, 0xFFFF_0000_0000_0000, 2**64 - 1, "@buf", "@buf+4090"]
    ),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(_SAFE_NUMBERS, st.lists(_ARG, min_size=0, max_size=6)), min_size=1, max_size=25
    )
)
def test_random_syscalls_never_panic_the_kernel(calls):
    async def body(libc, r):
        b = await buf(libc, bytes(range(256)) * 16)
        rets = []
        for nr, args in calls:
            regs = [b if a == "@buf" else b + 4090 if a == "@buf+4090" else a for a in args]
            rets.append(await libc.syscall(nr, *regs))
        r["rets"] = rets

    r, m = run(body)
    assert m.panic_count == 0
    for ret in r["rets"]:
        assert isinstance(ret, int)
        if ret < 0:
            assert -ret in Errno._value2member_map_, ret


def test_mprotect_changes_what_the_kernel_may_touch():
    async def body(libc, r):
        a = await libc.syscall(222, 0, 3 * 4096, *MAP, -1, 0)
        r["protect"] = await libc.syscall(226, a + 4096, 4096, 1)  # middle page read-only
        r["read_into_ro"] = await libc.syscall(63, 0, a + 4096, 1)
        r["write_from_ro"] = await libc.syscall(64, 1, a + 4096, 0)
        r["read_into_rw"] = await libc.syscall(63, 0, a, 0)
        r["gap"] = await libc.syscall(226, 0x1000_0000, 4096, 1)

    r, _ = run(body)
    assert r["protect"] == 0 and r["read_into_ro"] == -E.EFAULT
    assert r["write_from_ro"] == 0 and r["read_into_rw"] == 0
    assert r["gap"] == -E.ENOMEM

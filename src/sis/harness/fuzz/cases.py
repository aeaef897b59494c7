"""The differential validation suite as data: syscalls with one bad argument each (NULL and
kernel pointers, buffers that cross into an unmapped page, pointer+length that overflows,
bad descriptors, unknown flags, over-long names, wrong file types, ...), and what Linux
answers to each. `sis fuzz validate` runs them on the reference kernel and on Linux (through
the guest executor) and puts the answers side by side.

A case is a short program: setup calls (which must succeed), then the checked call (the last
one). Its `linux` answer is an errno name, "ok" (any result >= 0) or an exact number. Where the
reference kernel answers otherwise on purpose, `sis` holds its answer and `why` the reason,
citing docs/contract.md; any other difference is a finding.

Notation: `path("~/x")` is a path argument (`~` is the case's own name, so cases sharing a
batch directory never meet); `ret(k)` is what call k returned; SCRATCH_END is 8 bytes before
the end of the executor's 64 KiB scratch buffer, after which comes a page no access may
touch, on both kernels; `oflags(...)` are open flags in the generic numbering SIS uses (the
guest channel translates them for x86_64, as it does for every fuzz program)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sis.contract import syscalls as sc
from sis.harness.fuzz.program import Call, Program

SCRATCH_SIZE = 64 << 10
SCRATCH = "@scratch"
SCRATCH_END = f"@scratch+{SCRATCH_SIZE - 8}"
KERNEL = 0xFFFF_8000_0000_0000  # kernel space on x86_64 and arm64 alike
NONCANONICAL = 0x0000_8000_0000_0000  # just past the top of user space
HIGH = 0xFFFF_FFFF_FFFF_F000  # with a length of two pages, pointer+length wraps around
FDCWD = sc.AT_FDCWD
MODE = 0o644
#: The difference the contract itself makes: every argument is checked before the handler
#: runs (section 10), where Linux checks a buffer only as far as it copies.
EAGER = (
    "docs/contract.md section 10: the reference kernel validates every buffer whole before "
    "the handler runs; Linux copies what it can and fails only at the first bad byte"
)
FLAGS_CHECKED = (
    "docs/contract.md section 10: flags are checked against the bits the call accepts; "
    "Linux's openat ignores unknown bits for compatibility"
)
LENGTH_CHECKED = (
    "docs/contract.md section 10: a length past MAX_RW_COUNT (0x7ffff000) is EINVAL; Linux "
    "clamps it and reads or writes what fits"
)


@dataclass(frozen=True)
class PathArg:
    text: str


@dataclass(frozen=True)
class OpenFlags:
    value: int


@dataclass(frozen=True)
class Raw:
    """Bytes the kernel reads (a struct timespec, a sockaddr)."""

    data: bytes


def path(text: str) -> PathArg:
    return PathArg(text)


def oflags(*bits: int) -> OpenFlags:
    v = 0
    for b in bits:
        v |= b
    return OpenFlags(v)


def ret(k: int) -> str:
    return f"@ret:{k}"


def c(name: str, *args: object) -> tuple[str, tuple[object, ...]]:
    return name, args


def open_file(p: str = "~", *bits: int) -> tuple[str, tuple[object, ...]]:
    """openat of a file the case owns (created read-write unless other flags are given)."""
    return c("openat", FDCWD, path(p), oflags(*(bits or (sc.O_RDWR, sc.O_CREAT))), MODE)


def file_with_data(p: str = "~") -> list[tuple[str, tuple[object, ...]]]:
    """Calls 0-1: a file holding 16 bytes (call 0 is its descriptor)."""
    return [open_file(p), c("write", ret(0), Raw(b"0123456789abcdef"), 16)]


def timespec(sec: int, nsec: int) -> Raw:
    return Raw(sec.to_bytes(8, "little", signed=True) + nsec.to_bytes(8, "little", signed=True))


SIN_LOCAL = Raw(sc.pack_sockaddr_in(0x7F000001, 9))


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    calls: tuple[tuple[str, tuple[object, ...]], ...]
    linux: str  # what Linux answers: an errno name, "ok", or an exact number
    sis: str | None = None  # the reference kernel's answer where it differs on purpose
    why: str = ""  # and the reason (docs/contract.md)
    arches: frozenset[str] = field(default_factory=frozenset)  # empty: every architecture

    def expected(self, family: str) -> str:
        return self.sis if family == "sis" and self.sis is not None else self.linux

    def program(self, arch: str) -> Program:
        """The case as a program for `arch` ("sis", "linux-x86_64", "linux-arm64")."""
        calls = []
        for name, args in self.calls:
            data = b""
            wire: list[int | str] = []
            for a in args:
                if isinstance(a, PathArg | Raw):
                    raw = (
                        a.data
                        if isinstance(a, Raw)
                        else a.text.replace("~", f"./{self.name}", 1).encode() + b"\0"
                    )
                    wire.append(f"@data+{len(data)}" if data else "@data")
                    data += raw
                elif isinstance(a, OpenFlags):
                    wire.append(a.value)
                else:
                    assert isinstance(a, int | str), a
                    wire.append(a)
            calls.append(Call(name, wire, data or None))
        return Program(calls)


def _case(name: str, what: str, calls: list, linux: str, **kw: Any) -> Case:
    return Case(name, what, tuple(calls), linux, **kw)


LONG_NAME = "~" + "n" * 256  # one component past NAME_MAX (255)
LONG_PATH = "/" + "d/" * 2100  # past PATH_MAX (4096)

CASES: tuple[Case, ...] = (
    # -- bad descriptors (EBADF) --
    _case("close_negative", "close(-1)", [c("close", -1)], "EBADF"),
    _case("close_unopened", "close of a descriptor never opened", [c("close", 1000)], "EBADF"),
    _case("read_bad_fd", "read from fd 1000", [c("read", 1000, SCRATCH, 16)], "EBADF"),
    _case("write_negative_fd", "write to fd -1", [c("write", -1, SCRATCH, 16)], "EBADF"),
    _case("fstat_huge_fd", "fstat of fd 100000", [c("fstat", 100000, SCRATCH)], "EBADF"),
    _case("dup_negative", "dup(-1)", [c("dup", -1)], "EBADF"),
    _case("dup3_bad_newfd", "dup3 onto -1", [open_file(), c("dup3", ret(0), -1, 0)], "EBADF"),
    _case("lseek_bad_fd", "lseek of fd -1", [c("lseek", -1, 0, 0)], "EBADF"),
    _case("fsync_bad_fd", "fsync of fd 999", [c("fsync", 999)], "EBADF"),
    _case(
        "read_write_only", "read from a descriptor opened O_WRONLY",
        [open_file("~", sc.O_WRONLY, sc.O_CREAT), c("read", ret(0), SCRATCH, 16)], "EBADF",
    ),
    _case(
        "write_read_only", "write to a descriptor opened O_RDONLY",
        [open_file(), c("close", ret(0)), open_file("~", sc.O_RDONLY),
         c("write", ret(2), SCRATCH, 16)], "EBADF",
    ),
    # -- bad pointers (EFAULT) --
    _case("openat_null_path", "openat with a NULL path", [c("openat", FDCWD, 0, 0, 0)], "EFAULT"),
    _case(
        "openat_kernel_path", "openat with a kernel-space path",
        [c("openat", FDCWD, KERNEL, 0, 0)], "EFAULT",
    ),
    _case("fstat_null", "fstat into NULL", [open_file(), c("fstat", ret(0), 0)], "EFAULT"),
    _case(
        "fstat_kernel", "fstat into a kernel address", [open_file(), c("fstat", ret(0), KERNEL)],
        "EFAULT",
    ),
    _case(
        "fstat_crosses_unmapped", "fstat into a buffer that runs into an unmapped page",
        [open_file(), c("fstat", ret(0), SCRATCH_END)], "EFAULT",
    ),
    _case("uname_null", "uname into NULL", [c("uname", 0)], "EFAULT"),
    _case(
        "uname_crosses_unmapped", "uname into a buffer that runs into an unmapped page",
        [c("uname", SCRATCH_END)], "EFAULT",
    ),
    _case(
        "newfstatat_null_path", "newfstatat with a NULL path",
        [c("newfstatat", FDCWD, 0, SCRATCH, 0)], "EFAULT",
    ),
    _case(
        "pread_null_buffer", "pread of a 16-byte file into NULL",
        [*file_with_data(), c("pread64", ret(0), 0, 16, 0)], "EFAULT",
    ),
    _case(
        "pread_kernel_buffer", "pread into a kernel address",
        [*file_with_data(), c("pread64", ret(0), KERNEL, 16, 0)], "EFAULT",
    ),
    _case(
        "write_null_buffer", "write 16 bytes from NULL",
        [open_file(), c("write", ret(0), 0, 16)], "EFAULT",
    ),
    _case(
        "write_kernel_buffer", "write 16 bytes from a kernel address",
        [open_file(), c("write", ret(0), KERNEL, 16)], "EFAULT",
    ),
    _case(
        "write_noncanonical", "write from just past the top of user space",
        [open_file(), c("write", ret(0), NONCANONICAL, 16)], "EFAULT",
    ),
    _case(
        "write_pointer_overflow", "write where pointer+length wraps past 2^64",
        [open_file(), c("write", ret(0), HIGH, 0x2000)], "EFAULT",
    ),
    _case(
        "pread_crosses_unmapped", "pread of 16 bytes into the last 8 of a mapping",
        [*file_with_data(), c("pread64", ret(0), SCRATCH_END, 16, 0)], "8",
        sis="EFAULT", why=EAGER,
    ),
    _case(
        "read_null_empty_file", "read of an empty file into NULL",
        [open_file(), c("read", ret(0), 0, 16)], "0", sis="EFAULT", why=EAGER,
    ),
    _case("getcwd_null", "getcwd into NULL", [c("getcwd", 0, 4096)], "EFAULT"),
    _case("nanosleep_null", "nanosleep(NULL)", [c("nanosleep", 0, 0)], "EFAULT"),
    _case("statfs_null_buf", "statfs into NULL", [c("statfs", path("/"), 0)], "EFAULT"),
    _case("chdir_null", "chdir(NULL)", [c("chdir", 0)], "EFAULT"),
    _case(
        "mkdirat_kernel_path", "mkdirat with a kernel-space path",
        [c("mkdirat", FDCWD, KERNEL, MODE)], "EFAULT",
    ),
    _case(
        "rt_sigaction_kernel_act", "rt_sigaction reading its action from a kernel address",
        [c("rt_sigaction", 10, KERNEL, 0, 8)], "EFAULT",
    ),
    _case("tcgets_null", "ioctl(TCGETS) on the tty into NULL", [c("ioctl", 0, sc.TCGETS, 0)],
          "EFAULT"),
    _case(
        "bind_null_addr", "bind of a UDP socket to a NULL address",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0), c("bind", ret(0), 0, 16)], "EFAULT",
    ),
    _case(
        "sendto_null_buffer", "sendto of 16 bytes from NULL",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0),
         c("sendto", ret(0), 0, 16, 0, SIN_LOCAL, 16)], "EFAULT",
    ),
    # -- names (ENAMETOOLONG) --
    _case(
        "openat_component_too_long", "openat of a 256-byte name",
        [c("openat", FDCWD, path(LONG_NAME), oflags(sc.O_RDWR, sc.O_CREAT), MODE)],
        "ENAMETOOLONG",
    ),
    _case(
        "openat_path_too_long", "openat of a path past PATH_MAX",
        [c("openat", FDCWD, path(LONG_PATH), 0, 0)], "ENAMETOOLONG",
    ),
    _case(
        "mkdirat_component_too_long", "mkdirat of a 256-byte name",
        [c("mkdirat", FDCWD, path(LONG_NAME), MODE)], "ENAMETOOLONG",
    ),
    _case("chdir_path_too_long", "chdir past PATH_MAX", [c("chdir", path(LONG_PATH))],
          "ENAMETOOLONG"),
    _case(
        "long_name_under_file", "openat of a 256-byte name under a regular file",
        [open_file(), c("openat", FDCWD, path("~/" + "n" * 256), 0, 0)], "ENOTDIR",
    ),
    _case(
        "long_name_under_missing_dir", "openat of a 256-byte name under a missing directory",
        [c("openat", FDCWD, path("~/" + "n" * 256), oflags(sc.O_RDWR, sc.O_CREAT), MODE)],
        "ENOENT",
    ),
    # -- names that do not resolve --
    _case("openat_empty_path", 'openat("")', [c("openat", FDCWD, path(""), 0, 0)], "ENOENT"),
    _case(
        "openat_missing_parent", "openat under a directory that does not exist",
        [c("openat", FDCWD, path("~/x"), 0, 0)], "ENOENT",
    ),
    _case(
        "openat_file_as_dir", "openat of file/ (a file used as a directory)",
        [open_file(), c("openat", FDCWD, path("~/"), 0, 0)], "ENOTDIR",
    ),
    _case(
        "openat_excl_exists", "openat O_CREAT|O_EXCL of an existing file",
        [open_file(), open_file("~", sc.O_RDWR, sc.O_CREAT, sc.O_EXCL)], "EEXIST",
    ),
    _case(
        "openat_directory_flag_on_file", "openat O_DIRECTORY of a regular file",
        [open_file(), open_file("~", sc.O_RDONLY, sc.O_DIRECTORY)], "ENOTDIR",
    ),
    _case(
        "openat_dir_for_writing", "openat of a directory O_WRONLY",
        [c("mkdirat", FDCWD, path("~"), MODE), open_file("~", sc.O_WRONLY)], "EISDIR",
    ),
    _case(
        "mkdirat_exists", "mkdirat of an existing name",
        [c("mkdirat", FDCWD, path("~"), MODE), c("mkdirat", FDCWD, path("~"), MODE)], "EEXIST",
    ),
    _case(
        "unlinkat_dir_without_flag", "unlinkat of a directory without AT_REMOVEDIR",
        [c("mkdirat", FDCWD, path("~"), MODE), c("unlinkat", FDCWD, path("~"), 0)], "EISDIR",
    ),
    _case(
        "unlinkat_file_as_dir", "unlinkat AT_REMOVEDIR of a regular file",
        [open_file(), c("unlinkat", FDCWD, path("~"), sc.AT_REMOVEDIR)], "ENOTDIR",
    ),
    _case(
        "rmdir_not_empty", "unlinkat AT_REMOVEDIR of a directory with a file in it",
        [c("mkdirat", FDCWD, path("~"), MODE), open_file("~/f"),
         c("unlinkat", FDCWD, path("~"), sc.AT_REMOVEDIR)], "ENOTEMPTY",
    ),
    _case(
        "rename_noreplace_exists", "renameat2 RENAME_NOREPLACE onto an existing file",
        [open_file("~a"), open_file("~b"),
         c("renameat2", FDCWD, path("~a"), FDCWD, path("~b"), sc.RENAME_NOREPLACE)], "EEXIST",
    ),
    _case("chdir_to_file", "chdir to a regular file", [open_file(), c("chdir", path("~"))],
          "ENOTDIR"),
    _case(
        "read_directory", "read from a directory descriptor",
        [c("mkdirat", FDCWD, path("~"), MODE), open_file("~", sc.O_RDONLY, sc.O_DIRECTORY),
         c("read", ret(1), SCRATCH, 16)], "EISDIR",
    ),
    _case(
        "getdents_on_file", "getdents64 of a regular file",
        [open_file(), c("getdents64", ret(0), SCRATCH, 4096)], "ENOTDIR",
    ),
    # -- bad values (EINVAL and friends) --
    _case("lseek_bad_whence", "lseek with whence 5", [open_file(), c("lseek", ret(0), 0, 5)],
          "EINVAL"),
    _case(
        "lseek_negative", "lseek to offset -1", [open_file(), c("lseek", ret(0), -1, 0)], "EINVAL",
    ),
    _case(
        "unlinkat_bad_flags", "unlinkat with an unknown flag",
        [open_file(), c("unlinkat", FDCWD, path("~"), 0x1)], "EINVAL",
    ),
    _case(
        "renameat2_bad_flags", "renameat2 with an unknown flag",
        [open_file("~a"), c("renameat2", FDCWD, path("~a"), FDCWD, path("~b"), 0x80)], "EINVAL",
    ),
    _case("dup3_same_fd", "dup3 of a descriptor onto itself",
          [open_file(), c("dup3", ret(0), ret(0), 0)], "EINVAL"),
    _case("dup3_bad_flags", "dup3 with a flag other than O_CLOEXEC",
          [open_file(), c("dup3", ret(0), 100, 0x1)], "EINVAL"),
    _case(
        "newfstatat_bad_flags", "newfstatat with an unknown flag",
        [open_file(), c("newfstatat", FDCWD, path("~"), SCRATCH, 0x1)], "EINVAL",
    ),
    _case(
        "openat_unknown_flag", "openat with an unknown flag bit (bit 30)",
        [open_file(), c("openat", FDCWD, path("~"), 1 << 30, 0)], "ok",
        sis="EINVAL", why=FLAGS_CHECKED,
    ),
    _case(
        "ftruncate_negative", "ftruncate to -1", [open_file(), c("ftruncate", ret(0), -1)],
        "EINVAL",
    ),
    _case(
        "ftruncate_directory", "ftruncate of a directory descriptor",
        [c("mkdirat", FDCWD, path("~"), MODE), open_file("~", sc.O_RDONLY, sc.O_DIRECTORY),
         c("ftruncate", ret(1), 0)], "EINVAL",
    ),
    _case(
        "pwrite_negative_offset", "pwrite64 at offset -1",
        [open_file(), c("pwrite64", ret(0), SCRATCH, 16, -1)], "EINVAL",
    ),
    _case(
        "pwrite_offset_overflow", "pwrite64 where offset+count passes 2^63",
        [open_file(), c("pwrite64", ret(0), SCRATCH, 16, (1 << 63) - 1)], "EINVAL",
        sis="EFBIG",
        why="docs/contract.md section 4: an end past the largest file size is EFBIG; Linux's "
        "rw_verify_area says EINVAL",
    ),
    _case(
        "read_length_past_max", "read of 0x7ffff001 bytes into a valid buffer",
        [*file_with_data(), c("pread64", ret(0), SCRATCH, 0x7FFFF001, 0)], "16",
        sis="EINVAL", why=LENGTH_CHECKED,
        # On arm64 the executor's scratch lies within 2 GiB of the top of user space, so
        # Linux's range check answers EFAULT there for where the buffer is, not for its length.
        arches=frozenset({"sis", "linux-x86_64"}),
    ),
    _case("mmap_zero_length", "mmap of 0 bytes",
          [c("mmap", 0, 0, 3, sc.MAP_PRIVATE | sc.MAP_ANONYMOUS, -1, 0)], "EINVAL"),
    _case("mmap_no_sharing_type", "mmap neither private nor shared",
          [c("mmap", 0, 4096, 3, sc.MAP_ANONYMOUS, -1, 0)], "EINVAL"),
    _case("mprotect_unknown_prot", "mprotect with an unknown protection bit",
          [c("mprotect", SCRATCH, 4096, 0x10)], "EINVAL"),
    _case("munmap_unaligned", "munmap of an address not page-aligned",
          [c("munmap", "@scratch+1", 4096)], "EINVAL"),
    _case("munmap_zero_length", "munmap of 0 bytes", [c("munmap", SCRATCH, 0)], "EINVAL"),
    _case("kill_bad_signal", "kill with signal 65", [c("getpid"), c("kill", ret(0), 65)],
          "EINVAL"),
    _case("kill_self_probe", "kill(getpid(), 0)", [c("getpid"), c("kill", ret(0), 0)], "ok"),
    _case("kill_no_such_pid", "kill of a pid that does not exist", [c("kill", 99999, 0)],
          "ESRCH"),
    _case("sigaction_sigkill", "rt_sigaction on SIGKILL",
          [c("rt_sigaction", 9, Raw(bytes(32)), 0, 8)], "EINVAL"),
    _case("sigaction_bad_size", "rt_sigaction with a sigset size of 7",
          [c("rt_sigaction", 10, 0, 0, 7)], "EINVAL"),
    _case("nanosleep_bad_nsec", "nanosleep of 1e9 ns in tv_nsec",
          [c("nanosleep", timespec(0, 1_000_000_000), 0)], "EINVAL"),
    _case("nanosleep_negative", "nanosleep of -1 s", [c("nanosleep", timespec(-1, 0), 0)],
          "EINVAL"),
    _case("getcwd_too_small", "getcwd into 1 byte", [c("getcwd", SCRATCH, 1)], "ERANGE"),
    _case("getpgid_no_such_pid", "getpgid of a pid that does not exist",
          [c("getpgid", 99999)], "ESRCH"),
    _case("wait4_no_children", "wait4 with no children", [c("wait4", -1, 0, sc.WNOHANG, 0)],
          "ECHILD"),
    # -- sockets --
    _case("socket_bad_domain", "socket of address family 4096",
          [c("socket", 4096, sc.SOCK_DGRAM, 0)], "EAFNOSUPPORT"),
    _case("socket_bad_type_flags", "socket with an unknown type flag",
          [c("socket", sc.AF_INET, sc.SOCK_DGRAM | 0x10, 0)], "EINVAL"),
    _case(
        "bind_short_addr", "bind with an 8-byte sockaddr_in",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0), c("bind", ret(0), SIN_LOCAL, 8)], "EINVAL",
    ),
    _case(
        "setsockopt_short", "setsockopt SO_REUSEADDR with optlen 0",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0),
         c("setsockopt", ret(0), sc.SOL_SOCKET, sc.SO_REUSEADDR, Raw(bytes(4)), 0)], "EINVAL",
    ),
    _case("getsockopt_not_socket", "getsockopt on the tty",
          [c("getsockopt", 0, sc.SOL_SOCKET, sc.SO_TYPE, SCRATCH, Raw((4).to_bytes(4, "little")))],
          "ENOTSOCK"),
    _case("connect_file", "connect on a regular file",
          [open_file(), c("connect", ret(0), SIN_LOCAL, 16)], "ENOTSOCK"),
    _case(
        "shutdown_bad_how", "shutdown with how 3",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0), c("shutdown", ret(0), 3)], "EINVAL",
    ),
    _case(
        "shutdown_unconnected", "shutdown of an unconnected UDP socket",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0), c("shutdown", ret(0), 0)], "ENOTCONN",
    ),
    _case(
        "recv_nothing_nonblocking", "recvfrom MSG_DONTWAIT on an idle bound socket",
        [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0),
         c("bind", ret(0), Raw(sc.pack_sockaddr_in(0x7F000001, 0)), 16),
         c("recvfrom", ret(0), SCRATCH, 64, sc.MSG_DONTWAIT, 0, 0)], "EAGAIN",
    ),
    _case("lseek_socket", "lseek on a socket",
          [c("socket", sc.AF_INET, sc.SOCK_DGRAM, 0), c("lseek", ret(0), 0, 0)], "ESPIPE"),
    _case("ioctl_file_tcgets", "ioctl(TCGETS) on a regular file",
          [open_file(), c("ioctl", ret(0), sc.TCGETS, SCRATCH)], "ENOTTY"),
)  # fmt: skip

BY_NAME: dict[str, Case] = {case.name: case for case in CASES}
assert len(BY_NAME) == len(CASES), "case names must be unique"

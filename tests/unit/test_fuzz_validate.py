"""The differential validation suite: its cases (as data), how answers are judged and tabled,
a crash in the middle of the suite, the reference kernel answering every case as Linux does
(or as the case explains), and the guest executor's wire protocol against a stand-in
executor on a unix socket."""

from __future__ import annotations

import errno
import socket
import struct
import threading
from collections import Counter
from pathlib import Path

import pytest

from kernelsim import run_program
from sis.contract.syscall_args import DESCRIPTIONS
from sis.contract.syscalls import O_CREAT, O_DIRECTORY, O_RDONLY
from sis.harness.fuzz import guest_channel as gc
from sis.harness.fuzz.cases import CASES, SCRATCH_SIZE, Case, c, open_file, path, ret
from sis.harness.fuzz.channel import BatchResult
from sis.harness.fuzz.crash import CrashInfo
from sis.harness.fuzz.program import Call, Program
from sis.harness.fuzz.validate import (
    DIFFERS,
    ERROR,
    EXPLAINED,
    MATCH,
    TargetRun,
    judge,
    run_cases,
    table,
    unexplained,
    write,
)
from sis.harness.session import State
from sis.kernel.errno import errno_name


# -- the cases as data ---------------------------------------------------------------------------
def test_the_suite_has_forty_cases_across_the_classes_the_issue_names():
    assert len(CASES) >= 40
    answers = Counter(c.linux for c in CASES)
    for errno_ in ("EFAULT", "EBADF", "EINVAL", "ENAMETOOLONG", "ENOENT", "ENOTDIR"):
        assert answers[errno_] >= 1, errno_
    names = {c.name for c in CASES}
    assert {"fstat_crosses_unmapped", "write_pointer_overflow", "openat_kernel_path"} <= names
    # Every deliberate difference says why, citing the contract.
    for case in CASES:
        if case.sis is not None:
            assert "docs/contract.md section" in case.why, case.name


def test_a_case_becomes_a_program_with_its_own_paths():
    case = Case("demo", "", (open_file("~", O_RDONLY, O_DIRECTORY),), "ENOTDIR")
    call = case.program("sis").calls[0]
    assert call.data == b"./demo\0" and call.args[1] == "@data"
    assert call.args[2] == O_DIRECTORY  # the generic (SIS, arm64) number
    two = Case("mv", "", (c("renameat2", -100, path("~a"), -100, path("~b"), 0),), "ok")
    call = two.program("sis").calls[0]
    assert call.args[1] == "@data" and call.args[3] == f"@data+{len(b'./mva') + 1}"
    assert call.data == b"./mva\0./mvb\0"


# -- judging and the table -------------------------------------------------------------------------
EXPLAINED_CASE = Case(
    "x", "", (open_file(), c("read", ret(0), 0, 16)), "0", sis="EFAULT", why="contract"
)


def test_answers_are_judged_against_linux_and_the_recorded_reasons():
    ok = [{"ret": 3}, {"ret": 0}]
    fault = [{"ret": 3}, {"ret": -14, "errno": "EFAULT"}]
    assert judge(EXPLAINED_CASE, "linux-x86_64", ok).verdict == MATCH
    assert judge(EXPLAINED_CASE, "sis", fault).verdict == EXPLAINED
    # A reason recorded for the reference kernel does not excuse Linux.
    linux = judge(EXPLAINED_CASE, "linux-x86_64", fault)
    assert linux.verdict == DIFFERS and linux.answer == "EFAULT"
    setup = judge(EXPLAINED_CASE, "sis", [{"ret": -2, "errno": "ENOENT"}])
    assert setup.verdict == ERROR and "openat" in setup.answer
    assert judge(EXPLAINED_CASE, "sis", [{"ret": 3}]).verdict == ERROR


class FakeChannel:
    """Answers every call with ENOENT, except that it 'crashes' at program `crash_at` once."""

    arch = "sis"

    def __init__(self, crash_at: int | None) -> None:
        self.crash_at = crash_at
        self.restarts = 0
        self.batches: list[int] = []

    def run(self, programs: list[Program]) -> BatchResult:
        self.batches.append(len(programs))
        enoent = {"ret": -2, "errno": "ENOENT"}
        if self.crash_at is not None and self.crash_at < len(programs):
            at, self.crash_at = self.crash_at, None
            res = BatchResult([[enoent] * len(p) for p in programs[:at]])
            res.crash = CrashInfo("panic", "KERNEL PANIC: boom")
            res.crash_at = (at, 0)
            return res
        return BatchResult([[enoent] * len(p) for p in programs])

    def restart(self) -> None:
        self.restarts += 1


def test_a_case_that_kills_the_kernel_is_answered_with_the_crash_and_the_rest_still_run():
    # In the suite's order: close_negative, lseek_bad_fd, openat_empty_path, ...
    names = ["close_negative", "openat_empty_path", "openat_missing_parent", "lseek_bad_fd"]
    channel = FakeChannel(crash_at=2)
    run = run_cases(channel, "sis", names)  # type: ignore[arg-type]
    assert channel.restarts == 1
    assert set(run.answers) == set(names)
    crashed = run.answers["openat_empty_path"]
    assert crashed.verdict == ERROR and crashed.answer == "crash: KERNEL PANIC: boom"
    assert run.answers["openat_missing_parent"].verdict == MATCH  # ran after the restart
    assert run.answers["close_negative"].verdict == DIFFERS  # ENOENT where Linux says EBADF


def test_the_table_puts_targets_side_by_side_and_is_written_with_its_data(tmp_path: Path):
    sis = run_cases(FakeChannel(None), "sis", ["openat_empty_path", "close_negative"])  # type: ignore[arg-type]
    linux = TargetRun("linux-busybox", "linux-x86_64")
    linux.answers["close_negative"] = judge(
        next(c for c in CASES if c.name == "close_negative"), "linux-x86_64",
        [{"ret": -9, "errno": "EBADF"}],
    )  # fmt: skip
    text = table([sis, linux])
    header, _, *rows = text.splitlines()
    assert header.split() == ["case", "linux", "(expected)", "sis", "linux-busybox"]
    row = next(r for r in rows if r.startswith("close_negative"))
    assert row.split()[:4] == ["close_negative", "EBADF", "ENOENT", "<-"] and "DIFFERS" in row
    assert row.rstrip().endswith("EBADF")
    assert [(t, a.case) for t, a in unexplained([sis, linux])] == [("sis", "close_negative")]
    write(tmp_path, [sis, linux])
    assert (tmp_path / "validation.txt").read_text() == text
    assert '"unexplained"' in (tmp_path / "validation.json").read_text()


# -- the reference kernel answers every case (in process) ------------------------------------------
def _run_on_reference_kernel(programs: list[Program]) -> list[list[dict]]:
    """The x-sis-syscall executor's argument rules, applied in a user program."""
    out: list[list[dict]] = []

    async def prog(libc, argv):
        nr = {n: d.numbers["sis"] for n, d in DESCRIPTIONS.items()}
        scratch = await libc.syscall(nr["mmap"], 0, SCRATCH_SIZE, 3, 0x22, -1, 0)
        await libc.syscall(nr["munmap"], scratch + SCRATCH_SIZE, 4096)  # nothing after it
        await libc.syscall(nr["mkdirat"], -100, await libc.cstr("/v"), 0o755)
        await libc.syscall(nr["chdir"], await libc.cstr("/v"))
        for p in programs:
            results: list[dict] = []
            for call in p.calls:
                data = 0
                if call.data:
                    data = await libc.syscall(nr["mmap"], 0, len(call.data), 3, 0x22, -1, 0)
                    libc.task.mm.store(data, call.data)
                regs = [_resolve(a, data, scratch, results) for a in call.args]
                value = await libc.syscall(nr[call.name], *regs)
                results.append(
                    {"ret": value, **({"errno": errno_name(value)} if value < 0 else {})}
                )
            out.append(results)
        return 0

    status, machine, text = run_program(prog, args=["-nic", "user"])
    assert status == 0 and machine.panic_count == 0, text.text
    return out


def _resolve(a: int | str, data: int, scratch: int, results: list[dict]) -> int:
    if isinstance(a, int):
        return a
    if a.startswith("@ret:"):
        return results[int(a[5:])]["ret"]
    base, _, off = a.partition("+")
    return {"@data": data, "@scratch": scratch}[base] + int(off or 0)


def test_the_reference_kernel_answers_every_case_as_linux_or_as_the_case_explains():
    results = _run_on_reference_kernel([case.program("sis") for case in CASES])
    verdicts = {case.name: judge(case, "sis", r) for case, r in zip(CASES, results, strict=True)}
    wrong = {n: f"{a.answer} ({a.detail})" for n, a in verdicts.items() if a.verdict not in
             (MATCH, EXPLAINED)}  # fmt: skip
    assert wrong == {}
    # Two answers the suite corrected in the kernel: Linux's order and sigset size check.
    assert verdicts["long_name_under_missing_dir"].answer == "ENOENT"
    assert verdicts["sigaction_bad_size"].answer == "EINVAL"


# -- the guest executor's wire protocol ------------------------------------------------------------
class _Profile:
    arch = "x86_64"
    name = "fake"


class _Session:
    name = "fake-guest"
    profile = _Profile()
    qmp = None
    state = State.SHELL

    def ensure_shell(self) -> None:
        pass


def _stand_in_executor(server: socket.socket) -> None:
    """Speaks sis_executor.c's protocol: hello, then each call answers its own number."""
    conn, _ = server.accept()
    buf = b""

    def take(n: int) -> bytes:
        nonlocal buf
        while len(buf) < n:
            chunk = conn.recv(65536)
            if not chunk:
                raise EOFError
            buf += chunk
        out, buf = buf[:n], buf[n:]
        return out

    try:
        while True:
            magic, seq, n, *_ = struct.unpack("<6I", take(24))
            assert magic == gc.MAGIC_Q
            if n == 0:
                conn.sendall(struct.pack("<6I", gc.MAGIC_A, seq, 0, 0, gc.VERSION, 0))
                conn.sendall(b"x86_64".ljust(64, b"\0"))
                continue
            replies = []
            for _ in range(n):
                nr, nargs, data_len, out_len = struct.unpack("<4I", take(16))
                args = [struct.unpack("<IIq", take(16)) for _ in range(6)]
                take(data_len)
                value = -errno.EBADF if nr == 3 and args[0][2] < 0 else nr  # close(-1)
                replies.append(struct.pack("<qII", value, 0, 0))
            conn.sendall(struct.pack("<6I", gc.MAGIC_A, seq, n, 0, 0, 0) + b"".join(replies))
    except (EOFError, OSError):
        conn.close()


@pytest.fixture
def executor(tmp_path: Path):
    path = str(tmp_path / "fuzz.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    t = threading.Thread(target=_stand_in_executor, args=(server,), daemon=True)
    t.start()
    yield path
    server.close()


def test_the_guest_channel_sends_x86_64_numbers_and_splits_results_per_program(executor):
    channel = gc.GuestChannel(_Session(), executor)  # type: ignore[arg-type]
    channel.start()
    assert channel.machine == "x86_64" and channel.arch == "linux-x86_64"
    progs = [
        Program([Call("getpid"), Call("close", [-1])]),
        Program([Call("openat", [-100, "@data", O_CREAT, 0o644], b"./a\0")]),
    ]
    res = channel.run(progs)
    assert res.crash is None
    assert res.results == [
        [{"ret": 39}, {"ret": -errno.EBADF, "errno": "EBADF"}],
        [{"ret": 257}],
    ]
    # Open flags are translated to x86_64's numbers; registers are 64-bit whatever the int.
    assert gc.arch_open_flags(O_DIRECTORY | O_CREAT, "linux-x86_64") == 0o200000 | O_CREAT
    assert gc.arch_open_flags(O_DIRECTORY, "linux-arm64") == O_DIRECTORY
    assert gc._arg((1 << 64) + 5, 0) == gc._arg(5, 0) and gc._arg(-1, 0) == gc._arg(
        (1 << 64) - 1, 0
    )
    with pytest.raises(ValueError, match="sis_kinfo does not exist on linux-x86_64"):
        channel.run([Program([Call("sis_kinfo", ["@data", "@scratch", 16], b"x\0")])])


def test_a_guest_that_dies_mid_batch_is_a_crash_not_an_answer(tmp_path: Path, monkeypatch):
    path = str(tmp_path / "fuzz.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def hello_then_die() -> None:
        conn, _ = server.accept()
        _, seq, *_ = struct.unpack("<6I", conn.recv(24))
        conn.sendall(struct.pack("<6I", gc.MAGIC_A, seq, 0, 0, gc.VERSION, 0) + bytes(64))
        conn.recv(4096)
        session.state = State.CRASHED  # what the console's panic pattern does
        conn.close()

    session = _Session()
    threading.Thread(target=hello_then_die, daemon=True).start()
    channel = gc.GuestChannel(session, path)  # type: ignore[arg-type]
    channel.start()
    seen: list[str] = []

    def identify(s, kind: str, detail: str) -> CrashInfo:
        seen.append(kind)
        return CrashInfo(kind, f"{kind}: {detail}")

    monkeypatch.setattr(gc, "identify", identify)
    monkeypatch.setattr(gc.time, "sleep", lambda s: None)  # no report to wait for
    res = channel.run([Program([Call("getpid"), Call("getpid")])])
    assert res.crash is not None and seen == ["panic"]
    assert res.crash_at is None and res.results == [[]]
    server.close()


# -- the command ------------------------------------------------------------------------------------
def test_sis_fuzz_validate_prints_the_table_and_exits_1_on_an_unexplained_difference(
    tmp_path: Path, monkeypatch
):
    from typer.testing import CliRunner

    from sis.cli.fuzz import fuzz_app
    from sis.harness import plan as door
    from sis.harness.fuzz import fuzzer
    from sis.harness.phases import phase

    class Booted:  # what the phase needs of a session: the channel is faked below
        def __init__(self, name: str) -> None:
            self.name = name

    def channel(session, cover):  # noqa: ANN001, ANN202
        fake = FakeChannel(None)
        fake.arch = "sis" if session.name == "sis" else "linux-x86_64"
        fake.start = fake.stop = lambda: None  # type: ignore[method-assign]
        return fake

    class NoBootExecutor:  # runs the phase itself, with no kernel behind the channel
        def run(self, jobs, report, status=None, stop=None):  # noqa: ANN001, ANN202
            for job in jobs:
                for r in phase("fuzz_validate").run(
                    Booted(job.name), job, job.phase_options("fuzz_validate")
                ):
                    report(r)

    monkeypatch.setattr(fuzzer, "make_channel", channel)
    monkeypatch.setattr(door, "make_executor", lambda name, n: NoBootExecutor())
    runner = CliRunner()
    args = ["validate", "--out", str(tmp_path), "--case", "openat_empty_path"]
    agree = runner.invoke(fuzz_app, [*args, "-t", "sis", "-t", "linux-busybox"])
    assert agree.exit_code == 0, agree.output
    assert "openat_empty_path" in agree.output and "linux-busybox" in agree.output
    differ = runner.invoke(fuzz_app, [*args, "--case", "close_negative"])
    assert differ.exit_code == 1
    assert "DIFFERS sis close_negative: ENOENT" in differ.output
    summary = (tmp_path / "validation.txt").read_text()
    assert summary.startswith("case") and "close_negative" in summary
    bad = runner.invoke(fuzz_app, [*args, "--case", "no_such_case"])
    assert bad.exit_code == 2 and "no validation case 'no_such_case'" in bad.output

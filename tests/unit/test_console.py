"""The console engine against fake shells on a socketpair: the SIS shell (echoes input, CRLF,
`sis> `) and a busybox-like shell with `stty -echo` (no echo, LF, `/ # `)."""

from __future__ import annotations

import itertools
import json
import random
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sis.harness import console as console_mod
from sis.harness.console import (
    SIS_LOG_LINE,
    Console,
    ConsoleClosed,
    ConsoleError,
    ConsoleTimeout,
    DeathString,
    _TextDecoder,
    connect_tcp,
    connect_unix,
    normalize_newlines,
    strip_ansi,
)

LOG_LINE = b"[    1.234567] [INFO] net: link up"

Chunker = Callable[[bytes], Iterable[bytes]]


def whole(data: bytes) -> Iterable[bytes]:
    yield data


def byte_by_byte(data: bytes) -> Iterable[bytes]:
    for i in range(len(data)):
        yield data[i : i + 1]


def random_chunks(seed: int, largest: int = 12) -> Chunker:
    rng = random.Random(seed)

    def chunks(data: bytes) -> Iterable[bytes]:
        i = 0
        while i < len(data):
            n = rng.randint(1, largest)
            yield data[i : i + n]
            i += n

    return chunks


class FakeShell(threading.Thread):
    """A shell at the far end of the socket, line by line like a serial console.

    Commands: `echo ARGS` (quotes dropped, `$?` expanded), `true`, `false`, `show KEY` (writes
    `outputs[KEY]` verbatim), `sleep S` (Ctrl-C interrupts it, status 130), `fakeprompt S`
    (a prompt-looking line, a pause, then `done`), `panic [DELAY]` (panic banner, then the
    shell is dead), `exit` (closes the stream). Unknown: `Unknown command: NAME`, status 127.
    `A; B` runs both. Typeahead is echoed when read, as the SIS shell does, or at once
    (`echo_on_receipt`), as a tty line discipline does.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        prompt: bytes,
        echo: bool,
        eol: bytes,
        banner: bytes = b"",
        chunker: Chunker = whole,
        chunk_delay: float = 0.0,
        log_after_prompt: bytes | None = None,
        echo_on_receipt: bool = False,
    ) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.prompt = prompt
        self.echo = echo
        self.eol = eol
        self.banner = banner
        self.chunker = chunker
        self.chunk_delay = chunk_delay
        self.log_after_prompt = log_after_prompt
        self.echo_on_receipt = echo_on_receipt
        self.outputs: dict[str, bytes] = {}
        self.sent = bytearray()
        self.received = bytearray()
        self.interrupts = 0
        self.status = 0
        self._pending = bytearray()
        self._dead = False
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            for piece in self.chunker(data):
                self.sent += piece
                self.sock.sendall(piece)
                if self.chunk_delay:
                    time.sleep(self.chunk_delay)

    def _take(self, data: bytes) -> None:
        self.received += data
        self._pending += data
        if self.echo_on_receipt:  # a tty echoes typeahead at once, even mid-command
            self.write(data.replace(b"\x03", b"").replace(b"\n", self.eol))

    def _read(self) -> int | None:
        if not self._pending:
            try:
                data = self.sock.recv(4096)
            except OSError:
                return None
            if not data:
                return None
            self._take(data)
        b = self._pending[0]
        del self._pending[0]
        return b

    def _write_prompt(self) -> None:
        self.write(self.prompt)
        if self.log_after_prompt is not None:
            self.write(self.log_after_prompt + self.eol)

    def run(self) -> None:
        try:
            self._loop()
        except OSError:
            pass  # the console side went away
        finally:
            self.sock.close()

    def _loop(self) -> None:
        self.write(self.banner)
        self._write_prompt()
        line = bytearray()
        last_cr = False
        while (b := self._read()) is not None:
            if self._dead:
                continue
            if b == 0x03:
                self.interrupts += 1
                line.clear()
                self.write(b"^C" + self.eol)
                self._write_prompt()
                continue
            if b in (0x0D, 0x0A):
                if b == 0x0A and last_cr:
                    last_cr = False
                    continue
                last_cr = b == 0x0D
                if self.echo and not self.echo_on_receipt:
                    self.write(self.eol)
                if not self.execute(line.decode()):
                    return
                line.clear()
                if not self._dead:
                    self._write_prompt()
                continue
            last_cr = False
            if self.echo and not self.echo_on_receipt:
                self.write(bytes([b]))
            line.append(b)

    def execute(self, line: str) -> bool:
        for part in line.split("; "):
            if not self.run_one(part.strip()):
                return False
            if self._dead:
                break
        return True

    def run_one(self, cmd: str) -> bool:
        name, _, arg = cmd.partition(" ")
        if not name:
            return True
        if name == "echo":
            text = arg.replace('"', "").replace("$?", str(self.status))
            self.write(text.encode() + self.eol)
            self.status = 0
        elif name == "true":
            self.status = 0
        elif name == "false":
            self.status = 1
        elif name == "show":
            self.write(self.outputs[arg])
            self.status = 0
        elif name == "sleep":
            self.status = 130 if self._sleep(float(arg)) else 0
        elif name == "fakeprompt":
            self.write(self.prompt + b"is not a prompt here" + self.eol)
            self._sleep(float(arg))
            self.write(b"done" + self.eol)
            self.status = 0
        elif name == "panic":
            if arg:
                time.sleep(float(arg))
            rule = b"=" * 40 + self.eol
            self.write(rule + b"KERNEL PANIC: Attempted to kill init" + self.eol + rule)
            self._dead = True
        elif name == "exit":
            self.sock.shutdown(socket.SHUT_RDWR)
            return False
        else:
            self.write(f"Unknown command: {name}".encode() + self.eol)
            self.status = 127
        return True

    def _sleep(self, seconds: float) -> bool:
        """Sleep, keeping typeahead for later; True if Ctrl-C cut it short."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if 0x03 in self._pending:
                i = self._pending.index(0x03)
                del self._pending[i]
                self.interrupts += 1
                self.write(b"^C" + self.eol)
                return True
            ready, _, _ = select.select([self.sock], [], [], remaining)
            if ready:
                data = self.sock.recv(4096)
                if not data:
                    return False
                self._take(data)
        return False


SIS = {"prompt": b"sis> ", "echo": True, "eol": b"\r\n"}
BUSYBOX = {"prompt": b"/ # ", "echo": False, "eol": b"\n"}
PROFILES = {"sis": (SIS, r"sis> "), "busybox": (BUSYBOX, r"/ # ")}
# (shell, marker style): every style with every shell, echoing or not.
COMBOS = [
    ("sis", "separate"),
    ("sis", "inline"),
    ("busybox", "separate"),
    ("busybox", "inline"),
]


@contextmanager
def shell_console(
    profile: str = "sis",
    marker_style: str = "separate",
    *,
    capture_path: Path | None = None,
    death_patterns: tuple[str, ...] = (),
    **shell_options: object,
) -> Iterator[tuple[Console, FakeShell]]:
    shell_kw, prompt = PROFILES[profile]
    ours, theirs = socket.socketpair()
    options = {"banner": b"[    0.000100] [INFO] boot: hello\r\n=== SIS Kernel Shell ===\r\n"}
    options.update(shell_options)
    shell = FakeShell(theirs, **shell_kw, **options)  # type: ignore[arg-type]
    con = Console(
        ours,
        prompt=prompt,
        capture_path=capture_path,
        death_patterns=death_patterns,
        name=f"fake-{profile}",
    )
    con.marker_style = marker_style  # type: ignore[assignment]
    shell.start()
    try:
        con.wait_prompt(timeout=5)
        yield con, shell
    finally:
        con.close()
        shell.join(timeout=5)


# ------------------------------------------------------------------------------ run


@pytest.mark.parametrize(("profile", "style"), COMBOS)
def test_run_returns_only_the_output_and_the_status(profile: str, style: str) -> None:
    with shell_console(profile, style) as (con, shell):
        r = con.run("echo hello world")
        assert (r.command, r.output, r.status) == ("echo hello world", "hello world", 0)
        assert r.duration_s > 0

        r = con.run("false")
        assert (r.output, r.status) == ("", 1)

        r = con.run("frobnicate")
        assert (r.output, r.status) == ("Unknown command: frobnicate", 127)

        shell.outputs["lines"] = shell.eol.join([b"one", b"", b"  three  "]) + shell.eol
        r = con.run("show lines")
        assert (r.output, r.status) == ("one\n\n  three  ", 0)


@pytest.mark.parametrize(("profile", "style"), COMBOS)
def test_run_without_status(profile: str, style: str) -> None:
    with shell_console(profile, style) as (con, shell):
        r = con.run("echo no status", check_status=False)
        assert (r.output, r.status) == ("no status", None)
        assert con.run("echo next").output == "next"


def test_kernel_log_lines_stay_in_the_output_unless_filtered() -> None:
    with shell_console("sis") as (con, shell):
        shell.outputs["net"] = b"before\r\n" + LOG_LINE + b"\r\nafter\r\n"
        assert con.run("show net").output == f"before\n{LOG_LINE.decode()}\nafter"

        con.log_filter = SIS_LOG_LINE
        assert con.run("show net").output == "before\nafter"


def test_kernel_log_line_right_after_the_prompt() -> None:
    # The kernel logs while the shell sits at its prompt, so the line can land before the
    # echo of the next command or between the output and the marker.
    with shell_console("sis", log_after_prompt=LOG_LINE) as (con, shell):
        con.expect("link up\n", timeout=5)
        for i in range(20):
            r = con.run(f"echo line {i}")
            assert (r.output, r.status) == (f"line {i}", 0)


def test_kernel_log_lines_on_a_shell_without_echo_are_filtered() -> None:
    with shell_console("busybox", "inline", log_after_prompt=LOG_LINE) as (con, shell):
        con.log_filter = SIS_LOG_LINE
        for i in range(20):
            assert con.run(f"echo line {i}").output == f"line {i}"


@pytest.mark.parametrize(("profile", "style"), COMBOS)
def test_prompt_lookalikes_in_the_output(profile: str, style: str) -> None:
    with shell_console(profile, style) as (con, shell):
        eol = shell.eol
        shell.outputs["p"] = (
            b"value sis> mid-line" + eol + b"x / # y" + eol + shell.prompt + b"at line start" + eol
        )
        r = con.run("show p")
        expected = f"value sis> mid-line\nx / # y\n{shell.prompt.decode()}at line start"
        assert (r.output, r.status) == (expected, 0)
        assert con.run("echo after").output == "after"


def test_typeahead_echoed_mid_output() -> None:
    # The prompt lookalike makes the marker line go out while the command still runs; a tty
    # echoes it at once, in the middle of the output. The echo is not output.
    with shell_console("sis", "separate", echo_on_receipt=True) as (con, shell):
        r = con.run("fakeprompt 0.2", timeout=5)
        assert (r.output, r.status) == ("sis> is not a prompt here\ndone", 0)
        assert con.run("echo next").output == "next"


@pytest.mark.parametrize(("profile", "style"), COMBOS)
def test_ansi_sequences_nuls_and_invalid_utf8(profile: str, style: str) -> None:
    with shell_console(profile, style) as (con, shell):
        shell.outputs["junk"] = (
            b"\x1b[1;32mgreen\x1b[0m \x00\x00ok \xff\xfe bad \xc3\xa9t\xc3\xa9\x1b]0;title\x07"
            + shell.eol
            + b"\x1b[2K\rredrawn\x07"
            + shell.eol
        )
        r = con.run("show junk")
        assert r.output == "green ok \ufffd\ufffd bad été\n\nredrawn"
        assert r.status == 0
        assert con.run("echo still fine").output == "still fine"


@pytest.mark.parametrize(("profile", "style"), COMBOS)
def test_partial_lines_byte_by_byte(profile: str, style: str) -> None:
    with shell_console(profile, style, chunker=byte_by_byte, chunk_delay=0.0002) as (con, shell):
        shell.outputs["two"] = (
            b"\x1b[1mfirst\x1b[0m line" + shell.eol + b"second\r\xc3\xa9\x1b]0;t\x1b\\" + shell.eol
        )
        r = con.run("show two")
        assert (r.output, r.status) == ("first line\nsecond\né", 0)
        assert con.run("false").status == 1


def test_interrupt_sends_ctrl_c() -> None:
    with shell_console("sis") as (con, shell):
        con.sendline("sleep 5")
        con.expect("sleep 5\n")
        con.interrupt()
        before = con.wait_prompt(timeout=2)
        assert "^C" in before
        assert b"\x03" in shell.received
        assert shell.interrupts == 1
        # Read raw: a command `run` sends starts after its begin marker's echo, whose $? is 0.
        con.sendline('echo "status=$?"')
        con.expect("status=130\n", timeout=5)


# ------------------------------------------------------------------------- failures


def test_death_pattern_ends_a_wait_at_once() -> None:
    with shell_console("sis", death_patterns=(r"KERNEL PANIC",)) as (con, shell):
        t0 = time.monotonic()
        with pytest.raises(DeathString) as info:
            con.run("panic 0.2", timeout=30)
        assert time.monotonic() - t0 < 5
        err = info.value
        assert err.match == "KERNEL PANIC"
        assert err.pattern == "KERNEL PANIC"
        assert "KERNEL PANIC" in str(err) and "KERNEL PANIC" in err.tail

        # The kernel is dead: later waits fail fast too, until the death is acknowledged.
        with pytest.raises(DeathString):
            con.expect("never", timeout=30)
        assert con.death is not None
        assert con.clear_death() is not None
        assert con.death is None
        with pytest.raises(ConsoleTimeout):
            con.expect("never", timeout=0.1)


def test_text_before_the_death_still_matches() -> None:
    with shell_console("sis", death_patterns=(r"KERNEL PANIC",)) as (con, shell):
        con.sendline("panic")
        time.sleep(0.2)
        assert con.expect(r"^=+$").group() == "=" * 40
        with pytest.raises(DeathString):
            con.expect(r"^=+$", timeout=1)


def test_death_pattern_cut_by_chunk_boundaries() -> None:
    with shell_console("sis", death_patterns=(r"KERNEL PANIC",), chunker=random_chunks(7, 3)) as (
        con,
        shell,
    ):
        with pytest.raises(DeathString):
            con.run("panic", timeout=10)


def test_timeout_names_the_pattern_the_tail_and_the_capture(tmp_path: Path) -> None:
    capture = tmp_path / "serial.log"
    with shell_console("sis", capture_path=capture) as (con, shell):
        with pytest.raises(ConsoleTimeout) as info:
            con.run("sleep 5", timeout=0.3)
        err = info.value
        message = str(err)
        assert str(capture) in message
        assert "timed out after 0.3s" in message
        assert err.pattern in message
        assert err.tail.endswith("sleep 5\n")
        assert "sleep 5" in message
        assert err.capture_path == capture

        con.interrupt()
        con.wait_prompt(timeout=2)
        assert con.run("echo recovered").output == "recovered"


def test_timeout_without_capture_says_so() -> None:
    with shell_console("sis") as (con, shell):
        with pytest.raises(ConsoleTimeout, match="no capture file"):
            con.expect("never", timeout=0.05)


def test_peer_closing_gives_console_closed() -> None:
    with shell_console("sis") as (con, shell):
        with pytest.raises(ConsoleClosed, match="closed the console stream"):
            con.run("exit", timeout=10)
        assert con.closed
        with pytest.raises(ConsoleClosed):
            con.expect("anything", timeout=10)
        with pytest.raises(ConsoleClosed):
            for _ in range(100):  # the first writes may still land in the socket buffer
                con.sendline("echo hello")
                time.sleep(0.001)


def test_close_stops_the_drain_thread() -> None:
    with shell_console("sis") as (con, shell):
        con.close()
        con.close()
        assert con.closed
        assert not con._thread.is_alive()
        with pytest.raises(ConsoleClosed, match="closed by the harness"):
            con.expect("x", timeout=1)
        with pytest.raises(ConsoleClosed):
            con.send("x")


@pytest.mark.parametrize(("profile", "style"), [("busybox", "inline"), ("sis", "inline")])
def test_stale_marker_of_a_timed_out_command_is_ignored(profile: str, style: str) -> None:
    with shell_console(profile, style) as (con, shell):
        with pytest.raises(ConsoleTimeout):
            con.run("sleep 0.5", timeout=0.1)
        r = con.run("echo hi", timeout=5)  # typed ahead; the shell gets to it after the sleep
        assert (r.output, r.status) == ("hi", 0)
        markers = re.findall(r"__SIS_[0-9a-f]{16}_0\n", con.text)
        assert len(markers) == 2  # the stale marker did come, and was not taken


def test_stale_marker_with_separate_markers() -> None:
    # A prompt-looking line fools the first prompt wait, so the marker is sent too early and
    # times out; it arrives during the next command and must not be taken for that one's.
    with shell_console("sis", "separate") as (con, shell):
        with pytest.raises(ConsoleTimeout):
            con.run("fakeprompt 0.5", timeout=0.2)
        r = con.run("echo hi", timeout=5)
        assert (r.output, r.status) == ("hi", 0)
        assert len(re.findall(r"__SIS_[0-9a-f]{16}_0\n", con.text)) == 2


def test_a_late_prompt_is_not_part_of_the_next_output() -> None:
    with shell_console("sis", "separate") as (con, shell):
        with pytest.raises(ConsoleTimeout):
            con.run("sleep 0.4", timeout=0.1)
        r = con.run("echo after the sleep", timeout=5)
        assert (r.output, r.status) == ("after the sleep", 0)


# --------------------------------------------------------------------------- capture


def test_capture_holds_exactly_the_raw_bytes_with_a_valid_index(tmp_path: Path) -> None:
    capture = tmp_path / "logs" / "console.log"
    with shell_console("sis", capture_path=capture, chunker=random_chunks(3)) as (con, shell):
        shell.outputs["junk"] = b"\x00\xff\x1b[31mred\x1b[0m\r\n"
        con.run("show junk")
        con.run("echo done")
        con.close()
        sent = bytes(shell.sent)

    data = capture.read_bytes()
    assert data == sent
    assert con.bytes_received == len(data)

    index = Path(str(capture) + ".jsonl")
    entries = [json.loads(line) for line in index.read_text().splitlines()]
    assert entries and all(set(e) == {"t", "offset", "len"} for e in entries)
    offset = 0
    last_t = 0.0
    for e in entries:
        assert e["offset"] == offset and e["len"] > 0
        assert e["t"] >= last_t
        offset += e["len"]
        last_t = e["t"]
    assert offset == len(data)


# ----------------------------------------------------------------------- expect, text


def test_expect_consumes_up_to_the_match() -> None:
    with shell_console("sis") as (con, shell):
        con.sendline("echo alpha 1 beta 2")
        m = con.expect(r"alpha (\d)")
        assert m.group(1) == "1"
        assert con.expect(re.compile(r"beta (\d)")).group(1) == "2"
        con.wait_prompt()
        with pytest.raises(ConsoleTimeout):
            con.expect("alpha", timeout=0.05)


def test_wait_prompt_returns_the_text_before_it() -> None:
    ours, theirs = socket.socketpair()
    shell = FakeShell(theirs, **SIS, banner=b"boot line 1\r\nboot \x1b[1mline\x1b[0m 2\r\n")  # type: ignore[arg-type]
    shell.start()
    with Console(ours) as con:
        assert con.wait_prompt(timeout=5) == "boot line 1\nboot line 2\n"
        assert con.text == "boot line 1\nboot line 2\nsis> "
        assert con.tail(5) == "sis> "
    shell.join(timeout=5)


def test_long_outputs_and_a_trimmed_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console_mod, "_TRIM_AT", 2000)
    with shell_console("sis") as (con, shell):
        big = "\n".join(f"line {i} " + "x" * (i % 70) for i in range(3000))
        shell.outputs["big"] = big.encode().replace(b"\n", b"\r\n") + b"\r\n"
        for _ in range(3):
            r = con.run("show big")
            assert r.output == big
        assert con._base > 0  # the search window was trimmed ...
        assert con.text.count(big) == 3  # ... but text keeps everything


def test_run_rejects_several_lines() -> None:
    with shell_console("sis") as (con, shell):
        with pytest.raises(ValueError):
            con.run("echo a\necho b")


# --------------------------------------------------------------------------- connect


def test_connect_unix_waits_for_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "serial.sock"

    def serve_later() -> None:
        time.sleep(0.2)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(str(path))
        srv.listen(1)
        conn, _ = srv.accept()
        conn.sendall(b"hello\r\nsis> ")
        conn.recv(100)
        conn.close()
        srv.close()

    t = threading.Thread(target=serve_later, daemon=True)
    t.start()
    with Console(connect_unix(path, timeout=5)) as con:
        assert con.wait_prompt(timeout=5) == "hello\n"
    t.join(timeout=5)


def test_connect_unix_timeout_is_clear(tmp_path: Path) -> None:
    with pytest.raises(ConsoleError, match=r"could not connect .*nope\.sock within 0\.2s"):
        connect_unix(tmp_path / "nope.sock", timeout=0.2)


def test_connect_tcp() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        conn.sendall(b"sis> ")
        conn.recv(100)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    with Console(connect_tcp("127.0.0.1", port, timeout=5)) as con:
        assert con.wait_prompt(timeout=5) == ""
    t.join(timeout=5)
    srv.close()
    with pytest.raises(ConsoleError, match=f"127.0.0.1:{port} within 0.2s"):
        connect_tcp("127.0.0.1", port, timeout=0.2)


# ---------------------------------------------------------------------------- helpers


def test_strip_ansi_and_normalize_newlines() -> None:
    assert strip_ansi("\x1b[1;31mred\x1b[0m \x1b]0;t\x07x\x1b(B\x1b7y") == "red xy"
    assert strip_ansi("\x1b[6n") == ""
    assert normalize_newlines("a\r\nb\r\r\nc\rd\ne") == "a\nb\nc\nd\ne"


TRICKY = [b"\r", b"\n", b"\x1b", b"[", b"]", b"1", b";", b"m", b"\x07", b"\\", b"\x00"]
TRICKY += [b"\xff", b"\xc3", b"\xa9", b"a", b"(", b"B", "é".encode(), "€".encode(), b"sis> "]


@settings(max_examples=300)
@given(
    pieces=st.lists(st.sampled_from(TRICKY), max_size=60),
    sizes=st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=10),
)
@example(pieces=[b"\x1b", b"[", b"1", b"m", b"a"], sizes=[2])
@example(pieces=[b"a", b"\r", b"\n", b"b"], sizes=[2])
def test_decoding_does_not_depend_on_chunking(pieces: list[bytes], sizes: list[int]) -> None:
    data = b"".join(pieces)
    whole_dec = _TextDecoder()
    expected = whole_dec.feed(data) + whole_dec.feed(b"", final=True)
    chunked = _TextDecoder()
    got = []
    i = 0
    for size in itertools.cycle(sizes):
        if i >= len(data):
            break
        got.append(chunked.feed(data[i : i + size]))
        i += size
    got.append(chunked.feed(b"", final=True))
    assert "".join(got) == expected
    assert "\r" not in expected and "\x1b" not in expected and "\x00" not in expected


# A printable output: no control characters apart from newlines and tabs.
PRINTABLE = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")) | st.sampled_from("\n\t"),
    max_size=200,
)


@pytest.mark.parametrize(("profile", "style"), COMBOS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs=st.lists(PRINTABLE, min_size=1, max_size=3), seed=st.integers(0, 2**32))
def test_run_returns_exactly_what_the_shell_printed(
    profile: str, style: str, outputs: list[str], seed: int
) -> None:
    with shell_console(profile, style, chunker=random_chunks(seed)) as (con, shell):
        for i, text in enumerate(outputs):
            shell.outputs[str(i)] = text.encode().replace(b"\n", shell.eol) + shell.eol
            r = con.run(f"show {i}", timeout=10)
            assert (r.output, r.status) == (text, 0)


# ------------------------------------------------------------------- a doubled prompt

BUSYBOX_PROMPT = r"(?<![^\n])/ # $"


def _crlf_busybox(sock: socket.socket, commands: int) -> None:
    """ash on a tty that turns the CR of CR LF into a newline of its own: every line is the
    command and then an empty command, so both prompts come back together."""
    sock.sendall(b"/ # ")
    pending = b""
    for _ in range(commands):
        while b"\n" not in pending:
            pending += sock.recv(4096)
        line, _, pending = pending.partition(b"\n")
        command = line.rstrip(b"\r").decode()
        out = ""
        for part in command.split("; "):
            word, _, rest = part.partition(" ")
            if word == "echo":
                out += rest.replace('"', "").replace("$?", "0") + "\n"
        sock.sendall(out.encode() + b"/ # / # ")


@pytest.mark.parametrize("check_status", [True, False])
def test_a_doubled_prompt_at_the_end_counts_as_the_prompt(check_status: bool) -> None:
    ours, theirs = socket.socketpair()
    shell = threading.Thread(target=_crlf_busybox, args=(theirs, 3), daemon=True)
    shell.start()
    with Console(ours, prompt=BUSYBOX_PROMPT) as con:
        con.echo = False
        con.marker_style = "inline"
        con.newline = "\r\n"
        con.wait_prompt(timeout=5)
        for word in ("a", "b", "c"):
            r = con.run(f"echo {word}", timeout=10, check_status=check_status)
            assert r.output == word
            assert r.status == (0 if check_status else None)
    shell.join(timeout=5)
    theirs.close()


def test_a_prompt_run_is_only_prompts() -> None:
    rx = console_mod._prompt_searcher(BUSYBOX_PROMPT, True)
    assert rx.search("a\n/ # / # ") is not None
    assert rx.search("a\n/ # / # / # ").start() == 2  # type: ignore[union-attr]
    assert rx.search("a\n/ # x/ # ") is None
    assert rx.search("a\n/ # / ") is None


# -------------------------------------------------------------------- bounded capture


def test_the_capture_stops_at_its_limit_and_the_console_goes_on(tmp_path: Path) -> None:
    capture = tmp_path / "console.log"
    ours, theirs = socket.socketpair()
    with Console(ours, capture_path=capture, capture_limit=1000) as con:
        theirs.sendall(b"x" * 600 + b"\r\n")
        theirs.sendall(b"y" * 600 + b"\r\nsis> ")
        assert con.wait_prompt(timeout=5) == "x" * 600 + "\n" + "y" * 600 + "\n"
        theirs.sendall(b"more\r\nsis> ")
        assert con.wait_prompt(timeout=5) == "more\n"
        assert con.bytes_received == 602 + 608 + 10
    data = capture.read_bytes()
    assert data == b"x" * 600 + b"\r\n" + b"y" * 398 + b"\n[sis: capture truncated at 1000 bytes]\n"
    index = [json.loads(line) for line in Path(f"{capture}.jsonl").read_text().splitlines()]
    assert sum(e["len"] for e in index) == 1000
    theirs.close()

"""Console engine: drive a kernel's serial console over a byte stream.

A `Console` wraps a connected socket (the unix or tcp end of a `-serial` device). A daemon thread
reads it from the first byte, because a serial socket nobody drains stalls the guest. Raw bytes go
to an optional capture file with a timestamped index beside it; decoded text goes to an in-memory
buffer that `expect`, `wait_prompt` and `run` search.

A console may spew without end (a kernel stuck printing, random bytes on a broken line), so
nothing grows with it: the text kept for matching is a window of the last `WINDOW` characters
(plus whatever a running command still needs), `text` is the last `TEXT_KEPT` characters, and
the capture file stops at `capture_limit` bytes with a note, while the socket is still drained
so the guest never stalls.

The text the engine matches against is cleaned the same way whatever the chunking: UTF-8 decoded
with replacement characters, ANSI escape sequences removed, CR/CRLF turned into LF, and other
control characters (NUL padding, BEL, ...) dropped. The capture file keeps the bytes untouched.

`run` brackets a command with two markers the guest shell prints (contract strings in
`sis.contract.console`): `__SIS_<nonce>_begin` before the command runs and
`__SIS_<nonce>_<status>` after it, from `echo "__SIS""_<nonce>_begin"` and
`echo "__SIS""_<nonce>_$?"`. The quotes split the markers so the echo of the command line never
contains them; the nonce, drawn afresh for each command, makes markers of earlier, abandoned
commands harmless and cannot be printed ahead of time; and only a status marker after its own
begin marker counts, so nothing printed before the command ran can end it.
"""

from __future__ import annotations

import codecs
import functools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from sis.contract.console import (
    MARKER_NONCE_HEX,
    begin_marker,
    begin_marker_command,
    status_marker_command,
)
from sis.harness.outdir import open_file

__all__ = [
    "SIS_LOG_LINE",
    "CommandResult",
    "Console",
    "ConsoleClosed",
    "ConsoleError",
    "ConsoleTimeout",
    "DeathString",
    "connect_tcp",
    "connect_unix",
    "normalize_newlines",
    "strip_ansi",
]

#: A SIS kernel log line, either format (docs/contract.md section 4): a `Console.log_filter`.
SIS_LOG_LINE = (
    r"^(?:\[\s*\d+\.\d{6}\] \[(?:FATAL|ERROR|WARN|INFO|DEBUG|TRACE)\] "
    r'|\{"ts": ?\d+, ?"seq": ?\d+)'
)

MarkerStyle = Literal["separate", "inline"]

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and the short two/three byte escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[ -/]*[0-~])")
# What the start of an escape sequence looks like before its final byte has arrived.
_ANSI_PREFIX = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?|[ -/]*)")
# An unterminated escape longer than this is junk, not something to wait for.
_MAX_ESCAPE = 256
_NEWLINES = re.compile(r"\r+\n?")
# C0 controls except TAB and LF, DEL, and C1 controls. CR is handled by _NEWLINES first.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_CR_RUN = re.compile(r"\r{2,}")

_RECV_SIZE = 65536
#: Characters of text kept for matching beyond what waits still need; older text is dropped.
WINDOW = 1 << 20
#: Characters `Console.text` keeps (the last ones).
TEXT_KEPT = 1 << 20
# Consumed text kept in the search window is dropped once it exceeds this (long soaks).
_TRIM_AT = 1 << 20
#: Default bound of a capture file, in bytes.
CAPTURE_LIMIT = 16 << 20
# A run of prompts at the end of the text longer than this is not looked for.
_MAX_PROMPT_RUN = 512
# How far back `run`'s waits and the death scan look when new text arrives: longer than any
# prompt, marker or death-pattern match, so only the new text is rescanned on each wake-up.
_LOOKBACK = 1024
_MESSAGE_TAIL = 1500


def strip_ansi(s: str) -> str:
    """Remove ANSI escape sequences (colours, cursor movement, titles) from `s`."""
    return _ANSI.sub("", s)


def normalize_newlines(s: str) -> str:
    """Turn CRLF, CR CR LF and lone CR into LF, as a terminal would start a new line."""
    return _NEWLINES.sub("\n", s)


class _TextDecoder:
    """Bytes to clean text, chunk by chunk, with the same result however the stream is split.

    A multi-byte character, an escape sequence or a CR LF pair cut by a chunk boundary is held
    back until the rest arrives.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def feed(self, data: bytes, final: bool = False) -> str:
        s = self._held + self._utf8.decode(data, final)
        cut = len(s)
        if not final:
            i = s.find("\x1b", max(0, len(s) - _MAX_ESCAPE))
            while i != -1:
                if _ANSI_PREFIX.fullmatch(s, i):
                    cut = i
                    break
                i = s.find("\x1b", i + 1)
        head, rest = strip_ansi(s[:cut]), s[cut:]
        if not final:
            # CRs at the end (escapes removed) may join a CR LF still to come: hold them.
            crs = len(head) - len(head.rstrip("\r"))
            if crs:
                head, rest = head[:-crs], "\r" + rest
        # A run of CRs means one newline whatever its length: hold one, not a flood of them.
        self._held = _CR_RUN.sub("\r", rest)
        return _CONTROL.sub("", normalize_newlines(head))


# --------------------------------------------------------------------------------------- errors


class ConsoleError(Exception):
    """A console operation failed; the message says what was expected, what came, and where
    the full capture is."""

    def __init__(self, message: str, *, tail: str = "", capture_path: Path | None = None) -> None:
        super().__init__(message)
        self.tail = tail
        self.capture_path = capture_path


class ConsoleTimeout(ConsoleError):
    """The expected text did not come in time."""

    def __init__(
        self, message: str, *, pattern: str, tail: str = "", capture_path: Path | None = None
    ) -> None:
        super().__init__(message, tail=tail, capture_path=capture_path)
        self.pattern = pattern


class ConsoleClosed(ConsoleError):
    """The stream ended (the target died or exited) or the console was closed."""


class DeathString(ConsoleError):
    """A death pattern (a panic banner, an oops) appeared on the console."""

    def __init__(
        self,
        message: str,
        *,
        pattern: str,
        match: str,
        tail: str = "",
        capture_path: Path | None = None,
    ) -> None:
        super().__init__(message, tail=tail, capture_path=capture_path)
        self.pattern = pattern
        self.match = match


# --------------------------------------------------------------------------------------- result


@dataclass
class CommandResult:
    """One command run through `Console.run`."""

    command: str
    output: str
    status: int | None
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.status == 0


@functools.lru_cache(maxsize=256)
def _compile_text(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.MULTILINE)


@functools.lru_cache(maxsize=64)
def _compile_prompt(prompt: str) -> re.Pattern[str]:
    return re.compile(rf"^(?:{prompt})", re.MULTILINE)


@functools.lru_cache(maxsize=64)
def _compile_marker_echo(prompt: str) -> re.Pattern[str]:
    # A marker command's own echo, in case a shell echoed it in the middle of the output.
    return re.compile(
        rf'^(?:{prompt})?echo "__SIS""_[0-9a-f]+_(?:begin|\$\?)"[ \t]*(?:\n|\Z)', re.MULTILINE
    )


_ANY_MARKER = re.compile(rf"__SIS_([0-9a-f]{{{MARKER_NONCE_HEX}}})_(\d+)[ \t]*\n")
_ANY_BEGIN = re.compile(rf"__SIS_([0-9a-f]{{{MARKER_NONCE_HEX}}})_begin[ \t]*\n")
_LINE_END = re.compile(r"[ \t]*\n")


class _Searcher(Protocol):
    """What `Console._expect` waits for: a compiled regex, or anything that searches like one."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None: ...


class _Marker:
    """Finds the status marker line `__SIS_<nonce>_<status>` of one command.

    A regex compiled per command would cost more than the whole round trip.
    """

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.pattern = f"__SIS_{nonce}_<status>"
        self._literal = f"__SIS_{nonce}_"

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        while (i := text.find(self._literal, pos)) != -1:
            m = _ANY_MARKER.match(text, i)
            if m is not None and m.group(1) == self.nonce:
                return m
            pos = i + 1
        return None


class _Begin:
    """Finds the begin marker line `__SIS_<nonce>_begin` of one command."""

    def __init__(self, nonce: str) -> None:
        self.nonce = nonce
        self.pattern = self._literal = begin_marker(nonce)

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        while (i := text.find(self._literal, pos)) != -1:
            m = _ANY_BEGIN.match(text, i)
            if m is not None and m.group(1) == self.nonce:
                return m
            pos = i + 1
        return None


class _Prompt:
    """The prompt regex, also accepting a run of prompts at the end of the text.

    A shell that runs an empty command (an extra newline, a CR turned into LF by the tty) prints
    its prompt twice, `/ # / # `, and a prompt regex anchored at both ends (`(?<![^\n])/ # $`)
    matches neither copy: the first is not at the end, the second not at a line start.
    """

    def __init__(self, rx: re.Pattern[str]) -> None:
        self.rx = rx
        self.pattern = rx.pattern

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        m = self.rx.search(text, pos)
        if m is None:
            m = self._run(text, max(pos, text.rfind("\n", pos) + 1))
        return m

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.rx.match(text, pos) or self._run(text, pos)

    def _run(self, text: str, start: int) -> re.Match[str] | None:
        """A match of text[start:] if it is 2 or more copies of one prompt."""
        n = len(text) - start
        if n < 2 or n > _MAX_PROMPT_RUN or "\n" in text[start:]:
            return None
        line = text[start:]
        for copies in range(2, 9):
            if n % copies:
                continue
            unit = line[: n // copies]
            if unit * copies == line and self.rx.fullmatch(unit):
                return re.compile(re.escape(line)).match(text, start)
        return None


@functools.lru_cache(maxsize=64)
def _prompt_searcher(prompt: str, anchored: bool) -> _Prompt:
    return _Prompt(_compile_prompt(prompt) if anchored else _compile_text(prompt))


# -------------------------------------------------------------------------------------- console


class Console:
    """Expect engine over a kernel console byte stream.

    Attributes a target profile may set after construction:

    * `prompt`: regex of the shell prompt, matched at the start of a line.
    * `newline`: what `sendline` appends (`"\\n"`, or `"\\r"` for some serial shells).
    * `marker_style`: `"separate"` sends the begin marker, the command and the status marker
      as command lines of their own, each after the prompt comes back (for shells without
      `;`); `"inline"` sends `echo BEGIN; COMMAND; echo STATUS` (POSIX shells, one round trip).
    * `log_filter`: regex; output lines it matches (kernel log lines) are removed from
      `CommandResult.output`. `SIS_LOG_LINE` matches the SIS kernel's log formats.
    * `echo`: whether the shell echoes input: `None` detects it per command.
    """

    def __init__(
        self,
        sock: socket.socket,
        *,
        prompt: str = r"sis> ",
        capture_path: str | Path | None = None,
        death_patterns: Sequence[str] = (),
        name: str = "console",
        capture_limit: int = CAPTURE_LIMIT,
    ) -> None:
        self.name = name
        self.prompt = prompt
        self.newline = "\n"
        self.marker_style: MarkerStyle = "separate"
        self.log_filter: str | re.Pattern[str] | None = None
        self.echo: bool | None = None
        #: Set by callers when a command timed out and may still hold the shell.
        self.hung = False
        self._echo_seen = False
        self.capture_path = Path(capture_path) if capture_path is not None else None
        self.index_path = (
            Path(str(self.capture_path) + ".jsonl") if self.capture_path is not None else None
        )
        #: Wall-clock time of the first index entry's t=0, to turn index times into dates.
        self.started_at = time.time()
        self._t0 = time.monotonic()

        self._sock = sock
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._decoder = _TextDecoder()
        # Text is addressed by absolute offsets; `_live` holds it from `_base` to the end.
        self._live = ""
        self._base = 0
        # Text received but not yet joined onto `_live`: joined when a wait looks, so a flood
        # nobody waits on is not copied chunk after chunk.
        self._pending: list[str] = []
        self._pending_len = 0
        self._recent = ""  # the last _LOOKBACK characters, for the death scan
        self._end = 0
        self._pos = 0
        self._pin: int | None = None  # `run` keeps its region in the window while it works
        # The last TEXT_KEPT characters or so, for `text`, as chunks: joined only when read.
        self._tail_parts: list[str] = []
        self._tail_len = 0
        self._eof = False
        self._eof_reason = ""
        self._closing = False
        self._death_res = tuple(_compile_text(p) for p in death_patterns)
        self._death: tuple[str, str, int] | None = None  # pattern, matched text, offset
        self._death_armed = 0
        self._death_peers: list[Console] = []

        self._capture: IO[bytes] | None = None
        self._index: IO[str] | None = None
        self._nbytes = 0
        self.capture_limit = capture_limit
        self._captured = 0
        if self.capture_path is not None and self.index_path is not None:
            self.capture_path.parent.mkdir(parents=True, exist_ok=True)
            self._capture = open_file(self.capture_path, "wb", buffering=0)
            self._index = open_file(self.index_path, "w", buffering=1, encoding="utf-8")

        self._thread = threading.Thread(target=self._drain, name=f"sis-console-{name}", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ draining (own thread)

    def _drain(self) -> None:
        reason = "the target closed the console stream"
        while True:
            try:
                data = self._sock.recv(_RECV_SIZE)
            except TimeoutError:  # a socket with a timeout set: idle is not an error
                if self._closing:
                    break
                continue
            except InterruptedError:
                continue
            except OSError as exc:
                if not self._closing:
                    reason = f"console stream error: {exc}"
                break
            if not data:
                break
            self._record(data)
            self._append(self._decoder.feed(data))
        if self._closing:
            reason = "the console was closed by the harness"
        self._append(self._decoder.feed(b"", final=True), eof=reason)

    def _record(self, data: bytes) -> None:
        t = time.monotonic() - self._t0
        if self._capture is not None and self._index is not None:
            room = self.capture_limit - self._captured
            kept = data[:room]
            try:
                if kept:
                    self._capture.write(kept)
                    entry = {"t": round(t, 6), "offset": self._nbytes, "len": len(kept)}
                    self._index.write(json.dumps(entry) + "\n")
                    self._captured += len(kept)
                if len(kept) < len(data):
                    note = f"\n[sis: capture truncated at {self.capture_limit} bytes]\n"
                    self._capture.write(note.encode())
                    self._capture.close()
                    self._index.close()
                    self._capture = self._index = None
            except (OSError, ValueError):
                # Disk full or files closed under us: keep draining, the target must not stall.
                self._capture = self._index = None
        self._nbytes += len(data)

    def _append(self, new: str, eof: str | None = None) -> None:
        with self._cond:
            if new:
                old_end = self._end
                self._tail_parts.append(new)
                self._tail_len += len(new)
                if self._tail_len > 2 * TEXT_KEPT:
                    self._joined_tail()
                self._pending.append(new)
                self._pending_len += len(new)
                self._end += len(new)
                if self._death is None and self._death_res:
                    self._scan_death(old_end, new)
                    if self._death is not None:
                        for peer in self._death_peers:
                            peer._adopt_death(self._death[0], self._death[1])
                self._recent = (self._recent + new)[-_LOOKBACK:]
                if len(self._live) + self._pending_len > 2 * WINDOW:
                    self._join()
            if eof is not None:
                self._eof = True
                self._eof_reason = eof
            if new or eof is not None:
                self._cond.notify_all()

    def _join(self) -> None:
        """Bring `_live` up to date, then drop text older than the window, even text nobody
        consumed yet: a wait that has not matched within a window's worth of output will not
        match in text that old, and the lab's memory must not follow a console's flood."""
        if self._pending:
            self._live += "".join(self._pending)
            self._pending.clear()
            self._pending_len = 0
        if len(self._live) > 2 * WINDOW:
            cut = self._end - WINDOW
            self._live = self._live[cut - self._base :]
            self._base = cut
            self._pos = max(self._pos, cut)

    def _scan_death(self, old_end: int, new: str) -> None:
        # Rescan from the start of the line the new text continues, so a pattern cut by a
        # chunk boundary is still found.
        text = self._recent + new
        text_base = old_end - len(self._recent)
        old = len(self._recent)
        lo = max(0, self._death_armed - text_base)
        nl = text.rfind("\n", lo, old)
        start = nl + 1 if nl != -1 else lo
        first: re.Match[str] | None = None
        for rx in self._death_res:
            m = rx.search(text, start)
            if m is not None and (first is None or m.start() < first.start()):
                first = m
        if first is not None:
            self._death = (first.re.pattern, first.group(), text_base + first.start())

    # ------------------------------------------------------------------------------ sending

    def send(self, data: str | bytes) -> None:
        """Write raw data to the console."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        if self._closing:
            raise self._closed_error("send")
        try:
            with self._send_lock:
                self._sock.sendall(data)
        except OSError as exc:
            raise self._closed_error(f"send ({exc})") from exc

    def sendline(self, line: str) -> None:
        """Write `line` followed by `newline`."""
        self.send(line + self.newline)

    def interrupt(self) -> None:
        """Send Ctrl-C."""
        self.send(b"\x03")

    # ----------------------------------------------------------------------------- waiting

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 10.0) -> re.Match[str]:
        """Wait for `pattern` in the text received since the last consumed position.

        A string pattern is compiled with `re.MULTILINE`, so `^` means the start of a line.
        Consumes the text up to the end of the match. The match's offsets refer to an internal
        window, not to `text`; use its groups.
        """
        rx = _compile_text(pattern) if isinstance(pattern, str) else pattern
        m, _ = self._expect(rx, time.monotonic() + timeout, timeout, None)
        return m

    def wait_prompt(self, timeout: float = 10.0) -> str:
        """Wait for the prompt at the start of a line; return the text that came before it."""
        with self._cond:
            before = self._pos
        m, base = self._expect(self._prompt_rx(), time.monotonic() + timeout, timeout, _LOOKBACK)
        return m.string[before - base : m.start()]

    def _expect(
        self,
        rx: _Searcher,
        deadline: float,
        timeout: float,
        lookback: int | None,
        also_here: _Prompt | None = None,
    ) -> tuple[re.Match[str], int]:
        """Search, sleeping until new text, death, end of stream or the deadline.

        With `lookback`, each rescan starts that far before the previously searched end instead
        of at the consumed position: enough for short patterns, linear for long outputs.
        A match of `also_here` right at the consumed position counts too.
        Returns the match and the absolute offset of the string it was made on.
        """
        with self._cond:
            searched = self._pos
            while True:
                self._join()
                base = self._base
                m = None
                if also_here is not None:
                    m = also_here.match(self._live, self._pos - base)
                if m is None:
                    start = self._pos if lookback is None else max(self._pos, searched - lookback)
                    m = rx.search(self._live, start - base)
                if m is not None and (self._death is None or base + m.end() <= self._death[2]):
                    self._consume(base + m.end())
                    return m, base
                searched = self._end
                if self._death is not None:
                    raise self._death_error()
                if self._eof:
                    raise self._closed_error(f"waiting for /{rx.pattern}/")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timeout_error(rx.pattern, timeout)
                self._cond.wait(remaining)

    def _consume(self, pos: int) -> None:
        self._pos = pos
        keep = pos if self._pin is None else min(pos, self._pin)
        cut = keep - _LOOKBACK
        if cut - self._base > _TRIM_AT:
            self._live = self._live[cut - self._base :]
            self._base = cut

    # -------------------------------------------------------------------------------- run

    def run(
        self, command: str, timeout: float = 30.0, *, check_status: bool = True
    ) -> CommandResult:
        """Run one shell command line; return its output and exit status.

        With `check_status` the exit status is read with `echo $?` through a marker line;
        without it, `run` only waits for the next prompt and the status is None (for targets
        whose shell has no `$?`). Text received before the command was sent is not part of its
        output. On timeout the command may still be running: `interrupt()` it if needed.
        """
        if "\n" in command or "\r" in command:
            raise ValueError("run() takes one command line; send scripts line by line")
        if self.marker_style not in ("separate", "inline"):
            raise ValueError(f"unknown marker_style {self.marker_style!r}")
        started = time.monotonic()
        deadline = started + timeout
        prompt_rx = self._prompt_rx()
        nonce = secrets.token_hex(MARKER_NONCE_HEX // 2)
        begin_command, status_command = begin_marker_command(nonce), status_marker_command(nonce)
        inline = check_status and self.marker_style == "inline"
        separate = check_status and not inline
        body = command.rstrip()
        # `cmd &; echo` is a syntax error in POSIX shells: a background command is already
        # terminated by its `&`.
        joiner = " " if body.endswith("&") else "; "
        line = command
        if inline:
            line = f"{begin_command}; {body}{joiner}{status_command}" if body else (
                f"{begin_command}; {status_command}"
            )  # fmt: skip
        with self._cond:
            start = self._end
            self._pos = start  # anything that came before is not this command's output
            self._pin = start
        probe: tuple[int, int] | None = None
        try:
            status: int | None = None
            # A shell that does not echo prints the next prompt straight after the previous
            # one when the command prints nothing: a prompt right at the start counts.
            here = _prompt_searcher(self.prompt, False)
            if separate:
                # The begin marker as a command of its own; the command's text starts at the
                # prompt that follows it.
                self.sendline(begin_command)
                m, base = self._expect(_Begin(nonce), deadline, timeout, _LOOKBACK)
                probe = (start, base + m.start())  # where an echo of it would be
                m, base = self._expect(prompt_rx, deadline, timeout, _LOOKBACK)
                start = base + m.end()
                self.sendline(line)
                self._expect(prompt_rx, deadline, timeout, _LOOKBACK, here)
                self.sendline(status_command)
            else:
                self.sendline(line)
            if inline:
                m, base = self._expect(_Begin(nonce), deadline, timeout, _LOOKBACK)
                start = base + m.end()
            if check_status:
                # Searched from the end of the begin marker on: only a status marker printed
                # after the command started counts.
                m, base = self._expect(_Marker(nonce), deadline, timeout, _LOOKBACK)
                status = int(m.group(2))
                end = base + m.start()
                self._expect(prompt_rx, deadline, timeout, _LOOKBACK)
            else:
                m, base = self._expect(prompt_rx, deadline, timeout, _LOOKBACK, here)
                end = base + m.start()
            with self._cond:
                self._join()
                text, text_base = self._live, self._base
        finally:
            with self._cond:
                self._pin = None
        # The head of an output longer than the window is gone (`_slide`).
        if probe is not None and probe[0] >= text_base and self.echo is None:
            # Whether this shell echoes, learnt from the begin marker's command line.
            self._skip_echo(text, probe[0] - text_base, probe[1] - text_base, begin_command)
        output = self._extract_output(
            text,
            max(start, text_base) - text_base,
            max(end, text_base) - text_base,
            line=line,
            nonce=nonce,
            after_begin=inline,
            last_prompt=separate,
        )
        return CommandResult(command, output, status, time.monotonic() - started)

    def _extract_output(
        self,
        text: str,
        start: int,
        end: int,
        *,
        line: str,
        nonce: str,
        after_begin: bool,
        last_prompt: bool,
    ) -> str:
        """Cut the command's output out of text[start:end].

        A region that starts right after the begin marker (`after_begin`) is the output alone.
        Otherwise it may also hold the echoed command line, a prompt, and leftovers of an
        earlier command that timed out (its output, prompt and stale marker).
        """
        prompt_rx = _compile_prompt(self.prompt)
        if last_prompt:
            # "separate": the region runs up to the marker; the output ends at the last prompt
            # before it, so a prompt-looking line inside the output does not cut it short.
            prompts = list(prompt_rx.finditer(text, start, end))
            if prompts:
                end = prompts[-1].start()
            elif _compile_text(self.prompt).match(text, start, end):
                end = start
        if not after_begin:
            stale = [m for m in _ANY_MARKER.finditer(text, start, end) if m.group(1) != nonce]
            if stale:
                start = stale[-1].end()
                pm = prompt_rx.match(text, start, end)
                if pm is not None:
                    start = pm.end()
            if self.echo is not False:
                start = self._skip_echo(text, start, end, line)
        body = _compile_marker_echo(self.prompt).sub("", text[start:end])
        if self.log_filter is not None:
            rx = (
                _compile_text(self.log_filter)
                if isinstance(self.log_filter, str)
                else self.log_filter
            )
            body = "\n".join(ln for ln in body.split("\n") if not (ln and rx.search(ln)))
        return body[:-1] if body.endswith("\n") else body

    def _skip_echo(self, text: str, start: int, end: int, line: str) -> int:
        """Return where the output starts: after the echoed command line if there is one."""
        prompt = _compile_text(self.prompt)
        i = text.find(line, start, end)
        while i != -1:
            tail = _LINE_END.match(text, i + len(line), end)
            if tail is not None:
                line_start = text.rfind("\n", start, i) + 1 or start
                before = text[line_start:i]
                if line_start == start and (not before or prompt.fullmatch(before)):
                    self._echo_seen = True
                    return tail.end()
                # Something came first (a kernel log line, a late prompt): accept the echo
                # further on only where it cannot be ordinary output, after a prompt or once
                # the shell is known to echo.
                if prompt.fullmatch(before) or (not before and (self.echo or self._echo_seen)):
                    return tail.end()
            i = text.find(line, i + 1, end)
        return start

    def _prompt_rx(self) -> _Prompt:
        return _prompt_searcher(self.prompt, True)

    # --------------------------------------------------------------------------- death

    def clear_death(self) -> DeathString | None:
        """Forget a death pattern seen so far (say, after a deliberate panic and reboot) and
        watch only text that arrives from now on. Returns what was forgotten."""
        with self._cond:
            err = self._death_error() if self._death is not None else None
            self._death = None
            self._death_armed = self._end
            return err

    def share_deaths(self, peer: Console) -> None:
        """A death seen here from now on also ends `peer`'s waits: an oops on the kernel-log
        line ends the command the shell line is waiting for. (One direction only.)"""
        self._death_peers.append(peer)

    def _adopt_death(self, pattern: str, matched: str) -> None:
        with self._cond:
            if self._death is None:
                # Text already here still counts; a wait for anything later ends.
                self._death = (pattern, matched, self._end)
                self._cond.notify_all()

    @property
    def death(self) -> DeathString | None:
        """The death pattern seen so far, as the error a wait would raise, or None."""
        with self._cond:
            return self._death_error() if self._death is not None else None

    # ----------------------------------------------------------------------------- state

    @property
    def text(self) -> str:
        """The text received so far, decoded and cleaned: all of it, or the last `TEXT_KEPT`
        characters of a longer stream (the capture file has more)."""
        with self._cond:
            return self._joined_tail()

    def tail(self, n: int = 2000) -> str:
        """The last `n` characters received (at most `TEXT_KEPT`)."""
        with self._cond:
            return self._joined_tail()[-n:]

    @property
    def held(self) -> int:
        """Characters of text the console holds in memory: bounded, however much arrives."""
        with self._cond:
            return (
                len(self._live)
                + self._pending_len
                + self._tail_len
                + len(self._recent)
                + len(self._decoder._held)
            )

    def _joined_tail(self) -> str:
        text = "".join(self._tail_parts)[-TEXT_KEPT:]
        self._tail_parts[:] = [text] if text else []
        self._tail_len = len(text)
        return text

    @property
    def closed(self) -> bool:
        """True once the stream has ended or `close()` was called."""
        return self._eof or self._closing

    @property
    def bytes_received(self) -> int:
        return self._nbytes

    def close(self) -> None:
        """Stop the drain thread, close the socket and the capture files."""
        if self._closing:
            return
        self._closing = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the drain thread's recv
        except OSError:
            pass
        self._thread.join(timeout=5.0)
        self._sock.close()
        with self._cond:
            if not self._eof:
                self._eof = True
                self._eof_reason = "the console was closed by the harness"
            self._cond.notify_all()
        for f in (self._capture, self._index):
            if f is not None:
                f.close()
        self._capture = self._index = None

    def __enter__(self) -> Console:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Console {self.name!r} {state}, {self._nbytes} bytes received>"

    # ------------------------------------------------------------------------ messages

    def _describe(self, head: str) -> tuple[str, str]:
        tail = self._joined_tail()[-_MESSAGE_TAIL:]
        where = (
            f"full capture: {self.capture_path}"
            if self.capture_path is not None
            else "no capture file (pass capture_path= to keep one)"
        )
        lines = tail.rstrip("\n") or "(nothing received)"
        return f"console {self.name!r}: {head}\n--- last output ---\n{lines}\n--- {where} ---", tail

    def _timeout_error(self, pattern: str, timeout: float) -> ConsoleTimeout:
        msg, tail = self._describe(f"timed out after {timeout:g}s waiting for /{pattern}/")
        return ConsoleTimeout(msg, pattern=pattern, tail=tail, capture_path=self.capture_path)

    def _closed_error(self, doing: str) -> ConsoleClosed:
        reason = self._eof_reason or "the console was closed by the harness"
        msg, tail = self._describe(f"{reason} while {doing}")
        return ConsoleClosed(msg, tail=tail, capture_path=self.capture_path)

    def _death_error(self) -> DeathString:
        assert self._death is not None
        pattern, matched, _ = self._death
        msg, tail = self._describe(f"death pattern /{pattern}/ appeared: {matched!r}")
        return DeathString(
            msg, pattern=pattern, match=matched, tail=tail, capture_path=self.capture_path
        )


# ----------------------------------------------------------------------------------- connect


def connect_unix(path: str | Path, timeout: float = 10.0) -> socket.socket:
    """Connect to a unix socket, retrying until it exists and accepts (targets create their
    sockets shortly after they start)."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            sock.connect(str(path))
            sock.settimeout(None)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        if time.monotonic() >= deadline:
            raise ConsoleError(
                f"could not connect to console socket {path} within {timeout:g}s: {last}"
            )
        time.sleep(0.02)


def connect_tcp(host: str, port: int, timeout: float = 10.0) -> socket.socket:
    """Connect to a tcp console, retrying until it accepts."""
    deadline = time.monotonic() + timeout
    last: OSError | None = None
    while True:
        try:
            sock = socket.create_connection(
                (host, port), timeout=max(0.05, deadline - time.monotonic())
            )
        except OSError as exc:
            last = exc
        else:
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # command round trips
            return sock
        if time.monotonic() >= deadline:
            raise ConsoleError(
                f"could not connect to console {host}:{port} within {timeout:g}s: {last}"
            )
        time.sleep(0.02)

"""The console TTY: the line discipline between the serial port and the shell.

Canonical mode, like a Linux tty with ICRNL|ONLCR|ECHO|ECHOE|ISIG: input is echoed, CR or LF
ends a line, BS/DEL erase a character, ^U erases the line, ^C sends SIGINT to the foreground
process group, ^D on an empty line is end-of-file. NULs, stray control bytes and terminal escape
sequences (arrow keys) are dropped; an over-long line is discarded with a message instead of
growing without bound.

Its settings are a struct termios (TCGETS/TCSETS) and a window size (TIOCGWINSZ/TIOCSWINSZ):
ECHO is honoured; the discipline is canonical only, so a setting without ICANON is refused."""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from sis.contract.syscalls import TERMIOS_FORMAT
from sis.kernel.errno import Errno, KernelError

if TYPE_CHECKING:
    from sis.kernel.proc.sched import Scheduler, WaitQueue

LINE_LIMIT = 4096
BS, DEL, CR, LF, TAB, ESC = 0x08, 0x7F, 0x0D, 0x0A, 0x09, 0x1B
CTRL_C, CTRL_D, CTRL_U = 0x03, 0x04, 0x15

# struct termios flags (Linux's values) and the console's settings at boot.
ICRNL, OPOST, ONLCR = 0o400, 0o1, 0o4
B115200, CS8, CREAD, CLOCAL = 0o010002, 0o60, 0o200, 0o4000
ISIG, ICANON, ECHO, ECHOE, ECHOK, IEXTEN = 0o1, 0o2, 0o10, 0o20, 0o40, 0o100000
# c_cc: VINTR ^C, VQUIT ^\, VERASE DEL, VKILL ^U, VEOF ^D, VTIME 0, VMIN 1, VSWTC, VSTART ^Q,
# VSTOP ^S, VSUSP ^Z, VEOL, VREPRINT ^R, VDISCARD ^O, VWERASE ^W, VLNEXT ^V, VEOL2.
CONTROL_CHARS = bytes(
    [3, 0x1C, 0x7F, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1A, 0, 0x12, 0x0F, 0x17, 0x16, 0]
)
BOOT_TERMIOS = (ICRNL, OPOST | ONLCR, B115200 | CS8 | CREAD | CLOCAL,
                ISIG | ICANON | ECHO | ECHOE | ECHOK | IEXTEN)  # fmt: skip


class Tty:
    def __init__(
        self,
        sched: Scheduler,
        write: Callable[[bytes], None],
        signal_group: Callable[[int, int], None],
    ) -> None:
        from sis.kernel.proc.sched import WaitQueue

        self._sched = sched
        self._write = write
        self._signal_group = signal_group
        self.readq: WaitQueue = WaitQueue(sched, "tty_read")
        self.lines: deque[bytes] = deque()
        self.line = bytearray()
        self.fg_pgid = 0
        self.reader_pgid = 0  # process group of the task blocked reading, if any
        self.echo = True
        self.flags = BOOT_TERMIOS  # c_iflag, c_oflag, c_cflag, c_lflag (ECHO kept in self.echo)
        self.control_chars = CONTROL_CHARS.ljust(19, b"\0")
        self.winsize = (24, 80, 0, 0)  # rows, columns, x and y pixels
        self.junk_bytes = 0
        self.overflows = 0
        self._overflow = False
        self._esc = 0  # 0 none, 1 after ESC, 2 inside CSI
        self._last_cr = False

    # -- input (called from the serial port) ---------------------------------------------------
    def receive(self, data: bytes) -> None:
        echo = bytearray()
        for b in data:
            if self._esc:
                if self._esc == 1:
                    self._esc = 2 if b in (0x5B, 0x4F) else 0  # ESC [ or ESC O
                elif 0x40 <= b <= 0x7E:
                    self._esc = 0
                continue
            if b == LF and self._last_cr:
                self._last_cr = False  # CRLF is one line end
                continue
            self._last_cr = b == CR
            if b in (CR, LF):
                echo += b"\r\n"
                self._complete(bytes(self.line) + b"\n")
            elif b in (BS, DEL):
                if self.line:
                    # Erase a whole UTF-8 character, not just its last byte.
                    while len(self.line) > 1 and 0x80 <= self.line[-1] < 0xC0:
                        del self.line[-1]  # continuation bytes, then the lead byte
                    del self.line[-1]
                    echo += b"\b \b"
            elif b == CTRL_C:
                echo += b"^C\r\n"
                self.line.clear()
                self._overflow = False
                self._interrupt()
            elif b == CTRL_U:
                echo += b"\b \b" * len(self.line.decode("utf-8", "replace"))
                self.line.clear()
            elif b == CTRL_D:
                if not self.line:
                    self._complete(b"")  # end-of-file for the reader
                else:
                    self._complete(bytes(self.line))
            elif b == ESC:
                self._esc = 1
            elif b < 0x20 and b != TAB:
                self.junk_bytes += 1
            elif len(self.line) >= LINE_LIMIT - 1:
                if not self._overflow:
                    self.overflows += 1
                self._overflow = True
            else:
                self.line.append(b)
                echo.append(b)
        if echo and self.echo:
            self._write(bytes(echo))

    def _complete(self, line: bytes) -> None:
        if self._overflow:
            self._overflow = False
            self.line.clear()
            self._write(
                f"tty: input line longer than {LINE_LIMIT - 1} bytes, discarded\r\n".encode()
            )
            line = b"\n"
        self.line.clear()
        self.lines.append(line)
        self.readq.wake_all()

    def _interrupt(self) -> None:
        if self.fg_pgid and self.fg_pgid != self.reader_pgid:
            self._signal_group(self.fg_pgid, 2)
        else:
            # The shell itself is reading: give it an empty line so it prompts afresh.
            self.lines.append(b"\n")
            self.readq.wake_all()

    # -- settings (ioctl) ----------------------------------------------------------------------
    def termios(self) -> bytes:
        """The struct termios TCGETS reports."""
        iflag, oflag, cflag, lflag = self.flags
        lflag = lflag | ECHO if self.echo else lflag & ~ECHO
        return struct.pack(TERMIOS_FORMAT, iflag, oflag, cflag, lflag, 0, self.control_chars)

    def set_termios(self, data: bytes, *, flush_input: bool = False) -> None:
        """TCSETS (TCSETSF also discards unread input). Raises KernelError(EINVAL) for a
        setting this discipline cannot honour (non-canonical input)."""
        iflag, oflag, cflag, lflag, _line, cc = struct.unpack(TERMIOS_FORMAT, data)
        if not lflag & ICANON:
            raise KernelError(Errno.EINVAL, "the console's line discipline is canonical only")
        self.flags = (iflag, oflag, cflag, lflag)
        self.control_chars = cc
        self.echo = bool(lflag & ECHO)
        if flush_input:
            self.lines.clear()
            self.line.clear()

    def input_pending(self) -> int:
        """Bytes a read would return now (FIONREAD): completed lines only, as in canonical mode."""
        return sum(len(line) for line in self.lines)

    # -- the file side ----------------------------------------------------------------------------
    async def read(self, pgid: int, count: int) -> bytes:
        from sis.kernel.proc.sched import SIGNALLED

        while not self.lines:
            self.reader_pgid = pgid
            try:
                if await self._sched.block(self.readq, channel="tty_read") == SIGNALLED:
                    raise KernelError(Errno.EINTR)
            finally:
                self.reader_pgid = 0
        line = self.lines[0]
        if len(line) <= count:
            self.lines.popleft()
            return line
        self.lines[0] = line[count:]
        return line[:count]

    def write(self, data: bytes) -> int:
        self._write(data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        return len(data)

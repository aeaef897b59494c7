from sis.kernel.tty import LINE_LIMIT, Tty


def make():
    out = bytearray()
    signals = []
    # No scheduler: only the input side is exercised, and nobody waits on the read queue.
    tty = Tty(None, out.extend, lambda pgid, sig: signals.append((pgid, sig)))  # type: ignore[arg-type]
    return tty, out, signals


def test_echo_and_line_endings():
    tty, out, _ = make()
    tty.receive(b"ls\r\npwd\rcat\n")
    assert list(tty.lines) == [b"ls\n", b"pwd\n", b"cat\n"]
    assert bytes(out) == b"ls\r\npwd\r\ncat\r\n"


def test_backspace_and_delete_erase_characters():
    tty, out, _ = make()
    tty.receive("ab\x08c\x7fé\x7fd\n".encode())
    assert list(tty.lines) == [b"ad\n"]


def test_ctrl_c_signals_the_foreground_group():
    tty, out, signals = make()
    tty.fg_pgid = 7
    tty.receive(b"sleep 10\x03")
    assert signals == [(7, 2)] and b"^C" in out and not tty.line


def test_ctrl_c_at_the_prompt_gives_a_fresh_line():
    tty, out, signals = make()
    tty.fg_pgid = tty.reader_pgid = 3
    tty.receive(b"half typed\x03")
    assert signals == [] and list(tty.lines) == [b"\n"]


def test_junk_nuls_and_escape_sequences_are_dropped():
    tty, out, _ = make()
    tty.receive(b"e\x00c\x01h\x1b[Ao\x1bOB x\n")
    assert list(tty.lines) == [b"echo x\n"]
    assert tty.junk_bytes == 2


def test_overlong_line_is_discarded_with_a_message():
    tty, out, _ = make()
    tty.receive(b"x" * (70 * 1024) + b"\n")
    assert list(tty.lines) == [b"\n"] and tty.overflows == 1
    assert b"longer than" in out
    assert len(out) < LINE_LIMIT + 200  # no unbounded echo
    tty.receive(b"ok\n")
    assert tty.lines[-1] == b"ok\n"


def test_ctrl_d_on_empty_line_is_eof():
    tty, out, _ = make()
    tty.receive(b"\x04")
    assert list(tty.lines) == [b""]

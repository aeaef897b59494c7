"""QMP framing: a byte stream cut into JSON texts, and messages encoded one a line.

QEMU does not require newlines between messages (qemu.qmp sends none), so input is split by
tracking JSON structure, like QEMU's JSON streamer; malformed input yields a ParseError and the
rest of that line is skipped."""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass


@dataclass
class ParseError:
    desc: str


# Characters that may appear outside strings in a JSON text. Anything else can never become
# valid, so it is reported at once instead of waiting for a closing brace that may never come.
_JSON_BARE = frozenset(b" \t\r\n{}[],:0123456789+-.eEtruefalsn")
_WHITESPACE = frozenset(b" \t\r\n")
_STRING_SPECIAL = re.compile(rb'["\\\x00-\x1f]')


class JSONStreamSplitter:
    """Cuts a byte stream into complete JSON texts, like QEMU's JSON streamer.

    `feed()` yields the bytes of each complete top-level value, or a `ParseError`. After an error
    the rest of the line is skipped: a newline is where a confused client most likely resumes.
    """

    def __init__(self, max_bytes: int, max_depth: int) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._scalar = False  # a bare top-level token (number, keyword or garbage)
        self._skipping = False

    def _fail(self, desc: str) -> ParseError:
        self._reset()
        self._skipping = True
        return ParseError(desc)

    def feed(self, data: bytes) -> Iterator[bytes | ParseError]:
        i, n = 0, len(data)
        while i < n:
            if self._skipping:
                j = data.find(b"\n", i)
                if j < 0:
                    return
                self._skipping = False
                i = j + 1
                continue
            if self._in_string:
                i = yield from self._scan_string(data, i)
                continue
            c = data[i]
            i += 1
            if self._depth == 0 and not self._scalar:
                if c in _WHITESPACE:
                    continue
                self._buf.append(c)
                if c in b"{[":
                    self._depth = 1
                elif c == 0x22:  # '"'
                    self._in_string = True
                elif c in b"}],:" or c not in _JSON_BARE:
                    yield self._fail(f"JSON parse error, stray '{chr(c)}'")
                else:
                    self._scalar = True
                continue
            if self._scalar:
                if c in _WHITESPACE or c in b'{}[]",:':
                    # The token ended; a structural character after it starts the next value.
                    token = bytes(self._buf)
                    self._reset()
                    yield token
                    if c not in _WHITESPACE:
                        i -= 1
                    continue
                if c not in _JSON_BARE:
                    yield self._fail(f"JSON parse error, stray '{chr(c)}'")
                    continue
                self._buf.append(c)
                if len(self._buf) > self.max_bytes:
                    yield self._fail(f"JSON parse error, message exceeds {self.max_bytes} bytes")
                continue
            # Inside an object or array.
            if c not in _JSON_BARE and c != 0x22:
                yield self._fail(f"JSON parse error, stray '{chr(c)}'")
                continue
            self._buf.append(c)
            if c == 0x22:
                self._in_string = True
            elif c in b"{[":
                self._depth += 1
                if self._depth > self.max_depth:
                    yield self._fail(
                        f"JSON parse error, nesting deeper than {self.max_depth} levels"
                    )
                    continue
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    message = bytes(self._buf)
                    self._reset()
                    yield message
                    continue
            if len(self._buf) > self.max_bytes:
                yield self._fail(f"JSON parse error, message exceeds {self.max_bytes} bytes")

    def _scan_string(self, data: bytes, i: int) -> Generator[bytes | ParseError, None, int]:
        """Consume string content from `data[i:]`; return the index after what was used."""
        n = len(data)
        start = i
        while i < n:
            if self._escape:
                self._escape = False
                i += 1
                continue
            m = _STRING_SPECIAL.search(data, i)
            if m is None:
                i = n
                break
            i = m.start()
            c = data[i]
            if c == 0x5C:  # backslash
                self._escape = True
                i += 1
            elif c == 0x22:
                self._in_string = False
                i += 1
                break
            else:
                # Raw control characters are invalid in JSON strings; a newline here also means
                # the client gave up on this message, so resume right after it.
                self._reset()
                if c != 0x0A:
                    self._skipping = True
                yield ParseError("JSON parse error, control character in string")
                return i + 1
        self._buf += data[start:i]
        if len(self._buf) > self.max_bytes:
            yield self._fail(f"JSON parse error, message exceeds {self.max_bytes} bytes")
            return i
        if not self._in_string and self._depth == 0:
            # A top-level string: a complete (if useless) JSON text.
            message = bytes(self._buf)
            self._reset()
            yield message
        return i


def encode(message: dict) -> bytes:
    """One message a line, as QEMU sends them; ensure_ascii keeps the stream 7-bit clean."""
    return json.dumps(message, separators=(", ", ": ")).encode() + b"\r\n"

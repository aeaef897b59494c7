"""ICMP messages (RFC 792): echo request and reply, destination unreachable."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sis.kernel.net.ipv4 import HEADER_LEN, checksum

ECHO_REPLY = 0
DEST_UNREACH = 3
ECHO_REQUEST = 8
UNREACH_NET, UNREACH_HOST, UNREACH_PORT = 0, 1, 3
_HEADER = struct.Struct("!BBHHH")


@dataclass(frozen=True)
class IcmpMessage:
    type: int
    code: int
    ident: int  # echo: identifier; otherwise the first half of the rest-of-header word
    seq: int
    data: bytes


def build(type_: int, code: int, ident: int, seq: int, data: bytes) -> bytes:
    body = _HEADER.pack(type_, code, 0, ident & 0xFFFF, seq & 0xFFFF) + data
    return body[:2] + checksum(body).to_bytes(2, "big") + body[4:]


def echo_request(ident: int, seq: int, data: bytes) -> bytes:
    return build(ECHO_REQUEST, 0, ident, seq, data)


def unreachable(code: int, original: bytes) -> bytes:
    """Destination unreachable quoting the offending packet's IP header and 8 payload bytes."""
    return build(DEST_UNREACH, code, 0, 0, original[: HEADER_LEN + 8])


def parse(message: bytes) -> IcmpMessage:
    """ValueError on a truncated message or a bad checksum."""
    if len(message) < _HEADER.size:
        raise ValueError("truncated ICMP message")
    if checksum(message) != 0:
        raise ValueError("bad ICMP checksum")
    type_, code, _csum, ident, seq = _HEADER.unpack_from(message)
    return IcmpMessage(type_, code, ident, seq, message[_HEADER.size :])

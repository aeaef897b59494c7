"""UDP datagrams (RFC 768), with the checksum over the pseudo header."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sis.kernel.net.ipv4 import IPPROTO_UDP, checksum, pseudo_header

HEADER_LEN = 8
_HEADER = struct.Struct("!HHHH")


@dataclass(frozen=True)
class UdpHeader:
    sport: int
    dport: int
    length: int


def build(src: int, dst: int, sport: int, dport: int, payload: bytes) -> bytes:
    length = HEADER_LEN + len(payload)
    body = _HEADER.pack(sport, dport, length, 0) + payload
    csum = checksum(pseudo_header(src, dst, IPPROTO_UDP, length) + body) or 0xFFFF
    return body[:6] + csum.to_bytes(2, "big") + body[8:]


def parse(src: int, dst: int, datagram: bytes) -> tuple[UdpHeader, bytes]:
    """ValueError on a truncated datagram or a bad checksum (0 means none was sent)."""
    if len(datagram) < HEADER_LEN:
        raise ValueError("truncated UDP header")
    sport, dport, length, csum = _HEADER.unpack_from(datagram)
    if length < HEADER_LEN or length > len(datagram):
        raise ValueError(f"bad UDP length {length}")
    datagram = datagram[:length]
    if csum and checksum(pseudo_header(src, dst, IPPROTO_UDP, length) + datagram) != 0:
        raise ValueError("bad UDP checksum")
    return UdpHeader(sport, dport, length), datagram[HEADER_LEN:]

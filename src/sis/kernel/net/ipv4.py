"""IPv4 (RFC 791): addresses, the header and the Internet checksum. The stack sends no
options and does not fragment: packets larger than the MTU fail with EMSGSIZE, and arriving
fragments are dropped."""

from __future__ import annotations

import struct
from dataclasses import dataclass

IPPROTO_ICMP = 1
IPPROTO_UDP = 17
DEFAULT_TTL = 64
HEADER_LEN = 20
ANY = 0
BROADCAST = 0xFFFFFFFF
_HEADER = struct.Struct("!BBHHHBBH4s4s")
_DF = 0x4000


def aton(text: str) -> int:
    """'10.0.2.15' -> int; ValueError unless four decimal numbers 0..255."""
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        raise ValueError(f"invalid IPv4 address {text!r}")
    return int.from_bytes(bytes(int(p) for p in parts), "big")


def ntoa(addr: int) -> str:
    return ".".join(str(b) for b in addr.to_bytes(4, "big"))


LOOPBACK = aton("127.0.0.1")


def netmask(prefix: int) -> int:
    return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF


def same_subnet(a: int, b: int, prefix: int) -> bool:
    return (a ^ b) & netmask(prefix) == 0


def is_loopback(addr: int) -> bool:
    return addr >> 24 == 127


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): 0 when computed over data that includes a valid one."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


@dataclass(frozen=True)
class IpHeader:
    src: int
    dst: int
    proto: int
    ttl: int
    ident: int
    total_len: int
    header_len: int


def build(
    src: int, dst: int, proto: int, payload: bytes, ident: int, ttl: int = DEFAULT_TTL
) -> bytes:
    total = HEADER_LEN + len(payload)
    header = _HEADER.pack(
        0x45,
        0,
        total,
        ident & 0xFFFF,
        _DF,
        ttl,
        proto,
        0,
        src.to_bytes(4, "big"),
        dst.to_bytes(4, "big"),
    )
    csum = checksum(header)
    return header[:10] + csum.to_bytes(2, "big") + header[12:] + payload


def parse(packet: bytes) -> tuple[IpHeader, bytes]:
    """Header and payload (trimmed to the header's total length). ValueError on anything a
    receiver must drop: not version 4, truncated, bad checksum, a fragment."""
    if len(packet) < HEADER_LEN:
        raise ValueError("truncated IPv4 header")
    vihl, _tos, total, ident, frag, ttl, proto, _csum, src, dst = _HEADER.unpack_from(packet)
    ihl = (vihl & 0xF) * 4
    if vihl >> 4 != 4 or ihl < HEADER_LEN or len(packet) < ihl:
        raise ValueError("not an IPv4 header")
    if total < ihl or total > len(packet):
        raise ValueError(f"bad total length {total}")
    if checksum(packet[:ihl]) != 0:
        raise ValueError("bad IPv4 header checksum")
    if frag & 0x3FFF:
        raise ValueError("fragment")
    hdr = IpHeader(
        int.from_bytes(src, "big"), int.from_bytes(dst, "big"), proto, ttl, ident, total, ihl
    )
    return hdr, packet[ihl:total]


def pseudo_header(src: int, dst: int, proto: int, length: int) -> bytes:
    """The pseudo header UDP's checksum covers."""
    return src.to_bytes(4, "big") + dst.to_bytes(4, "big") + struct.pack("!BBH", 0, proto, length)

"""Ethernet II frames: destination MAC, source MAC, ethertype, payload."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sis.kernel.drivers.nic import BROADCAST_MAC, ETH_HLEN

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
_HEADER = struct.Struct("!6s6sH")

__all__ = ["BROADCAST_MAC", "ETH_HLEN", "ETH_P_ARP", "ETH_P_IP", "EtherHeader", "build", "parse"]


@dataclass(frozen=True)
class EtherHeader:
    dst: bytes
    src: bytes
    ethertype: int


def build(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    return _HEADER.pack(dst, src, ethertype) + payload


def parse(frame: bytes) -> tuple[EtherHeader, bytes]:
    """Header and payload; ValueError on a runt frame."""
    if len(frame) < ETH_HLEN:
        raise ValueError(f"runt frame of {len(frame)} bytes")
    dst, src, ethertype = _HEADER.unpack_from(frame)
    return EtherHeader(dst, src, ethertype), frame[ETH_HLEN:]

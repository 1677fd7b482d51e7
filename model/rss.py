# SPDX-License-Identifier: MIT
"""Receive-side scaling: the Toeplitz hash as Microsoft's RSS specification defines it, the
choice of hash input per frame, and the indirection-table lookup.

Written from the specification ("RSS Hashing Functions", "Verifying the RSS Hash Calculation"),
bit by bit, so that it shares nothing with the RTL's chunked implementation (rtl/rss_toeplitz.sv)
that it checks:

    result = 0
    for each bit b of the input, left to right (byte 0 first, most significant bit first):
        if b == 1: result ^= the left-most 32 bits of K
        shift K left by one bit

Input bytes are in network order: source address, destination address, then (4-tuple only)
source port, destination port. Selection, as the NIC implements it:

- TCP (not a fragment): 4-tuple, ``IPV4_TCP`` / ``IPV6_TCP``;
- UDP (not a fragment) when ``udp_4tuple`` is set: 4-tuple, ``IPV4_UDP`` / ``IPV6_UDP``;
- any other IP datagram (UDP without ``udp_4tuple``, other protocols, and every fragment, so
  all fragments of one datagram land on one queue): 2-tuple, ``IPV4`` / ``IPV6``;
- not IP: no hash (0), ``NONE``; the queue is then indirection entry 0.

TCP wins if a request claims both TCP and UDP. The queue is ``indirection[hash & 0x7f]``.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass

from model.records import RssType

KEY_BYTES = 40
INDIRECTION_ENTRIES = 128

# The secret key of Microsoft's "Verifying the RSS Hash Calculation" page (also the default
# key of many NIC drivers).
MS_VERIFICATION_KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)


def toeplitz_hash(key: bytes, data: bytes) -> int:
    """The 32-bit Toeplitz hash of ``data`` under ``key`` (bit-serial, as the spec states it).
    The key must cover every input bit plus 31: ``len(key) * 8 >= len(data) * 8 + 31``."""
    if len(key) * 8 < len(data) * 8 + 31:
        raise ValueError(f"a {len(key)}-byte key is too short for {len(data)} input bytes")
    k = int.from_bytes(key, "big")
    kbits = len(key) * 8
    result = 0
    for i in range(len(data) * 8):
        if (data[i // 8] >> (7 - i % 8)) & 1:
            result ^= (k >> (kbits - 32 - i)) & 0xFFFFFFFF
    return result


def key_to_int(key: bytes) -> int:
    """The RTL's 320-bit ``key`` port value: key byte 0 in bits 319:312 (most significant)."""
    if len(key) != KEY_BYTES:
        raise ValueError(f"an RSS key is {KEY_BYTES} bytes, got {len(key)}")
    return int.from_bytes(key, "big")


@dataclass(frozen=True)
class Flow:
    """What the parser extracted from one frame, as far as RSS cares. Addresses are 4 bytes
    (IPv4) or 16 bytes (IPv6) in network order; ignored when ``is_ip`` is False."""

    is_ip: bool
    is_ipv6: bool
    is_tcp: bool
    is_udp: bool
    is_frag: bool
    src: bytes
    dst: bytes
    sport: int
    dport: int

    @classmethod
    def from_strings(
        cls,
        src: str,
        dst: str,
        sport: int = 0,
        dport: int = 0,
        *,
        tcp: bool = False,
        udp: bool = False,
        frag: bool = False,
    ) -> Flow:
        """A flow from textual addresses (IPv4 or IPv6, both the same family)."""
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        if s.version != d.version:
            raise ValueError(f"{src} and {dst} are not the same IP version")
        return cls(True, s.version == 6, tcp, udp, frag, s.packed, d.packed, sport, dport)

    def __post_init__(self) -> None:
        if self.is_ip:
            n = 16 if self.is_ipv6 else 4
            if len(self.src) != n or len(self.dst) != n:
                raise ValueError(f"IPv{6 if self.is_ipv6 else 4} addresses are {n} bytes")
        if not (0 <= self.sport < 1 << 16 and 0 <= self.dport < 1 << 16):
            raise ValueError("ports are 16-bit")


def rss_input(flow: Flow, udp_4tuple: bool) -> tuple[RssType, bytes]:
    """The hash type and the hash input bytes chosen for ``flow`` (b'' for NONE)."""
    if not flow.is_ip:
        return RssType.NONE, b""
    v6 = flow.is_ipv6
    ports = flow.sport.to_bytes(2, "big") + flow.dport.to_bytes(2, "big")
    if flow.is_frag:
        four, kind = False, RssType.IPV6 if v6 else RssType.IPV4
    elif flow.is_tcp:
        four, kind = True, RssType.IPV6_TCP if v6 else RssType.IPV4_TCP
    elif flow.is_udp and udp_4tuple:
        four, kind = True, RssType.IPV6_UDP if v6 else RssType.IPV4_UDP
    else:
        four, kind = False, RssType.IPV6 if v6 else RssType.IPV4
    return kind, flow.src + flow.dst + (ports if four else b"")


@dataclass(frozen=True)
class RssResult:
    hash: int
    rss_type: RssType
    queue: int


def rss(flow: Flow, key: bytes, udp_4tuple: bool, indirection: Sequence[int]) -> RssResult:
    """Hash, hash type and queue for ``flow`` (``indirection`` has 128 entries)."""
    if len(indirection) != INDIRECTION_ENTRIES:
        raise ValueError(f"the indirection table has {INDIRECTION_ENTRIES} entries")
    kind, data = rss_input(flow, udp_4tuple)
    h = toeplitz_hash(key, data) if kind != RssType.NONE else 0
    return RssResult(h, kind, indirection[h & (INDIRECTION_ENTRIES - 1)])


@dataclass(frozen=True)
class RssConfig:
    """The NIC's RSS settings (RSS_KEY, RSS_CTRL.udp_4tuple, the indirection table behind
    RSS_INDIR). The default is the state out of reset: the key all zero, so every hash is 0
    (the hash type is still reported), UDP over the 2-tuple, every entry queue 0."""

    key: bytes = bytes(KEY_BYTES)
    udp_4tuple: bool = False
    indirection: tuple[int, ...] = (0,) * INDIRECTION_ENTRIES

    def __post_init__(self) -> None:
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"an RSS key is {KEY_BYTES} bytes, got {len(self.key)}")
        if len(self.indirection) != INDIRECTION_ENTRIES:
            raise ValueError(f"the indirection table has {INDIRECTION_ENTRIES} entries")
        object.__setattr__(self, "indirection", tuple(int(q) for q in self.indirection))

    def result(self, flow: Flow) -> RssResult:
        """Hash, hash type and queue of ``flow`` under these settings."""
        return rss(flow, self.key, self.udp_4tuple, self.indirection)


def spread_indirection(rng: random.Random, queues: int) -> tuple[int, ...]:
    """An indirection table giving each of queues 0..``queues``-1 an equal share of the
    entries (``queues`` dividing 128), in an order shuffled by ``rng``."""
    if queues < 1 or INDIRECTION_ENTRIES % queues:
        raise ValueError(f"{queues} queues do not share {INDIRECTION_ENTRIES} entries equally")
    table = [i % queues for i in range(INDIRECTION_ENTRIES)]
    rng.shuffle(table)
    return tuple(table)


#: The NIC out of reset (nothing programmed).
RSS_RESET = RssConfig()

# SPDX-License-Identifier: MIT
"""Traffic for tests and `make sim`: scapy-built frames of chosen sizes and mixed kinds."""

from __future__ import annotations

import random

from scapy.layers.inet import IP, TCP, UDP, IPOption_NOP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

GUEST_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"


def scapy_frame(rng: random.Random, size: int, i: int = 0, dst: str = GUEST_MAC) -> bytes:
    """A frame of exactly ``size`` bytes (FCS excluded, 60 <= size) to ``dst``, of a kind
    chosen by ``rng``: UDP/IPv4, TCP/IPv4, VLAN-tagged UDP/IPv4, UDP/IPv6, TCP/IPv6 behind
    hop-by-hop and destination-options headers, UDP/IPv4 with IP options, TCP/IPv4 with a
    wrong checksum, or a non-IP frame (local EtherType 0x88B5); ``i`` goes into the source
    port. A kind whose headers do not fit ``size`` falls back to UDP/IPv4."""
    eth = Ether(dst=dst, src=PEER_MAC)
    v4 = IP(src="10.0.0.2", dst="10.0.0.1")
    v6 = IPv6(src="fd00::2", dst="fd00::1")
    sport = i & 0xFFFF
    kinds = [
        lambda: eth / v4 / UDP(sport=sport, dport=9),
        lambda: eth / v4 / TCP(sport=sport, dport=80),
        lambda: eth / Dot1Q(vlan=5) / v4 / UDP(dport=9),
        lambda: eth / v6 / UDP(sport=sport, dport=9),
        lambda: eth / v6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(sport=sport),
        lambda: (
            eth
            / IP(src="10.0.0.2", dst="10.0.0.1", options=[IPOption_NOP()] * 8)
            / UDP(sport=sport, dport=9)
        ),
        lambda: eth / v4 / TCP(sport=sport, dport=80, chksum=0xBAD),
        lambda: Ether(dst=dst, src=PEER_MAC, type=0x88B5),
    ]
    hdr = kinds[rng.randrange(len(kinds))]()
    if len(hdr) > size:
        hdr = kinds[0]()
    pkt = hdr / Raw(bytes(rng.getrandbits(8) for _ in range(max(0, size - len(hdr)))))
    raw = bytes(pkt)[:size]
    if len(raw) != size:
        raise ValueError(f"cannot build a {size}-byte frame (headers alone are {len(hdr)} B)")
    return raw


def mutate(rng: random.Random, frame: bytes) -> bytes:
    """A hostile variant of ``frame`` with the destination MAC kept (so it is still steered
    to its owner): bit flips in the headers, a truncation, a bogus IPv4/IPv6 length, or a
    stack of VLAN tags pushed in front of the EtherType. At least 60 bytes."""
    b = bytearray(frame)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(12, min(len(b), 96))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:
        b = b[: rng.randint(60, len(b))]
    elif kind == 2:
        et = int.from_bytes(b[12:14], "big")
        if et == 0x0800:
            b[16:18] = rng.randrange(0x10000).to_bytes(2, "big")  # IPv4 total length
        elif et == 0x86DD:
            b[18:20] = rng.randrange(0x10000).to_bytes(2, "big")  # IPv6 payload length
        else:
            b[14] ^= 0xFF
    else:
        tags = b"".join(
            rng.choice((0x8100, 0x88A8)).to_bytes(2, "big")
            + rng.randrange(0x10000).to_bytes(2, "big")
            for _ in range(rng.randint(1, 4))
        )
        b = b[:12] + tags + b[12:]
    if len(b) < 60:
        b += bytes(60 - len(b))
    return bytes(b)

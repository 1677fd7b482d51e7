# SPDX-License-Identifier: MIT
"""Traffic for tests and `make sim`: scapy-built frames of chosen sizes and mixed kinds."""

from __future__ import annotations

import random

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

GUEST_MAC = "02:00:00:00:00:01"
PEER_MAC = "02:00:00:00:00:02"


def scapy_frame(rng: random.Random, size: int, i: int = 0, dst: str = GUEST_MAC) -> bytes:
    """A frame of exactly ``size`` bytes (FCS excluded, 60 <= size) to ``dst``: UDP/IPv4,
    TCP/IPv4, VLAN-tagged UDP/IPv4 or UDP/IPv6, chosen by ``rng``; ``i`` goes into the source
    port."""
    kind = rng.randrange(4)
    eth = Ether(dst=dst, src=PEER_MAC)
    if kind == 0:
        hdr = eth / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=i & 0xFFFF, dport=9)
    elif kind == 1:
        hdr = eth / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=i & 0xFFFF, dport=80)
    elif kind == 2:
        hdr = eth / Dot1Q(vlan=5) / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(dport=9)
    else:
        hdr = eth / IPv6(src="fd00::2", dst="fd00::1") / UDP(sport=i & 0xFFFF, dport=9)
    pkt = hdr / Raw(bytes(rng.getrandbits(8) for _ in range(max(0, size - len(hdr)))))
    raw = bytes(pkt)[:size]
    if len(raw) != size:
        raise ValueError(f"cannot build a {size}-byte frame (headers alone are {len(hdr)} B)")
    return raw

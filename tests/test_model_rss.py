# SPDX-License-Identifier: MIT
"""model/rss.py against Microsoft's published RSS verification data, plus the selection rules.

Vectors: "Verifying the RSS Hash Calculation" (Windows driver docs, NdisHashFunctionToeplitz),
with its secret key. The page lists destination before source; the hash input is source
address, destination address, source port, destination port.
"""

from __future__ import annotations

import random

import pytest

from model.records import RssType
from model.rss import (
    MS_VERIFICATION_KEY,
    Flow,
    key_to_int,
    rss,
    rss_input,
    spread_indirection,
    toeplitz_hash,
)

# (source, source port, destination, destination port, IP only, IP with TCP)
MS_IPV4 = [
    ("66.9.149.187", 2794, "161.142.100.80", 1766, 0x323E8FC2, 0x51CCC178),
    ("199.92.111.2", 14230, "65.69.140.83", 4739, 0xD718262A, 0xC626B0EA),
    ("24.19.198.95", 12898, "12.22.207.184", 38024, 0xD2D0A5DE, 0x5C2B394A),
    ("38.27.205.30", 48228, "209.142.163.6", 2217, 0x82989176, 0xAFC7327F),
    ("153.39.163.191", 44251, "202.188.127.2", 1303, 0x5D1809C5, 0x10E828A2),
]
MS_IPV6 = [
    ("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766, 0x2CC18CD5, 0x40207D3D),
    ("3ffe:501:8::260:97ff:fe40:efab", 14230, "ff02::1", 4739, 0x0F0C461C, 0xDDE51BBF),
    (
        "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
        44251,
        "fe80::200:f8ff:fe21:67cf",
        38024,
        0x4B61E985,
        0x02D1FEEF,
    ),
]
MS_VECTORS = MS_IPV4 + MS_IPV6


def test_verification_key_is_the_published_one() -> None:
    assert len(MS_VERIFICATION_KEY) == 40
    assert MS_VERIFICATION_KEY[:8] == bytes([0x6D, 0x5A, 0x56, 0xDA, 0x25, 0x5B, 0x0E, 0xC2])
    assert MS_VERIFICATION_KEY[-8:] == bytes([0x6A, 0x42, 0xB7, 0x3B, 0xBE, 0xAC, 0x01, 0xFA])
    assert key_to_int(MS_VERIFICATION_KEY) >> 312 == 0x6D  # byte 0 is most significant


@pytest.mark.parametrize(("src", "sport", "dst", "dport", "h_ip", "h_tcp"), MS_VECTORS)
def test_published_ip_only_and_tcp_hashes(
    src: str, sport: int, dst: str, dport: int, h_ip: int, h_tcp: int
) -> None:
    table = list(range(128))
    v6 = ":" in src
    ip_only = rss(Flow.from_strings(src, dst, sport, dport), MS_VERIFICATION_KEY, False, table)
    assert ip_only.hash == h_ip, f"{ip_only.hash:#010x} != {h_ip:#010x}"
    assert ip_only.rss_type == (RssType.IPV6 if v6 else RssType.IPV4)
    assert ip_only.queue == h_ip & 0x7F
    tcp = rss(
        Flow.from_strings(src, dst, sport, dport, tcp=True), MS_VERIFICATION_KEY, False, table
    )
    assert tcp.hash == h_tcp, f"{tcp.hash:#010x} != {h_tcp:#010x}"
    assert tcp.rss_type == (RssType.IPV6_TCP if v6 else RssType.IPV4_TCP)


def test_udp_uses_four_tuple_only_when_configured() -> None:
    src, sport, dst, dport, h_ip, h_tcp = MS_IPV4[0]
    udp = Flow.from_strings(src, dst, sport, dport, udp=True)
    table = [0] * 128
    two = rss(udp, MS_VERIFICATION_KEY, False, table)
    four = rss(udp, MS_VERIFICATION_KEY, True, table)
    assert (two.hash, two.rss_type) == (h_ip, RssType.IPV4)
    # The 4-tuple input of UDP is the same bytes as TCP's, so the hash is the published one.
    assert (four.hash, four.rss_type) == (h_tcp, RssType.IPV4_UDP)
    src6, sport6, dst6, dport6, _, h_tcp6 = MS_IPV6[1]
    udp6 = Flow.from_strings(src6, dst6, sport6, dport6, udp=True)
    assert rss(udp6, MS_VERIFICATION_KEY, True, table).hash == h_tcp6
    assert rss(udp6, MS_VERIFICATION_KEY, True, table).rss_type == RssType.IPV6_UDP


@pytest.mark.parametrize("udp_4tuple", [False, True])
def test_fragments_always_hash_the_two_tuple(udp_4tuple: bool) -> None:
    for src, sport, dst, dport, h_ip, _ in MS_VECTORS:
        for kw in ({"tcp": True}, {"udp": True}, {}):
            f = Flow.from_strings(src, dst, sport, dport, frag=True, **kw)
            r = rss(f, MS_VERIFICATION_KEY, udp_4tuple, [0] * 128)
            assert r.hash == h_ip
            assert r.rss_type in (RssType.IPV4, RssType.IPV6)


def test_non_ip_has_no_hash_and_uses_indirection_entry_0() -> None:
    f = Flow(False, False, True, False, False, b"", b"", 1, 2)
    table = [5] + [9] * 127
    assert rss_input(f, True) == (RssType.NONE, b"")
    assert rss(f, MS_VERIFICATION_KEY, True, table) == rss(f, bytes(40), False, table)
    r = rss(f, MS_VERIFICATION_KEY, True, table)
    assert (r.hash, r.rss_type, r.queue) == (0, RssType.NONE, 5)


def test_tcp_wins_over_udp_and_ports_follow_addresses() -> None:
    f = Flow.from_strings("10.0.0.1", "10.0.0.2", 0x1234, 0xABCD, tcp=True, udp=True)
    kind, data = rss_input(f, False)
    assert kind == RssType.IPV4_TCP
    assert data == bytes([10, 0, 0, 1, 10, 0, 0, 2, 0x12, 0x34, 0xAB, 0xCD])


def test_queue_is_indirection_entry_of_low_seven_hash_bits() -> None:
    rng = random.Random(7)
    table = [rng.randrange(64) for _ in range(128)]
    for src, sport, dst, dport, _, h_tcp in MS_VECTORS:
        tcp = rss(
            Flow.from_strings(src, dst, sport, dport, tcp=True), MS_VERIFICATION_KEY, False, table
        )
        assert tcp.queue == table[h_tcp & 0x7F]


def test_toeplitz_is_linear_in_the_input() -> None:
    """XOR of inputs gives XOR of hashes (a property of any correct Toeplitz hash), and a
    single set bit i selects key bits i..i+31."""
    rng = random.Random(1)
    key = rng.randbytes(40)
    k = int.from_bytes(key, "big")
    for _ in range(50):
        n = rng.choice([8, 12, 32, 36])
        a, b = rng.randbytes(n), rng.randbytes(n)
        x = bytes(p ^ q for p, q in zip(a, b, strict=True))
        assert toeplitz_hash(key, x) == toeplitz_hash(key, a) ^ toeplitz_hash(key, b)
    for i in range(288):
        data = (1 << (287 - i)).to_bytes(36, "big")
        assert toeplitz_hash(key, data) == (k >> (320 - 32 - i)) & 0xFFFFFFFF


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        toeplitz_hash(bytes(5), bytes(2))
    with pytest.raises(ValueError):
        key_to_int(bytes(39))
    with pytest.raises(ValueError):
        Flow.from_strings("10.0.0.1", "::1")
    with pytest.raises(ValueError):
        rss(Flow.from_strings("10.0.0.1", "10.0.0.2"), MS_VERIFICATION_KEY, False, [0] * 64)


@pytest.mark.parametrize("queues", [1, 4, 8, 128])
def test_spread_indirection_gives_every_queue_an_equal_share(queues: int) -> None:
    a = spread_indirection(random.Random(3), queues)
    b = spread_indirection(random.Random(4), queues)
    assert len(a) == 128
    assert all(a.count(q) == 128 // queues for q in range(queues))
    assert sorted(a) == sorted(b)
    if queues > 1:
        assert a != b, "the order follows the generator"
    for bad in (0, 3, 129):
        with pytest.raises(ValueError):
            spread_indirection(random.Random(1), bad)

# SPDX-License-Identifier: MIT
"""cocotb tests of receive-side scaling through splitrx_core (docs/frontend.md, RSS): the
driver programs Microsoft's verification key and an indirection table over four queues, and
frames the steering rules hand to RSS (broadcast, multicast, unmatched unicast in promiscuous
mode) land on ``indirection[hash % 128]``, each completion carrying the hash and its type.
Run through tests/test_rss_system.py.

Every expectation comes from the frame generator's own tuple (addresses, ports, protocol,
fragment) fed to model/rss.py, the bit-serial Toeplitz written from Microsoft's
specification; the reference parser (tb.lib.parse_ref, from scapy) must report that same tuple,
and the reference model (model.nic_model) predicts each completion and its bytes. Nothing is
read back from the RTL to make an expectation.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Raw

from model.records import RssType
from model.rss import MS_VERIFICATION_KEY, Flow, RssConfig, spread_indirection
from model.steer import EMPTY, Entry, steer_frame
from sw.nic_driver import NicDriver, RxDone
from tb.lib.common import deadline, seeded_rng
from tb.lib.coredma import (
    CLK_NS,
    Owner,
    check_delivery,
    drive_at_line_rate,
    host_loop,
    make_pool,
    setup,
    until,
)
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference
from tb.lib.pcie import PcieHarness

QUEUES = 4
MATCH_MAC = "02:00:00:00:0a:01"  # in the steering table: queue MATCH_QUEUE whatever the hash
MATCH_QUEUE = 3
STEER_ENTRY = 5


@dataclass(frozen=True)
class Sent:
    """One frame and the RSS tuple its generator put in it."""

    frame: bytes
    flow: Flow
    what: str


def _mac(rng: random.Random, kind: str) -> str:
    if kind == "broadcast":
        return "ff:ff:ff:ff:ff:ff"
    if kind == "multicast":
        return "01:00:5e:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
    if kind == "match":
        return MATCH_MAC
    return "02:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))  # promiscuous


def _l2(rng: random.Random, dst: str) -> tuple[Packet, str]:
    tags = rng.choice([(), (), (0x8100,), (0x88A8, 0x8100)])
    pkt: Packet = Ether(dst=dst, src="02:00:00:00:00:fe")
    for tpid in tags:
        tag = (Dot1AD if tpid == 0x88A8 else Dot1Q)(vlan=rng.randrange(1, 4095))
        pkt.lastlayer().type = tpid
        pkt = pkt / tag
    return pkt, f"{len(tags)} tags"


def rss_frame(rng: random.Random, dst_kind: str, max_size: int = 256) -> Sent:
    """A random frame to a ``dst_kind`` MAC: TCP, UDP or another protocol over IPv4 or IPv6
    (VLAN tags, IPv6 extension headers, first and later fragments), or not IP at all; random
    addresses and ports; at least 60 and at most ``max_size`` bytes (FCS excluded)."""
    dst = _mac(rng, dst_kind)
    pkt, what = _l2(rng, dst)
    kind = rng.choice(["v4", "v4", "v6", "v6", "arp"])
    if kind == "arp":
        pkt = pkt / ARP(psrc="10.0.0.1", pdst="10.0.0.2")
        flow = Flow(False, False, False, False, False, b"", b"", 0, 0)
        return Sent(bytes(pkt).ljust(60, b"\0"), flow, f"{dst_kind} {what} ARP")
    v6 = kind == "v6"
    src_a = rng.getrandbits(128 if v6 else 32)
    dst_a = rng.getrandbits(128 if v6 else 32)
    addr = ipaddress.IPv6Address if v6 else ipaddress.IPv4Address
    src, dsta = addr(src_a), addr(dst_a)
    l4 = rng.choice(["tcp", "tcp", "udp", "udp", "other"])
    frag = rng.choice(["none"] * 5 + ["first", "later"])
    sport, dport = rng.randrange(1, 65536), rng.randrange(1, 65536)
    proto = {"tcp": 6, "udp": 17, "other": 58 if v6 else 1}[l4]
    if v6:
        ip: Packet = IPv6(src=str(src), dst=str(dsta))
        if rng.random() < 0.3:
            ip = ip / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
        if frag != "none":
            offset = 0 if frag == "first" else rng.randrange(1, 8000)
            ip = ip / IPv6ExtHdrFragment(offset=offset, m=1, id=rng.getrandbits(32), nh=proto)
    else:
        kw: dict[str, object] = {"flags": "MF"} if frag == "first" else {}
        if frag == "later":
            kw = {"frag": rng.randrange(1, 8000), "proto": proto}
        ip = IP(src=str(src), dst=str(dsta), **kw)
    has_l4 = frag != "later"
    if not has_l4:
        body: Packet = Raw(rng.randbytes(24))
    elif l4 == "tcp":
        body = TCP(sport=sport, dport=dport, flags="A")
    elif l4 == "udp":
        body = UDP(sport=sport, dport=dport)
    else:
        body = ICMPv6EchoRequest() if v6 else ICMP()
    pkt = pkt / ip / body
    head = len(bytes(pkt))
    size = max(60, head + rng.randrange(0, max(1, max_size - head)))
    frame = bytes(pkt / Raw(rng.randbytes(max(0, size - head))))
    ported = has_l4 and l4 != "other"
    flow = Flow(
        True,
        v6,
        ported and l4 == "tcp",
        ported and l4 == "udp",
        frag != "none",
        src.packed,
        dsta.packed,
        sport if ported else 0,
        dport if ported else 0,
    )
    return Sent(frame, flow, f"{dst_kind} {what} {kind} {l4} frag {frag}")


def ipv4_60(rng: random.Random, dst_kind: str) -> Sent:
    """A 60-byte TCP or UDP over IPv4 frame (64 B on the wire) with random addresses and
    ports."""
    src, dst = (
        ipaddress.IPv4Address(rng.getrandbits(32)),
        ipaddress.IPv4Address(rng.getrandbits(32)),
    )
    sport, dport = rng.randrange(1, 65536), rng.randrange(1, 65536)
    tcp = rng.random() < 0.5
    l4: Packet = TCP(sport=sport, dport=dport) if tcp else UDP(sport=sport, dport=dport)
    pkt = Ether(dst=_mac(rng, dst_kind), src="02:00:00:00:00:fe") / IP(src=str(src), dst=str(dst))
    pkt = pkt / l4
    frame = bytes(pkt / Raw(rng.randbytes(60 - len(bytes(pkt)))))
    flow = Flow(True, False, tcp, not tcp, False, src.packed, dst.packed, sport, dport)
    return Sent(frame, flow, f"{dst_kind} 60 B {'tcp' if tcp else 'udp'}")


def expected_queue(s: Sent, rss: RssConfig) -> int:
    """The queue from the generator's tuple: indirection[hash % 128] (model/rss.py), or the
    steering entry's for the matched MAC. Also checks the reference parser reports the
    generator's tuple and the steering model agrees."""
    meta = reference(s.frame, MAX_HDR_BYTES, MAX_EXT_HDRS)
    assert meta.flow() == s.flow, f"{s.what}: parser reference {meta.flow()} vs {s.flow}"
    mine = MATCH_QUEUE if s.what.startswith("match") else rss.result(s.flow).queue
    table = [EMPTY] * 16
    table[STEER_ENTRY] = Entry(True, int(MATCH_MAC.replace(":", ""), 16), False, 0, MATCH_QUEUE)
    v = steer_frame(table, s.frame, meta, True, rss)
    assert not v.drop and v.queue == mine, f"{s.what}: steering model {v}, expected {mine}"
    return mine


async def open_queues(h: PcieHarness, drv: NicDriver, entries: int) -> list[Owner]:
    owners = []
    for qi in range(QUEUES):
        q = await drv.open_queue(qi, desc_entries=entries, data_offset=12)
        o = Owner(q, "", make_pool(h, entries, 0x50 + qi), every=0, slot=0)
        await q.post(o.pool)
        owners.append(o)
    await drv.set_promisc(True)
    await drv.set_steer_entry(STEER_ENTRY, MATCH_MAC, MATCH_QUEUE)
    await h.barrier()
    await Timer(3000, "ns")  # the caches fill
    return owners


async def run_phase(
    dut: object,
    h: PcieHarness,
    owners: list[Owner],
    sent: Sequence[Sent],
    rss: RssConfig,
    period_clk: float,
) -> tuple[int, float, float]:
    """Send ``sent`` one every ``period_clk`` user clocks; each queue's host checks every
    completion against the model (hash and type included) for the next frame expected on
    that queue, in order. Returns (input stall clocks, sim time the first frame went in, of
    the last completion record landing)."""
    for o in owners:
        o.frames, o.got, o.matched = [], [], 0
    for s in sent:
        owners[expected_queue(s, rss)].frames.append(s.frame)
    stop = [False]
    pollers = []
    for o in owners:

        def check(r: RxDone, o: Owner = o) -> None:
            check_delivery(h, o, r, exact=True, rss=rss)

        pollers.append(cocotb.start_soon(host_loop(o.q, o.got, stop, check)))
    t0 = get_sim_time("ns")
    writes0 = len(h.host.writes)
    stalls = await drive_at_line_rate(dut, [s.frame for s in sent], period_clk)
    await deadline(
        until(lambda: all(len(o.got) == len(o.frames) for o in owners)),
        100_000,
        "every frame's completion",
    )
    stop[0] = True
    for p in pollers:
        await p
    rings = [(o.q.cpl_base, o.q.cpl_base + o.q.cpl_entries * 32) for o in owners]
    t_last = max(
        w.time_ns for w in h.host.writes[writes0:] if any(a <= w.addr < b for a, b in rings)
    )
    return stalls, t0, t_last


async def assert_counts(owners: list[Owner], before: list[tuple[int, int]]) -> None:
    for o, (p0, d0) in zip(owners, before, strict=True):
        c = await o.q.counters()
        assert (c.packets - p0, c.drops - d0) == (len(o.frames), 0), f"queue {o.q.index}: {c}"


async def counts(owners: list[Owner]) -> list[tuple[int, int]]:
    return [((c := await o.q.counters()).packets, c.drops) for o in owners]


@cocotb.test()
async def promiscuous_frames_land_on_the_queue_rss_picks(dut: object) -> None:
    """Microsoft's key, an indirection table spreading over 4 queues, promiscuous mode:
    broadcast, multicast and unmatched unicast frames (TCP, UDP, ICMP over IPv4 and IPv6 with
    random addresses and ports, VLAN tags, IPv6 extension headers, first and later fragments,
    ARP) land on indirection[hash % 128] of the generator's tuple under model/rss.py, with
    UDP over the 2-tuple and then, reprogrammed, over the 4-tuple; fragments always hash the
    2-tuple, non-IP gets no hash (entry 0); a unicast MAC in the steering table goes to its
    entry's queue whatever the hash. Every completion (hash and type included) and every byte
    as the model says; per-queue counters add up, nothing dropped."""
    rng = seeded_rng("rss_system")
    h, drv = await setup(dut, read_latency_ns=500.0, max_payload=256)
    owners = await open_queues(h, drv, 128)
    table = spread_indirection(rng, QUEUES)
    kinds = ["broadcast", "multicast", "promisc", "promisc", "match"]
    for udp_4tuple in (False, True):
        rss = RssConfig(MS_VERIFICATION_KEY, udp_4tuple, table)
        await drv.set_rss(MS_VERIFICATION_KEY, table, udp_4tuple=udp_4tuple)
        await h.barrier()
        sent = [rss_frame(rng, rng.choice(kinds)) for _ in range(240)]
        types: dict[str, int] = {}
        for s in sent:
            t = rss.result(s.flow).rss_type.name
            types[t] = types.get(t, 0) + 1
        before = await counts(owners)
        # one frame per wire time of a 256-byte frame at 10 GbE (the largest sent)
        stalls, _, _ = await run_phase(dut, h, owners, sent, rss, 8 * (256 + 24) / 10 / CLK_NS)
        await assert_counts(owners, before)
        # completions matched frames in order (exact), so completion k is frame k of its queue
        match = bytes.fromhex(MATCH_MAC.replace(":", ""))
        for o in owners:
            for frame, r in zip(o.frames, o.got, strict=True):
                if frame[:6] != match:
                    entry = r.cpl.rss_hash & 127
                    assert table[entry] == o.q.index, f"queue {o.q.index}: entry {entry}"
        per_queue = [len(o.frames) for o in owners]
        dut._log.info(  # type: ignore[attr-defined]
            "udp_4tuple=%d: %d frames, per queue %s, RSS types %s, input stalls %d",
            udp_4tuple, len(sent), per_queue, dict(sorted(types.items())), stalls,
        )  # fmt: skip
        assert stalls == 0
        assert min(per_queue) > 0, f"the table spreads over {QUEUES} queues: {per_queue}"
        want_types = {t.name for t in RssType} - (
            {"IPV4_UDP", "IPV6_UDP"} if not udp_4tuple else set()
        )
        assert set(types) == want_types, f"types covered: {types}"
    assert h.host.faults == []


@cocotb.test()
async def rss_keeps_64_byte_line_rate_over_four_queues(dut: object) -> None:
    """60-byte IPv4 TCP/UDP frames (64 B on the wire) with random addresses and ports,
    broadcast or promiscuous unicast, spread by RSS over 4 queues: at 10 GbE line rate (one
    every 16.8 user clocks) no input stall, no drop, every completion as the model says, the
    last one within 1 us of the last frame; then back to back at the engine's input (one beat
    per clock), the engine still takes at most 15 user clocks per frame."""
    rng = seeded_rng("rss_system")
    h, drv = await setup(dut, read_latency_ns=1000.0, max_payload=256)
    owners = await open_queues(h, drv, 256)
    table = spread_indirection(rng, QUEUES)
    rss = RssConfig(MS_VERIFICATION_KEY, True, table)
    await drv.set_rss(MS_VERIFICATION_KEY, table, udp_4tuple=True)
    await h.barrier()
    n = 400
    for label, period in (("line rate", 8 * (60 + 4 + 20) / 10 / CLK_NS), ("back to back", 8)):
        sent = [ipv4_60(rng, rng.choice(["broadcast", "promisc"])) for _ in range(n)]
        before = await counts(owners)
        stalls, t0, t_last = await run_phase(dut, h, owners, sent, rss, period)
        await assert_counts(owners, before)
        t_in = t0 + (n - 1) * period * CLK_NS
        clocks = (t_last - t0) / CLK_NS / n
        dut._log.info(  # type: ignore[attr-defined]
            "%s (one frame every %.1f clocks): per queue %s, input stalls %d, last completion "
            "%.0f ns after the last frame went in, %.2f user clocks per frame",
            label, period, [len(o.frames) for o in owners], stalls, t_last - t_in, clocks,
        )  # fmt: skip
        if period > 16:
            assert stalls == 0, f"the engine pushed back for {stalls} clocks"
            assert t_last - t_in <= 1000, f"last completion {t_last - t_in:.0f} ns after"
        else:
            assert clocks <= 15.0, f"{clocks:.2f} user clocks per 64-byte frame"
    assert h.host.faults == []

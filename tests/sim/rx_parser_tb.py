# SPDX-License-Identifier: MIT
"""cocotb tests for rx_parser: frames through unchanged, header and checksum records.

Driven by tests/test_rx_parser.py, which builds each parameter set once and passes it here in
the environment (RXP_MAX_HDR_BYTES, RXP_MAX_EXT_HDRS). Frames are built with scapy. What each
record must say comes from ``reference()``: scapy's dissectors decode each header's fields, the
parse rules documented in rtl/rx_parser.sv are applied to them here, and the checksums are this
file's own one's-complement code (checked against scapy's checksums for every frame scapy
built untouched). Nothing is read back from the RTL to make an expectation.

One coroutine drives both streams and checks every beat, one wake-up per clock. Sampling
convention (as in rx_fifo_tb): values read right after ``await RisingEdge(clk)`` are the ones
held during the cycle that edge closes.
"""

from __future__ import annotations

import collections
import ipaddress
import itertools
import logging
import os
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from random import Random
from typing import Any

import cocotb
from cocotb.triggers import Event, RisingEdge
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Raw

from model.records import CsumStatus, L3Type, L4Type
from tb.lib.common import deadline, reset, seeded_rng, start_clock
from tb.lib.parse_ref import Meta, reference, scapy_offsets, scapy_tuple

CLK_NS = 4.0  # 250 MHz user clock
BEAT = 8

log = logging.getLogger("cocotb.tb")


def max_hdr_bytes() -> int:
    return int(os.environ.get("RXP_MAX_HDR_BYTES", "256"))


def max_ext_hdrs() -> int:
    return int(os.environ.get("RXP_MAX_EXT_HDRS", "4"))


# ------------------------------------------------------------------ frames


def mac(rng: Random) -> str:
    return ":".join(f"{b:02x}" for b in bytes([rng.randrange(256) & 0xFE]) + rng.randbytes(5))


@dataclass
class Case:
    what: str
    frame: bytes
    want: dict[str, Any] = field(default_factory=dict)  # literal expectations on top
    pristine: bool = False  # built by scapy untouched: scapy offsets and checksums hold


def eth(rng: Random, tags: Sequence[int] = (), ethertype: int | None = None) -> Packet:
    """Ether + VLAN tags (TPID per tag) with random TCIs."""
    pkt: Packet = Ether(dst=mac(rng), src=mac(rng))
    tpids = list(tags)
    for i, tpid in enumerate(tpids):
        cls = Dot1AD if tpid == 0x88A8 else Dot1Q
        tag = cls(prio=rng.randrange(8), dei=rng.randrange(2), vlan=rng.randrange(4096))
        if i == 0:
            pkt.type = tpid
        else:
            pkt.lastlayer().type = tpid
        pkt = pkt / tag
    if ethertype is not None:
        pkt.lastlayer().type = ethertype
    return pkt


def ip4(rng: Random, **kw: Any) -> Packet:
    return IP(
        src=str(ipaddress.IPv4Address(rng.getrandbits(32))),
        dst=str(ipaddress.IPv4Address(rng.getrandbits(32))),
        id=rng.randrange(65536),
        ttl=rng.randrange(1, 256),
        **kw,
    )


def ip6(rng: Random, **kw: Any) -> Packet:
    return IPv6(
        src=str(ipaddress.IPv6Address(rng.getrandbits(128))),
        dst=str(ipaddress.IPv6Address(rng.getrandbits(128))),
        fl=rng.randrange(1 << 20),
        **kw,
    )


def tcp(rng: Random, opt_words: int = 0) -> Packet:
    opts = [("NOP", None)] * (4 * opt_words)
    return TCP(
        sport=rng.randrange(1024, 65536),
        dport=rng.randrange(1024, 65536),
        seq=rng.getrandbits(32),
        flags="PA",
        options=opts,
    )


def udp(rng: Random) -> Packet:
    return UDP(sport=rng.randrange(1024, 65536), dport=rng.randrange(1024, 65536))


def ext_chain(
    rng: Random, kinds: Sequence[int], segleft: int = 0, frag: tuple[int, int] = (0, 0)
) -> Packet | None:
    """IPv6 extension headers in order (0 HBH, 43 routing, 44 fragment, 60 dest options)."""
    out: Packet | None = None
    for k in kinds:
        if k == 0:
            h: Packet = IPv6ExtHdrHopByHop(options=[])
        elif k == 60:
            h = IPv6ExtHdrDestOpt(options=[])
        elif k == 43:
            addrs = [str(ipaddress.IPv6Address(rng.getrandbits(128))) for _ in range(2)]
            h = IPv6ExtHdrRouting(addresses=addrs, segleft=segleft)
        else:
            h = IPv6ExtHdrFragment(offset=frag[0], m=frag[1], id=rng.getrandbits(32))
        out = h if out is None else out / h
    return out


def build(pkt: Packet, rng: Random, pad_to: int = 60) -> bytes:
    data = bytes(pkt)
    return data + rng.randbytes(max(0, pad_to - len(data)))


# ------------------------------------------------------------------ testbench


@dataclass
class OutFrame:
    beats: list[tuple[int, int, int]]  # (tdata, tkeep, tlast)
    tuser: int
    meta: Meta
    first_cycle: int
    last_cycle: int


@dataclass
class Bench:
    dut: Any
    ready_fn: Callable[[], int] = lambda: 1
    idle_fn: Callable[[], int] = lambda: 0
    cycle: int = 0
    queue: deque[bytes] = field(default_factory=deque)
    out: list[OutFrame] = field(default_factory=list)
    sent_beats: list[list[tuple[int, int, int, int]]] = field(default_factory=list)
    in_first_cycles: list[int] = field(default_factory=list)
    not_ready_cycles: int = 0  # cycles with a beat presented and not taken
    stalls: list[tuple[int, int]] = field(default_factory=list)  # (frame, beat) not taken

    def start(self) -> None:
        self._beats: list[tuple[int, int, int, int]] = []
        self._bi = 0
        self._valid = 0
        self._ready = 0
        self._idle = 0
        self._rx: list[tuple[int, int, int]] = []
        self._rx_hdr = 0
        self._rx_tup = 0
        self._rx_user = 0
        self._rx_first = 0
        self._got = Event()
        self._rng = Random(0)
        cocotb.start_soon(self._loop())

    def send(self, frames: Sequence[bytes]) -> None:
        self.queue.extend(frames)

    def beats(self, frame: bytes) -> list[tuple[int, int, int, int]]:
        """(tdata, tkeep, tlast, tuser); lanes past the end of the last beat hold junk."""
        out = []
        n = max(1, -(-len(frame) // BEAT))
        for i in range(n):
            chunk = frame[i * BEAT : (i + 1) * BEAT]
            junk = self._rng.randbytes(BEAT - len(chunk))
            out.append(
                (
                    int.from_bytes(chunk + junk, "little"),
                    (1 << len(chunk)) - 1,
                    int(i == n - 1),
                    len(frame),
                )
            )
        return out

    async def _loop(self) -> None:
        dut = self.dut
        s_tvalid, s_tready = dut.s_axis_tvalid, dut.s_axis_tready
        s_tdata, s_tkeep, s_tlast, s_tuser = (
            dut.s_axis_tdata,
            dut.s_axis_tkeep,
            dut.s_axis_tlast,
            dut.s_axis_tuser,
        )
        m_tvalid, m_tready = dut.m_axis_tvalid, dut.m_axis_tready
        m_tdata, m_tkeep, m_tlast, m_tuser = (
            dut.m_axis_tdata,
            dut.m_axis_tkeep,
            dut.m_axis_tlast,
            dut.m_axis_tuser,
        )
        m_hdr, m_csum, m_tup = dut.m_meta_hdr, dut.m_meta_csum, dut.m_meta_tuple
        edge = RisingEdge(dut.clk)
        while True:
            await edge
            self.cycle += 1
            # ---- input handshake of the cycle just ended ----
            if self._valid:
                if int(s_tready.value):
                    if self._bi == 0:
                        self.in_first_cycles.append(self.cycle)
                    self._bi += 1
                    if self._bi == len(self._beats):
                        self._beats, self._bi = [], 0
                else:
                    self.not_ready_cycles += 1
                    self.stalls.append((len(self.sent_beats) - 1, self._bi))
            # ---- output handshake ----
            if self._ready and int(m_tvalid.value):
                beat = (int(m_tdata.value), int(m_tkeep.value), int(m_tlast.value))
                hdr, tup, user = int(m_hdr.value), int(m_tup.value), int(m_tuser.value)
                if not self._rx:
                    self._rx_hdr, self._rx_tup = hdr, tup
                    self._rx_user, self._rx_first = user, self.cycle
                where = f"output frame {len(self.out)}, beat {len(self._rx)}"
                assert hdr == self._rx_hdr, f"{where}: m_meta_hdr changed within the frame"
                assert tup == self._rx_tup, f"{where}: m_meta_tuple changed within the frame"
                assert user == self._rx_user, f"{where}: m_axis_tuser changed within the frame"
                self._rx.append(beat)
                if beat[2]:
                    meta = Meta.decode(hdr, int(m_csum.value), tup)
                    self.out.append(OutFrame(self._rx, user, meta, self._rx_first, self.cycle))
                    self._rx = []
                    self._got.set()
            # ---- drive the next cycle ----
            self._ready = self.ready_fn()
            m_tready.value = self._ready
            if self._valid and self._beats and not int(s_tready.value):
                continue  # AXI: a presented beat stays until taken
            if not self._beats:
                if not self.queue:
                    self._valid = 0
                    s_tvalid.value = 0
                    continue
                self._beats, self._bi = self.beats(self.queue.popleft()), 0
                self.sent_beats.append(self._beats)
            if self._idle == 0:
                self._idle = self.idle_fn()
            if self._idle:
                self._idle -= 1
                self._valid = 0
                s_tvalid.value = 0
                continue
            tdata, tkeep, tlast, tuser = self._beats[self._bi]
            s_tdata.value = tdata
            s_tkeep.value = tkeep
            s_tlast.value = tlast
            s_tuser.value = tuser
            s_tvalid.value = 1
            self._valid = 1

    async def wait_frames(self, n: int, what: str, clocks: int) -> None:
        """Wait until ``n`` frames have come out; fail after ``clocks`` clocks."""

        async def until() -> None:
            while len(self.out) < n:
                self._got.clear()
                await self._got.wait()

        try:
            await deadline(until(), clocks * CLK_NS, f"{n} frames on m_axis ({what})")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {len(self.out)} arrived") from None


def budget(frames: Sequence[bytes], ready_p: float = 1.0) -> int:
    """Clocks for frames to pass: generous (beats / tready probability, x3, + 40 per frame)."""
    beats = sum(-(-len(f) // BEAT) for f in frames)
    return int(3 * beats / ready_p) + 40 * len(frames) + 500


async def setup(
    dut: Any, ready: Callable[[], int] | None = None, idle: Callable[[], int] | None = None
) -> Bench:
    start_clock(dut.clk, CLK_NS)
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    await reset(dut.clk, dut.rst)
    tb = Bench(dut)
    if ready is not None:
        tb.ready_fn = ready
    if idle is not None:
        tb.idle_fn = idle
    tb.start()
    return tb


def frame_of(beats: list[tuple[int, int, int]]) -> bytes:
    data = b"".join(d.to_bytes(8, "little") for d, _, _ in beats)
    return data[: 8 * (len(beats) - 1) + beats[-1][1].bit_length()]


async def run_cases(tb: Bench, cases: Sequence[Case], what: str, ready_p: float = 1.0) -> None:
    """Send every case; check bytes, beats and both records against reference() and the case's
    literal expectations; for pristine frames, check reference() against scapy too."""
    mh, me = max_hdr_bytes(), max_ext_hdrs()
    first = len(tb.out)
    frames = [c.frame for c in cases]
    tb.send(frames)
    await tb.wait_frames(first + len(cases), what, budget(frames, ready_p))
    errors: list[str] = []
    for k, (c, got) in enumerate(zip(cases, tb.out[first:], strict=True)):
        where = f"{what} frame {k} ({c.what}, {len(c.frame)} B)"
        sent = [(d, kp, last) for d, kp, last, _ in tb.sent_beats[first + k]]
        if got.beats != sent:
            errors.append(f"{where}: beats (tdata, tkeep, tlast) differ from the input")
        if frame_of(got.beats) != c.frame:
            errors.append(f"{where}: bytes differ from the input")
        if got.tuser != len(c.frame):
            errors.append(f"{where}: tuser {got.tuser}")
        exp = reference(c.frame, mh, me)
        bad = [f"{where}: {d}" for d in got.meta.diff(exp)]
        for name, value in c.want.items():
            if getattr(exp, name) != value:
                bad.append(
                    f"{where}: reference says {name}={getattr(exp, name)!s}, case wants {value!s}"
                )
        if c.pristine:
            bad += check_reference_against_scapy(c, exp, where)
        errors += bad
    if errors:
        raise AssertionError(f"{len(errors)} mismatches:\n" + "\n".join(errors[:40]))
    seen = collections.Counter()
    for c in cases:
        e = reference(c.frame, mh, me)
        seen.update(
            [
                f"{e.l3_type.name}/{e.l4_type.name}",
                f"l4 csum {e.l4_csum.name}",
                f"ip4 csum {e.ip4_csum.name}",
            ]
            + [
                n
                for n in ("malformed", "hdr_overflow", "fragment", "vlan", "l4_ok", "is_ip")
                if getattr(e, n)
            ]
        )
    log.info("%s: %d frames checked: %s", what, len(cases), dict(sorted(seen.items())))


def check_reference_against_scapy(c: Case, exp: Meta, where: str) -> list[str]:
    """Untouched scapy frames: offsets as scapy's own dissection, scapy's checksums good."""
    out = []
    l2, l3, l4 = scapy_offsets(c.frame)
    if exp.l2_ok and exp.l2_end != l2:
        out.append(f"{where}: reference l2_end {exp.l2_end}, scapy {l2}")
    if exp.l3_ok and exp.l4_type in (L4Type.TCP, L4Type.UDP) and exp.l3_end != l3:
        out.append(f"{where}: reference l3_end {exp.l3_end}, scapy {l3}")
    if exp.l4_ok and not exp.fragment and exp.l4_end != l4:
        out.append(f"{where}: reference l4_end {exp.l4_end}, scapy {l4}")
    if exp.ip4_csum == CsumStatus.BAD:
        out.append(f"{where}: scapy's IPv4 header checksum judged BAD")
    if exp.l4_csum == CsumStatus.BAD and "zero" not in c.what:
        out.append(f"{where}: scapy's L4 checksum judged BAD")
    st = scapy_tuple(c.frame)
    if exp.is_ip:
        f = exp.flow()
        if st is None or (f.src, f.dst) != st[:2]:
            out.append(f"{where}: reference addresses {f.src.hex()} {f.dst.hex()}, scapy {st}")
        elif (exp.is_tcp or exp.is_udp) and (f.sport, f.dport) != st[2]:
            out.append(f"{where}: reference ports {f.sport} {f.dport}, scapy {st[2]}")
    return out


# ------------------------------------------------------------------ directed frames

G, B, N = CsumStatus.GOOD, CsumStatus.BAD, CsumStatus.NOT_CHECKED


def directed_cases(rng: Random) -> list[Case]:
    """Every header combination the parser knows, with literal expectations."""
    cases: list[Case] = []
    pay = Raw(rng.randbytes(23))

    def add(what: str, pkt: Packet, pristine: bool = True, pad_to: int = 60, **want: Any) -> None:
        cases.append(Case(what, build(pkt, rng, pad_to), want, pristine))

    # L2 stacks x L3/L4
    for tags, l2 in [
        ((), 14),
        ((0x8100,), 18),
        ((0x88A8, 0x8100), 22),
        ((0x8100, 0x8100), 22),
        ((0x88A8,), 18),
    ]:
        add(
            f"tags {tags} IPv4 TCP",
            eth(rng, tags) / ip4(rng) / tcp(rng) / pay,
            l2_end=l2,
            l3_end=l2 + 20,
            l4_end=l2 + 40,
            vlan=bool(tags),
            l3_type=L3Type.IPV4,
            l4_type=L4Type.TCP,
            ip4_csum=G,
            l4_csum=G,
            is_ip=True,
            is_ipv6=False,
            is_tcp=True,
        )
        add(
            f"tags {tags} IPv4 UDP",
            eth(rng, tags) / ip4(rng) / udp(rng) / pay,
            l4_end=l2 + 28,
            l4_type=L4Type.UDP,
            l4_csum=G,
        )
        add(
            f"tags {tags} IPv6 TCP",
            eth(rng, tags) / ip6(rng) / tcp(rng, 2) / pay,
            l3_end=l2 + 40,
            l4_end=l2 + 68,
            l3_type=L3Type.IPV6,
            l4_csum=G,
            ip4_csum=N,
        )
        add(
            f"tags {tags} IPv6 UDP",
            eth(rng, tags) / ip6(rng) / udp(rng) / pay,
            l4_end=l2 + 48,
            l4_csum=G,
            is_ipv6=True,
            is_udp=True,
        )
        add(
            f"tags {tags} ARP",
            eth(rng, tags) / ARP(),
            l2_end=l2,
            l3_type=L3Type.NONE,
            l3_ok=False,
            is_ip=False,
            src_addr=0,
        )
    tagged = eth(rng, (0x88A8, 0x8100)) / ip4(rng) / tcp(rng)
    tci = (tagged[Dot1AD].prio << 13) | (tagged[Dot1AD].dei << 12) | tagged[Dot1AD].vlan
    add("QinQ outer TCI reported", tagged, vlan_tci=tci)
    add(
        "three tags: third is not parsed",
        eth(rng, (0x88A8, 0x8100, 0x8100)) / ip4(rng),
        pristine=False,  # scapy parses the third tag too
        l2_end=22,
        l3_type=L3Type.NONE,
        vlan=True,
    )
    add(
        "0x8100 then 0x88A8: inner not a tag",
        eth(rng, (0x8100, 0x88A8)) / ip4(rng),
        pristine=False,  # scapy parses an 802.1ad tag anywhere
        l2_end=18,
        l3_type=L3Type.NONE,
    )
    # IPv4 options, TCP options, other protocols
    for words in (1, 4, 10):
        add(
            f"IPv4 IHL {5 + words} TCP doff 15",
            eth(rng) / ip4(rng, options=[IPOption_NOP()] * (4 * words)) / tcp(rng, 10) / pay,
            l3_end=14 + 20 + 4 * words,
            l4_end=14 + 20 + 4 * words + 60,
            ip4_csum=G,
            l4_csum=G,
        )
    add(
        "IPv4 ICMP",
        eth(rng) / ip4(rng) / ICMP() / pay,
        l4_type=L4Type.OTHER,
        l4_ok=False,
        l3_end=34,
        ip4_csum=G,
        is_ip=True,
        is_tcp=False,
        is_udp=False,
        src_port=0,
    )
    add("IPv6 ICMPv6", eth(rng) / ip6(rng) / ICMPv6EchoRequest(), l4_type=L4Type.OTHER)
    add("IPv6 no next header", eth(rng) / ip6(rng, nh=59) / pay, l4_type=L4Type.NONE, l3_end=54)
    # Fragments
    add(
        "IPv4 first fragment",
        eth(rng) / ip4(rng, flags="MF") / tcp(rng) / pay,
        fragment=True,
        l4_ok=True,
        l4_end=54,
        l4_csum=N,
        ip4_csum=G,
        is_frag=True,
        is_tcp=True,
    )
    add(
        "IPv4 later fragment",
        eth(rng) / ip4(rng, frag=100, proto=6) / pay,
        fragment=True,
        l4_type=L4Type.NONE,
        l3_end=34,
        ip4_csum=G,
        is_frag=True,
        is_tcp=False,
        dst_port=0,
    )
    add(
        "IPv4 last fragment",
        eth(rng) / ip4(rng, frag=7, proto=17) / pay,
        fragment=True,
        l4_type=L4Type.NONE,
    )
    add(
        "IPv6 first fragment",
        eth(rng) / ip6(rng) / ext_chain(rng, [44], frag=(0, 1)) / udp(rng) / pay,
        fragment=True,
        l4_ok=True,
        l4_end=70,
        l4_csum=N,
    )
    add(
        "IPv6 later fragment",
        eth(rng) / ip6(rng) / ext_chain(rng, [44], frag=(9, 0)) / pay,
        fragment=True,
        l4_type=L4Type.NONE,
        l3_end=62,
        l3_ok=True,
    )
    add(
        "IPv6 atomic fragment",
        eth(rng) / ip6(rng) / ext_chain(rng, [44]) / tcp(rng) / pay,
        fragment=False,
        l4_end=82,
        l4_csum=G,
    )
    # IPv6 extension headers
    for kinds in ([0], [43], [60], [0, 60], [0, 43, 44, 60], [0, 60, 43, 60]):
        h = ext_chain(rng, kinds)
        hl = len(bytes(h))
        add(
            f"IPv6 ext {kinds} TCP",
            eth(rng) / ip6(rng) / h / tcp(rng) / pay,
            l3_end=54 + hl,
            l4_end=74 + hl,
            l4_csum=G,
            hdr_overflow=False,
        )
    add(
        "IPv6 routing segleft 1",
        eth(rng) / ip6(rng) / ext_chain(rng, [43], segleft=1) / udp(rng) / pay,
        l4_ok=True,
        l4_csum=N,
    )
    add(
        "IPv6 5 extension headers",
        eth(rng) / ip6(rng) / ext_chain(rng, [0, 60, 43, 44, 60]) / tcp(rng) / pay,
        hdr_overflow=max_ext_hdrs() < 5,
        l4_csum=N if max_ext_hdrs() < 5 else G,
    )
    # UDP checksum 0, bad checksums, odd lengths, padding
    for v6 in (False, True):
        l3p = ip6(rng) if v6 else ip4(rng)
        pkt = eth(rng) / l3p / udp(rng) / pay
        pkt[UDP].chksum = 0
        add(f"UDP checksum zero over {'IPv6' if v6 else 'IPv4'}", pkt, l4_csum=B if v6 else N)
        pkt = eth(rng) / (ip6(rng) if v6 else ip4(rng)) / udp(rng) / pay
        frame = bytearray(build(pkt, rng))
        frame[-3] ^= 0x40  # in the payload
        cases.append(
            Case(f"bad UDP payload byte, {'v6' if v6 else 'v4'}", bytes(frame), {"l4_csum": B})
        )
        pkt = eth(rng) / (ip6(rng) if v6 else ip4(rng)) / tcp(rng) / Raw(rng.randbytes(7))
        add(f"odd TCP payload {'v6' if v6 else 'v4'}", pkt, pad_to=0, l4_csum=G)
    pkt = eth(rng) / ip4(rng, chksum=0x1234) / tcp(rng) / pay
    cases.append(Case("bad IPv4 header checksum", build(pkt, rng), {"ip4_csum": B, "l4_csum": G}))
    pkt = eth(rng) / ip4(rng) / tcp(rng) / pay
    pkt[TCP].chksum = 0xBEEF
    cases.append(Case("bad TCP checksum", build(pkt, rng), {"l4_csum": B, "ip4_csum": G}))
    pkt = eth(rng) / ip4(rng) / udp(rng) / Raw(b"\x01")
    add("short UDP, 60 B with random padding", pkt, l4_csum=G)
    pkt = eth(rng, (0x8100,)) / ip6(rng) / udp(rng) / Raw(rng.randbytes(3))
    add("tagged IPv6 UDP odd, padded", pkt, pad_to=80, l4_csum=G)
    # Long frames: 1514 and 9014 bytes (1518 / 9018 on the wire)
    add("1514 B TCP", eth(rng) / ip4(rng) / tcp(rng) / Raw(rng.randbytes(1460)), l4_csum=G)
    add("9014 B UDP v6", eth(rng) / ip6(rng) / udp(rng) / Raw(rng.randbytes(8952)), l4_csum=G)
    return cases


def malformed_cases(rng: Random) -> list[Case]:
    """Each malformed variant, literal expectations; each is followed by a good frame."""
    out: list[Case] = []
    good = eth(rng) / ip4(rng) / tcp(rng) / Raw(rng.randbytes(20))
    mal3 = {
        "malformed": True,
        "l3_type": L3Type.MALFORMED,
        "l3_ok": False,
        "l4_ok": False,
        "l4_type": L4Type.NONE,
        "ip4_csum": N,
        "l4_csum": N,
        "is_ip": False,
        "src_addr": 0,
    }

    def add(what: str, frame: bytes, **want: Any) -> None:
        out.append(Case(what, frame, want))
        out.append(Case(f"good after {what}", build(good, rng), {"l4_ok": True, "l4_csum": G}))

    base4 = bytearray(build(eth(rng) / ip4(rng) / tcp(rng) / Raw(rng.randbytes(40)), rng))
    base6 = bytearray(build(eth(rng) / ip6(rng) / tcp(rng) / Raw(rng.randbytes(40)), rng))
    for n in (1, 8, 12, 13):
        add(f"{n} B frame", rng.randbytes(n), malformed=True, l2_ok=False)
    add("frame ends in a VLAN tag", bytes(eth(rng, (0x8100,)))[:16], malformed=True, l2_ok=False)
    add("IPv4 shorter than 20 B", bytes(base4[:30]), **mal3)

    def v4(what: str, off: int, value: int, **want: Any) -> None:
        f = bytearray(base4)
        f[off] = value
        add(what, bytes(f), **(mal3 | want))

    v4("IPv4 version 5", 14, 0x55)
    v4("IPv4 version 6 in 0x0800", 14, 0x65)
    v4("IPv4 IHL 4", 14, 0x44)
    v4("IPv4 IHL 0", 14, 0x40)
    f = bytearray(base4[:40])
    f[14] = 0x4F  # IHL 15 = 60 B, beyond a 40-byte frame
    f[16:18] = struct.pack(">H", 26)
    add("IPv4 IHL beyond the frame", bytes(f), **mal3)
    f = bytearray(base4)
    f[16:18] = struct.pack(">H", len(f) - 14 + 1)
    add("IPv4 total length beyond the frame", bytes(f), **mal3)
    f = bytearray(base4)
    f[16:18] = struct.pack(">H", 19)
    add("IPv4 total length < IHL*4", bytes(f), **mal3)
    add("IPv4 frame truncated", bytes(base4[:-5]), **mal3)
    f = bytearray(base4)
    f[16:18] = struct.pack(">H", 30)  # TCP header cut at 10 bytes
    add(
        "TCP header beyond the IP payload",
        bytes(f),
        malformed=True,
        l3_ok=True,
        l4_type=L4Type.TCP,
        l4_ok=False,
        l4_csum=N,
    )
    for doff in (0, 4):
        f = bytearray(base4)
        f[14 + 20 + 12] = doff << 4
        add(
            f"TCP data offset {doff}",
            bytes(f),
            malformed=True,
            l4_type=L4Type.TCP,
            l4_ok=False,
            l3_ok=True,
            l3_end=34,
            is_ip=True,
            is_tcp=False,
            src_port=0,
        )
    f = bytearray(base4)
    f[14 + 20 + 12] = 0xF0  # 60 B, the IP payload is 60 B: fits
    f[16:18] = struct.pack(">H", 20 + 59)
    add("TCP data offset 15 beyond the IP payload", bytes(f), malformed=True, l4_ok=False)
    u = bytearray(build(eth(rng) / ip4(rng) / udp(rng) / Raw(rng.randbytes(30)), rng))
    u[16:18] = struct.pack(">H", 27)
    add(
        "UDP header beyond the IP payload",
        bytes(u),
        malformed=True,
        l4_type=L4Type.UDP,
        l4_ok=False,
    )
    f = bytearray(base6)
    f[14] = 0x45
    add("IPv6 version 4 in 0x86DD", bytes(f), **mal3)
    add("IPv6 shorter than 40 B", bytes(base6[:50]), **mal3)
    f = bytearray(base6)
    f[18:20] = struct.pack(">H", len(f) - 54 + 2)
    add("IPv6 payload length beyond the frame", bytes(f), **mal3)
    e = bytearray(build(eth(rng) / ip6(rng) / ext_chain(rng, [0, 60]) / udp(rng) / Raw(b"x"), rng))
    e[54 + 1] = 9  # hop-by-hop of 80 B in a 25-byte payload
    add("IPv6 extension header beyond the payload", bytes(e), **mal3)
    e = bytearray(build(eth(rng) / ip6(rng, nh=60, plen=4) / Raw(rng.randbytes(30)), rng))
    add("IPv6 extension header not in a 4-byte payload", bytes(e), **mal3)
    return out


# ------------------------------------------------------------------ random frames


def random_case(rng: Random, k: int) -> Case:
    """Random VLAN stack, L3, extension headers, L4, sizes; then maybe a mutation."""
    tags = rng.choice([(), (), (0x8100,), (0x88A8, 0x8100), (0x8100, 0x8100), (0x88A8,)])
    l3 = rng.choice(["v4", "v4", "v6", "v6", "other"])
    size = rng.choice([0, 0, 1, 6, 18, rng.randrange(200), rng.randrange(1500)])
    pay = Raw(rng.randbytes(size))
    pkt: Packet = eth(rng, tags)
    what = [f"tags {len(tags)}"]
    frag_v4 = rng.random() < 0.15
    if l3 == "v4":
        kw: dict[str, Any] = {}
        if rng.random() < 0.4:
            kw["options"] = [IPOption_NOP()] * (4 * rng.randrange(1, 11))
        if frag_v4:
            kw["flags"] = rng.choice(["MF", 0])
            kw["frag"] = (
                rng.choice([0, rng.randrange(1, 8192)]) if kw["flags"] else rng.randrange(1, 8192)
            )
        pkt = pkt / ip4(rng, **kw)
        what.append(f"v4 ihl+{len(kw.get('options', [])) // 4}")
    elif l3 == "v6":
        pkt = pkt / ip6(rng)
        kinds = []
        if rng.random() < 0.5:
            cand = [60, 43, 44, 60, 43]
            kinds = ([0] if rng.random() < 0.5 else []) + rng.sample(cand, rng.randrange(0, 5))
        if kinds:
            pkt = pkt / ext_chain(
                rng,
                kinds,
                segleft=rng.choice([0, 0, 1]),
                frag=(rng.choice([0, 0, rng.randrange(1, 8192)]), rng.randrange(2)),
            )
        what.append(f"v6 ext {kinds}")
    else:
        pkt.lastlayer().type = rng.choice([0x0806, 0x88CC, 0x8847, 0x88F7, 0x9000])
        pkt = pkt / pay
        what.append("other")
    if l3 != "other":
        l4 = rng.choice(["tcp", "tcp", "udp", "udp", "icmp"])
        if l4 == "tcp":
            pkt = pkt / tcp(rng, rng.choice([0, 0, 1, 3, 10]))
        elif l4 == "udp":
            pkt = pkt / udp(rng)
        elif l3 == "v4":
            pkt = pkt / ICMP()
        else:
            pkt = pkt / ICMPv6EchoRequest()
        pkt = pkt / pay
        what.append(l4)
    frame = bytearray(bytes(pkt))
    pristine = True
    r = rng.random()
    if r < 0.15:  # random padding past the IP length
        frame += rng.randbytes(rng.randrange(1, 50))
        what.append("padded")
    elif r < 0.30:  # flip a bit after the Ethernet header: bad checksums or bad headers
        at = rng.randrange(min(14, len(frame) - 1), len(frame))
        frame[at] ^= 1 << rng.randrange(8)
        what.append(f"bit flip at {at}")
        pristine = False
    elif r < 0.40:  # truncation
        frame = frame[: rng.randrange(1, len(frame))]
        what.append("truncated")
        pristine = False
    elif r < 0.50:  # a header field set to random: version/IHL, lengths, data offset, ext len
        l2 = 14 + 4 * len(tags)
        at = rng.choice([l2, l2 + 2, l2 + 3, l2 + 4, l2 + 5, l2 + 32, l2 + 40 + 1, l2 + 52])
        if at < len(frame):
            frame[at] = rng.randrange(256)
        what.append(f"byte {at} random")
        pristine = False
    elif r < 0.55 and UDP in pkt:
        frame_pkt = Ether(bytes(frame))
        if UDP in frame_pkt:
            off = len(frame) - len(bytes(frame_pkt[UDP]))
            frame[off + 6 : off + 8] = b"\x00\x00"
            what.append("UDP checksum zero")
    if pristine and len(frame) < 60:
        frame += rng.randbytes(60 - len(frame))
    return Case(f"#{k} " + " ".join(what), bytes(frame), {}, pristine and frag_v4 is False)


# ------------------------------------------------------------------ tests


@cocotb.test()
async def directed_header_combinations_parse_exactly(dut: Any) -> None:
    """Every L2 stack, IPv4 (options, fragments), IPv6 (extension headers, fragments), TCP,
    UDP, others; checksum verdicts GOOD/BAD/NOT_CHECKED; padding and odd lengths."""
    tb = await setup(dut)
    rng = seeded_rng("directed_header_combinations_parse_exactly")
    await run_cases(tb, directed_cases(rng), "directed")


@cocotb.test()
async def malformed_frames_get_defined_flags_and_spare_the_next_frame(dut: Any) -> None:
    """Truncated L2, bad IP version, IHL < 5 or beyond the frame, IP lengths beyond the frame,
    TCP/UDP beyond the payload, bad data offset: malformed, no offset past the last consistent
    header; the good frame after each parses exactly."""
    tb = await setup(dut, ready=lambda: 1)
    rng = seeded_rng("malformed_frames_get_defined_flags_and_spare_the_next_frame")
    await run_cases(tb, malformed_cases(rng), "malformed")


@cocotb.test()
async def random_frames_match_reference_under_backpressure(dut: Any) -> None:
    """Seeded random scapy frames and mutations, random idle input and random tready: every
    frame byte-exact, every record field as the reference says."""
    rng = seeded_rng("random_frames_match_reference_under_backpressure")
    n = int(os.environ.get("RXP_RANDOM_FRAMES", "400"))
    ready_p = rng.choice([0.3, 0.6, 0.9])
    tb = await setup(
        dut,
        ready=lambda: int(rng.random() < ready_p),
        idle=lambda: rng.randrange(1, 4) if rng.random() < 0.1 else 0,
    )
    log.info("tready probability %.1f", ready_p)
    cases = [random_case(rng, k) for k in range(n)]
    await run_cases(tb, cases, "random", ready_p)


def standard_60_byte_frames(rng: Random, n: int) -> list[bytes]:
    """60-byte frames (64 B on the wire) of the kinds parsed here."""
    kinds = [
        lambda: eth(rng) / ip4(rng) / tcp(rng),
        lambda: eth(rng) / ip4(rng) / udp(rng),
        lambda: eth(rng, (0x8100,)) / ip4(rng) / tcp(rng),
        lambda: eth(rng, (0x88A8, 0x8100)) / ip4(rng) / udp(rng),
        lambda: eth(rng) / ARP(),
        lambda: eth(rng) / ip4(rng, options=[IPOption_NOP()] * 4) / tcp(rng),
    ]
    out = []
    for i in range(n):
        f = build(kinds[i % len(kinds)]() / Raw(rng.randbytes(6)), rng)[:60]
        out.append(f + rng.randbytes(60 - len(f)))
    return out


@cocotb.test()
async def back_to_back_64_byte_frames_take_8_cycles_each(dut: Any) -> None:
    """Line rate: 60-byte frames (64 B with FCS) back to back leave at one beat per clock,
    8 clocks per frame, with no bubble and no input stall; then a random size mix, also
    without a bubble."""
    tb = await setup(dut)
    rng = seeded_rng("back_to_back_64_byte_frames_take_8_cycles_each")
    n = 300
    frames = standard_60_byte_frames(rng, n)
    tb.send(frames)
    await tb.wait_frames(n, "back-to-back 60 B frames", budget(frames))
    span = tb.out[-1].last_cycle - tb.out[0].first_cycle + 1
    latency = tb.out[0].first_cycle - tb.in_first_cycles[0]
    gaps = [
        (k, b.first_cycle - a.last_cycle - 1)
        for k, (a, b) in enumerate(itertools.pairwise(tb.out), start=1)
        if b.first_cycle != a.last_cycle + 1
    ]
    log.info(
        "%d frames of 60 B: %d clocks from first to last output beat = %.3f per frame; "
        "first beat out %d clocks after it went in; input stalls: %d; bubbles before frames %s",
        n,
        span,
        span / n,
        latency,
        tb.not_ready_cycles,
        gaps,
    )
    # The lag of the output behind the input settles at the longest parse seen so far: a
    # later frame whose parse ends later than any before costs one bubble once, never again.
    assert all(k <= 6 for k, _ in gaps), f"bubbles after the first round of kinds: {gaps}"
    assert sum(g for _, g in gaps) <= 2, f"bubbles {gaps}"
    assert tb.not_ready_cycles == 0, f"s_axis stalled {tb.not_ready_cycles} clocks"
    for f, got in zip(frames, tb.out, strict=True):
        assert frame_of(got.beats) == f
    # A mix: random sizes and header kinds (QinQ, IPv6 extension headers, TCP options).
    first, stalls0 = len(tb.out), len(tb.stalls)
    mix = []
    for k in range(120):
        c = random_case(rng, k)
        while not c.pristine or len(c.frame) < 60:
            c = random_case(rng, k)
        mix.append(c.frame)
    tb.send(mix)
    await tb.wait_frames(first + len(mix), "random mix", budget(mix))
    beats = sum(-(-len(f) // 8) for f in mix)
    span = tb.out[-1].last_cycle - tb.out[first].first_cycle + 1
    lags = [tb.out[first + k].first_cycle - tb.in_first_cycles[first + k] for k in range(len(mix))]
    # With the input never stalled, output bubbles only raise the output's lag behind the
    # input, to the longest header parse seen: bounded by MAX_HDR_BYTES, not by frame count.
    bound = max_hdr_bytes() // BEAT + 12
    log.info(
        "random mix: %d frames, %d beats in %d clocks (%d bubble clocks, bound %d); input "
        "stalls %d; first-beat latency %d..%d clocks",
        len(mix),
        beats,
        span,
        span - beats,
        bound,
        len(tb.stalls) - stalls0,
        min(lags),
        max(lags),
    )
    assert len(tb.stalls) == stalls0, f"s_axis stalled in the mix: {tb.stalls[stalls0:]}"
    assert span - beats <= bound, f"random mix: {beats} beats took {span} clocks"
    assert max(lags) <= bound, f"first-beat latency up to {max(lags)} clocks"
    for f, got in zip(mix, tb.out[first:], strict=True):
        assert frame_of(got.beats) == f


@cocotb.test()
async def header_overflow_stops_the_parse_where_it_happens(dut: Any) -> None:
    """Headers past MAX_HDR_BYTES or more IPv6 extension headers than MAX_EXT_HDRS: overflow,
    offsets up to the last header that fits, checksums only where the ranges are known."""
    tb = await setup(dut, ready=lambda: 1)
    rng = seeded_rng("header_overflow_stops_the_parse_where_it_happens")
    mh, me = max_hdr_bytes(), max_ext_hdrs()
    cases: list[Case] = []
    pay = Raw(rng.randbytes(30))
    # IPv4 header ending past MAX_HDR_BYTES (only in a small build) and at it.
    for words in range(0, 11):
        pkt = eth(rng, (0x88A8, 0x8100)) / ip4(rng, options=[IPOption_NOP()] * (4 * words))
        pkt = pkt / tcp(rng, rng.randrange(11)) / pay
        cases.append(Case(f"QinQ IPv4 +{words} words", build(pkt, rng), {}, True))
    # TCP options crossing MAX_HDR_BYTES.
    for words in range(0, 11):
        pkt = eth(rng) / ip6(rng) / tcp(rng, words) / pay
        cases.append(Case(f"IPv6 TCP +{words} words", build(pkt, rng), {}, True))
    # Extension header chains of every depth up to MAX_EXT_HDRS + 1.
    for depth in range(me + 2):
        chain = ext_chain(rng, [60] * depth)
        pkt = eth(rng) / ip6(rng) / (udp(rng) if chain is None else chain / udp(rng)) / pay
        want = {"hdr_overflow": True, "l3_ok": False} if depth > me else {}
        cases.append(Case(f"{depth} dest options", build(pkt, rng), want, True))
    # One destination options header of 16..256 B (a PadN option fills it), then UDP.
    for words in (1, 2, 8, 24, 25, 26, 31):
        size = 8 * (words + 1)
        opt = bytes([17, words, 1, size - 4]) + bytes(size - 4)
        pkt = eth(rng) / ip6(rng, nh=60) / Raw(opt + bytes(udp(rng) / pay))
        cases.append(Case(f"dest options of {size} B", build(pkt, rng), {}, False))
    n_ovf = sum(reference(c.frame, mh, me).hdr_overflow for c in cases)
    log.info(
        "%d of %d frames overflow at MAX_HDR_BYTES=%d MAX_EXT_HDRS=%d", n_ovf, len(cases), mh, me
    )
    assert n_ovf >= 2, "too few overflow cases for this build"
    await run_cases(tb, cases, "overflow")

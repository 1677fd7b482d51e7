# SPDX-License-Identifier: MIT
"""cocotb tests for mac_rx: XGMII 64-bit in, AXI-stream frames with status out.

Driven by tests/test_mac_rx.py, which builds each parameter set once and passes it here in the
environment (MAC_RX_FCS_KEEP, MAC_RX_MAX_FRAME_BYTES). Frames are built with scapy and sent with
cocotbext-eth's XgmiiSource (one test drives raw XGMII words itself, for gaps the source cannot
make). What the MAC must output is computed here from the frame bytes (scapy/zlib) and from
what each test injected, never from the RTL. Frame sizes include the FCS.

Sampling convention (Verilator + cocotb 2.1): values read right after ``await RisingEdge(clk)``
are the ones held during the cycle that edge closes.
"""

from __future__ import annotations

import functools
import logging
import os
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

import cocotb
from cocotb.triggers import Event, RisingEdge
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiFrame, XgmiiSource
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from model.records import DropReason
from tb.lib.common import deadline, reset, seeded_rng, start_clock
from tb.lib.xgmii import ERROR, IDLE, START, TERM, GapMonitor

CLK_NS = 6.4  # 156.25 MHz
PREAMBLE = b"\x55" * 7 + b"\xd5"
GOOD_MAX = 9018  # largest untagged jumbo, FCS included
LATENCY_CYCLES = 4  # edge sampling the last /T/ -> edge sampling its tlast, at line rate

log = logging.getLogger("cocotb.tb")


# ------------------------------------------------------------------ frames and expectations


def fcs(data: bytes) -> bytes:
    return struct.pack("<I", zlib.crc32(data))


@functools.cache
def udp_headers(length: int, tags: int) -> bytes:
    """Ethernet/[802.1ad][802.1Q]/IPv4/UDP headers (scapy) for a frame of ``length`` bytes FCS
    included. UDP checksum 0 (none, valid over IPv4), so any payload keeps the frame valid."""
    pkt: Any = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
    if tags >= 2:
        pkt = pkt / Dot1AD(vlan=100)
    if tags >= 1:
        pkt = pkt / Dot1Q(vlan=7)
    hdr_len = len(pkt) + 28
    room = length - 4 - hdr_len
    assert room >= 0, f"{length} B is too short for these headers"
    pkt = pkt / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1000, dport=2000, chksum=0)
    data = bytes(pkt / Raw(bytes(room)))
    assert len(data) == length - 4
    return data[:hdr_len]


def udp_l2(length: int, rng: Random, seq: int = 0, tags: int = 0) -> bytes:
    """A UDP frame of ``length`` bytes FCS included, without its FCS: scapy headers, then a
    4-byte sequence number (when there is room) and random bytes."""
    hdr = udp_headers(length, tags)
    room = length - 4 - len(hdr)
    payload = (struct.pack(">I", seq & 0xFFFFFFFF) + rng.randbytes(max(room - 4, 0)))[:room]
    return hdr + payload


def pause_l2(quanta: int = 0xFFFF) -> bytes:
    """An 802.3x PAUSE frame (EtherType 0x8808), padded to 60 bytes (64 with FCS)."""
    # Imported here: scapy.contrib.mac_control pulls in much of scapy (~1 s per simulator run).
    from scapy.contrib.mac_control import MACControlPause

    data = bytes(
        Ether(dst="01:80:c2:00:00:01", src="02:00:00:00:00:02") / MACControlPause(pause_time=quanta)
    )
    return data + bytes(60 - len(data))


@dataclass
class Expect:
    """What the MAC must output for one frame on the wire."""

    what: str  # for messages
    reason: DropReason | None  # None: good
    data: bytes | None  # None: bytes not checked (XGMII error frames)


class Case:
    """Builds the wire frame and its expectation for one kind of frame."""

    def __init__(self, fcs_keep: bool, max_bytes: int) -> None:
        self.fcs_keep = fcs_keep
        self.max_bytes = max_bytes

    def out_bytes(self, frame: bytes) -> bytes:
        """Bytes forwarded for a frame (FCS included) that is not cut: FCS kept or stripped."""
        return frame if self.fcs_keep else frame[:-4] if len(frame) >= 4 else b""

    def good(self, l2: bytes, what: str = "good") -> tuple[XgmiiFrame, Expect]:
        assert len(l2) >= 60
        return XgmiiFrame.from_payload(l2), Expect(what, None, self.out_bytes(l2 + fcs(l2)))

    def raw(self, frame: bytes, reason: DropReason | None, what: str) -> tuple[XgmiiFrame, Expect]:
        """Frame bytes sent as they are (``from_raw_payload``: no padding, no FCS added)."""
        if reason == DropReason.OVERSIZE:
            data: bytes | None = frame[: self.max_bytes]
        elif reason == DropReason.XGMII_ERROR:
            data = None
        else:
            data = self.out_bytes(frame)
        return XgmiiFrame.from_raw_payload(frame), Expect(what, reason, data)

    def with_control(
        self, frame: bytes, at: int, char: int, what: str
    ) -> tuple[XgmiiFrame, Expect]:
        """Control character ``char`` in place of wire byte ``at``: /S/ is 0, the preamble
        1..6, the SFD 7, frame byte k is 8 + k. One inside the preamble forwards nothing."""
        xf = XgmiiFrame.from_raw_payload(frame)
        ctrl = [0] * len(xf.data)
        xf.data[at] = char
        ctrl[at] = 1
        xf.ctrl = ctrl
        return xf, Expect(what, DropReason.XGMII_ERROR, b"" if at < 8 else None)


# ------------------------------------------------------------------ testbench


@dataclass
class OutFrame:
    data: bytes
    bad: bool
    reason: int
    t_ns: float  # sim time of the tlast beat


class Tb:
    def __init__(self, dut: Any, source: bool = True) -> None:
        self.dut = dut
        self.fcs_keep = os.environ.get("MAC_RX_FCS_KEEP", "0") == "1"
        self.max_bytes = int(os.environ.get("MAC_RX_MAX_FRAME_BYTES", str(GOOD_MAX + 8)))
        self.case = Case(self.fcs_keep, self.max_bytes)
        self.frames: list[OutFrame] = []
        self.cycle = 0
        self._got = Event()
        self._beats: list[bytes] = []
        start_clock(dut.clk, CLK_NS)
        dut.xgmii_rxd.value = int.from_bytes(bytes([IDLE] * 8), "little")
        dut.xgmii_rxc.value = 0xFF
        self.source: XgmiiSource | None = None
        if source:
            self.source = XgmiiSource(dut.xgmii_rxd, dut.xgmii_rxc, dut.clk, dut.rst)
            self.source.log.setLevel(logging.WARNING)  # it logs every frame's bytes at INFO
            self.source.log.setLevel(logging.WARNING)  # it logs every frame's bytes at INFO
        log.info("mac_rx: FCS_KEEP=%d MAX_FRAME_BYTES=%d", self.fcs_keep, self.max_bytes)

    async def start(self) -> None:
        await reset(self.dut.clk, self.dut.rst)
        cocotb.start_soon(self._monitor())

    async def _monitor(self) -> None:
        """Collect output frames; check the stream rules every beat."""
        clk = self.dut.clk
        tvalid, tlast = self.dut.m_axis_tvalid, self.dut.m_axis_tlast
        tdata, tkeep, tuser = self.dut.m_axis_tdata, self.dut.m_axis_tkeep, self.dut.m_axis_tuser
        edge = RisingEdge(clk)
        while True:
            await edge
            self.cycle += 1
            if not int(tvalid.value):
                continue
            data = int(tdata.value).to_bytes(8, "little")
            if not int(tlast.value):
                assert int(tkeep.value) == 0xFF, f"non-last beat with tkeep {int(tkeep.value):#x}"
                assert int(tuser.value) == 0, f"tuser {int(tuser.value):#x} on a non-last beat"
                self._beats.append(data)
                continue
            keep = int(tkeep.value)
            user = int(tuser.value)
            assert keep & (keep + 1) == 0, f"last beat tkeep {keep:#04x} not contiguous from 0"
            frame = b"".join(self._beats) + data[: keep.bit_length()]
            self._beats = []
            bad = bool(user & 1)
            assert len(frame) > 0 or bad, "zero-byte frame not marked bad"
            assert bad or (user >> 1) == 0, f"good frame with reason {user >> 1}"
            self.frames.append(OutFrame(frame, bad, user >> 1, get_sim_time("ns")))
            self._got.set()

    async def wait_frames(self, n: int, timeout_ns: float, what: str) -> None:
        async def until() -> None:
            while len(self.frames) < n:
                self._got.clear()
                await self._got.wait()

        try:
            await deadline(until(), round(timeout_ns), f"{n} frames on m_axis ({what})")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {len(self.frames)} arrived") from None

    def timeout_for(self, frames: Sequence[XgmiiFrame | bytes]) -> float:
        """Wire time of ``frames`` at 12-byte gaps, doubled, plus 2 us."""
        return 2 * sum(len(f) + 13 for f in frames) / 8 * CLK_NS + 2000

    async def send_and_check(self, items: Sequence[tuple[XgmiiFrame, Expect]]) -> None:
        """Queue every frame on the source, wait for as many on m_axis, compare each."""
        assert self.source is not None
        first = len(self.frames)
        for xf, _ in items:
            await self.source.send(xf)
        await self.wait_frames(
            first + len(items), self.timeout_for([xf for xf, _ in items]), "frames sent"
        )
        await self.settle()
        assert len(self.frames) == first + len(items), (
            f"{len(self.frames) - first} frames out for {len(items)} sent"
        )
        for k, ((_, exp), got) in enumerate(zip(items, self.frames[first:], strict=True)):
            self.check(k, exp, got)

    async def settle(self, cycles: int = 20) -> None:
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)

    @staticmethod
    def check(k: int, exp: Expect, got: OutFrame) -> None:
        where = f"frame {k} ({exp.what})"
        if exp.reason is None:
            assert not got.bad, f"{where}: marked bad, reason {DropReason(got.reason).name}"
        else:
            assert got.bad, f"{where}: not marked bad, expected {exp.reason.name}"
            assert got.reason == exp.reason, (
                f"{where}: reason {DropReason(got.reason).name}, expected {exp.reason.name}"
            )
        if exp.data is not None:
            diff = next(
                (i for i, (a, b) in enumerate(zip(got.data, exp.data, strict=False)) if a != b),
                min(len(got.data), len(exp.data)),
            )
            assert got.data == exp.data, (
                f"{where}: {len(got.data)} bytes out, expected {len(exp.data)}; "
                f"first difference at byte {diff}"
            )


# ------------------------------------------------------------------ tests


@cocotb.test()
async def good_frames_of_random_size_arrive_intact(dut: Any) -> None:
    """Seeded random sizes 64..9018 B plus boundaries, standard gaps: each byte exact, good."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("good_frames_of_random_size_arrive_intact")
    top = min(GOOD_MAX, tb.max_bytes)
    sizes = [*range(64, 73), 1518, top - 1, top]
    sizes += [rng.randint(64, top) for _ in range(24)]
    rng.shuffle(sizes)
    items = [tb.case.good(udp_l2(n, rng, i), f"{n} B") for i, n in enumerate(sizes)]
    l2 = udp_l2(tb.max_bytes, rng, tags=2)
    items.append(tb.case.good(l2, f"{tb.max_bytes} B double-tagged (MAX_FRAME_BYTES)"))
    log.info("sizes: %s", sizes)
    await tb.send_and_check(items)


@cocotb.test()
async def frames_start_on_lane_0_and_lane_4(dut: Any) -> None:
    """Every end lane after a lane-0 start and after a lane-4 start (checked on the bus)."""
    tb = Tb(dut)
    await tb.start()
    assert tb.source is not None
    rng = seeded_rng("frames_start_on_lane_0_and_lane_4")
    lanes: list[int] = []
    sizes = [*range(64, 72), *range(1518, 1526)]
    for lane in (0, 4):
        tb.source.force_offset_start = lane == 4
        items = []
        for n in sizes:
            xf, exp = tb.case.good(udp_l2(n, rng, n), f"{n} B from lane {lane}")
            xf.tx_complete = lambda f: lanes.append(f.start_lane)
            items.append((xf, exp))
        if lane == 0:
            # From idle the source starts on lane 0: send one at a time.
            for item in items:
                await tb.send_and_check([item])
                await deadline(tb.source.wait(), 10_000, "XgmiiSource idle")
                await tb.settle(4)
        else:
            await tb.send_and_check(items)
    assert lanes == [0] * len(sizes) + [4] * len(sizes), f"start lanes on the bus: {lanes}"


@cocotb.test()
async def single_bit_flip_is_bad_fcs(dut: Any) -> None:
    """One flipped bit anywhere in the frame or its FCS: BAD_FCS; the next frame is intact."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("single_bit_flip_is_bad_fcs")
    items = []
    for i in range(24):
        n = rng.choice([64, 65, 67, 71, 72, 100, 1518, rng.randint(64, 2000)])
        frame = bytearray(udp_l2(n, rng, i))
        frame += fcs(bytes(frame))
        pos = rng.randrange(len(frame)) if i % 3 else len(frame) - 1 - rng.randrange(4)
        frame[pos] ^= 1 << rng.randrange(8)
        items.append(tb.case.raw(bytes(frame), DropReason.BAD_FCS, f"{n} B, bit flip at {pos}"))
        items.append(tb.case.good(udp_l2(64 + i, rng, i), "good after bad FCS"))
    await tb.send_and_check(items)


@cocotb.test()
async def runts_are_marked_runt(dut: Any) -> None:
    """0..63 B with a correct FCS (where there is room for one): RUNT, never good."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("runts_are_marked_runt")
    items = []
    for n in (0, 1, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 33, 56, 59, 60, 61, 62, 63):
        body = rng.randbytes(max(n - 4, 0))
        frame = body + fcs(body) if n >= 4 else rng.randbytes(n)
        assert len(frame) == n
        items.append(tb.case.raw(frame, DropReason.RUNT, f"{n} B runt"))
        items.append(tb.case.good(udp_l2(64, rng, n), "good after runt"))
    await tb.send_and_check(items)


@cocotb.test()
async def oversize_frames_are_cut_at_the_limit(dut: Any) -> None:
    """Above MAX_FRAME_BYTES: OVERSIZE, the first MAX_FRAME_BYTES bytes forwarded, tlast at
    /T/; exactly MAX_FRAME_BYTES (double-tagged jumbo) is good."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("oversize_frames_are_cut_at_the_limit")
    m = tb.max_bytes
    items = [tb.case.good(udp_l2(m, rng, tags=2), f"{m} B (limit)")]
    for extra in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 100):
        frame = udp_l2(m + extra, rng, extra)
        items.append(tb.case.raw(frame + fcs(frame), DropReason.OVERSIZE, f"{m + extra} B"))
        items.append(tb.case.good(udp_l2(1518, rng, extra), "good after oversize"))
    await tb.send_and_check(items)


@cocotb.test()
async def xgmii_errors_end_the_frame(dut: Any) -> None:
    """/E/ or another control character mid-frame, a bad SFD or preamble, a control character
    inside the preamble: XGMII_ERROR; the next frame is intact."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("xgmii_errors_end_the_frame")
    items = []

    def frame_of(n: int) -> bytes:
        l2 = udp_l2(n, rng, n)
        return l2 + fcs(l2)

    # Wire byte index: 0 is where /S/ goes, 1..6 preamble, 7 SFD, 8 the frame's first byte.
    for n, at, char in [
        (200, 8 + 100, ERROR),
        (200, 8, ERROR),  # first frame byte
        (200, 8 + 199, ERROR),  # last FCS byte
        (200, 8 + 196, ERROR),  # first FCS byte
        (64, 8 + 13, IDLE),  # idle inside the header
        (1518, 8 + rng.randrange(1518), ERROR),
        (1518, 8 + rng.randrange(1518), 0x9C),  # sequence ordered set mid-frame
        (100, 3, ERROR),  # inside the preamble: zero-byte error frame
        (100, 7, TERM),  # /T/ in place of the SFD
        (tb.max_bytes + 50, 8 + tb.max_bytes + 20, ERROR),  # oversize, error past the limit
    ]:
        items.append(tb.case.with_control(frame_of(n), at, char, f"{n} B, {char:#x} at {at}"))
        items.append(tb.case.good(udp_l2(64, rng, at), "good after XGMII error"))
    for what, pre in [
        ("missing SFD", b"\x55" * 8),
        ("bad SFD", b"\x55" * 7 + b"\xd4"),
        ("bad preamble byte", b"\x55" * 3 + b"\x54" + b"\x55" * 3 + b"\xd5"),
    ]:
        xf = XgmiiFrame(pre + frame_of(100))
        items.append((xf, Expect(what, DropReason.XGMII_ERROR, None)))
        items.append(tb.case.good(udp_l2(64, rng), f"good after {what}"))
    await tb.send_and_check(items)


@cocotb.test()
async def pause_frame_is_marked_mac_control(dut: Any) -> None:
    """PAUSE (EtherType 0x8808): forwarded whole, MAC_CONTROL. 0x8808 anywhere but bytes 12..13
    of an untagged frame is not MAC control."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("pause_frame_is_marked_mac_control")
    p = pause_l2(0x1234)
    assert p[12:14] == b"\x88\x08"
    items = [tb.case.raw(p + fcs(p), DropReason.MAC_CONTROL, "PAUSE")]
    items.append(tb.case.good(udp_l2(64, rng), "good after PAUSE"))
    # Same bytes at lanes 4..5 of a later word: an ordinary frame.
    l2 = bytearray(udp_l2(128, rng))
    l2[44:46] = b"\x88\x08"
    items.append(tb.case.good(bytes(l2), "0x8808 in the payload"))
    # 802.3 MAC Control frames are never tagged: a tagged 0x8808 is an ordinary frame.
    tagged = bytes(Ether(dst="01:80:c2:00:00:01") / Dot1Q(vlan=5, type=0x8808) / Raw(b"\x00\x01"))
    tagged += bytes(60 - len(tagged))
    items.append(tb.case.good(tagged, "VLAN-tagged 0x8808"))
    big = bytes(Ether(dst="01:80:c2:00:00:01", type=0x8808) / Raw(bytes(1500)))
    items.append(tb.case.raw(big + fcs(big), DropReason.MAC_CONTROL, "1518 B MAC control"))
    items.append(tb.case.good(udp_l2(1518, rng), "good after MAC control"))
    await tb.send_and_check(items)


@cocotb.test()
async def status_priority_is_xgmii_runt_oversize_fcs_mac_control(dut: Any) -> None:
    """Several faults in one frame: the reason is the highest of xgmii_error > runt > oversize
    > bad_fcs > mac_control."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("status_priority_is_xgmii_runt_oversize_fcs_mac_control")
    m = tb.max_bytes

    def bad_fcs(b: bytes) -> bytes:
        return b + bytes(x ^ 0xFF for x in fcs(b))

    short = udp_l2(64, rng)[:40]
    long = udp_l2(m + 10, rng)
    pause = pause_l2()
    pause_long = bytes(Ether(dst="01:80:c2:00:00:01", type=0x8808) / Raw(bytes(m)))
    items = [
        tb.case.raw(bad_fcs(short), DropReason.RUNT, "runt + bad FCS"),
        tb.case.with_control(bad_fcs(short), 8 + 20, ERROR, "runt + /E/"),
        tb.case.raw(bad_fcs(long), DropReason.OVERSIZE, "oversize + bad FCS"),
        tb.case.with_control(bad_fcs(long), 8 + 100, ERROR, "oversize + /E/ before the limit"),
        tb.case.raw(bad_fcs(pause), DropReason.BAD_FCS, "PAUSE + bad FCS"),
        tb.case.raw(pause[:40] + fcs(pause[:40]), DropReason.RUNT, "PAUSE + runt"),
        tb.case.raw(pause_long + fcs(pause_long), DropReason.OVERSIZE, "MAC control + oversize"),
        tb.case.with_control(pause + fcs(pause), 8 + 30, ERROR, "PAUSE + /E/"),
    ]
    items += [tb.case.good(udp_l2(64, rng), "good at the end")]
    await tb.send_and_check(items)


@cocotb.test()
async def minimum_gap_at_line_rate_loses_nothing(dut: Any) -> None:
    """2000 frames of 67/71 B back to back with 5-byte gaps (deficit idle off): every frame
    arrives intact, and the MAC keeps pace with the wire (bounded latency at the end)."""
    tb = Tb(dut)
    await tb.start()
    assert tb.source is not None
    tb.source.enable_dic = False
    tb.source.ifg = 5
    rng = seeded_rng("minimum_gap_at_line_rate_loses_nothing")
    n_frames = int(os.environ.get("MAC_RX_MIN_GAP_FRAMES", "2000"))
    items = [tb.case.good(udp_l2(67 if i % 2 else 71, rng, i), f"#{i}") for i in range(n_frames)]
    gaps = GapMonitor(dut)
    t0 = time.perf_counter()
    c0 = tb.cycle
    await tb.send_and_check(items)
    wall = time.perf_counter() - t0
    gaps.stop()
    cycles = tb.cycle - c0
    log.info(
        "%d frames, %d cycles in %.2f s wall: %.0f cycles/s, %.0f frames/s",
        n_frames,
        cycles,
        wall,
        cycles / wall,
        n_frames / wall,
    )
    log.info("gaps on the bus: %s", {g: gaps.gaps.count(g) for g in sorted(set(gaps.gaps))})
    assert gaps.starts == n_frames, f"{gaps.starts} /S/ on the bus for {n_frames} frames"
    assert min(gaps.gaps) == 5, f"smallest gap on the bus {min(gaps.gaps)} B, expected 5"
    assert max(gaps.gaps) <= 8, f"largest gap on the bus {max(gaps.gaps)} B: not back to back"
    # Last /T/ on the bus -> last tlast: the MAC kept pace with the wire all along.
    lag = round((tb.frames[-1].t_ns - gaps.last_term_ns) / CLK_NS)
    log.info("last /T/ on the bus -> last tlast: %d cycles", lag)
    assert 0 < lag <= LATENCY_CYCLES, f"last tlast {lag} cycles after the last /T/"


@cocotb.test()
async def malformed_frames_at_minimum_gap_spare_the_next_frame(dut: Any) -> None:
    """Every kind of malformed frame, each followed at the minimum gap by a good one."""
    tb = Tb(dut)
    await tb.start()
    assert tb.source is not None
    tb.source.enable_dic = False
    tb.source.ifg = 5
    rng = seeded_rng("malformed_frames_at_minimum_gap_spare_the_next_frame")
    m = tb.max_bytes
    items = []
    for i in range(3):
        for n in (67, 71):
            l2 = udp_l2(n, rng, i)
            bad = bytearray(l2 + fcs(l2))
            bad[rng.randrange(n)] ^= 1 << rng.randrange(8)
            runt = l2[: 55 + i] + fcs(l2[: 55 + i])
            big = udp_l2(m + 3 + 4 * i, rng, i)
            p = pause_l2()
            bad_items = [
                tb.case.raw(bytes(bad), DropReason.BAD_FCS, f"{n} B bad FCS"),
                tb.case.raw(runt, DropReason.RUNT, "runt"),
                tb.case.raw(big + fcs(big), DropReason.OVERSIZE, "oversize"),
                tb.case.with_control(l2 + fcs(l2), 8 + 20 + i, ERROR, "/E/"),
                tb.case.with_control(l2 + fcs(l2), 2 + i, ERROR, "/E/ in preamble"),
                tb.case.raw(p + fcs(p), DropReason.MAC_CONTROL, "PAUSE"),
            ]
            for b in bad_items:
                items.append(b)
                items.append(tb.case.good(udp_l2(n, rng, i), f"{n} B good after {b[1].what}"))
    await tb.send_and_check(items)


def encode(
    frames: Sequence[bytes], min_gap: int, ctrl_at: dict[int, tuple[int, int]]
) -> tuple[list[tuple[int, int]], list[int]]:
    """XGMII words for ``frames`` (FCS included) with /S/ on lane 0 or 4 at least ``min_gap``
    bytes after each /T/ (the first /S/ aligned to 4). ``ctrl_at[k] = (wire index, char)`` puts
    a control character into frame k. Returns the words and each frame's start lane."""
    lanes: list[tuple[int, int]] = [(IDLE, 1)] * 8
    starts = []
    for k, f in enumerate(frames):
        while len(lanes) % 4:
            lanes.append((IDLE, 1))
        starts.append(len(lanes) % 8)
        wire = [(START, 1)] + [(b, 0) for b in PREAMBLE[1:] + f]
        if k in ctrl_at:
            at, char = ctrl_at[k]
            wire[at] = (char, 1)
        lanes += wire + [(TERM, 1)] + [(IDLE, 1)] * (min_gap - 1)
    while len(lanes) % 8:
        lanes.append((IDLE, 1))
    lanes += [(IDLE, 1)] * 16
    words = []
    for w in range(0, len(lanes), 8):
        d = sum(b << (8 * i) for i, (b, _) in enumerate(lanes[w : w + 8]))
        c = sum(c << i for i, (_, c) in enumerate(lanes[w : w + 8]))
        words.append((d, c))
    return words, starts


@cocotb.test()
async def gaps_below_minimum_are_received(dut: Any) -> None:
    """Raw XGMII words: /S/ 1..4 bytes after /T/ (lane 0 right after /T/ in lane 7, lane 4 in
    the same word as /T/), for frames from both start lanes, tiny runts and preamble errors
    among them: every frame is reported, good ones byte exact."""
    tb = Tb(dut, source=False)
    await tb.start()
    rng = seeded_rng("gaps_below_minimum_are_received")
    frames: list[bytes] = []
    exps: list[Expect] = []
    ctrl_at: dict[int, tuple[int, int]] = {}
    for i in range(160):
        kind = rng.random()
        if kind < 0.15:
            n = rng.randrange(0, 8)
            f = rng.randbytes(n)
            exps.append(Expect(f"{n} B runt", DropReason.RUNT, tb.case.out_bytes(f)))
        elif kind < 0.2:
            l2 = udp_l2(64, rng, i)
            f = l2 + fcs(l2)
            ctrl_at[len(frames)] = (rng.randrange(1, 8), ERROR)
            exps.append(Expect("/E/ in preamble", DropReason.XGMII_ERROR, b""))
        else:
            n = rng.randint(64, 80)
            l2 = udp_l2(n, rng, i)
            f = l2 + fcs(l2)
            exps.append(Expect(f"{n} B", None, tb.case.out_bytes(f)))
        frames.append(f)
    words, starts = encode(frames, 1, ctrl_at)
    assert set(starts) == {0, 4}

    async def drive() -> None:
        for d, c in words:
            dut.xgmii_rxd.value = d
            dut.xgmii_rxc.value = c
            await RisingEdge(dut.clk)

    cocotb.start_soon(drive())
    await tb.wait_frames(len(frames), len(words) * CLK_NS + 1000, "raw XGMII frames")
    await tb.settle()
    assert len(tb.frames) == len(frames), f"{len(tb.frames)} frames out for {len(frames)}"
    for k, (exp, got) in enumerate(zip(exps, tb.frames, strict=True)):
        tb.check(k, exp, got)

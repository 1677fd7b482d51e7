# SPDX-License-Identifier: MIT
"""tb.lib.xgmii.XgmiiWordSource against cocotbext-eth's XgmiiSource on one clock: the same
frames sent to both at the same moments must give the same word on every clock edge (the
test top counts the edges where the buses differ, and the test compares them too), the same
frame times, and frames an XgmiiSink decodes back. Run through tests/test_xgmii_words.py."""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.eth import XgmiiFrame, XgmiiSink, XgmiiSource

from tb.lib.common import deadline, seeded_rng, start_clock
from tb.lib.xgmii import ERROR, XgmiiWordSource

CLK_NS = 6.4


class Pair:
    """Both sources on their buses, a sink on the driver's bus, and a monitor that records
    every clock's pair of words."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.ref = XgmiiSource(dut.ref_xgmii_d, dut.ref_xgmii_c, dut.clk, dut.rst)
        self.new = XgmiiWordSource(dut.dut_xgmii_d, dut.dut_xgmii_c, dut.clk, dut.rst)
        self.sink = XgmiiSink(dut.dut_xgmii_d, dut.dut_xgmii_c, dut.clk, dut.rst)
        for x in (self.ref, self.new, self.sink):
            x.log.setLevel("WARNING")
        self.ref_done: list[tuple[Any, ...]] = []
        self.new_done: list[tuple[Any, ...]] = []
        self.clocks = 0
        self.differ: list[tuple[int, int, int, int, int]] = []
        self.hw_mismatches = 0  # the top's count, summed over its resets
        cocotb.start_soon(self._monitor())

    async def _monitor(self) -> None:
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            a = (int(d.ref_xgmii_d.value), int(d.ref_xgmii_c.value))
            b = (int(d.dut_xgmii_d.value), int(d.dut_xgmii_c.value))
            self.clocks += 1
            if a != b:
                self.differ.append((self.clocks, *a, *b))

    def send(self, frame: XgmiiFrame) -> None:
        """The same frame to both, now."""

        def done_of(log: list[tuple[Any, ...]]) -> Any:
            def done(f: XgmiiFrame) -> None:
                log.append((f.sim_time_start, f.sim_time_sfd, f.sim_time_end, f.start_lane))

            return done

        self.ref.send_nowait(XgmiiFrame(frame, tx_complete=done_of(self.ref_done)))
        self.new.send_nowait(XgmiiFrame(frame, tx_complete=done_of(self.new_done)))

    async def drain(self) -> None:
        await deadline(self.ref.wait(), 2_000_000, "reference source idle")
        await deadline(self.new.wait(), 2_000_000, "word source idle")
        await ClockCycles(self.dut.clk, 4)
        assert self.ref.idle() and self.new.idle()

    async def reset(self, clocks: int) -> None:
        self.hw_mismatches += int(self.dut.mismatch_clocks.value)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, clocks)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def check(self) -> None:
        hw = self.hw_mismatches + int(self.dut.mismatch_clocks.value)
        assert not self.differ, (
            f"{len(self.differ)} clocks differ; first at clock {self.differ[0][0]}: reference "
            f"d={self.differ[0][1]:016x} c={self.differ[0][2]:02x}, word source "
            f"d={self.differ[0][3]:016x} c={self.differ[0][4]:02x}"
        )
        assert hw == 0, f"the test top saw {hw} clocks where the buses differed"
        assert int(self.dut.clocks.value) > 0
        for k, (a, b) in enumerate(zip(self.ref_done, self.new_done, strict=True)):
            assert a == b, f"frame {k}: (start, sfd, end, lane) {b}, XgmiiSource {a}"


def frame_of(rng: Any, kind: str) -> tuple[XgmiiFrame, bytes]:
    """A frame of the given kind and what a sink decodes from it (payload with FCS; a frame
    with an XGMII error character ends there)."""
    if kind == "runt":  # shorter than the minimum, good FCS
        f = XgmiiFrame.from_payload(rng.randbytes(rng.randrange(1, 60)), min_len=0)
    elif kind == "bad_fcs":
        good = XgmiiFrame.from_payload(rng.randbytes(rng.randrange(60, 200)))
        raw = bytearray(good.data)
        raw[-1] ^= 0x01
        f = XgmiiFrame.from_raw_payload(bytes(raw[8:]))
    else:  # short ones of each length mod 8, any up to 1518 B with FCS, now and then jumbo
        n = rng.choice([rng.randrange(60, 76)] * 3 + [rng.randrange(60, 1515)] * 2)
        f = XgmiiFrame.from_payload(rng.randbytes(9014 if rng.random() < 0.02 else n))
    if kind == "error":  # an /E/ in the payload, as a PHY marks a bad symbol
        f = XgmiiFrame.from_payload(rng.randbytes(rng.randrange(60, 300)))
        pos = rng.randrange(9, len(f.data) - 1)
        f.data[pos] = ERROR
        f.ctrl = [0] * len(f.data)
        f.ctrl[pos] = 1
        return f, bytes(f.data[8 : pos + 1])
    return f, bytes(f.data[8:])


KINDS = ["good"] * 12 + ["runt", "bad_fcs", "error"]


@cocotb.test()
async def word_source_drives_what_xgmiisource_drives(dut: Any) -> None:
    """Back-to-back frames of every length class, frames sent at random moments (mid-frame,
    in the gap, after idle), and a reset in the middle of a frame: every clock's word, every
    frame's start lane and times equal to XgmiiSource's; the sink decodes every frame."""
    rng = seeded_rng("xgmii word source")
    start_clock(dut.clk, CLK_NS)
    dut.rst.value = 1
    p = Pair(dut)
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    expect: list[bytes] = []  # what the sink decodes, per frame sent before the reset
    # back to back: the deficit idle count carries from frame to frame
    for _ in range(300):
        f, want = frame_of(rng, rng.choice(KINDS))
        p.send(f)
        expect.append(want)
    await p.drain()
    # at random moments: in a frame, in the gap, on the clock the gap ends, after idle
    for _ in range(300):
        await ClockCycles(dut.clk, rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 9, 10, 11, 40]) or 1)
        for _ in range(rng.choice([1, 1, 1, 2, 4])):
            f, want = frame_of(rng, rng.choice(KINDS))
            p.send(f)
            expect.append(want)
    await p.drain()
    got = []
    while not p.sink.empty():
        rx = p.sink.recv_nowait()
        got.append(bytes(rx.data[8:]) if len(rx.data) > 8 else b"")
    assert len(got) == len(expect), (len(got), len(expect))
    for k, (g, e) in enumerate(zip(got, expect, strict=True)):
        assert g == e, f"frame {k}: the sink decoded {len(g)} B, sent {len(e)} B"
    # a reset in the middle of a frame: the frame is cut, the queue goes on after it
    for _ in range(20):
        p.send(frame_of(rng, "good")[0])
    await ClockCycles(dut.clk, rng.randrange(30, 200))
    await p.reset(3)
    await p.drain()
    p.check()
    assert len(p.ref_done) == len(expect) + 20, (len(p.ref_done), len(expect))
    starts = {t[3] for t in p.ref_done}
    assert starts == {0, 4}, f"frames start on lanes {starts}"

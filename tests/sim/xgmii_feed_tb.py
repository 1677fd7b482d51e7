# SPDX-License-Identifier: MIT
"""tb.lib.xgmii.XgmiiFeed on tb/rtl/splitrx_feed_top.sv: frames handed to the top's ring of
words come out on its XGMII bus whole and in order (cocotbext-eth's XgmiiSink decodes the
bus: an independent decoder), with the times the feeder computed for them, whether frames
queue up faster than the wire takes them, arrive one at a time, or leave the ring empty in
between. Run through tests/test_xgmii_feed.py."""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.triggers import Timer
from cocotbext.eth import XgmiiFrame, XgmiiSink

from tb.lib.common import deadline, seeded_rng, start_clock
from tb.lib.xgmii import XgmiiFeed

MAC_NS = 6.4


async def setup(dut: Any) -> tuple[XgmiiFeed, XgmiiSink]:
    start_clock(dut.clk, 4.0)
    start_clock(dut.mac_clk, MAC_NS)
    dut.rst.value = 1
    dut.mac_rst.value = 1
    dut.feed_blk_words.value = 0
    await Timer(100, "ns")
    dut.rst.value = 0
    dut.mac_rst.value = 0
    await Timer(100, "ns")
    sink = XgmiiSink(dut.xgmii_rxd, dut.xgmii_rxc, dut.mac_clk, dut.mac_rst)
    sink.log.setLevel("WARNING")
    return XgmiiFeed(dut, dut.mac_clk), sink


@cocotb.test()
async def frames_reach_the_bus_whole_in_order_and_on_time(dut: Any) -> None:
    feed, sink = await setup(dut)
    rng = seeded_rng("xgmii feed")
    sent: list[XgmiiFrame] = []
    done: list[XgmiiFrame] = []
    # bursts (more than the ring holds: the feeder waits for room), single frames with gaps
    # (the ring runs empty between them), and frames of every length from runt to 2000 B
    for phase in ("burst", "sparse", "burst"):
        for _ in range(120 if phase == "burst" else 40):
            payload = rng.randbytes(rng.choice([rng.randint(1, 80), rng.randint(60, 2000)]))
            f = XgmiiFrame.from_payload(payload, tx_complete=done.append)
            sent.append(f)
            await feed.send(f)
            if phase == "sparse":
                await Timer(rng.randint(1, 400) * 6400, "ps")
        await deadline(feed.wait(), 1_000_000, "feeder idle")
    assert feed.idle() and feed.count() == 0
    got = [await deadline(sink.recv(), 10_000, f"frame {k} on the bus") for k in range(len(sent))]
    assert sink.empty(), "more frames on the bus than sent"
    assert len(done) == len(sent), f"tx_complete for {len(done)} of {len(sent)} frames"
    offsets = set()
    for k, (s, d, g) in enumerate(zip(sent, done, got, strict=True)):
        assert g.get_payload() == s.get_payload() and g.check_fcs(), f"frame {k} differs"
        # the sink stamps a word at the edge that samples it, one clock after the edge that
        # put it on the bus: the same offset for every frame, start, SFD and end
        offsets.add((g.sim_time_start - d.sim_time_start, g.sim_time_sfd - d.sim_time_sfd,
                     g.sim_time_end - d.sim_time_end))  # fmt: skip
    assert len(offsets) == 1, f"frame times off by different amounts: {sorted(offsets)[:4]}"
    ((start, sfd, end),) = offsets
    assert start == sfd == end, (start, sfd, end)


@cocotb.test()
async def a_frame_larger_than_a_block_is_refused_at_send(dut: Any) -> None:
    feed, _ = await setup(dut)
    too_big = XgmiiFrame.from_payload(bytes(8 * feed.block_words))
    try:
        feed.send_nowait(too_big)
    except ValueError as exc:
        assert "does not fit in a block" in str(exc)
    else:
        raise AssertionError("a frame larger than a block was taken")
    assert feed.count() == 0 and feed.idle()

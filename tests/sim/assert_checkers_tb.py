# SPDX-License-Identifier: MIT
"""cocotb tests of each assertion checker of tb/rtl/assert on its own
(tests/rtl/assert_checkers_top.sv): for every assertion a trace that breaks its rule, with
the failure named and timed at the clock edge that shows it, and traces that keep the rule
with no failure. Run through tests/test_assertions.py.

Values are written after a falling edge and sampled by the checkers at the next rising edge;
``Rig.cycle`` returns the time of that rising edge."""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from tb.lib.asserts import Firing, expect_firing, firings
from tb.lib.common import reset, start_clock
from tb.lib.pcie_hdr import CPL_UR, REQ_KIND_RD, REQ_KIND_WR, CplHdr, ReqHdr

CLK_NS = 4.0
INPUTS = (
    "ax_valid ax_ready ax_data ax_keep ax_last ax_user rq_valid rq_ready rq_keep rq_last "
    "rq_user rq_max_payload rq_max_read_req cpl_valid cpl_ready cpl_last cpl_user g_s0_valid "
    "g_s0_ready g_s0_last g_s1_valid g_s1_ready g_s1_last g_m_valid g_m_ready g_m_last "
    "f_level oh_bits o_data_valid o_data_ready o_data_last o_rec_valid o_rec_ready"
).split()


class Rig:
    def __init__(self, dut: Any) -> None:
        self.dut = dut

    async def start(self) -> None:
        start_clock(self.dut.clk, CLK_NS)
        for name in INPUTS:
            getattr(self.dut, name).value = 0
        await reset(self.dut.clk, self.dut.rst)

    async def cycle(self, **values: int) -> float:
        """Set ``values`` after the next falling edge; the time of the rising edge that
        samples them."""
        await FallingEdge(self.dut.clk)
        for name, v in values.items():
            getattr(self.dut, name).value = v
        await RisingEdge(self.dut.clk)
        return float(get_sim_time("ns"))

    async def fires(self, what: str, at: float) -> Firing:
        f = await expect_firing(self.dut.clk, what, since_ns=at)
        assert f.time_ns == at, f"{what} failed at {f.time_ns} ns, the bad sample was at {at}"
        return f

    async def quiet(self, since: float) -> None:
        await ClockCycles(self.dut.clk, 2)
        got = [f.line for f in firings(since)]
        assert got == [], got


async def rig(dut: Any) -> Rig:
    r = Rig(dut)
    await r.start()
    return r


@cocotb.test()
async def axis_checker_holds_valid_and_the_beat(dut: Any) -> None:
    """valid_held: valid falls while ready is low. payload_stable: a byte under keep, keep,
    last or user changes while stalled. Bytes outside keep may change; after a handshake
    valid may fall."""
    r = await rig(dut)
    await r.cycle(ax_valid=1, ax_ready=0, ax_data=0x11223344, ax_keep=0xF)
    await r.fires("u_axis.valid_held", await r.cycle(ax_valid=0))
    for change in ({"ax_data": 0x11223345}, {"ax_keep": 0x7}, {"ax_last": 1}, {"ax_user": 5}):
        await r.cycle(ax_valid=1, ax_ready=0, ax_data=0x11223344, ax_keep=0xF, ax_last=0, ax_user=0)
        t = await r.cycle(**change)
        await r.cycle(ax_ready=1)  # taken as it is now
        await r.cycle(ax_valid=0, ax_ready=0)
        f = await r.fires("u_axis.payload_stable", t)
        assert "changed while stalled" in f.detail
    t = await r.cycle(ax_valid=1, ax_ready=0, ax_keep=0x3, ax_data=0x0000_5566, ax_last=0)
    await r.cycle(ax_data=0xAB00_5566)  # byte 3 is not kept
    await r.cycle(ax_ready=1)
    await r.cycle(ax_valid=0, ax_ready=0)
    await r.quiet(t)


async def request(
    r: Rig, hdr: ReqHdr, beats: list[int] | None = None, last_at: int | None = None
) -> float:
    """One request handed over beat by beat (``beats``: the keep of each; default: as many
    full beats as the header says, the last partial); the time of its first beat."""
    if beats is None:
        n = hdr.dwords if hdr.kind == REQ_KIND_WR else 1
        beats = [(1 << min(8, n - 8 * k)) - 1 for k in range((n + 7) // 8)]
    end = len(beats) - 1 if last_at is None else last_at
    t = 0.0
    for k, keep in enumerate(beats):
        tk = await r.cycle(
            rq_valid=1, rq_ready=1, rq_user=hdr.pack(), rq_keep=keep, rq_last=int(k == end)
        )
        t = t or tk
    await r.cycle(rq_valid=0, rq_last=0)
    return t


@cocotb.test()
async def req_checker_holds_the_request_rules(dut: Any) -> None:
    """within_mps, within_mrrs, within_page, byte_enables, read_one_beat and write_length
    each fire on a request that breaks them; requests at the limits pass."""
    r = await rig(dut)
    await r.cycle(rq_max_payload=0, rq_max_read_req=0)  # MPS 128, MRRS 128
    t = await request(r, ReqHdr(REQ_KIND_WR, dw_count=32, last_be=0xF, addr=0x1000))
    await request(r, ReqHdr(REQ_KIND_RD, tag=1, dw_count=32, last_be=0xF, addr=0x2000))
    await r.quiet(t)
    f = await r.fires(
        "u_req.within_mps",
        await request(r, ReqHdr(REQ_KIND_WR, dw_count=33, last_be=0xF, addr=0x1000)),
    )
    assert "write of 132 B at 0x1000 over MPS 128" in f.detail, f.detail
    f = await r.fires(
        "u_req.within_mrrs",
        await request(r, ReqHdr(REQ_KIND_RD, tag=2, dw_count=64, last_be=0xF, addr=0x2000)),
    )
    assert "over MRRS 128" in f.detail, f.detail
    await r.cycle(rq_max_payload=3)  # MPS 1024
    await r.fires(
        "u_req.within_page",
        await request(r, ReqHdr(REQ_KIND_WR, dw_count=32, last_be=0xF, addr=0x1FC0)),
    )
    t = await request(r, ReqHdr(REQ_KIND_WR, dw_count=16, last_be=0xF, addr=0x1FC0))  # ends on it
    await r.quiet(t)
    await r.fires(
        "u_req.byte_enables", await request(r, ReqHdr(REQ_KIND_WR, dw_count=1, last_be=0xF))
    )
    await r.fires(
        "u_req.byte_enables",
        await request(r, ReqHdr(REQ_KIND_WR, dw_count=3, first_be=0b0110, last_be=0xF)),
    )
    t = await request(
        r, ReqHdr(REQ_KIND_WR, dw_count=2, first_be=0b0101, last_be=0b1010, addr=0x3000)
    )
    await r.quiet(t)  # QW-aligned 2 DW: any enables
    await r.fires(
        "u_req.read_one_beat",
        await request(r, ReqHdr(REQ_KIND_RD, tag=3, dw_count=8, last_be=0xF), beats=[0xFF, 0xFF]),
    )
    f = await r.fires(
        "u_req.write_length",
        await request(r, ReqHdr(REQ_KIND_WR, dw_count=8, last_be=0xF), beats=[0x0F]),
    )
    assert "beat of 4 DW, 8 left, tlast 1" in f.detail, f.detail


@cocotb.test()
async def tag_checker_holds_each_tag_until_its_last_completion(dut: Any) -> None:
    """tag_free fires on a read whose tag is held; the completion with request_completed,
    or an error completion, frees it; a completion that leaves bytes to come does not."""
    r = await rig(dut)

    def read(tag: int) -> ReqHdr:
        return ReqHdr(REQ_KIND_RD, tag=tag, dw_count=8, last_be=0xF, addr=0x4000)

    async def completion(hdr: CplHdr) -> None:
        await r.cycle(cpl_valid=1, cpl_ready=1, cpl_last=1, cpl_user=hdr.pack())
        await r.cycle(cpl_valid=0, cpl_last=0)

    t = await request(r, read(3))
    await request(r, read(4))
    await r.quiet(t)
    f = await r.fires("u_tag.tag_free", await request(r, read(3)))
    assert "reuses tag 3" in f.detail, f.detail
    t = get_sim_time("ns")
    await completion(CplHdr(tag=3, request_completed=1, byte_count=32, dw_count=8))
    await completion(CplHdr(tag=4, status=CPL_UR, byte_count=32))
    await request(r, read(3))
    await request(r, read(4))
    await r.quiet(t)
    await completion(CplHdr(tag=3, request_completed=0, byte_count=32, dw_count=4))  # half
    await r.fires("u_tag.tag_free", await request(r, read(3)))


@cocotb.test()
async def grant_checker_holds_the_grant_to_tlast(dut: Any) -> None:
    """one_grant: both inputs ready. beat_passes: an output beat with no input beat.
    grant_held: the other input served inside a request. A request passing whole, then the
    other input, is fine."""
    r = await rig(dut)
    t = await r.cycle(g_s0_valid=1, g_s0_ready=1, g_m_valid=1, g_m_ready=1, g_m_last=0)
    await r.cycle(g_s0_last=1, g_m_last=1)
    await r.cycle(g_s0_valid=0, g_s0_ready=0, g_s0_last=0, g_s1_valid=1, g_s1_ready=1, g_m_last=1)
    await r.cycle(g_s1_valid=0, g_s1_ready=0, g_m_valid=0, g_m_last=0)
    await r.quiet(t)
    t = await r.cycle(g_s0_ready=1, g_s1_ready=1)
    await r.cycle(g_s0_ready=0, g_s1_ready=0)
    await r.fires("u_grant.one_grant", t)
    t = await r.cycle(g_m_valid=1, g_m_ready=1)
    await r.cycle(g_m_valid=0, g_m_ready=0)
    await r.fires("u_grant.beat_passes", t)
    await r.cycle(g_s0_valid=1, g_s0_ready=1, g_m_valid=1, g_m_ready=1, g_m_last=0)  # a first beat
    t = await r.cycle(g_s0_valid=0, g_s0_ready=0, g_m_valid=0, g_m_ready=0, g_s1_ready=1)
    await r.cycle(g_s1_ready=0)
    await r.fires("u_grant.grant_held", t)


@cocotb.test()
async def fifo_checker_sees_a_write_when_full_and_a_read_when_empty(dut: Any) -> None:
    """not_written_full: the level goes from DEPTH (16) to 17. not_read_empty: from 0 to
    the wrapped 31. Filling to 16 and emptying to 0 is fine."""
    r = await rig(dut)
    t = await r.cycle(f_level=15)
    await r.cycle(f_level=16)
    await r.cycle(f_level=15)
    await r.cycle(f_level=0)
    await r.quiet(t)
    await r.cycle(f_level=16)
    t = await r.cycle(f_level=17)
    await r.cycle(f_level=16)
    f = await r.fires("u_fifo.not_written_full", t)
    assert "level 17 of 16" in f.detail, f.detail
    await r.cycle(f_level=0)
    t = await r.cycle(f_level=31)
    await r.cycle(f_level=0)
    await r.fires("u_fifo.not_read_empty", t)


@cocotb.test()
async def onehot_checker_sees_two_bits_set(dut: Any) -> None:
    """onehot fires on 0110; 0000 and 0100 are fine."""
    r = await rig(dut)
    t = await r.cycle(oh_bits=0b0100)
    await r.cycle(oh_bits=0)
    await r.quiet(t)
    t = await r.cycle(oh_bits=0b0110)
    await r.cycle(oh_bits=0)
    f = await r.fires("u_onehot.onehot", t)
    assert "bits 0110" in f.detail, f.detail


@cocotb.test()
async def order_checker_sees_a_record_ahead_of_its_data(dut: Any) -> None:
    """record_after_data fires on a record taken while a data beat waits, and while a data
    request is half sent; a record after the data's tlast is fine."""
    r = await rig(dut)
    t = await r.cycle(o_data_valid=1, o_data_ready=1, o_data_last=0)
    await r.cycle(o_data_last=1)
    await r.cycle(o_data_valid=0, o_data_last=0, o_rec_valid=1, o_rec_ready=1)
    await r.cycle(o_rec_valid=0)
    await r.quiet(t)
    t = await r.cycle(o_data_valid=1, o_data_ready=0, o_rec_valid=1, o_rec_ready=1)
    await r.cycle(o_rec_valid=0)
    f = await r.fires("u_order.record_after_data", t)
    assert "waiting" in f.detail, f.detail
    await r.cycle(o_data_ready=1)  # the waiting beat leaves: a first beat, no tlast
    t = await r.cycle(o_data_valid=0, o_rec_valid=1)
    await r.cycle(o_rec_valid=0)
    f = await r.fires("u_order.record_after_data", t)
    assert "half-sent" in f.detail, f.detail


@cocotb.test()
async def unacknowledged_failure(dut: Any) -> None:
    """Breaks valid_held without expecting it: tests/test_assertions.py runs it between two
    passing tests and sees only this one fail, with the assertion's name and time."""
    r = await rig(dut)
    await r.cycle(ax_valid=1, ax_ready=0)
    t = await r.cycle(ax_valid=0)
    dut._log.info("valid_held broken at %.3f ns", t)
    await ClockCycles(dut.clk, 2)

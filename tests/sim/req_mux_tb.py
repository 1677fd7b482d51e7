# SPDX-License-Identifier: MIT
"""cocotb tests of req_mux, the two-input request arbiter. Run through tests/test_req_mux.py.

Values are written after a falling edge; what is read after a rising edge is what the edge
sampled."""

from __future__ import annotations

from typing import Any

import cocotb
from cocotb.triggers import FallingEdge, RisingEdge

from tb.lib.common import reset, start_clock
from tb.lib.pcie_hdr import REQ_KIND_WR, ReqHdr

CLK_NS = 4.0


def drive_idle(dut: Any) -> None:
    for side in ("s0", "s1"):
        for sig, v in (("tvalid", 0), ("tdata", 0), ("tkeep", 0), ("tlast", 0), ("tuser", 0)):
            getattr(dut, f"{side}_axis_{sig}").value = v
    dut.m_axis_tready.value = 0


@cocotb.test()
async def first_beat_offer_stays_while_stalled(dut: Any) -> None:
    """Finding F1 (docs/verification.md): input 0 offers a one-beat request while the output
    is stalled; input 1 becomes valid two clocks later. AXI4-Stream wants the offered beat
    unchanged until it is taken; req_mux switches to input 1 (round robin) instead."""
    start_clock(dut.clk, CLK_NS)
    drive_idle(dut)
    await reset(dut.clk, dut.rst)
    # input 1 wins the first tie after reset (input 0 is 'last granted'); make input 0 the
    # one granted last so that a tie goes to input 1
    await FallingEdge(dut.clk)
    dut.s0_axis_tvalid.value, dut.s0_axis_tlast.value, dut.m_axis_tready.value = 1, 1, 1
    dut.s0_axis_tuser.value = ReqHdr(REQ_KIND_WR, addr=0x100).pack()
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.m_axis_tready.value = 0
    dut.s0_axis_tdata.value = 0xA
    dut.s0_axis_tuser.value = ReqHdr(REQ_KIND_WR, addr=0x200).pack()
    offers = []
    for k in range(5):
        if k == 2:
            dut.s1_axis_tvalid.value, dut.s1_axis_tlast.value, dut.s1_axis_tdata.value = 1, 1, 0xB
            dut.s1_axis_tuser.value = ReqHdr(REQ_KIND_WR, addr=0x300).pack()
        await RisingEdge(dut.clk)
        assert int(dut.m_axis_tvalid.value) == 1
        offers.append(int(dut.m_axis_tdata.value))
        await FallingEdge(dut.clk)
    assert offers == [0xA] * 5, f"offer changed while stalled: {[hex(o) for o in offers]}"

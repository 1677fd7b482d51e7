# SPDX-License-Identifier: MIT
"""cocotb tests for axis_reg, the register slice at the PCIe hard-IP ports.

Driven by tests/test_axis_reg.py. Sampling convention (Verilator + cocotb 2.1): values read
right after ``await RisingEdge(clk)`` are the ones held during the cycle that edge closes, so
a handshake at that edge is ``valid and ready`` as read there; writes made there take effect
after it."""

from __future__ import annotations

import os
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge

from tb.lib.common import reset, seeded_rng, start_clock

DATA_W = int(os.environ.get("AXIS_REG_DATA_W", "37"))


async def setup(dut: Any) -> None:
    start_clock(dut.clk, 4.0)
    dut.s_valid.value = 0
    dut.s_data.value = 0
    dut.m_ready.value = 0
    await reset(dut.clk, dut.rst)


async def exchange(
    dut: Any, beats: list[int], p_valid: float, p_ready: float, seed_name: str, clocks: int
) -> list[int]:
    """Offer ``beats`` in order with valid on a fraction p_valid of clocks, take with ready on
    p_ready of them; each clock check the slice's state against the beats it holds. Returns
    what came out."""
    rng = seeded_rng(seed_name)
    out: list[int] = []
    sent = 0
    offered = False  # s_valid is high this cycle
    prev_m: tuple[int, int] | None = None  # (m_valid, m_data) of a stalled beat on offer
    for _ in range(clocks):
        await RisingEdge(dut.clk)
        s_ready = int(dut.s_ready.value)
        m_valid = int(dut.m_valid.value)
        m_ready = int(dut.m_ready.value)
        held = sent - len(out)  # beats inside the slice during the cycle just closed
        # two entries: ready upstream exactly while at most one beat is held
        assert s_ready == (held < 2), f"s_ready {s_ready} with {held} beats held"
        assert m_valid == (held > 0), f"m_valid {m_valid} with {held} beats held"
        if prev_m is not None:
            assert (m_valid, int(dut.m_data.value)) == prev_m, "stalled output beat changed"
        if m_valid and m_ready:
            got = int(dut.m_data.value)
            assert got == beats[len(out)], f"beat {len(out)}: {got:#x} != {beats[len(out)]:#x}"
            out.append(got)
            prev_m = None
        elif m_valid:
            prev_m = (m_valid, int(dut.m_data.value))
        if offered and s_ready:
            sent += 1
        # next cycle's inputs
        offered = sent < len(beats) and rng.random() < p_valid
        dut.s_valid.value = int(offered)
        dut.s_data.value = beats[sent] if offered else rng.getrandbits(DATA_W)
        dut.m_ready.value = int(rng.random() < p_ready)
        if len(out) == len(beats):
            break
    dut.s_valid.value = 0
    return out


@cocotb.test()
async def random_valid_and_ready_keep_order_and_two_beats_at_most(dut: Any) -> None:
    await setup(dut)
    rng = seeded_rng("axis_reg beats")
    beats = [rng.getrandbits(DATA_W) for _ in range(3000)]
    for p_valid, p_ready in ((0.5, 0.5), (1.0, 0.3), (0.3, 1.0), (0.9, 0.9)):
        out = await exchange(dut, beats, p_valid, p_ready, "axis_reg handshakes", 40_000)
        assert out == beats, f"valid {p_valid} ready {p_ready}: {len(out)} of {len(beats)} out"


@cocotb.test()
async def full_rate_with_one_clock_of_latency(dut: Any) -> None:
    """valid and ready high throughout: a beat accepted at an edge is on the output right
    after it and taken at the next edge, every clock, no bubble."""
    await setup(dut)
    rng = seeded_rng("axis_reg full rate")
    beats = [rng.getrandbits(DATA_W) for _ in range(200)]
    dut.m_ready.value = 1
    dut.s_valid.value = 1
    dut.s_data.value = beats[0]
    taken_at: list[int] = []
    sent = 0
    for clk in range(len(beats) + 3):
        await RisingEdge(dut.clk)
        if int(dut.m_valid.value):
            assert int(dut.m_data.value) == beats[len(taken_at)]
            taken_at.append(clk)
        if int(dut.s_valid.value) and int(dut.s_ready.value):
            sent += 1
        dut.s_valid.value = int(sent < len(beats))
        dut.s_data.value = beats[sent] if sent < len(beats) else 0
    assert taken_at == list(range(1, len(beats) + 1)), f"output clocks {taken_at[:8]}..."


@cocotb.test()
async def a_stall_holds_two_beats_and_loses_none(dut: Any) -> None:
    await setup(dut)
    beats = [0x1_0000_0001, 0x2_0000_0002, 0x3_0000_0003, 0x4_0000_0004]
    dut.m_ready.value = 0
    dut.s_valid.value = 1
    dut.s_data.value = beats[0]
    sent = 0
    for _ in range(10):  # the sink stalls: two beats go in, then s_ready falls
        await RisingEdge(dut.clk)
        if int(dut.s_valid.value) and int(dut.s_ready.value):
            sent += 1
        dut.s_data.value = beats[sent]
    assert sent == 2, f"{sent} beats accepted into a stalled two-entry slice"
    assert not int(dut.s_ready.value)
    assert int(dut.m_data.value) == beats[0]
    out: list[int] = []
    dut.m_ready.value = 1
    for _ in range(10):
        await RisingEdge(dut.clk)
        if int(dut.m_valid.value) and int(dut.m_ready.value):
            out.append(int(dut.m_data.value))
        if int(dut.s_valid.value) and int(dut.s_ready.value):
            sent += 1
        dut.s_valid.value = int(sent < len(beats))
        dut.s_data.value = beats[sent] if sent < len(beats) else 0
    assert out == beats, f"after the stall: {[hex(b) for b in out]}"

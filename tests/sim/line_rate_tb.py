# SPDX-License-Identifier: MIT
"""Line-rate tests of the receive front end (MAC -> clock crossing -> packet FIFO): 100 % of
10 GbE accepted with zero loss, asserted in simulated cycles. Sizes include the FCS.
Run through tests/test_line_rate.py."""

from __future__ import annotations

import os
import random
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiFrame, XgmiiSource

from model.records import DropReason
from tb.lib.common import deadline, seeded_rng, start_clock
from tb.lib.xgmii import GapMonitor

MAC_NS = 6.4
USER_NS = 4.0
LINE_BPS = 10e9
OVERHEAD = 8 + 12  # preamble/SFD + standard inter-frame gap, bytes
TOTAL_BYTES = int(os.environ.get("LINE_RATE_BYTES", "640000"))  # wire bytes per test
# User clocks allowed after the wire goes idle: the pipeline, then store-and-forward streams
# out at 8 bytes per clock what is left. The output (16 Gb/s) outruns the 10 Gb/s input, so
# the backlog never exceeds about one frame beyond the one being completed: two of the
# largest frames in the run bound it.
PIPE_CYCLES = 64


async def setup(dut: Any, user_ns: float = USER_NS) -> None:
    """Both clocks (the user clock's period given), both resets together, then released."""
    start_clock(dut.mac_clk, MAC_NS)
    start_clock(dut.clk, user_ns)
    dut.mac_rst.value = 1
    dut.rst.value = 1
    await ClockCycles(dut.mac_clk, 8)
    dut.mac_rst.value = 0
    dut.rst.value = 0
    await ClockCycles(dut.mac_clk, 4)


# Destination, source, EtherType 0x88B5 (IEEE local experimental): random payload bytes must
# not turn a frame into MAC control (0x8808 at bytes 12..13), which the MAC rightly drops.
ETH_HDR = bytes.fromhex("02000000000102000000000288b5")


def frames_of(rng: random.Random, sizes: list[int]) -> list[XgmiiFrame]:
    """XGMII frames of the given sizes (FCS included): fixed Ethernet header, random payload."""
    return [
        XgmiiFrame.from_payload(ETH_HDR + rng.randbytes(n - 4 - len(ETH_HDR)), min_len=0)
        for n in sizes
    ]


def drops(dut: Any) -> dict[DropReason, int]:
    v = int(dut.drop_count.value)
    return {r: (v >> (64 * r)) & ((1 << 64) - 1) for r in DropReason}


async def run_at_line_rate(
    dut: Any, sizes: list[int], *, ifg: int = 12, dic: bool = True, min_gap: int | None = None
) -> None:
    await setup(dut)
    rng = seeded_rng("line rate")
    src = XgmiiSource(dut.xgmii_rxd, dut.xgmii_rxc, dut.mac_clk, dut.mac_rst)
    src.enable_dic = dic
    src.ifg = ifg
    src.log.setLevel("WARNING")
    gaps = GapMonitor(dut, dut.mac_clk) if min_gap is not None else None
    out = 0

    async def count_out() -> None:
        nonlocal out
        edge = RisingEdge(dut.frame_out)
        while True:
            await edge
            out += 1

    counter = cocotb.start_soon(count_out())
    t0 = get_sim_time("ns")
    for f in frames_of(rng, sizes):
        await src.send(f)
    await deadline(src.wait(), 4 * len(sizes) * 2000 + 1e6, "the wire to finish sending")
    t_wire = get_sim_time("ns") - t0
    drain = PIPE_CYCLES + (2 * max(sizes) + 7) // 8
    await ClockCycles(dut.clk, drain)
    counter.cancel()
    wire_bytes = sum(n + OVERHEAD for n in sizes)
    rate = wire_bytes * 8 / (t_wire * 1e-9) / LINE_BPS
    dut._log.info(
        "%d frames (%d..%d B), %.1f us on the wire = %.3f of 10 GbE line rate",
        len(sizes), min(sizes), max(sizes), t_wire / 1000, rate,
    )  # fmt: skip
    d = drops(dut)
    assert not any(d.values()), {r.name: n for r, n in d.items() if n}
    assert int(dut.frames_in_good.value) == len(sizes), (
        f"{int(dut.frames_in_good.value)} frames committed, {len(sizes)} sent"
    )
    assert out == len(sizes), f"{out} frames left the FIFO within {drain} cycles of the wire"
    if dic and ifg == 12:
        assert rate > 0.99, f"the source offered only {rate:.3f} of line rate"
    if gaps is not None:
        gaps.stop()
        assert gaps.starts == len(sizes)
        assert min(gaps.gaps) == min_gap, f"smallest gap on the bus {min(gaps.gaps)} B"


def count(size: int) -> int:
    """Frames of ``size`` bytes that make up TOTAL_BYTES on the wire (at least 50)."""
    return max(50, TOTAL_BYTES // (size + OVERHEAD))


@cocotb.test()
async def line_rate_64_bytes(dut: Any) -> None:
    """>= 10 000 64-byte frames at standard gaps: all accepted, none lost."""
    await run_at_line_rate(dut, [64] * max(10_000, count(64)))


@cocotb.test()
async def minimum_gap_67_and_71_bytes(dut: Any) -> None:
    """Deficit idle off, ifg 5: 67/71-byte frames give 5-byte gaps on the bus; none lost."""
    rng = random.Random(5)
    await run_at_line_rate(
        dut, [rng.choice((67, 71)) for _ in range(count(67))], ifg=5, dic=False, min_gap=5
    )


@cocotb.test()
async def line_rate_65_bytes(dut: Any) -> None:
    await run_at_line_rate(dut, [65] * count(65))


@cocotb.test()
async def line_rate_1518_bytes(dut: Any) -> None:
    await run_at_line_rate(dut, [1518] * count(1518))


@cocotb.test()
async def line_rate_9018_bytes(dut: Any) -> None:
    await run_at_line_rate(dut, [9018] * count(9018))


@cocotb.test()
async def line_rate_random_mix(dut: Any) -> None:
    """Random sizes 64..9018 B, frame count scaled so the bytes match the other tests."""
    rng = seeded_rng("line_rate_random_mix")
    sizes: list[int] = []
    while sum(n + OVERHEAD for n in sizes) < TOTAL_BYTES:
        sizes.append(rng.choice((rng.randint(64, 1518), rng.randint(64, 9018))))
    await run_at_line_rate(dut, sizes)
    await Timer(1, "ns")

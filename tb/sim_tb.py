# SPDX-License-Identifier: MIT
"""cocotb side of `make sim`: the default scenario, writing its figures to SPLITRX_REPORT."""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time

from model import regmap
from tb.common import deadline
from tb.pcie import PcieHarness

USER_CLK_NS = 4.0


@cocotb.test()
async def default_scenario(dut: object) -> None:
    wall0 = time.perf_counter()
    h = PcieHarness(dut)
    await deadline(h.enumerate(), 50_000, "enumeration")
    ident = await h.read_reg(regmap.ID.offset)
    version = await h.read_reg(regmap.VERSION.offset)
    caps = await h.read_reg(regmap.CAP_QUEUES.offset)
    assert ident == regmap.ID.reset, f"ID 0x{ident:08x}"
    region = h.host.alloc_dma(0x1000)
    payload = bytes(range(1, 33))
    n = 0
    for i in range(int(os.environ.get("SPLITRX_FRAMES", "16"))):
        for k in range(8):
            word = int.from_bytes(payload[4 * k : 4 * k + 4], "little")
            await h.write_reg(regmap.DMA_TEST_DATA_OFFSET + 4 * k, word ^ i)
        addr = region + 32 * (i % 128)
        await h.write_reg(regmap.DMA_TEST_ADDR_LO.offset, addr & 0xFFFF_FFFF)
        await h.write_reg(regmap.DMA_TEST_ADDR_HI.offset, addr >> 32)
        await h.write_reg(regmap.DMA_TEST_LEN.offset, 32)
        await h.write_reg(regmap.DMA_TEST_CTRL.offset, 1)
        n += 1
    await h.barrier()
    await Timer(100, "ns")
    ok = not h.host.faults and len(h.host.writes) == n
    sim_ns = get_sim_time("ns")
    report = {
        "scenario": "pcie-round-trip",
        "id": f"0x{ident:08x}",
        "version": ".".join(
            str(regmap.VERSION.fields[f].get(version)) for f in ("major", "minor", "patch")
        ),
        "rx_queues": regmap.CAP_QUEUES.fields["rx_queues"].get(caps),
        "dma_writes": len(h.host.writes),
        "dma_faults": len(h.host.faults),
        "checks_passed": ok,
        "sim_ns": sim_ns,
        "user_clk_cycles": int(sim_ns / USER_CLK_NS),
        "wall_s": time.perf_counter() - wall0,
    }
    with open(os.environ["SPLITRX_REPORT"], "w") as f:
        json.dump(report, f)
    assert ok, report

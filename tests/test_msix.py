# SPDX-License-Identifier: MIT
"""MSI-X table, PBA and interrupt delivery (rtl/msix.sv) behind the real PCIe path."""

from __future__ import annotations

import pytest

from tb.runner.build import RTL, Build, build, rtl_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "table_resets_masked_and_honours_byte_enables",
    "unmasked_vector_sends_exactly_one_write",
    "masked_vector_pends_until_unmasked",
    "function_mask_pends_every_vector_until_cleared",
    "disabled_function_drops_and_counts",
    "pba_is_read_only",
    "out_of_range_accesses_are_refused",
    "backpressure_loses_nothing",
    "many_interrupts_arrive_in_order",
]

# (vectors, low part of the 64-bit counters in bits). 16: the register map's table size; 5: not
# a power of two (vectors beyond the table); 64: the largest table (a PBA QWORD full, no vector
# number out of range). A 2-bit low part makes the counters carry into their high part every
# 4 counts, which the per-clock count check sees (at 32 bits it would take 2^32 counts).
CONFIGS = [(16, 32), (5, 32), (64, 32), (16, 2)]


def msix_build(vectors: int, count_lo_w: int) -> Build:
    sources = rtl_sources("pcie_us_cq_cc", "pcie_us_rq", "msix")
    top = RTL.parent / "tests" / "rtl" / "msix_tb_top.sv"
    params = {"VECTORS": vectors, "COUNT_LO_W": count_lo_w}
    return build("msix_tb_top", [*sources, top], parameters=params)


@pytest.mark.parametrize(
    ("vectors", "count_lo_w"), CONFIGS, ids=[f"v{v}-lo{w}" for v, w in CONFIGS]
)
@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_msix(vectors: int, count_lo_w: int, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(
        request,
        msix_build(vectors, count_lo_w),
        "tests.sim.msix_tb",
        testcase,
        extra_env={"MSIX_VECTORS": str(vectors)},
        label=f"v{vectors}-lo{count_lo_w}",
    )

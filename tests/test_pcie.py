# SPDX-License-Identifier: MIT
"""PCIe round trip through splitrx_top: enumeration, BAR0 registers, DMA self-test write."""

from __future__ import annotations

import pytest

from tb.runner.build import Build, build, top_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "enumeration_exposes_bar0_and_msix",
    "driver_reads_generated_id_and_capabilities",
    "scratch_honours_byte_enables",
    "bad_mmio_is_refused_and_flagged",
    "dma_write_lands_byte_exact",
    "dma_write_to_unmapped_address_is_a_fault",
    "dma_self_test_refuses_bad_requests",
]


@pytest.fixture(scope="module")
def top_build() -> Build:
    return build("splitrx_top", top_sources("splitrx_top"))


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_pcie_round_trip(top_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, top_build, "tests.sim.pcie_tb", testcase)

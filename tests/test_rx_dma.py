# SPDX-License-Identifier: MIT
"""One-queue RX DMA through splitrx_core: descriptor reads, frame placement, completions,
drops by reason, error and recovery."""

from __future__ import annotations

import pytest

from tb.build import Build, build, top_sources
from tb.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "frames_land_at_data_offset_and_complete_in_order",
    "writes_split_at_max_payload_size",
    "descriptor_reads_wait_out_one_microsecond",
    "frame_longer_than_its_buffer_is_returned_unwritten",
    "drops_are_counted_by_reason",
    "descriptor_read_error_stops_only_until_reset",
]


@pytest.fixture(scope="module")
def core_build() -> Build:
    return build("splitrx_core", top_sources("splitrx_core"))


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_rx_dma(core_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, core_build, "tests.sim.rx_dma_tb", testcase)

# SPDX-License-Identifier: MIT
"""The RX DMA engine through splitrx_core (docs/dma.md): placement in every mode against the
reference model, 64-byte line rate with 1 us descriptor reads, queue errors and bad
programming isolated per queue, interrupt moderation."""

from __future__ import annotations

import pytest

from tb.runner.build import Build, build, top_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "placement_matches_the_model_in_every_mode",
    "line_rate_64_byte_frames_with_1us_reads_in_every_mode",
    "engine_places_64_byte_frames_faster_than_the_wire",
    "one_descriptor_at_a_time_owner_does_not_slow_the_others",
    "minimum_size_buffer_owner_does_not_slow_the_others",
    "frame_using_the_whole_cache_fits_after_a_quiet_microsecond",
    "descriptor_read_error_stops_only_its_queue_until_reset",
    "withheld_read_times_out_and_its_tag_waits_for_it",
    "queue_reset_with_a_read_outstanding_does_not_reuse_its_tag",
    "bad_programming_stops_the_queue_with_a_reason",
    "interrupts_follow_moderation",
    "queue_reset_under_traffic_loses_nothing_elsewhere",
    "pcie_backpressure_fills_the_fifo_then_recovers",
    "full_completion_ring_stops_only_that_queue",
]


@pytest.fixture(scope="module")
def core_build() -> Build:
    return build("splitrx_core", top_sources("splitrx_core"))


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_rx_dma(core_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, core_build, "tests.sim.rx_dma_tb", testcase)

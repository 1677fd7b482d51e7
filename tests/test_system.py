# SPDX-License-Identifier: MIT
"""The thin path end to end: XGMII wire -> splitrx_top -> host memory -> vhost backend ->
virtio guest."""

from __future__ import annotations

import pytest

from tb.runner.build import Build, build, top_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "guest_reads_back_every_good_frame_byte_exact",
    "bad_fcs_frame_is_dropped_and_counted",
    "empty_guest_ring_drops_as_no_buffer",
    "checksum_verdicts_reach_the_guest_as_data_valid",
    "steering_table_filters_unmatched_unicast",
    "xsk_app_reads_split_frames_with_the_headers_in_front_of_the_payload",
]


@pytest.fixture(scope="module")
def top_build() -> Build:
    return build("splitrx_top", top_sources("splitrx_top"))


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_system(top_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, top_build, "tests.sim.system_tb", testcase)

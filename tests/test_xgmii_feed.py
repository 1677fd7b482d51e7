# SPDX-License-Identifier: MIT
"""XgmiiFeed and the simulation-only top splitrx_feed_top (the simulator-speed benchmark's
XGMII stimulus). cocotb tests are in tests/sim/xgmii_feed_tb.py."""

from __future__ import annotations

import pytest

from tb.runner.build import build, top_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "frames_reach_the_bus_whole_in_order_and_on_time",
    "a_frame_larger_than_a_block_is_refused_at_send",
]


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_xgmii_feed(testcase: str, request: pytest.FixtureRequest) -> None:
    b = build("splitrx_feed_top", top_sources("splitrx_feed_top"))
    run_in_group(request, b, "tests.sim.xgmii_feed_tb", testcase)

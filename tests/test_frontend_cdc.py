# SPDX-License-Identifier: MIT
"""The clock crossing drops whole frames when full and survives either side's reset alone
(rx_frontend with the packet FIFO behind it; cocotb tests in tests/sim/frontend_cdc_tb.py).
Same build as the line-rate tests."""

from __future__ import annotations

import pytest

from tb.runner.build import Build
from tb.runner.groups import run_in_group
from tests.test_line_rate import top_build  # noqa: F401  (the shared build fixture)

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "slow_user_clock_drops_whole_frames",
    "user_reset_alone_under_traffic",
    "mac_reset_alone_under_traffic",
]


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_frontend_cdc(top_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:  # noqa: F811
    run_in_group(request, top_build, "tests.sim.frontend_cdc_tb", testcase)

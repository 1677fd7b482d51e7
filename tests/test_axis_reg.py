# SPDX-License-Identifier: MIT
"""axis_reg: the register slice on each PCIe hard-IP stream — order, two-entry skid, full
rate with one clock of latency. cocotb tests are in tests/sim/axis_reg_tb.py."""

from __future__ import annotations

import pytest

from tb.runner.build import build, rtl_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "random_valid_and_ready_keep_order_and_two_beats_at_most",
    "full_rate_with_one_clock_of_latency",
    "a_stall_holds_two_beats_and_loses_none",
]
DATA_W = 37  # odd, wider than 32: catches a payload cut to a machine word


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_axis_reg(testcase: str, request: pytest.FixtureRequest) -> None:
    b = build("axis_reg", rtl_sources("axis_reg"), {"DATA_W": DATA_W})
    run_in_group(
        request, b, "tests.sim.axis_reg_tb", testcase, extra_env={"AXIS_REG_DATA_W": str(DATA_W)}
    )

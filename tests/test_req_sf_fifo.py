# SPDX-License-Identifier: MIT
"""req_sf_fifo: the store-and-forward FIFO on the request stream — requests leave whole, in
order and back to back; one longer than the FIFO cuts through once it is full; busy while a
complete request is inside. cocotb tests are in tests/sim/req_sf_fifo_tb.py."""

from __future__ import annotations

import pytest

from tb.runner.build import build, rtl_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "random_requests_leave_whole_in_order",
    "one_beat_request_through_empty_fifo_in_one_clock",
    "longer_than_depth_cuts_through",
]
# Small FIFO so requests of up to 12 beats cut through; odd tuser width catches a beat field
# cut or shifted in the packed memory word.
PARAMS = {"AXIS_W": 64, "USER_W": 13, "DEPTH": 8}


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_req_sf_fifo(testcase: str, request: pytest.FixtureRequest) -> None:
    b = build("req_sf_fifo", rtl_sources("req_sf_fifo"), PARAMS)
    env = {f"SFF_{k}": str(v) for k, v in PARAMS.items()}
    run_in_group(request, b, "tests.sim.req_sf_fifo_tb", testcase, extra_env=env)

# SPDX-License-Identifier: MIT
"""Receive-side scaling through splitrx_core (docs/frontend.md): Microsoft's key and an
indirection table over four queues, promiscuous traffic spread by the Toeplitz hash of each
frame's tuple, hash and type in every completion; line rate kept. cocotb tests in
tests/sim/rss_system_tb.py, checked against model/rss.py and the reference model."""

from __future__ import annotations

import pytest

from tb.runner.build import Build, build, top_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "promiscuous_frames_land_on_the_queue_rss_picks",
    "rss_keeps_64_byte_line_rate_over_four_queues",
]


@pytest.fixture(scope="module")
def core_build() -> Build:
    return build("splitrx_core", top_sources("splitrx_core"))


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_rss_system(core_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, core_build, "tests.sim.rss_system_tb", testcase)

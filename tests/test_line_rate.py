# SPDX-License-Identifier: MIT
"""Receive front end at 10 GbE line rate (MAC -> clock crossing -> packet FIFO)."""

from __future__ import annotations

import pytest

from tb.runner.build import RTL, Build, build, rtl_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = [
    "line_rate_64_bytes",
    "minimum_gap_67_and_71_bytes",
    "line_rate_65_bytes",
    "line_rate_1518_bytes",
    "line_rate_9018_bytes",
    "line_rate_random_mix",
]


@pytest.fixture(scope="module")
def top_build() -> Build:
    sources = rtl_sources(
        "crc32_eth", "mac_rx", "sync_2ff", "async_fifo", "async_frame_fifo", "frame_drop",
        "rx_frontend", "rx_fifo",
    )  # fmt: skip
    return build("line_rate_top", [*sources, RTL.parent / "tests" / "rtl" / "line_rate_top.sv"])


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_line_rate(top_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, top_build, "tests.sim.line_rate_tb", testcase)

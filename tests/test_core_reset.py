# SPDX-License-Identifier: MIT
"""The core reset (DEV_CTRL.reset) under line-rate traffic with descriptor reads in flight,
in splitrx_core: registers back to reset, no tag reused before its read is answered, traffic
resumes on reopened queues."""

from __future__ import annotations

import pytest

from tb.runner.build import Build, build, top_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

COCOTB_TESTS = ["core_reset_under_traffic_reuses_no_pending_tag_and_traffic_resumes"]


@pytest.fixture(scope="module")
def core_build() -> Build:
    return build("splitrx_core", top_sources("splitrx_core"))


@pytest.mark.parametrize("testcase", COCOTB_TESTS)
def test_core_reset(core_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, core_build, "tests.sim.core_reset_tb", testcase)

# SPDX-License-Identifier: MIT
"""axis_reg: the register slice on each PCIe hard-IP stream — order, two-entry skid, full
rate with one clock of latency. cocotb tests are in tests/sim/axis_reg_tb.py. Seeds:
SPLITRX_SEED=N reruns a failure; otherwise a fresh seed is drawn and printed."""

from __future__ import annotations

import os
import random

import pytest

from tb.build import Build, build, rtl_sources, run

pytestmark = pytest.mark.sim

TB = "tests.sim.axis_reg_tb"
DATA_W = 37  # odd, wider than 32: catches a payload cut to a machine word


@pytest.fixture(scope="module")
def slice_build() -> Build:
    return build("axis_reg", rtl_sources("axis_reg"), {"DATA_W": DATA_W})


@pytest.mark.parametrize(
    "testcase",
    [
        "random_valid_and_ready_keep_order_and_two_beats_at_most",
        "full_rate_with_one_clock_of_latency",
        "a_stall_holds_two_beats_and_loses_none",
    ],
)
def test_axis_reg(slice_build: Build, testcase: str) -> None:
    env_seed = os.environ.get("SPLITRX_SEED")
    seed = int(env_seed) if env_seed else random.SystemRandom().randrange(1, 2**31)
    print(f"{testcase}: seed {seed} (rerun with SPLITRX_SEED={seed})")
    env = {"SPLITRX_SEED": str(seed), "AXIS_REG_DATA_W": str(DATA_W)}
    run(slice_build, TB, testcase=testcase, seed=seed, extra_env=env)

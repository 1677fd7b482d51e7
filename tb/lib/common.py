# SPDX-License-Identifier: MIT
"""cocotb helpers shared by every testbench: clocks, reset, watchdogs, seeds."""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Awaitable
from typing import Any, TypeVar

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time

T = TypeVar("T")


def start_clock(sig: Any, period_ns: float) -> None:
    """Start a GPI clock (fast: no Python wake-up per edge)."""
    Clock(sig, period_ns, unit="ns").start()


async def reset(clk: Any, rst: Any, cycles: int = 8) -> None:
    """Synchronous active-high reset for ``cycles`` clock cycles."""
    rst.value = 1
    await ClockCycles(clk, cycles)
    rst.value = 0
    await RisingEdge(clk)


async def deadline(aw: Awaitable[T], timeout_ns: float, what: str) -> T:
    """Await ``aw``; fail with a message naming ``what`` if it takes longer than timeout_ns."""
    # whole nanoseconds: a float like 6000 * 4 * 6.4 is not representable in 1 ps steps
    timeout_ns = math.ceil(timeout_ns)
    try:
        return await with_timeout(aw, timeout_ns, "ns")  # type: ignore[arg-type]
    except SimTimeoutError:
        raise AssertionError(
            f"watchdog: no {what} within {timeout_ns} ns (at sim time {get_sim_time('ns'):.0f} ns)"
        ) from None


def seeded_rng(name: str) -> random.Random:
    """A per-test RNG; the seed comes from SPLITRX_SEED or cocotb's seed and is logged."""
    seed = int(os.environ.get("SPLITRX_SEED", getattr(cocotb, "RANDOM_SEED", 1)))
    logging.getLogger("cocotb.tb").info(
        "%s: seed %d (rerun with SPLITRX_SEED=%d)", name, seed, seed
    )
    return random.Random(seed)

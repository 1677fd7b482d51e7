# SPDX-License-Identifier: MIT
"""rx_steer (destination MAC/VLAN table, broadcast/multicast/promiscuous steering) under
Verilator: one build per parameter set, cocotb tests in tests/sim/rx_steer_tb.py.

One pytest item per cocotb test; the selected cocotb tests of a parameter set run in one
simulator process (tb.runner.groups). Seeds: SPLITRX_SEED=N reruns a failure; otherwise a seed is
drawn once per pytest session (shared by xdist workers) and printed with each item.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from tb.runner.build import Build, build, rtl_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

TB = "tests.sim.rx_steer_tb"


@dataclass(frozen=True)
class Config:
    entries: int
    q_w: int

    @property
    def id(self) -> str:
        return f"e{self.entries}-q{self.q_w}"


# Default: 16 entries. Second: 24 entries (not a power of two: the index port names 8 entries
# that do not exist, and writes to them must be ignored) and 3-bit queues.
DEFAULT = Config(entries=16, q_w=6)
ODD = Config(entries=24, q_w=3)

ALL = [
    "unicast_hits_table_entry_queue",
    "broadcast_and_multicast_take_rss_queue",
    "unmatched_unicast_filtered_unless_promisc",
    "vlan_match_rules",
    "table_rewrite_while_running",
    "one_lookup_per_cycle",
    "reset_clears_the_table",
]
CASES = [pytest.param(cfg, t, id=f"{cfg.id}-{t}") for cfg in (DEFAULT, ODD) for t in ALL]


@functools.cache
def _build(cfg: Config) -> Build:
    return build("rx_steer", rtl_sources("rx_steer"), {"ENTRIES": cfg.entries, "Q_W": cfg.q_w})


@pytest.mark.parametrize(("cfg", "testcase"), CASES)
def test_rx_steer(cfg: Config, testcase: str, request: pytest.FixtureRequest) -> None:
    env = {
        "STEER_ENTRIES": str(cfg.entries),
        "STEER_Q_W": str(cfg.q_w),
    }
    run_in_group(request, _build(cfg), TB, testcase, extra_env=env, label=cfg.id)

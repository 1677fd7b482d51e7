# SPDX-License-Identifier: MIT
"""rss_toeplitz (Toeplitz RSS hash + indirection) under Verilator: one build per parameter set,
cocotb tests in tests/sim/rss_tb.py, checked against model/rss.py and Microsoft's published
verification hashes.

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

TB = "tests.sim.rss_tb"


@dataclass(frozen=True)
class Config:
    bytes_per_cycle: int
    q_w: int

    @property
    def id(self) -> str:
        return f"bpc{self.bytes_per_cycle}-q{self.q_w}"


# Default: 8 bytes per cycle (IPv6 4-tuple in 5 hash cycles). 12: chunks that do not divide the
# 8- and 32-byte 2-tuples (the zeroed ports share a chunk with the addresses), narrow queues.
# 36: the whole tuple in one cycle.
DEFAULT = Config(bytes_per_cycle=8, q_w=6)
ODD = Config(bytes_per_cycle=12, q_w=3)
WIDE = Config(bytes_per_cycle=36, q_w=6)

ALL = [
    "published_verification_hashes",
    "random_tuples_keys_and_backpressure_match_model",
    "selection_rules_pick_tuple_and_type",
    "indirection_table_rewrite_moves_queues",
    "cycles_per_hash_back_to_back",
    "reset_mid_hash_drops_the_request_and_recovers",
]
CASES = [pytest.param(cfg, t, id=f"{cfg.id}-{t}") for cfg in (DEFAULT, ODD, WIDE) for t in ALL]


@functools.cache
def _build(cfg: Config) -> Build:
    return build(
        "rss_toeplitz",
        rtl_sources("rss_toeplitz"),
        {"BYTES_PER_CYCLE": cfg.bytes_per_cycle, "Q_W": cfg.q_w},
    )


@pytest.mark.parametrize(("cfg", "testcase"), CASES)
def test_rss(cfg: Config, testcase: str, request: pytest.FixtureRequest) -> None:
    env = {
        "RSS_BYTES_PER_CYCLE": str(cfg.bytes_per_cycle),
        "RSS_Q_W": str(cfg.q_w),
    }
    run_in_group(request, _build(cfg), TB, testcase, extra_env=env, label=cfg.id)

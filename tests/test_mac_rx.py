# SPDX-License-Identifier: MIT
"""mac_rx (10G MAC receive) under Verilator: one build per parameter set, cocotb tests in
tests/sim/mac_rx_tb.py.

One pytest item per cocotb test; the selected cocotb tests of a parameter set run in one
simulator process (tb.runner.groups).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest

from tb.runner.build import RTL, Build, build
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

TB = "tests.sim.mac_rx_tb"
SOURCES = [
    RTL / "generated" / "splitrx_records_pkg.sv",
    RTL / "crc32_eth.sv",
    RTL / "mac_rx.sv",
]


@dataclass(frozen=True)
class Config:
    fcs_keep: int
    max_frame_bytes: int

    @property
    def id(self) -> str:
        return f"keep{self.fcs_keep}-max{self.max_frame_bytes}"


# Default build: FCS stripped, 9018-byte jumbo + two VLAN tags. Second build: FCS kept (two-beat
# ends) and a word-aligned limit (forwarding stops exactly at a word boundary).
DEFAULT = Config(fcs_keep=0, max_frame_bytes=9018 + 8)
KEEP = Config(fcs_keep=1, max_frame_bytes=1520)

ALL = [
    "good_frames_of_random_size_arrive_intact",
    "frames_start_on_lane_0_and_lane_4",
    "single_bit_flip_is_bad_fcs",
    "runts_are_marked_runt",
    "oversize_frames_are_cut_at_the_limit",
    "xgmii_errors_end_the_frame",
    "pause_frame_is_marked_mac_control",
    "status_priority_is_xgmii_runt_oversize_fcs_mac_control",
    "minimum_gap_at_line_rate_loses_nothing",
    "malformed_frames_at_minimum_gap_spare_the_next_frame",
    "gaps_below_minimum_are_received",
]
# FCS_KEEP=1 changes how frames end (two-beat ends, queued ends behind them) and the limit is
# word aligned: the tests whose frames end in every lane, near the limit, and back to back.
KEEP_SUBSET = [
    "good_frames_of_random_size_arrive_intact",
    "oversize_frames_are_cut_at_the_limit",
    "malformed_frames_at_minimum_gap_spare_the_next_frame",
    "gaps_below_minimum_are_received",
]

CASES = [pytest.param(DEFAULT, t, id=f"{DEFAULT.id}-{t}") for t in ALL] + [
    pytest.param(KEEP, t, id=f"{KEEP.id}-{t}") for t in KEEP_SUBSET
]


@functools.cache
def _build(cfg: Config) -> Build:
    """One Verilator build per parameter set (cached on disk by tb.runner.build)."""
    return build(
        "mac_rx", SOURCES, {"FCS_KEEP": cfg.fcs_keep, "MAX_FRAME_BYTES": cfg.max_frame_bytes}
    )


def _env(cfg: Config) -> dict[str, str]:
    env = {"MAC_RX_FCS_KEEP": str(cfg.fcs_keep), "MAC_RX_MAX_FRAME_BYTES": str(cfg.max_frame_bytes)}
    if cfg != DEFAULT:
        env["MAC_RX_MIN_GAP_FRAMES"] = "400"
    return env


@pytest.mark.parametrize(("cfg", "testcase"), CASES)
def test_mac_rx(cfg: Config, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, _build(cfg), TB, testcase, extra_env=_env(cfg), label=cfg.id)

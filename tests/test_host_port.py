# SPDX-License-Identifier: MIT
"""The host port's request checks (docs/verification.md "Host-port checks") on splitrx_core:
every MPS x MRRS pair Device Control can set, each check firing on a planted bad request,
and the rule tables themselves against the PCIe byte-enable rules. One build, one simulator
process for all of the cocotb tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tb.lib.pcie import MAX_RECS, RX_CPL_WR_SV, byte_enable_breach, sv_parameter_default
from tb.runner.build import Build, build, top_sources
from tb.runner.groups import run_in_group
from tests.sim.host_port_tb import MPS_VALUES, MRRS_VALUES

REPO = Path(__file__).resolve().parent.parent
PAIRS = [
    f"every_tlp_keeps_the_limits_in_force/mps={m}/mrrs={r}" for m in MPS_VALUES for r in MRRS_VALUES
]
PLANTED = [
    "write_over_mps_is_named",
    "write_longer_than_its_length_is_named",
    "read_over_mrrs_is_named",
    "byte_enable_rules_are_held",
    "page_crossing_is_named_and_not_sent",
    "completion_writes_keep_the_coalescing_limit",
    "read_tag_reused_while_outstanding_is_named",
    "a_breach_fails_the_test",
]


@pytest.fixture(scope="module")
def core_build() -> Build:
    return build("splitrx_core", top_sources("splitrx_core"))


@pytest.mark.sim
@pytest.mark.parametrize("testcase", PAIRS + PLANTED)
def test_host_port(core_build: Build, testcase: str, request: pytest.FixtureRequest) -> None:
    run_in_group(request, core_build, "tests.sim.host_port_tb", testcase)


def test_coalescing_limit_comes_from_rx_cpl_wr() -> None:
    """MAX_RECS is rx_cpl_wr's parameter default, which rx_dma does not override."""
    assert MAX_RECS == sv_parameter_default(RX_CPL_WR_SV, "MAX_RECS")
    dma = (REPO / "rtl" / "rx_dma.sv").read_text()
    inst = re.search(r"\brx_cpl_wr\s*#\s*\((.*?)\)\s*\w+\s*\(", dma, re.S)
    assert inst is not None and "MAX_RECS" not in inst[1]
    with pytest.raises(ValueError, match="no whole-number default for parameter NOPE"):
        sv_parameter_default(RX_CPL_WR_SV, "NOPE")


# (length in DW, DW address, first BE, last BE, allowed): PCIe Base Specification, "First/Last
# DW Byte Enables Rules"
BE_CASES = [
    (1, 0x1000, 0b1111, 0b0000, True),
    (1, 0x1000, 0b0000, 0b0000, True),  # zero-length request
    (1, 0x1004, 0b1010, 0b0000, True),  # non-contiguous: allowed in a 1-DW request
    (1, 0x1000, 0b1111, 0b1111, False),  # a 1-DW request's last BE is 0000b
    (2, 0x1000, 0b0101, 0b1010, True),  # QW-aligned 2 DW: non-contiguous allowed
    (2, 0x1004, 0b0101, 0b1111, False),  # not QW-aligned: contiguous only
    (2, 0x1004, 0b1100, 0b0011, True),
    (2, 0x1000, 0b0000, 0b1111, False),  # longer than 1 DW: neither BE 0000b
    (2, 0x1000, 0b1111, 0b0000, False),
    (3, 0x1000, 0b1000, 0b0001, True),
    (3, 0x1000, 0b0111, 0b1111, False),  # first DW's bytes must reach the next DW
    (3, 0x1000, 0b1111, 0b1110, False),  # last DW's bytes must start at its byte 0
    (16, 0x1000, 0b1110, 0b0111, True),
    (16, 0x1008, 0b1001, 0b1111, False),
]


@pytest.mark.parametrize(("length", "addr", "first_be", "last_be", "ok"), BE_CASES)
def test_byte_enable_rules_follow_the_pcie_spec(
    length: int, addr: int, first_be: int, last_be: int, ok: bool
) -> None:
    assert (byte_enable_breach(length, addr, first_be, last_be) is None) == ok

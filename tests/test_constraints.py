# SPDX-License-Identifier: MIT
"""tools.constraints: XDC patterns checked against a netlist as Vivado names it, and the PCIe IP
settings against splitrx_core's parameters and the register map.

The netlist fixture (tests/data/cdc_netlist.json) is yosys's synthesized async_fifo with its
four synchronizers, as make synth writes them (tools/synth.py), cut to those modules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import netlevels as nl
from tools.constraints import (
    IP_TCL,
    XDC,
    check_ip,
    check_xdc,
    core_params,
    regmap_values,
    vivado_names,
    xdc_queries,
)

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def fifo_names():  # type: ignore[no-untyped-def]
    mods = json.loads((DATA / "cdc_netlist.json").read_text())["modules"]
    top = next(m for m in mods if m.startswith("async_fifo"))
    return vivado_names(nl.flatten(mods, top))


GOOD_XDC = """\
create_clock -period 4.000 -name user_clk [get_ports m_clk]
create_clock -period 6.400 -name mac_clk [get_ports s_clk]
set_max_delay -datapath_only 4.000 \\
    -from [get_cells {wr_gray_q_reg[*]}] -to [get_cells {u_sync_wr_ptr/meta_q_reg[*]}]
set_bus_skew 4.000 -from [get_cells {rd_gray_q_reg[*]}] \\
    -to [get_cells {u_sync_rd_ptr/meta_q_reg[*]}]
set_max_delay -datapath_only 4.000 -from [get_cells mem_reg*] -to [get_cells {out_data_q_reg[*]}]
set_false_path -to [get_pins {u_sync_s_rst/meta_q_reg*/D}]
set_max_delay 2.0 -from [get_clocks mac_clk] -to [get_clocks user_clk]
set_max_delay 2.0 -to [get_cells -hier -filter {NAME =~ *sync_m_rst/meta_q_reg*}]
"""


def test_patterns_that_match_the_netlist_pass(fifo_names) -> None:  # type: ignore[no-untyped-def]
    assert len(xdc_queries(GOOD_XDC)) == 12
    assert check_xdc(GOOD_XDC, fifo_names) == []


@pytest.mark.parametrize(
    "planted",
    [
        "[get_cells {wr_gray_reg[*]}]",  # the register is wr_gray_q
        "[get_cells {u_sync_wr_ptr/meta_q[*]}]",  # a net name, not Vivado's cell name
        "[get_cells {u_sync_wr/meta_q_reg[*]}]",  # no such instance
        "[get_pins {u_sync_s_rst/meta_q_reg*/Z}]",  # no such pin
        "[get_ports user_clk]",  # a clock's name, not a port
        "[get_clocks pcie_clk]",  # never created
    ],
)
def test_a_pattern_that_matches_nothing_fails_with_its_line(fifo_names, planted: str) -> None:  # type: ignore[no-untyped-def]
    xdc = GOOD_XDC + f"set_false_path -from {planted}\n"
    fails = check_xdc(xdc, fifo_names, where="x.xdc")
    assert len(fails) == 1 and fails[0].startswith("x.xdc:11: ") and "matches nothing" in fails[0]


def test_the_projects_xdc_names_real_parts_of_the_crossing() -> None:
    """Every query in synth/splitrx.xdc aims at the crossing's cells or the clock ports (make
    synth then checks them against the whole design's netlist)."""
    qs = xdc_queries(XDC.read_text())
    assert {q for _, q, _ in qs} == {"get_cells", "get_ports"}
    assert all(p.startswith("frontend_inst/cdc_inst/u_fifo/") for _, q, p in qs if q == "get_cells")


def ip_inputs() -> tuple[str, dict[str, int], dict[str, int]]:
    return IP_TCL.read_text(), core_params(), regmap_values()


def test_ip_settings_agree_with_the_core_and_register_map() -> None:
    text, core, regs = ip_inputs()
    assert core["AXIS_PCIE_W"] == 256 and core["TAGS"] == 16
    assert check_ip(text, core, regs) == []


@pytest.mark.parametrize(
    ("old", "new", "what"),
    [
        ("{256_bit}", "{512_bit}", "axisten_if_width"),
        ("{X8}", "{X4}", "not the PG213 pairing"),
        ("{8.0_GT/s}", "{16.0_GT/s}", "not the PG213 pairing"),
        ("axisten_if_enable_client_tag {true}", "axisten_if_enable_client_tag {false}", "own tags"),
        ("AXISTEN_IF_RC_STRADDLE {false}", "AXISTEN_IF_RC_STRADDLE {true}", "one TLP per beat"),
        ("pf0_bar0_size {64}", "pf0_bar0_size {32}", "BAR0 is 32768 bytes"),
        ("{00008000}", "{00004000}", "PF0_MSIX_CAP_TABLE_OFFSET"),
        ("{00F}", "{01F}", "PF0_MSIX_CAP_TABLE_SIZE"),
    ],
)
def test_an_ip_setting_that_disagrees_fails(old: str, new: str, what: str) -> None:
    text, core, regs = ip_inputs()
    assert old in text
    fails = check_ip(text.replace(old, new), core, regs)
    assert len(fails) == 1 and what in fails[0], fails


def test_core_parameters_the_ip_cannot_carry_fail() -> None:
    text, core, regs = ip_inputs()
    assert any("tuser widths" in f for f in check_ip(text, {**core, "RQ_USER_W": 60}, regs))
    assert any("extended tags" in f for f in check_ip(text, {**core, "TAGS": 64}, regs))

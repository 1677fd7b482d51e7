# SPDX-License-Identifier: MIT
"""Strict elaboration (tools.elab, slang): the design tops are clean, and the check catches
what Verilator lets through (an identifier used before its declaration, a shift past the
operand's width)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tb.runner.build import top_sources
from tools.elab import elaborate


@pytest.mark.parametrize("top", ["splitrx_top", "splitrx_core"])
def test_design_tops_elaborate_with_no_error_or_warning(top: str) -> None:
    assert elaborate(top, top_sources(top)) == (0, 0)


def test_use_before_declaration_is_an_error(tmp_path: Path) -> None:
    src = tmp_path / "ubd.sv"
    src.write_text(
        "module ubd (input logic clk, output logic q);\n"
        "    always_ff @(posedge clk) q <= late;\n"
        "    logic late;\n"
        "    assign late = 1'b1;\n"
        "endmodule\n"
    )
    errors, _ = elaborate("ubd", [src])
    assert errors >= 1


def test_shift_past_the_operand_is_a_warning(tmp_path: Path) -> None:
    src = tmp_path / "shl.sv"
    src.write_text(
        "module shl (input logic [7:0] a, output logic [7:0] y);\n"
        "    assign y = a << 8;\n"
        "endmodule\n"
    )
    assert elaborate("shl", [src]) == (0, 1)


def test_synthesizable_rtl_holds_no_simulation_only_code() -> None:
    """Simulation models live in tb/rtl/sim/ (swapped in by every Verilator build); rtl/ holds
    no random draws or event-driven processes, which synthesis would reject or ignore."""
    import re

    from tb.runner.build import RTL, SIM_MODELS

    sim_only = re.compile(
        r"\$u?random|\balways\s*@\s*\((?!\s*posedge|\s*negedge|\s*\*)|\binitial\b"
    )
    hits = [
        f"{f.relative_to(RTL.parent)}:{i}: {line.strip()}"
        for f in sorted(RTL.rglob("*.sv"))
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if sim_only.search(line.split("//", 1)[0])
    ]
    assert hits == [], "\n".join(hits)
    for rtl, model in SIM_MODELS.items():
        assert model.exists() and rtl.exists() and model.name == rtl.name

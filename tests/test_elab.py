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

# SPDX-License-Identifier: MIT
"""make synth's budget check (tools.synth.check): each way a report can break the committed
budget is caught, with the module and the number named, and a report checked against the
budget written from it passes."""

from __future__ import annotations

import json

from tools import netlevels as nl
from tools.synth import ModuleRow, Report, check, dump_budget, updated_budget


def report(levels: float = 6.0, lut: int = 100, latch: int = 0, bram: str = "block RAM") -> Report:
    leaf = nl.Resources(lut=lut, ff=50, latch=latch)
    top_own = nl.Resources(lut=10, ff=5)
    total = nl.Resources(lut=lut + 10, ff=55, latch=latch)
    rows = [
        ModuleRow("", "splitrx_top", top_own, total, {"clk": levels}, [], []),
        ModuleRow("core_inst.rx_fifo_inst", "rx_fifo", leaf, leaf, {"clk": levels}, [],
                  [("splitrx_top.core_inst.rx_fifo_inst.mem", bram),
                   ("splitrx_top.core_inst.rx_fifo_inst.lf_mem", "LUTRAM")]),
    ]  # fmt: skip
    return Report("splitrx_top", "xcup", "0", rows, {"clk": levels}, {}, 0, 0.0, [])


def budget() -> dict:
    return updated_budget(report(), None)


def test_report_checked_against_its_own_budget_passes() -> None:
    b = json.loads(dump_budget(budget()))  # the file's text round-trips
    assert check(report(), b) == []


def test_a_longer_path_fails_with_module_and_levels() -> None:
    fails = check(report(levels=7.5), budget())
    assert any("core_inst.rx_fifo_inst: 7.5 logic levels on clk, budget 6" in f for f in fails)
    assert any("across modules" in f for f in fails)


def test_lut_count_beyond_tolerance_fails_and_within_passes() -> None:
    assert check(report(lut=109), budget()) == []
    fails = check(report(lut=120), budget())
    assert any("core_inst.rx_fifo_inst: 120 LUTs, baseline 100" in f for f in fails)
    assert any("in all: 130 LUTs, baseline 110" in f for f in fails)


def test_latch_fails() -> None:
    assert any("1 latches" in f for f in check(report(latch=1), budget()))


def test_frame_store_must_be_block_ram() -> None:
    fails = check(report(bram="LUTRAM"), budget())
    assert fails == ["core_inst.rx_fifo_inst.mem: must be block RAM, became LUTRAM"]


def test_modules_missing_from_or_unknown_to_the_budget_fail() -> None:
    b = budget()
    b["modules"]["core_inst.gone"] = {"module": "x", "levels": {}, "lut": 0, "ff": 0}
    del b["modules"]["core_inst.rx_fifo_inst"]
    fails = check(report(), b)
    assert "core_inst.gone: in synth/budget.json but not in the design" in fails
    assert any(f.startswith("core_inst.rx_fifo_inst (rx_fifo): not in") for f in fails)


def test_committed_report_matches_the_committed_budget() -> None:
    """docs/synth/report.md is the run that synth/budget.json was written from: their totals
    agree, so the docs cannot drift from the budget unnoticed."""
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    b = json.loads((repo / "synth" / "budget.json").read_text())
    total = next(
        line for line in (repo / "docs" / "synth" / "report.md").read_text().splitlines()
        if line.startswith("| **total** |")
    )  # fmt: skip
    cells = [c.strip() for c in total.strip("|").split("|")]
    assert (int(cells[2]), int(cells[3])) == (b["design"]["lut"], b["design"]["ff"])

# SPDX-License-Identifier: MIT
"""The GTKWave save file `make waves` opens names only signals splitrx_top has, in groups that
open and close; `make waves` without a trace or without GTKWave, and `make sim WAVES=1`
without lz4.h, say so in one line.

No simulation and no GTKWave: the design's signal names come from Verilator's --json-only
dump (tools/waves.py), about two seconds.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tools import waves


@pytest.fixture(scope="module")
def design_names() -> set[str]:
    return waves.trace_names()


def test_every_save_file_signal_exists_in_splitrx_top(design_names: set[str]) -> None:
    names = waves.save_file_signals()
    assert len(names) > 100
    missing = waves.unknown_signals(known=design_names)
    assert not missing, f"{waves.SAVE_FILE} names signals splitrx_top does not have: {missing}"
    assert len(set(names)) == len(names), "a signal is listed twice"


def test_wrong_names_in_the_save_file_are_caught(design_names: set[str], tmp_path: Path) -> None:
    place = "splitrx_top.core_inst.rx_dma_inst.place_inst"
    good = waves.SAVE_FILE.read_text()
    assert f"{place}.state_q[3:0]\n" in good
    wrong = [
        f"{place}.state_q[2:0]",  # wrong width
        f"{place}.stat_q[3:0]",  # misspelt variable
        "splitrx_top.core_inst.rx_dma.place_inst.len_q[15:0]",  # module name, not instance
        "splitrx_top.core_inst.msix_inst.state_q[0:0]",  # GTKWave calls it state_q[0]
        "splitrx_top.core_inst.rx_dma_inst.cache_inst.head_q[0][15:0]",  # array scope missing
    ]
    bad = tmp_path / "bad.gtkw"
    bad.write_text(good.replace(f"{place}.state_q[3:0]\n", "\n".join(wrong) + "\n"))
    assert waves.unknown_signals(bad, known=design_names) == wrong


def test_save_file_has_one_balanced_group_per_stage() -> None:
    lines = waves.SAVE_FILE.read_text().splitlines()
    stack: list[str] = []
    opened: list[str] = []
    for flag, label in zip(lines, lines[1:], strict=False):
        if flag in ("@800200", "@c00200"):
            stack.append(label)
            opened.append(label)
        elif flag in ("@1000200", "@1401200"):
            assert stack and stack.pop() == label, f"group end {label!r} does not match"
    assert not stack, f"groups left open: {stack}"
    for stage in ("MAC", "FIFO", "Parser", "DMA", "RQ", "RC", "MSI-X"):
        assert any(re.match(rf"-{re.escape(stage)}\b", g) for g in opened), stage


def test_make_waves_without_a_trace_says_run_sim_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(waves, "WAVES_FILE", tmp_path / "dump.fst")
    assert waves.main() == 1
    err = capsys.readouterr().err
    assert "make sim WAVES=1" in err and err.count("\n") == 1


def test_make_waves_without_gtkwave_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fst = tmp_path / "dump.fst"
    fst.write_bytes(b"not empty")
    monkeypatch.setattr(waves, "WAVES_FILE", fst)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert waves.main() == 1
    err = capsys.readouterr().err
    assert "apt-get install gtkwave" in err and err.count("\n") == 1


def test_make_sim_waves_without_lz4_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tb import sim
    from tb.runner import build

    monkeypatch.setattr(build, "fst_supported", lambda: False)
    assert sim.main(["--waves", "--frames", "1"]) == 1
    err = capsys.readouterr().err
    assert "apt-get install liblz4-dev" in err and err.count("\n") == 1

# SPDX-License-Identifier: MIT
"""Long `make sim` runs: progress lines a log can show, and memory that stays flat because
the scoreboard, the rig, the DMA write tracker and the capture writers retire what they have
checked (the long one is `slow`: make test-long)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tb import sim
from tb.runner.build import REPO

pytestmark = pytest.mark.sim


def test_progress_lines_show_a_run_moving(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a terminal the run prints progress lines (every SPLITRX_PROGRESS_S seconds),
    not a bar redrawn with carriage returns."""
    monkeypatch.setenv("SPLITRX_PROGRESS_S", "0.2")
    assert sim.main(["--frames", "120", "--seed", "4"]) == 0
    err = capsys.readouterr().err
    lines = re.findall(r"^splitrx sim: ([\d,]+) of 120 frames \(\d+ %\) after \d+ s", err, re.M)
    assert lines and "\r" not in err, err
    done = [int(n.replace(",", "")) for n in lines]
    assert done == sorted(done) and done[-1] <= 120, done


def peak_rss_kib(frames: int, run_dir: Path, out: Path) -> int:
    """Peak resident memory (GNU time's maximum resident set size: the largest of the
    program and the simulator it runs) of a fuzz run of ``frames`` with PCAP_OUT."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "tb.sim", "--scenario", "fuzz",
           "--frames", str(frames), "--seed", "7", "--pcap-out", str(out)]  # fmt: skip
    env = dict(os.environ, SPLITRX_SIM_DIR=str(run_dir), SPLITRX_PROGRESS_S="600")
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"sent       {frames} frames" in p.stdout and "all passed" in p.stdout, p.stdout
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    assert m, p.stderr
    return int(m[1])


@pytest.mark.slow
def test_memory_stays_flat_over_a_long_run(tmp_path: Path) -> None:
    """Twice the frames, the same peak memory within 10 % (issue 22 asks it of 100,000 and
    200,000 frames; this checks 10,000 against 20,000, with PCAP_OUT writing every frame)."""
    small = peak_rss_kib(10_000, tmp_path / "a", tmp_path / "out-a")
    large = peak_rss_kib(20_000, tmp_path / "b", tmp_path / "out-b")
    print(f"peak RSS: 10,000 frames {small} KiB, 20,000 frames {large} KiB")
    assert large <= 1.10 * small, (small, large)

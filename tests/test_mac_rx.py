# SPDX-License-Identifier: MIT
"""mac_rx (10G MAC receive) under Verilator: one build per parameter set, cocotb tests in
tests/sim/mac_rx_tb.py.

One pytest item per cocotb test, but the selected cocotb tests of a parameter set run in one
simulator process: starting a process (Python, cocotb, cocotbext-eth, scapy) costs more than
most of these tests. The first item of a parameter set runs them all; each item then reports
its own test's result from the run's results.xml (log and results: the directory named in a
failure). Under pytest-xdist the workers share one run per parameter set through a file lock.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from tb.build import RTL, Build, build, run

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
    """One Verilator build per parameter set (cached on disk by tb.build across processes)."""
    return build(
        "mac_rx", SOURCES, {"FCS_KEEP": cfg.fcs_keep, "MAX_FRAME_BYTES": cfg.max_frame_bytes}
    )


def _env(cfg: Config) -> dict[str, str]:
    env = {"MAC_RX_FCS_KEEP": str(cfg.fcs_keep), "MAC_RX_MAX_FRAME_BYTES": str(cfg.max_frame_bytes)}
    if cfg != DEFAULT:
        env["MAC_RX_MIN_GAP_FRAMES"] = "400"
    return env


@dataclass(frozen=True)
class Group:
    """Results of one simulator run: testcase -> failure text ('' when it passed)."""

    results: dict[str, str]
    error: str  # why the run as a whole failed, if it did
    test_dir: Path


def _parse(results_xml: Path) -> dict[str, str]:
    if not results_xml.exists():
        return {}
    out: dict[str, str] = {}
    for case in ET.parse(results_xml).getroot().iter("testcase"):
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        out[case.get("name", "")] = "" if bad is None else (bad.get("message") or "failed")
    return out


@functools.cache
def _group(cfg: Config, names: tuple[str, ...]) -> Group:
    """Run cocotb tests ``names`` of ``cfg`` in one simulator process (once per pytest run;
    xdist workers of the same run share it)."""
    b = _build(cfg)
    tdir = b.build_dir.parent / "runs" / f"{b.build_dir.name}-group"
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    key = hashlib.sha256(f"{run_id}|{names}".encode()).hexdigest()[:16]
    stamp = tdir / "group.json"
    with FileLock(str(tdir) + ".lock"):
        if run_id and stamp.exists():
            saved = json.loads(stamp.read_text())
            if saved["key"] == key:
                return Group(saved["results"], saved["error"], tdir)
        shutil.rmtree(tdir, ignore_errors=True)
        error = ""
        try:
            run(b, TB, testcase=list(names), extra_env=_env(cfg), test_dir=tdir)
        except (Exception, SystemExit) as exc:  # the runner exits on failures; reported below
            error = f"{type(exc).__name__}: {exc}"
        results = _parse(tdir / "results.xml")
        stamp.write_text(json.dumps({"key": key, "results": results, "error": error}))
    return Group(results, error, tdir)


@pytest.mark.parametrize(("cfg", "testcase"), CASES)
def test_mac_rx(cfg: Config, testcase: str, request: pytest.FixtureRequest) -> None:
    # The cocotb tests of this parameter set selected in this pytest run (-k, -m, ids).
    names = tuple(
        item.callspec.params["testcase"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_mac_rx"
        and item.module is not None
        and item.module.__name__ == __name__
        and item.callspec.params.get("cfg") == cfg
    )
    group = _group(cfg, names)
    if testcase not in group.results:
        pytest.fail(
            f"cocotb test {testcase} did not report ({group.error or 'no result'}); "
            f"see {group.test_dir}"
        )
    failure = group.results[testcase]
    if failure:
        pytest.fail(f"cocotb test {testcase} failed: {failure}\n(results in {group.test_dir})")

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
import hashlib
import json
import os
import random
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from tb.build import Build, build, rtl_sources, run

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
DEFAULT = Config(max_hdr_bytes=256, max_ext_hdrs=4, meta_depth_frames=16)
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
    """One Verilator build per parameter set (cached on disk by tb.build across processes)."""
    return build("rx_parser", rtl_sources("rx_parser"), cfg.params)


@functools.cache
def _seed() -> int:
    """SPLITRX_SEED, else one seed per pytest run (the same in every xdist worker)."""
    env = os.environ.get("SPLITRX_SEED")
    if env:
        return int(env)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
    if run_id:
        return int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % 2**31 or 1
    return random.SystemRandom().randrange(1, 2**31)


def _env(cfg: Config, seed: int) -> dict[str, str]:
    env = {
        "RXP_MAX_HDR_BYTES": str(cfg.max_hdr_bytes),
        "RXP_MAX_EXT_HDRS": str(cfg.max_ext_hdrs),
        # cocotb derives per-test seeds from its own; pin the stimulus seed to the printed one.
        "SPLITRX_SEED": str(seed),
    }
    if cfg != DEFAULT:
        env["RXP_RANDOM_FRAMES"] = "250"
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
    seed = _seed()
    key = hashlib.sha256(f"{run_id}|{names}|{seed}".encode()).hexdigest()[:16]
    stamp = tdir / "group.json"
    with FileLock(str(tdir) + ".lock"):
        if run_id and stamp.exists():
            saved = json.loads(stamp.read_text())
            if saved["key"] == key:
                return Group(saved["results"], saved["error"], tdir)
        print(f"rx_parser {cfg.id}: seed {seed} (rerun with SPLITRX_SEED={seed})")
        shutil.rmtree(tdir, ignore_errors=True)
        error = ""
        try:
            run(b, TB, testcase=list(names), seed=seed, extra_env=_env(cfg, seed), test_dir=tdir)
        except (Exception, SystemExit) as exc:  # the runner exits on failures; reported below
            error = f"{type(exc).__name__}: {exc}"
        results = _parse(tdir / "results.xml")
        stamp.write_text(json.dumps({"key": key, "results": results, "error": error}))
    return Group(results, error, tdir)


@pytest.mark.parametrize(("cfg", "testcase"), CASES)
def test_rx_parser(cfg: Config, testcase: str, request: pytest.FixtureRequest) -> None:
    # The cocotb tests of this parameter set selected in this pytest run (-k, -m, ids).
    names = tuple(
        item.callspec.params["testcase"]
        for item in request.session.items
        if isinstance(item, pytest.Function)
        and item.originalname == "test_rx_parser"
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

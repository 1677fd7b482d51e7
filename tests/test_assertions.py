# SPDX-License-Identifier: MIT
"""The assertion checkers bound into the RTL (tb/rtl/assert, docs/verification.md
"Assertions"): each checker fires on a trace that breaks it and names the assertion and
time; a failure fails only the cocotb test that tripped it; every RTL test build reads the
checkers of its modules, synthesis none; the checker files are lint-clean."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tb.runner import asserts
from tb.runner.build import (
    REPO,
    RTL_PACKAGES,
    TOPS,
    Build,
    build,
    ensure_toolchain,
    rtl_sources,
    run,
    top_sources,
)
from tb.runner.groups import run_in_group

TB = "tests.sim.assert_checkers_tb"
CHECKER_TESTS = [
    "axis_checker_holds_valid_and_the_beat",
    "req_checker_holds_the_request_rules",
    "tag_checker_holds_each_tag_until_its_last_completion",
    "grant_checker_holds_the_grant_to_tlast",
    "fifo_checker_sees_a_write_when_full_and_a_read_when_empty",
    "onehot_checker_sees_two_bits_set",
    "order_checker_sees_a_record_ahead_of_its_data",
]
CHECKERS = sorted(p for p in asserts.ASSERT_DIR.glob("*_checker.sv"))
BINDS = sorted(asserts.ASSERT_DIR.glob("bind_*.sv"))


@pytest.fixture(scope="module")
def checkers_build() -> Build:
    top = REPO / "tests" / "rtl" / "assert_checkers_top.sv"
    return build("assert_checkers_top", [*rtl_sources(), asserts.PACKAGE, *CHECKERS, top])


@pytest.mark.sim
@pytest.mark.parametrize("testcase", CHECKER_TESTS)
def test_checker_fires_on_a_broken_rule(
    checkers_build: Build, testcase: str, request: pytest.FixtureRequest
) -> None:
    run_in_group(request, checkers_build, TB, testcase)


@pytest.mark.sim
def test_a_failed_assertion_fails_only_its_test(checkers_build: Build, tmp_path: Path) -> None:
    """One simulator process runs three cocotb tests; the middle one breaks valid_held
    without expecting it: it alone fails, with the assertion and the time of the edge."""
    names = ["onehot_checker_sees_two_bits_set", "unacknowledged_failure", CHECKER_TESTS[0]]
    with pytest.raises((AssertionError, SystemExit)):
        run(checkers_build, TB, testcase=names, test_dir=tmp_path)
    results = {
        c.get("name"): c.find("failure")
        for c in ET.parse(tmp_path / "results.xml").getroot().iter("testcase")
    }
    assert set(results) == set(names)
    assert results[names[0]] is None and results[names[2]] is None
    bad = results["unacknowledged_failure"]
    assert bad is not None
    msg = bad.get("message") or ""
    assert msg.startswith("assertion assert_checkers_top.u_axis.valid_held failed at "), msg
    trip = asserts.tripped(tmp_path)
    assert [t.what for t in trip] == ["assert_checkers_top.u_axis.valid_held"]
    assert f"{trip[0].time_ns:.3f} ns" in msg


def test_results_of_a_group_are_split_by_time(tmp_path: Path) -> None:
    """A line at the boundary of two tests belongs to the one that ends there, one after
    every test to the last; acknowledged lines fail nothing; a test that failed already keeps
    its own message after the assertion's."""
    xml = tmp_path / "results.xml"
    cases = "".join(
        f'<testcase name="t{k}"><properties><property name="sim_time_start" value="{a}"/>'
        f'<property name="sim_time_stop" value="{b}"/></properties>{extra}</testcase>'
        for k, (a, b, extra) in enumerate(
            [(0, 100, ""), (100, 200, ""), (200, 300, '<failure message="own"/>'), (300, 400, "")]
        )
    )
    xml.write_text(f'<testsuites><testsuite failures="1">{cases}</testsuite></testsuites>')
    lines = [
        f"splitrx-assert: top.u.a failed at {t} ns: d{t}"
        for t in ("100.000", "250.000", "500.000", "50.000")
    ]
    (tmp_path / asserts.LOG_FILE).write_text("\n".join(lines) + "\n")
    (tmp_path / asserts.ACK_FILE).write_text(lines[3] + "\n")
    asserts.fail_tripped_tests(tmp_path, xml)
    got = {
        c.get("name"): (c.find("failure").get("message") if c.find("failure") is not None else None)
        for c in ET.parse(xml).getroot().iter("testcase")
    }
    assert got == {
        "t0": "assertion top.u.a failed at 100.000 ns: d100.000",
        "t1": None,
        "t2": "assertion top.u.a failed at 250.000 ns: d250.000; also: own",
        "t3": "assertion top.u.a failed at 500.000 ns: d500.000",
    }
    suite = ET.parse(xml).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "3"


def test_every_rtl_build_reads_the_checkers_and_synthesis_none() -> None:
    """Each bind file names an RTL module and binds only into it; a build of a module reads
    its bind file, the checkers it binds and the package; TOPS (what synthesis and strict
    elaboration read) holds no assertion file."""
    for b in BINDS:
        module = b.stem.removeprefix("bind_")
        assert (REPO / "rtl" / f"{module}.sv").exists(), b
        targets = {m[1] for m in asserts._BIND.finditer(b.read_text())}
        assert targets == {module}, (b, targets)
    core = asserts.assert_sources(top_sources("splitrx_core"))
    assert core[0] == asserts.PACKAGE
    assert {p.stem for p in core if p.stem.startswith("bind_")} == {
        b.stem for b in BINDS if (REPO / "rtl" / f"{b.stem[5:]}.sv") in top_sources("splitrx_core")
    }
    assert set(CHECKERS) <= set(core)
    assert asserts.assert_sources(rtl_sources("rx_fifo"))[-1].name == "bind_rx_fifo.sv"
    assert asserts.assert_sources(rtl_sources("crc32_eth")) == []
    for top in TOPS:
        assert not [p for p in top_sources(top) if asserts.ASSERT_DIR in p.parents], top


@pytest.mark.sim
def test_checker_files_are_lint_clean() -> None:
    """verilator --lint-only -Wall over the design tops with every checker bound (as the
    simulation builds read them), and over the standalone checker top."""
    ensure_toolchain()
    vlt = REPO / "rtl" / "lint.vlt"
    jobs = [(top, top_sources(top)) for top in TOPS]
    jobs.append(
        ("assert_checkers_top", [*RTL_PACKAGES, REPO / "tests" / "rtl" / "assert_checkers_top.sv"])
    )
    for top, srcs in jobs:
        files = [*srcs, *asserts.assert_sources(list(srcs))]
        if top == "assert_checkers_top":
            files = [*srcs[:-1], asserts.PACKAGE, *CHECKERS, srcs[-1]]
        cmd = ["verilator", "--lint-only", "-Wall", str(vlt), *map(str, files), "--top-module", top]
        res = subprocess.run(cmd, capture_output=True, text=True)
        assert res.returncode == 0, f"{top}:\n{res.stderr}"
    assert shutil.which("verilator")

# SPDX-License-Identifier: MIT
"""The assertion checkers of tb/rtl/assert in simulation builds, and their failures in the
results (docs/verification.md "Assertions").

Build side: ``assert_sources`` adds, for every RTL module of a build that has a bind file
(``tb/rtl/assert/bind_<module>.sv``), that file, the checker modules it binds and the
reporting package. Synthesis and strict elaboration read rtl/ only (``TOPS``), so no
checker reaches them.

Run side: a failed assertion appends one line to ``splitrx_assert.log`` in the run's test
directory (``splitrx_assert_pkg::report``), and Verilator's own $error / $stop, which would end
the simulator process a whole group of cocotb tests shares, is never called. After the run,
``fail_tripped_tests`` marks the cocotb test that was running when each line was written (by
its simulated time window in results.xml) as failed, with the line as the message; lines a
test acknowledged as expected (``tb.lib.asserts``, in ``splitrx_assert.ack``) are left out.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ASSERT_DIR = REPO / "tb" / "rtl" / "assert"
PACKAGE = ASSERT_DIR / "splitrx_assert_pkg.sv"
LOG_FILE = "splitrx_assert.log"
ACK_FILE = "splitrx_assert.ack"
# splitrx_assert_pkg::report's line
LINE = re.compile(r"^splitrx-assert: (?P<what>\S+) failed at (?P<t>[0-9.]+) ns: (?P<detail>.*)$")
_BIND = re.compile(r"^bind\s+(\w+)\s+(\w+)", re.M)


def bound_checkers(bind_file: Path) -> list[str]:
    """The checker modules a bind file instantiates, in order."""
    return list(dict.fromkeys(m[2] for m in _BIND.finditer(bind_file.read_text())))


def assert_sources(sources: list[Path]) -> list[Path]:
    """The assertion files a build of ``sources`` reads: the package, the checkers, and one
    bind file per RTL module that has one (empty when none has)."""
    binds = [ASSERT_DIR / f"bind_{Path(s).stem}.sv" for s in sources]
    binds = [b for b in dict.fromkeys(binds) if b.exists()]
    if not binds:
        return []
    checkers = dict.fromkeys(ASSERT_DIR / f"{c}.sv" for b in binds for c in bound_checkers(b))
    return [PACKAGE, *checkers, *binds]


@dataclass(frozen=True)
class Tripped:
    """One failed assertion: the checker instance and assertion, its time and detail."""

    what: str
    time_ns: float
    detail: str
    line: str


def tripped(test_dir: Path) -> list[Tripped]:
    """The failed assertions of the run in ``test_dir`` that no test acknowledged."""
    log = test_dir / LOG_FILE
    if not log.exists():
        return []
    ack = test_dir / ACK_FILE
    acked = set(ack.read_text().splitlines()) if ack.exists() else set()
    out = []
    for line in log.read_text().splitlines():
        m = LINE.match(line)
        if m is None:
            raise ValueError(f"{log}: not an assertion line: {line!r}")
        if line not in acked:
            out.append(Tripped(m["what"], float(m["t"]), m["detail"], line))
    return out


def clear_log(test_dir: Path) -> None:
    """Forget the assertion lines of an earlier run in ``test_dir``."""
    for name in (LOG_FILE, ACK_FILE):
        (test_dir / name).unlink(missing_ok=True)


def _window(case: ET.Element) -> tuple[float, float]:
    """(start, stop) simulated ns of a cocotb test, from its results.xml properties."""
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    return float(props.get("sim_time_start") or 0), float(props.get("sim_time_stop") or 0)


def fail_tripped_tests(test_dir: Path, results_xml: Path) -> list[Tripped]:
    """Mark each cocotb test in ``results_xml`` during whose simulated time an assertion
    failed as failed (a line at the boundary of two tests belongs to the one that ends there;
    one after every test to the last test). Returns the failed assertions."""
    trips = tripped(test_dir)
    if not trips or not results_xml.exists():
        return trips
    tree = ET.parse(results_xml)
    cases = [(c, suite) for suite in tree.iter("testsuite") for c in suite.iter("testcase")]
    if not cases:
        return trips
    owned: dict[int, list[Tripped]] = {}
    for t in trips:  # the first test (in run order) still running at t, else the last one
        k = next((k for k, (c, _) in enumerate(cases) if t.time_ns <= _window(c)[1]), -1)
        owned.setdefault(k % len(cases), []).append(t)
    for k, mine in owned.items():
        case, suite = cases[k]
        first = mine[0]
        message = f"assertion {first.what} failed at {first.time_ns:.3f} ns: {first.detail}"
        if len(mine) > 1:
            message += f" (and {len(mine) - 1} more; see {test_dir / LOG_FILE})"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        if bad is None:
            ET.SubElement(case, "failure", message=message)
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
        else:
            bad.set("message", f"{message}; also: {bad.get('message') or 'failed'}")
    tree.write(results_xml, encoding="utf-8", xml_declaration=True)
    return trips

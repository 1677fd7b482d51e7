# SPDX-License-Identifier: MIT
"""Assertion failures as a cocotb test sees them (docs/verification.md "Assertions").

The checkers of tb/rtl/assert write one line per failure to ``splitrx_assert.log`` in the
simulator's working directory; after the run tb.runner.asserts fails the test that was
running at its time. A test that provokes a failure on purpose (to show a checker fires)
waits for it with ``expect_firing``, which checks its name and time and acknowledges it in
``splitrx_assert.ack``, so that it does not fail the test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cocotb.triggers import RisingEdge
from cocotb.utils import get_sim_time

LOG = Path("splitrx_assert.log")
ACK = Path("splitrx_assert.ack")
# splitrx_assert_pkg::report's line (tb.runner.asserts parses the same)
_LINE = re.compile(r"^splitrx-assert: (?P<what>\S+) failed at (?P<t>[0-9.]+) ns: (?P<detail>.*)$")


@dataclass(frozen=True)
class Firing:
    """One failed assertion: ``what`` is <checker instance>.<assertion>."""

    what: str
    time_ns: float
    detail: str
    line: str

    @property
    def name(self) -> str:
        return self.what.rsplit(".", 1)[-1]


def firings(since_ns: float = 0.0) -> list[Firing]:
    """Every assertion failure of this run at or after ``since_ns``."""
    if not LOG.exists():
        return []
    out = []
    for line in LOG.read_text().splitlines():
        m = _LINE.match(line)
        if m is None:
            raise AssertionError(f"{LOG}: not an assertion line: {line!r}")
        if float(m["t"]) >= since_ns:
            out.append(Firing(m["what"], float(m["t"]), m["detail"], line))
    return out


async def expect_firing(clk: Any, what: str, since_ns: float, clocks: int = 8) -> Firing:
    """Wait up to ``clocks`` clock edges for a failure of assertion ``what`` (a suffix of
    <checker instance>.<assertion>, e.g. ``u_chk_req.valid_held``) at or after ``since_ns``;
    acknowledge every such failure since then and return the first. Fails the test if none
    comes, or if another assertion failed meanwhile."""
    for _ in range(clocks + 1):
        got = firings(since_ns)
        mine = [f for f in got if f.what == what or f.what.endswith("." + what)]
        if mine:
            others = [f.line for f in got if f not in mine]
            assert not others, f"expected only {what} to fail, also: {others}"
            with ACK.open("a") as fh:
                fh.writelines(f.line + "\n" for f in mine)
            return mine[0]
        await RisingEdge(clk)
    raise AssertionError(
        f"assertion {what} did not fire within {clocks} clocks of {since_ns:.3f} ns "
        f"(now {get_sim_time('ns'):.3f} ns; failures seen: {[f.line for f in firings(since_ns)]})"
    )

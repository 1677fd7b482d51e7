# SPDX-License-Identifier: MIT
"""Every `make sim` scenario runs end to end through splitrx_top with the scoreboard and
reports all checks passed, with frames placed for each owner (short runs; `make sim` runs
them longer)."""

from __future__ import annotations

import json

import pytest

from tb import sim
from tb.build import BUILD_ROOT
from tb.sim_scenarios import SCENARIOS

pytestmark = pytest.mark.sim


def test_every_scenario_passes_its_checks(capsys: pytest.CaptureFixture[str]) -> None:
    for name in SCENARIOS:
        rc = sim.main(["--scenario", name, "--frames", "24", "--seed", "3"])
        out = capsys.readouterr()
        assert rc == 0, f"{name}:\n{out.out}\n{out.err}"
        r = json.loads((BUILD_ROOT / "last-sim-report.json").read_text())
        assert r["scenario"] == name and r["checks_passed"], r
        assert r["sent"] == 24 and all(n > 0 for n in r["placed"].values()), r
        assert sum(r["placed"].values()) + sum(r["dropped"].values()) == r["sent"], r


def test_bad_option_is_one_line_and_nonzero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        sim.main(["--scenario", "no-such-scenario"])
    assert exc.value.code != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no-such-scenario" in err, err

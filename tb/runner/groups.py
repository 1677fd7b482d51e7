# SPDX-License-Identifier: MIT
"""One pytest item per cocotb test, one simulator process per group of them.

Starting a simulator process (Python, cocotb, cocotbext, scapy) costs more than most of our
cocotb tests. ``run_in_group`` runs every cocotb test selected in this pytest session that
shares a build and environment in one process, the first time one of them is asked for,
then reports each item's own result from that run's results.xml. Under pytest-xdist the
workers share one run per group through a file lock and a stamp keyed by the session.

Use from a pytest wrapper parametrized over ``testcase``::

    @pytest.mark.parametrize("testcase", NAMES)
    def test_x(testcase: str, request: pytest.FixtureRequest) -> None:
        run_in_group(request, build(...), "tests.sim.x_tb", testcase)

Items are grouped by the test function and the values of its other parameters.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from tb.runner.build import Build, run

_RESULTS: dict[str, Group] = {}
_SESSION_SEED = random.SystemRandom().randrange(1, 2**31)


def session_seed() -> int:
    """The stimulus seed of this pytest session: SPLITRX_SEED if set, else one drawn per
    session (xdist workers of one session derive the same one from its run id). Passed to
    every group's run as SPLITRX_SEED, which tb.lib.common.seeded_rng uses, so the seed printed
    with a failure reproduces it."""
    env = os.environ.get("SPLITRX_SEED")
    if env:
        return int(env)
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id:
        return int(hashlib.sha256(run_id.encode()).hexdigest()[:8], 16) % 2**31 or 1
    return _SESSION_SEED


@dataclass(frozen=True)
class Group:
    """Results of one simulator run: cocotb test name -> failure text ('' when passed)."""

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


def _siblings(request: pytest.FixtureRequest, param: str) -> tuple[str, ...]:
    """Values of ``param`` over the session's items of the same function whose other
    parameters equal this item's."""
    me = request.node
    assert isinstance(me, pytest.Function)
    others = {k: v for k, v in me.callspec.params.items() if k != param}
    names = []
    for item in request.session.items:
        if not isinstance(item, pytest.Function) or item.originalname != me.originalname:
            continue
        if item.module is not me.module or not hasattr(item, "callspec"):
            continue
        params = item.callspec.params
        if all(params.get(k) == v for k, v in others.items()) and param in params:
            names.append(str(params[param]))
    return tuple(dict.fromkeys(names))


def run_in_group(
    request: pytest.FixtureRequest,
    b: Build,
    tb_module: str,
    testcase: str,
    *,
    param: str = "testcase",
    extra_env: Mapping[str, str] | None = None,
    label: str = "group",
) -> None:
    """Fail this pytest item unless cocotb test ``testcase`` passed in its group's run."""
    names = _siblings(request, param)
    env = dict(extra_env or {})
    env.setdefault("SPLITRX_SEED", str(session_seed()))
    key = hashlib.sha256(
        f"{os.environ.get('PYTEST_XDIST_TESTRUNUID', os.getpid())}|{b.build_dir}|{tb_module}|"
        f"{names}|{sorted(env.items())}".encode()
    ).hexdigest()[:16]
    group = _RESULTS.get(key)
    if group is None:
        # one directory per (build, cocotb module, label): groups of different modules can
        # share a build and run at the same time under xdist
        module = tb_module.rsplit(".", 1)[-1]
        tdir = b.build_dir.parent / "runs" / f"{b.build_dir.name}-{module}-{label}"
        stamp = tdir / "group.json"
        with FileLock(str(tdir) + ".lock"):
            saved = json.loads(stamp.read_text()) if stamp.exists() else {}
            if saved.get("key") == key:
                group = Group(saved["results"], saved["error"], tdir)
            else:
                shutil.rmtree(tdir, ignore_errors=True)
                error = ""
                try:
                    run(b, tb_module, testcase=list(names), extra_env=env, test_dir=tdir)
                except (Exception, SystemExit) as exc:  # failures are reported per item below
                    error = f"{type(exc).__name__}: {exc}"
                results = _parse(tdir / "results.xml")
                stamp.write_text(json.dumps({"key": key, "results": results, "error": error}))
                group = Group(results, error, tdir)
        _RESULTS[key] = group
    if testcase not in group.results:
        pytest.fail(
            f"cocotb test {testcase} did not report ({group.error or 'no result'}); "
            f"see {group.test_dir}"
        )
    failure = group.results[testcase]
    if failure:
        pytest.fail(
            f"cocotb test {testcase} failed: {failure}\n(log and results: {group.test_dir})"
        )

# SPDX-License-Identifier: MIT
"""Clock crossing MAC (156.25 MHz) -> PCIe user clock (250 MHz): sync_2ff, async_fifo through
its frame wrapper async_frame_fifo, with the synchronizers' random-delay model switched on.

Each parameter set is built once (module-scoped fixtures); cocotb tests are in
tests/sim/async_fifo_tb.py. Seeds: SPLITRX_SEED=N reruns a failure; otherwise a fresh seed is
drawn and printed. The same seed drives the Python stimulus and Verilator's $urandom
(+verilator+seed+N, passed through cocotb's SIM_CMD_SUFFIX)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from tb.runner.build import RTL, Build, build, run

pytestmark = pytest.mark.sim

TB = "tests.sim.async_fifo_tb"
FRAME_SOURCES = [RTL / "sync_2ff.sv", RTL / "async_fifo.sv", RTL / "async_frame_fifo.sv"]
# Small depth so back-pressure fills it often; an odd tuser width to catch packing slips.
FRAME_PARAMS = {"USER_W": 5, "DEPTH_LOG2": 4, "SIM_JITTER_EN": 1}
SYNC_WIDTH = 8


def _seed() -> int:
    env = os.environ.get("SPLITRX_SEED")
    return int(env) if env else random.SystemRandom().randrange(1, 2**31)


def _run(
    b: Build,
    testcase: str,
    tag: str,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str] | None = None,
    seed: int | None = None,
    sim_seed: int | None = None,
) -> None:
    seed = _seed() if seed is None else seed
    sim_seed = seed if sim_seed is None else sim_seed
    print(f"{testcase}[{tag}]: seed {seed} (rerun with SPLITRX_SEED={seed})")
    # cocotb mixes the test name into its own seed; pass ours verbatim to tb.lib.common.seeded_rng.
    env = {"SPLITRX_SEED": str(seed), **(env or {})}
    suffix = os.environ.get("SIM_CMD_SUFFIX", "")
    monkeypatch.setenv("SIM_CMD_SUFFIX", f"{suffix} +verilator+seed+{sim_seed}".strip())
    run(
        b,
        TB,
        testcase=testcase,
        seed=seed,
        extra_env=env,
        test_dir=b.build_dir.parent / "runs" / f"{b.build_dir.name}-{testcase}-{tag}",
    )


@pytest.fixture(scope="module")
def frame_fifo() -> Build:
    return build("async_frame_fifo", FRAME_SOURCES, FRAME_PARAMS)


@pytest.fixture(scope="module")
def sync_jitter() -> Build:
    return build("sync_2ff", [RTL / "sync_2ff.sv"], {"WIDTH": SYNC_WIDTH, "SIM_JITTER_EN": 1})


def test_sync_2ff_jitter_delays_each_change_two_or_three_cycles(
    sync_jitter: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(sync_jitter, "sync_delay_per_change", "jitter", monkeypatch, {"ASYNC_SYNC_JITTER": "1"})


def test_sync_2ff_jitter_follows_simulator_seed(
    sync_jitter: Build, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Same stimulus (SPLITRX_SEED fixed), Verilator seed a, a, b: runs 1 and 2 match, 3 not."""
    stim = _seed()
    sigs = []
    for i, sim_seed in enumerate((stim, stim, stim + 1)):
        sig = tmp_path / f"sig{i}"
        env = {
            "ASYNC_SYNC_JITTER": "1",
            "SPLITRX_SEED": str(stim),
            "ASYNC_SIGNATURE_FILE": str(sig),
        }
        _run(sync_jitter, "sync_delay_per_change", f"seed{i}", monkeypatch, env, stim, sim_seed)
        sigs.append(sig.read_text())
    assert sigs[0] == sigs[1], "same +verilator+seed gave different synchronizer delays"
    assert sigs[0] != sigs[2], "a different +verilator+seed gave the same synchronizer delays"


# (s_clk ns, m_clk ns): MAC -> PCIe, nearby unrelated ratios, near-equal, and a slower reader.
RATIOS = [(6.4, 4.0), (6.4, 4.1), (6.4, 6.3), (4.0, 6.4)]


@pytest.mark.parametrize(("s_ns", "m_ns"), RATIOS, ids=[f"{s}ns_to_{m}ns" for s, m in RATIOS])
def test_frames_cross_intact_with_jitter(
    frame_fifo: Build, monkeypatch: pytest.MonkeyPatch, s_ns: float, m_ns: float
) -> None:
    env = {"ASYNC_S_NS": str(s_ns), "ASYNC_M_NS": str(m_ns), "ASYNC_WORDS": "4000"}
    _run(frame_fifo, "frames_cross_intact", f"{s_ns}-{m_ns}", monkeypatch, env)


def test_mac_to_pcie_sustains_one_word_per_mac_cycle(
    frame_fifo: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(
        frame_fifo,
        "mac_to_pcie_sustains_one_word_per_mac_cycle",
        "throughput",
        monkeypatch,
        {"ASYNC_WORDS": "6000"},
    )

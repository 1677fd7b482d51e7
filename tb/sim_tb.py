# SPDX-License-Identifier: MIT
"""cocotb side of `make sim`: the default scenario on splitrx_top, writing its figures to
the JSON file named by SPLITRX_REPORT (tb/sim.py prints them)."""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.utils import get_sim_time

from model.records import DropReason
from tb.system import SystemRig
from tb.traffic import scapy_frame

USER_CLK_NS = 4.0
BATCH = 8


def progress(done: int, total: int) -> None:
    """Frames done so far, for the progress bar tb/sim.py draws."""
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{done} {total}\n")


@cocotb.test()
async def default_scenario(dut: object) -> None:
    """Mixed frames (sizes 60..1514, UDP/TCP/VLAN/IPv6, 1 in 20 with a bad FCS) from the
    wire to one virtio guest in FULL placement; every good frame checked byte for byte."""
    frames = int(os.environ.get("SPLITRX_FRAMES", "200"))
    seed = int(os.environ.get("SPLITRX_SEED", "1"))
    rng = random.Random(seed)
    wall0 = time.perf_counter()
    rig = await SystemRig(dut, guest_num=32, nic_entries=32).start()
    sim0 = get_sim_time("ns")
    mismatches: list[str] = []
    delivered = 0
    bad = 0
    for k in range(0, frames, BATCH):
        good: list[bytes] = []
        for i in range(k, min(k + BATCH, frames)):
            f = scapy_frame(rng, rng.randint(60, 1514), i)
            if rng.random() < 0.05:
                await rig.send(f, bad_fcs=True)
                bad += 1
            else:
                await rig.send(f)
                good.append(f)
        got = await rig.receive(len(good), timeout_ns=1_000_000)
        for g, s in zip(got, good, strict=True):
            if g.data != s and len(mismatches) < 5:
                mismatches.append(
                    f"frame {delivered}: {len(g.data)} B received vs {len(s)} B sent at "
                    f"{get_sim_time('ns'):.0f} ns"
                )
            delivered += 1
        progress(min(k + BATCH, frames), frames)
    await rig.settle()
    c = await rig.drv.counters()
    sim_ns = get_sim_time("ns") - sim0
    wall = time.perf_counter() - wall0
    drops = {r.name.lower(): n for r, n in c.drops.items() if n}
    ok = (
        not mismatches
        and delivered == frames - bad
        and c.rx_frames == delivered
        and c.drops[DropReason.BAD_FCS] == bad
        and c.rx_frames + c.total_drops == rig.stats.sent
        and not rig.tracker.violations
        and not rig.h.host.faults
    )
    report = {
        "scenario": "one-guest-full",
        "seed": seed,
        "placement": "FULL",
        "sent": rig.stats.sent,
        "delivered": {"guest0": delivered},
        "dropped": drops,
        "mismatches": mismatches,
        "interrupts": rig.interrupts,
        "tracker_violations": len(rig.tracker.violations),
        "dma_faults": len(rig.h.host.faults),
        "checks_passed": ok,
        "sim_ns": sim_ns,
        "user_clk_cycles": int(sim_ns / USER_CLK_NS),
        "wall_s": wall,
    }
    with open(os.environ["SPLITRX_REPORT"], "w") as f:
        json.dump(report, f)
    assert ok, report

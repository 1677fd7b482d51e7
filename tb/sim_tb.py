# SPDX-License-Identifier: MIT
"""cocotb side of `make sim`: a scenario on splitrx_top, every frame checked by the
scoreboard (tb.scoreboard), figures written to the JSON file named by SPLITRX_REPORT
(tb/sim.py prints them)."""

from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.utils import get_sim_time

from model.records import PlacementMode
from model.virtio import VIRTIO_NET_F_MRG_RXBUF
from sw.vhost import DEFAULT_FEATURES
from tb.scoreboard import ScoreboardMismatch
from tb.sim_scenarios import SCENARIOS
from tb.system import DRIVER, HOST_MAC, GuestSpec, SystemRig
from tb.traffic import scapy_frame

USER_CLK_NS = 4.0
BATCH = 8
BROADCAST = "ff:ff:ff:ff:ff:ff"
STRANGER = "02:00:00:00:00:99"  # nobody's MAC: filtered


def progress(done: int, total: int) -> None:
    """Frames done so far, for the progress bar tb/sim.py draws."""
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{done} {total}\n")


@cocotb.test()
async def scenario(dut: object) -> None:
    """The scenario named by SPLITRX_SCENARIO: mixed frames (60..1514 B, UDP/TCP/VLAN/IPv6)
    from the wire to every owner, each checked against the reference model."""
    name = os.environ.get("SPLITRX_SCENARIO", "two-guests-host")
    frames = int(os.environ.get("SPLITRX_FRAMES", "200"))
    seed = int(os.environ.get("SPLITRX_SEED", "1"))
    rng = random.Random(seed)
    wall0 = time.perf_counter()
    max_size = 1514
    if name == "one-guest-full":
        rig = SystemRig(dut, guest_num=32, nic_entries=32)
        dests = [("02:00:00:00:00:01", 1.0)]
    elif name == "jumbo-mergeable":
        mrg = DEFAULT_FEATURES | 1 << VIRTIO_NET_F_MRG_RXBUF
        rig = SystemRig(
            dut, guest_num=64, nic_entries=64, features=mrg, mode=PlacementMode.SPLIT_HOLE
        )
        dests = [("02:00:00:00:00:01", 1.0)]
        max_size = 9014
    else:
        guests = [
            GuestSpec("guest0", "02:00:00:00:00:01", 1, guest_num=32, nic_entries=32),
            GuestSpec(
                "guest1", "02:00:00:00:00:02", 2, guest_num=32, nic_entries=32,
                mode=PlacementMode.SPLIT_HOLE,
            ),
        ]  # fmt: skip
        rig = SystemRig(dut, guests=guests, host_queue=True)
        dests = [(guests[0].mac, 0.4), (guests[1].mac, 0.4), (HOST_MAC, 0.1),
                 (BROADCAST, 0.05), (STRANGER, 0.05)]  # fmt: skip
    await rig.start()
    sim0 = get_sim_time("ns")
    mismatch = ""
    try:
        for k in range(0, frames, BATCH):
            for i in range(k, min(k + BATCH, frames)):
                dst = rng.choices([d for d, _ in dests], [w for _, w in dests])[0]
                f = scapy_frame(rng, rng.randint(60, max_size), i, dst=dst)
                await rig.send(f, bad_fcs=rng.random() < 0.05)
            await rig.receive_all()
            progress(min(k + BATCH, frames), frames)
        await rig.settle()
        problems = await rig.finish()
    except ScoreboardMismatch as exc:
        mismatch = str(exc)
        problems = [mismatch]
    c = await rig.drv.counters()
    sim_ns = get_sim_time("ns") - sim0
    wall = time.perf_counter() - wall0
    owners = {b.name: b.delivered for b in rig.sb.owners.values()}
    report = {
        "scenario": name,
        "description": SCENARIOS[name],
        "seed": seed,
        "placement": {g.spec.name: g.queue.mode.name for g in rig.guests.values()}
        | ({DRIVER: rig.host.queue.mode.name} if rig.host else {}),
        "sent": rig.stats.sent,
        "delivered": owners,
        "dropped": {r.name.lower(): n for r, n in c.drops.items() if n},
        "checks": rig.sb.checks,
        "problems": problems,
        "interrupts": rig.interrupts,
        "tracker_violations": len(rig.tracker.violations),
        "dma_faults": len(rig.h.host.faults),
        "checks_passed": not problems,
        "sim_ns": sim_ns,
        "user_clk_cycles": int(sim_ns / USER_CLK_NS),
        "wall_s": wall,
    }
    with open(os.environ["SPLITRX_REPORT"], "w") as f:
        json.dump(report, f)
    assert not problems, "\n".join(problems)

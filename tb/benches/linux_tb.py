# SPDX-License-Identifier: MIT
"""cocotb side of `make sim GUEST=linux`: frames from the wire through splitrx_top (MAC,
parser, steering, DMA, PCIe) into a real Linux guest booted in QEMU, in FULL placement with
mergeable RX buffers at MTU 1500; the scoreboard checks every frame as the vhost backend
hands it to the guest, then the guest's receiver and kernel counters are compared with the
wire. Figures go to the JSON file named by SPLITRX_REPORT (tb/sim.py prints them)."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiFrame
from scapy.layers.l2 import Ether
from scapy.utils import rdpcap, wrpcap

from model.records import DropReason
from sw.qemu_guest import GuestConfig, GuestImage
from tb.lib.linux_guest import LinuxGuestRig, LinuxGuestSpec, guest_checks, workdir_for
from tb.lib.scoreboard import ScoreboardMismatch
from tb.lib.traffic import scapy_frame

BATCH = 8
MAX_WIRE_FRAME = 9026  # the MAC's limit with FCS
MTU_FRAME = 1514  # the largest untagged frame at MTU 1500, FCS excluded


def progress(done: int, total: int) -> None:
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{done} {total}\n")


async def send_captured(rig: LinuxGuestRig, frame: bytes) -> None:
    """A frame of a capture as a link partner would send it: padded to 60 bytes; one longer
    than the MAC takes is expected as an oversize drop."""
    if len(frame) < 60:
        frame += bytes(60 - len(frame))
    if len(frame) + 4 > MAX_WIRE_FRAME:
        rig.stats.sent += 1
        rig.sb.wire(frame, DropReason.OVERSIZE)
        await rig.wire.send(XgmiiFrame.from_payload(frame))
        return
    await rig.send(frame)


@cocotb.test()
async def linux_guest(dut: object) -> None:
    """Boot the guest, send the mix (or SPLITRX_PCAP) to it, compare what it counted."""
    frames = int(os.environ.get("SPLITRX_FRAMES", "200"))
    seed = int(os.environ.get("SPLITRX_SEED", "1"))
    pcap_in = os.environ.get("SPLITRX_PCAP", "")
    pcap_out = os.environ.get("SPLITRX_PCAP_OUT", "")
    mac = os.environ.get("SPLITRX_GUEST_MAC", "02:00:00:00:00:01")
    image = GuestImage.find(Path(os.environ["SPLITRX_GUEST_IMAGE"]))
    workdir = workdir_for(Path(os.environ.get("SPLITRX_GUEST_WORKDIR", "build/sim/guest")))
    replay = [bytes(p) for p in rdpcap(pcap_in)] if pcap_in else []
    if replay:
        frames = len(replay)
    rng = random.Random(seed)
    wall0 = time.perf_counter()
    config = GuestConfig(mac=mac)
    spec = LinuxGuestSpec(mac=mac, guest=config)
    if os.environ.get("SPLITRX_GUEST_BOOT_TIMEOUT"):
        spec.boot_timeout_s = float(os.environ["SPLITRX_GUEST_BOOT_TIMEOUT"])
    rig = LinuxGuestRig(dut, spec, image, workdir)
    await rig.start()
    assert rig.qemu is not None and rig.vu is not None
    problems: list[str] = []
    seen = (0, 0)  # tracker violations and DMA faults already reported by finish()
    section: dict[str, object] = {}
    boot_s = traffic_s = 0.0
    sim0 = get_sim_time("ns")
    try:
        boot_s = await rig.boot()
        baseline = await rig.guest_stats()
        rig.start_pumper()
        t0 = time.perf_counter()
        for k in range(0, frames, BATCH):
            # a frame over one of Linux's mergeable buffers would take two
            await rig.wait_buffers(2 * BATCH)
            for i in range(k, min(k + BATCH, frames)):
                if replay:
                    await send_captured(rig, replay[i])
                else:
                    f = scapy_frame(rng, rng.randint(60, MTU_FRAME), i, dst=mac)
                    await rig.send(f, bad_fcs=rng.random() < 0.05)
            await rig.receive_all()
            progress(min(k + BATCH, frames), frames)
        await rig.settle()
        problems += await rig.finish()
        seen = (len(rig.tracker.violations), len(rig.h.host.faults))
        await rig.guest_read(len(rig.delivered_frames))
        traffic_s = time.perf_counter() - t0
        stats = await rig.guest_stats()
        section, guest_problems = guest_checks(rig, stats, config, baseline)
        problems += guest_problems
    except (ScoreboardMismatch, AssertionError) as exc:
        problems.append(str(exc))
    finally:
        rig.stop_pumper()
        qemu_rc = await rig.shutdown()
    owner_left = spec.name in rig.pool.owners
    if owner_left:
        problems.append(f"{spec.name} still registered with the page constructor after teardown")
    problems += [f"vhost-user: {e}" for e in rig.errors]
    if len(rig.tracker.violations) > seen[0]:
        problems.append(f"DMA write tracker: {rig.tracker.violations[seen[0]]}")
    if len(rig.h.host.faults) > seen[1]:
        problems.append(f"DMA fault: {rig.h.host.faults[seen[1]]}")
    c = await rig.drv.counters()
    delivered = len(rig.delivered_frames)
    report: dict[str, object] = {
        "guest": "linux",
        "kernel": image.release,
        "mac": mac,
        "placement": spec.mode.name,
        "mergeable": True,
        "mtu": config.mtu,
        "seed": seed,
        "pcap": pcap_in or None,
        "sent": rig.stats.sent,
        "delivered": delivered,
        "dropped": {r.name.lower(): n for r, n in c.drops.items() if n},
        "checks": rig.sb.checks,
        "linux": section,
        "boot_s": boot_s,
        "traffic_s": traffic_s,
        "frames_per_s": delivered / traffic_s if traffic_s else 0.0,
        "tx_frames": rig.vu.stats.tx_frames,
        "qemu_exit": qemu_rc,
        "pinned_pages_after": rig.pool.pinned_pages,
        "problems": problems,
        "checks_passed": not problems,
        "sim_ns": get_sim_time("ns") - sim0,
        "wall_s": time.perf_counter() - wall0,
        "qemu_command": rig.qemu.command(),
        "workdir": str(workdir),
    }
    if pcap_out:
        out = Path(pcap_out)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, got in ((f"{spec.name}-rx", rig.delivered_frames),
                          (f"{spec.name}-tx", rig.vu.tx_frames)):  # fmt: skip
            wrpcap(str(out / f"{name}.pcap"), [Ether(f) for f in got])
            files[name] = str(out / f"{name}.pcap")
        report["pcap_out"] = files
    with open(os.environ["SPLITRX_REPORT"], "w") as fh:
        json.dump(report, fh)
    assert not problems, "\n".join(problems)

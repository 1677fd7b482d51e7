# SPDX-License-Identifier: MIT
"""cocotb side of `make sim`: a scenario on splitrx_top, every frame checked by the
scoreboard (tb.lib.scoreboard), figures written to the JSON file named by SPLITRX_REPORT
(tb/sim.py prints them)."""

from __future__ import annotations

import csv
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

from model.hostmem import PAGE_SIZE
from model.records import CplFlags, DropReason, PlacementMode, SplitLevel
from model.rss import MS_VERIFICATION_KEY, RssConfig
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_RING_F_INDIRECT_DESC,
)
from sw.guest_virtio import RxFrame
from sw.vhost import DEFAULT_FEATURES
from tb.lib.scoreboard import ScoreboardMismatch
from tb.lib.system import DRIVER, HDR, HOST_MAC, GuestSpec, SystemRig, XskSpec, spread_rss
from tb.lib.traffic import mutate, scapy_frame
from tb.sim_scenarios import SCENARIOS

USER_CLK_NS = 4.0
MAX_WIRE_FRAME = 9026  # the MAC's limit with FCS (9018 B jumbo + two VLAN tags)
HOSTILE_QUOTA = 8  # pages: 16 buffers of 2 KiB ...
HOSTILE_POSTS = 160  # ... and it posts 10 times that
BATCH = 8
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"
STRANGER = "02:00:00:00:00:99"  # nobody's MAC: filtered
HOST_QUEUES = 4  # four-guests-host: the host's queues 0..3, RSS over them
JUMBO = 9014  # the largest untagged frame the MAC takes (9018 B with FCS)
BIG_SEGMENT = PAGE_SIZE  # four-guests-host: guest3's big-packet chains of page segments ...
BIG_CHAINS = (3, 2)  # ... three or two of them, alternately


def progress(done: int, total: int) -> None:
    """Frames done so far, for the progress bar tb/sim.py draws."""
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{done} {total}\n")


def read_pcap(path: str) -> list[bytes]:
    """Frames of a capture (Ethernet link type), FCS not included, as a link partner
    would send them."""
    return [bytes(p) for p in rdpcap(path)]


async def send_captured(rig: SystemRig, frame: bytes) -> None:
    """Pad to the 60-byte minimum as the sender's MAC would; longer than the MAC accepts
    (9026 B with FCS) -> expected as an oversize drop."""
    if len(frame) < 60:
        frame = frame + bytes(60 - len(frame))
    if len(frame) + 4 > MAX_WIRE_FRAME:
        rig.stats.sent += 1
        rig.sb.wire(frame, DropReason.OVERSIZE)
        await rig.wire.send(XgmiiFrame.from_payload(frame))
        return
    await rig.send(frame)


def write_pcaps(rig: SystemRig, out: Path) -> dict[str, str]:
    """Per-owner captures of what each owner's driver was handed, dropped.pcap and
    dropped.csv (frame number, reason)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for b in rig.sb.owners.values():
        path = out / f"{b.name}.pcap"
        wrpcap(str(path), [Ether(f) for f in b.frames])
        files[b.name] = str(path)
    drops = sorted(rig.sb.drop_log)
    wrpcap(str(out / "dropped.pcap"), [Ether(f) for _, f, _ in drops])
    with open(out / "dropped.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["frame", "length", "reason"])
        for no, f, reason in drops:
            w.writerow([no, len(f), reason])
    files["dropped"] = str(out / "dropped.pcap")
    return files


FEATURE_NAMES = {
    VIRTIO_F_VERSION_1: "VIRTIO_F_VERSION_1",
    VIRTIO_NET_F_MRG_RXBUF: "VIRTIO_NET_F_MRG_RXBUF",
    VIRTIO_NET_F_GUEST_CSUM: "VIRTIO_NET_F_GUEST_CSUM",
    VIRTIO_RING_F_EVENT_IDX: "VIRTIO_RING_F_EVENT_IDX",
    VIRTIO_RING_F_INDIRECT_DESC: "VIRTIO_RING_F_INDIRECT_DESC",
}


def write_dump(rig: SystemRig, out: Path, seed: int, scenario: str, pcap: str) -> dict[str, str]:
    """guest<N>.bin (guest N's RAM, guest-physical ``ram_gpa_base`` at offset 0) and
    manifest.json with what a program that knows only the virtio spec needs to walk each
    used ring and recover every frame (docs/sim.md)."""
    out.mkdir(parents=True, exist_ok=True)
    guests = []
    for n, g in enumerate(rig.guests.values()):
        (out / f"guest{n}.bin").write_bytes(rig.h.mem.read(g.ram.host_base, g.spec.ram_size))
        lay = g.guest.layout
        guests.append({
            "guest_id": n,
            "name": g.spec.name,
            "mac": g.spec.mac,
            "ram_gpa_base": g.ram.guest_base,
            "ram_size": g.spec.ram_size,
            "placement_mode": g.queue.mode.name,
            "rx_queue": {
                "queue_size": lay.num,
                "desc_gpa": lay.desc,
                "avail_gpa": lay.avail,
                "used_gpa": lay.used,
                "features": [v for k, v in FEATURE_NAMES.items() if g.spec.features >> k & 1],
                "vnet_hdr_len": HDR,
                "first_used_idx": g.guest.start_idx,
            },
            "frames_received": len(g.received),
        })  # fmt: skip
    manifest = {"seed": seed, "scenario": scenario, "input_pcap": pcap or None, "guests": guests}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return {"manifest": str(out / "manifest.json")}


def chain_figures(received: list[RxFrame], recycled: int) -> dict[str, object]:
    """For a guest posting multi-buffer chains: frames by how many segments of their chain
    they filled (net header included), and chains reposted as too long."""
    filled: dict[int, int] = {}
    for f in received:
        for b in f.buffers:
            ends = [0]
            for _, n in b.segments:
                ends.append(ends[-1] + n)
            k = next(i for i, e in enumerate(ends) if e >= b.used_len)
            filled[k] = filled.get(k, 0) + 1
    return {
        "segments_per_chain": sorted({len(b.segments) for f in received for b in f.buffers}),
        "frames_by_segments_filled": {str(k): filled[k] for k in sorted(filled)},
        "recycled_too_long": recycled,
    }


async def hostile_run(
    rig: SystemRig, rng: random.Random, frames: int, dests: list[tuple[str, float]], max_size: int
) -> dict[str, object]:
    """The whole wire back to back (the host serves at each interrupt meanwhile); the hostile
    guest is torn down two thirds in. Returns the figures of the DoS table."""
    sent: dict[str, int] = {}
    owner_of = {g.spec.mac: g.spec.name for g in rig.guests.values()} | {HOST_MAC: DRIVER}
    server = cocotb.start_soon(rig.serve())
    bad = rig.guests["hostile"]
    torn: dict[str, object] = {}
    n_writes = len(rig.h.host.writes)
    spans = [(bad.ram.host_base, bad.ram.host_base + bad.spec.ram_size)]
    for i in range(frames):
        dst = rng.choices([d for d, _ in dests], [w for _, w in dests])[0]
        sent[owner_of[dst]] = sent.get(owner_of[dst], 0) + 1
        await rig.send(scapy_frame(rng, rng.randint(60, max_size), i, dst=dst))
        if i == 2 * frames // 3:
            await rig.wire.wait()
            _, stats = await rig.retire_guest("hostile")
            torn = {"pinned_before_teardown": stats.pinned_pages,
                    "peak_pinned": stats.peak_pinned_pages, "refusals": stats.refusals}  # fmt: skip
            torn["pinned_after_teardown"] = sum(
                rig.pool.is_pinned(a) for a in range(spans[0][0], spans[0][1], 4096)
            )
            n_writes = len(rig.h.host.writes)
    await rig.wire.wait()
    await rig.receive_all()
    server.kill()
    off = rig.pool.iova_offset
    torn["writes_after_teardown"] = sum(
        1 for w in rig.h.host.writes[n_writes:]
        if any(a + off <= w.addr < b + off for a, b in spans)
    )  # fmt: skip
    return {
        "quota_pages": HOSTILE_QUOTA,
        "posted_buffers": HOSTILE_POSTS,
        **torn,
        "sent_to": sent,
        "iommu_faults": len(rig.h.iommu.faults),
        "tracker_violations": len(rig.tracker.violations),
    }


@cocotb.test()
async def scenario(dut: object) -> None:
    """The scenario named by SPLITRX_SCENARIO: mixed frames (60..1514 B, UDP/TCP/VLAN/IPv6)
    from the wire to every owner, each checked against the reference model."""
    name = os.environ.get("SPLITRX_SCENARIO", "two-guests-host")
    frames = int(os.environ.get("SPLITRX_FRAMES", "200"))
    pcap_in = os.environ.get("SPLITRX_PCAP", "")
    pcap_out = os.environ.get("SPLITRX_PCAP_OUT", "")
    dump = os.environ.get("SPLITRX_DUMP", "")
    replay = read_pcap(pcap_in) if pcap_in else []
    if replay:
        frames = len(replay)
    seed = int(os.environ.get("SPLITRX_SEED", "1"))
    rng = random.Random(seed)
    wall0 = time.perf_counter()
    max_size = 1514
    max_for: dict[str, int] = {}  # destinations with another largest frame
    rss: RssConfig | None = None
    if name == "one-guest-full":
        rig = SystemRig(dut, guest_num=32, nic_entries=32)
        dests = [("02:00:00:00:00:01", 1.0)]
    elif name == "jumbo-mergeable":
        mrg = DEFAULT_FEATURES | 1 << VIRTIO_NET_F_MRG_RXBUF
        rig = SystemRig(
            dut, guest_num=64, nic_entries=64, features=mrg, mode=PlacementMode.SPLIT_HOLE
        )
        dests = [("02:00:00:00:00:01", 1.0)]
        max_size = JUMBO
    elif name == "hostile":
        guests = [
            GuestSpec("guest0", "02:00:00:00:00:01", 1, guest_num=128, nic_entries=128),
            GuestSpec(
                "hostile", "02:00:00:00:00:66", 2, guest_num=256, nic_entries=64,
                quota_pages=HOSTILE_QUOTA, stalled=True, posts=HOSTILE_POSTS,
            ),
        ]  # fmt: skip
        rig = SystemRig(dut, guests=guests, host_queue=True)
        dests = [(guests[0].mac, 0.3), (guests[1].mac, 0.6), (HOST_MAC, 0.1)]
        max_size = 256
    elif name == "fuzz":
        guests = [
            GuestSpec("guest0", "02:00:00:00:00:01", 1, guest_num=64, nic_entries=64),
            GuestSpec(
                "guest1", "02:00:00:00:00:02", 2, guest_num=64, nic_entries=64,
                mode=PlacementMode.SPLIT_HOLE, split_level=SplitLevel.L4,
            ),
        ]  # fmt: skip
        rig = SystemRig(dut, guests=guests)
        dests = [(guests[0].mac, 0.5), (guests[1].mac, 0.5)]
    elif name == "split-xsk":
        xsk = XskSpec("xsk0", "02:00:00:00:00:0a", 1, chunks=64, nic_entries=32)
        rig = SystemRig(dut, guests=[], xsks=[xsk], host_queue=True)
        dests = [(xsk.mac, 0.55), (HOST_MAC, 0.25), (BROADCAST, 0.1), (STRANGER, 0.1)]
        # a split frame fits a 2 KiB chunk while its payload (frame less headers) is at most
        # 1792 B (at 256); a frame placed whole at 256 (non-IP: HDR_OVERFLOW) up to 1792 B;
        # longer ones are too long for their group and the glue recycles the chunk
        max_size = 2048
    elif name == "four-guests-host":
        mrg = DEFAULT_FEATURES | 1 << VIRTIO_NET_F_MRG_RXBUF
        guests = [
            GuestSpec("guest0", "02:00:00:00:00:01", 4, guest_num=32, nic_entries=32),
            GuestSpec(
                "guest1", "02:00:00:00:00:02", 5, guest_num=32, nic_entries=32,
                mode=PlacementMode.SPLIT_HOLE,
            ),
            GuestSpec(
                "guest2", "02:00:00:00:00:03", 6, guest_num=64, nic_entries=64, features=mrg,
                mode=PlacementMode.SPLIT_HOLE,
            ),
            # big packets (no VIRTIO_NET_F_MRG_RXBUF): a frame must fit its one buffer, a
            # chain of 4 KiB segments (one NIC group); chains of 3 and 2 alternate, so a
            # jumbo frame spans all three segments of one, or meets an 8 KiB one and is
            # too_long_for_group (vhost reposts the whole chain)
            GuestSpec(
                "guest3", "02:00:00:00:00:04", 7, guest_num=32, nic_entries=32,
                buf_size=BIG_SEGMENT, chain_buffers=BIG_CHAINS,
            ),
        ]  # fmt: skip
        # host queues: groups of four 2 KiB buffers (not mergeable), promiscuous: the
        # host's unicast, broadcast and multicast spread over queues 0..3 by RSS
        rig = SystemRig(
            dut, guests=guests, host_queue=True, host_queues=HOST_QUEUES, host_group=4,
            promisc=True,
        )  # fmt: skip
        dests = [(g.mac, 0.12) for g in guests]
        dests += [(HOST_MAC, 0.2), (BROADCAST, 0.14), (MULTICAST, 0.14)]
        max_for = {d: JUMBO for d, _ in dests if d not in (guests[0].mac, guests[1].mac)}
        rss = spread_rss(rng, HOST_QUEUES)
    else:
        # with DUMP each buffer is posted once: frames beyond them drop as no_buffer
        once = {"reuse": False, "refill": False, "may_drop": True, "guest_num": 256,
                "ram_size": 1 << 22}  # fmt: skip
        big = once if dump else {"guest_num": 32}
        guests = [
            GuestSpec("guest0", "02:00:00:00:00:01", 1, nic_entries=32, **big),
            GuestSpec(
                "guest1", "02:00:00:00:00:02", 2, nic_entries=32,
                mode=PlacementMode.SPLIT_HOLE, **big,
            ),
        ]  # fmt: skip
        rig = SystemRig(dut, guests=guests, host_queue=True)
        dests = [(guests[0].mac, 0.4), (guests[1].mac, 0.4), (HOST_MAC, 0.1),
                 (BROADCAST, 0.05), (STRANGER, 0.05)]  # fmt: skip
    await rig.start()
    if rss is not None:
        await rig.set_rss(rss)
        await rig.h.barrier()
    if replay:
        await rig.set_promisc(True)  # unknown unicast from a capture goes to the host queue
    sim0 = get_sim_time("ns")
    mismatch = ""
    hostile: dict[str, object] = {}
    try:
        if name == "hostile":
            hostile = await hostile_run(rig, rng, frames, dests, max_size)
            frames = 0
        for k in range(0, frames, BATCH):
            for i in range(k, min(k + BATCH, frames)):
                if replay:
                    await send_captured(rig, replay[i])
                    continue
                dst = rng.choices([d for d, _ in dests], [w for _, w in dests])[0]
                f = scapy_frame(rng, rng.randint(60, max_for.get(dst, max_size)), i, dst=dst)
                if name == "fuzz":
                    f = mutate(rng, f)
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
        | {x.spec.name: x.queue.mode.name for x in rig.xsks.values()}
        | {hq.owner: hq.queue.mode.name for hq in rig.hosts.values()},
        "sent": rig.stats.sent,
        "delivered": owners,
        "placed": {b.name: b.placed for b in rig.sb.owners.values()},
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
        "hostile": hostile,
        "rss": {
            "key": "Microsoft verification key"
            if rss.key == MS_VERIFICATION_KEY
            else f"key {rss.key.hex()}",
            "udp_4tuple": rss.udp_4tuple,
            "queues": sorted(set(rss.indirection)),
            "owners": [rig.hosts[q].owner for q in sorted(set(rss.indirection))],
        }
        if rss
        else {},
        "chains": {
            g.spec.name: chain_figures(g.received, g.backend.stats.recycled)
            for g in rig.guests.values()
            if g.spec.chain_buffers != 1
        },
        "xsk": {
            x.spec.name: {
                "frames": x.rx.stats.frames,
                "split": sum(bool(f.flags & CplFlags.SPLIT) for f in x.received),
                "recycled": x.rx.stats.recycled,
                "fill_taken": x.rx.stats.fill_taken,
                "pinned_pages": rig.pool.stats(x.spec.name).pinned_pages,
            }
            for x in rig.xsks.values()
        },
    }
    if pcap_out:
        report["pcap_out"] = write_pcaps(rig, Path(pcap_out))
    if dump:
        report["dump"] = write_dump(rig, Path(dump), seed, name, pcap_in)
    with open(os.environ["SPLITRX_REPORT"], "w") as f:
        json.dump(report, f)
    assert not problems, "\n".join(problems)

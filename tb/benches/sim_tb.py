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
from scapy.utils import wrpcap

from model.records import CplFlags
from model.rss import MS_VERIFICATION_KEY, RssConfig
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_RING_F_INDIRECT_DESC,
)
from sw.guest_virtio import RxFrame
from sw.xsk_owner import (
    ENTRY_BYTES,
    RING_ENTRIES_OFFSET,
    RING_INDEX_MASK,
    RING_PRODUCER_OFFSET,
)
from tb.lib.scoreboard import ScoreboardMismatch
from tb.lib.system import (
    DRIVER,
    HDR,
    HOST_MAC,
    MAX_FRAME_BYTES,
    SystemRig,
    host_group_for,
    spread_rss,
)
from tb.lib.traffic import mutate, scapy_frame
from tb.sim_scenarios import (
    DEFAULT,
    ETHERNET,
    HOSTILE_POSTS,
    HOSTILE_QUOTA,
    JUMBO,
    TABLE,
    read_capture,
)

USER_CLK_NS = 4.0
BATCH = 8


def progress(done: int, total: int) -> None:
    """Frames done so far, for the progress bar tb/sim.py draws."""
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{done} {total}\n")


def write_pcaps(rig: SystemRig, out: Path) -> dict[str, str]:
    """Per-owner captures of what each owner's driver was handed, dropped.pcap and
    dropped.csv (frame number, reason)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for b in rig.sb.owners.values():
        path = out / f"{b.name}.pcap"
        wrpcap(str(path), b.frames, linktype=ETHERNET)
        files[b.name] = str(path)
    drops = sorted(rig.sb.drop_log)
    wrpcap(str(out / "dropped.pcap"), [f for _, f, _ in drops], linktype=ETHERNET)
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
    """guest<N>.bin (guest N's RAM, guest-physical ``ram_gpa_base`` at offset 0),
    <xsk>.bin (an xsk app's address space: UMEM and rings) and manifest.json with what a
    program that knows only the virtio spec (or the xsk ring layout of sw/xsk_owner.py)
    needs to walk each used ring or completion ring and recover every frame (docs/sim.md).
    A guest torn down mid-run is there too, as its RAM was at the end."""
    out.mkdir(parents=True, exist_ok=True)
    guests = []
    everyone = [*rig.guests.values(), *rig.retired.values()]
    for n, g in enumerate(everyone):
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
            "stalled": g.spec.stalled,  # never read its used ring (hostile)
            "torn_down": g.spec.name in rig.retired,
        })  # fmt: skip
    xsks = []
    for x in rig.xsks.values():
        space, comp = x.app.space, x.app.comp_ring.layout
        (out / f"{x.spec.name}.bin").write_bytes(rig.h.mem.read(space.host_base, space.size))
        xsks.append({
            "name": x.spec.name,
            "mac": x.spec.mac,
            "space_base": space.guest_base,
            "space_size": space.size,
            "umem_addr": x.app.umem.base,
            "umem_size": x.app.umem.size,
            "chunk_size": x.spec.chunk_size,
            "placement_mode": x.queue.mode.name,
            "comp_ring": {
                "base": comp.base,
                "size": comp.size,
                "producer_offset": RING_PRODUCER_OFFSET,
                "entries_offset": RING_ENTRIES_OFFSET,
                "entry_bytes": ENTRY_BYTES,
                # the consumer index has moved past every entry the app read
                "first_index": (x.app.comp_ring.cons - len(x.received)) & RING_INDEX_MASK,
            },
            "frames_received": len(x.received),
        })  # fmt: skip
    manifest = {
        "seed": seed, "scenario": scenario, "input_pcap": pcap or None, "guests": guests,
        "xsks": xsks,
    }  # fmt: skip
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
    """The scenario named by SPLITRX_SCENARIO (tb/sim_scenarios.py's table): mixed frames
    (UDP/TCP/VLAN/IPv6) from the wire to every owner, each checked against the reference
    model."""
    name = os.environ.get("SPLITRX_SCENARIO", DEFAULT)
    frames_env = os.environ.get("SPLITRX_FRAMES", "200")  # empty with a capture: all of it
    pcap_in = os.environ.get("SPLITRX_PCAP", "")
    pcap_out = os.environ.get("SPLITRX_PCAP_OUT", "")
    dump = os.environ.get("SPLITRX_DUMP", "")
    capture = read_capture(pcap_in) if pcap_in else None
    replay = capture.frames if capture else ()
    runts = os.environ.get("SPLITRX_RUNTS") == "1"  # --runts: every short frame a true runt
    # a capture is sent from its start again while more frames are asked for
    frames = int(frames_env) if frames_env else len(replay)
    seed = int(os.environ.get("SPLITRX_SEED", "1"))
    rng = random.Random(seed)
    wall0 = time.perf_counter()
    sc = TABLE[name]
    rig = SystemRig(
        dut, guests=list(sc.guests_for(bool(dump))), xsks=list(sc.xsks_for(bool(dump))),
        host_queue=sc.host_queues > 0, host_queues=max(1, sc.host_queues),
        # a replay delivers every frame the MAC takes to the host: groups that hold one
        host_group=max(sc.host_group, host_group_for(MAX_FRAME_BYTES)) if replay
        else sc.host_group,
        promisc=sc.promisc, dump=bool(dump),
    )  # fmt: skip
    dests = list(sc.dests)
    max_for = dict.fromkeys(sc.jumbo, JUMBO)  # destinations with another largest frame
    rss: RssConfig | None = spread_rss(rng, sc.host_queues) if sc.rss else None
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
        if sc.hostile:
            hostile = await hostile_run(rig, rng, frames, dests, sc.max_size)
            frames = 0
        for k in range(0, frames, BATCH):
            for i in range(k, min(k + BATCH, frames)):
                if capture:
                    # as a link partner sends it: a short frame padded to 60 B unless it is
                    # a true runt; the rig expects the MAC's verdict (runt, oversize, ...)
                    cf = replay[i % len(replay)]
                    await rig.send(cf.data, pad=not capture.runt(cf, runts))
                    continue
                dst = rng.choices([d for d, _ in dests], [w for _, w in dests])[0]
                f = scapy_frame(rng, rng.randint(60, max_for.get(dst, sc.max_size)), i, dst=dst)
                if sc.mutate:
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
        "description": sc.description,
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
        "replay": {
            "capture_frames": len(replay),
            "passes": -(-frames // len(replay)),
            **capture.summary(runts, MAX_FRAME_BYTES),
        }
        if capture
        else {},
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

# SPDX-License-Identifier: MIT
"""cocotb side of `make sim`: a scenario on splitrx_top, every frame checked by the
scoreboard (tb.lib.scoreboard), figures written to the JSON file named by SPLITRX_REPORT
(tb/sim.py prints them)."""

from __future__ import annotations

import csv
import json
import os
import random
import struct
import time
from pathlib import Path

import cocotb
from cocotb.utils import get_sim_time

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


class PcapFile:
    """A pcap file written frame by frame as frames come: little-endian, microsecond
    timestamps (the simulated time), link type Ethernet, frames without FCS."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.f = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 1 << 18, ETHERNET))

    def write(self, frame: bytes, time_ns: float) -> None:
        sec, ns = divmod(int(time_ns), 10**9)
        self.f.write(struct.pack("<IIII", sec, ns // 1000, len(frame), len(frame)) + frame)

    def close(self) -> None:
        self.f.close()


class CaptureWriter:
    """PCAP_OUT, written as the scoreboard checks (``tb.lib.scoreboard.FrameLog``): per owner
    ``<owner>.pcap`` with the frames as its driver handed them up, in order;
    ``dropped.pcap`` and ``dropped.csv`` (frame number on the wire, length, reason) with the
    frames expected dropped, in wire order. Nothing is kept in memory."""

    def __init__(self, out: Path, owners: list[str]) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.owners = {o: PcapFile(out / f"{o}.pcap") for o in owners}
        self.drops = PcapFile(out / "dropped.pcap")
        self.csv_file = open(out / "dropped.csv", "w", newline="")  # noqa: SIM115
        self.csv = csv.writer(self.csv_file)
        self.csv.writerow(["frame", "length", "reason"])

    def delivered(self, owner: str, frame: bytes, time_ns: float) -> None:
        self.owners[owner].write(frame, time_ns)

    def dropped(self, no: int, frame: bytes, reason: str, time_ns: float) -> None:
        self.drops.write(frame, time_ns)
        self.csv.writerow([no, len(frame), reason])

    def close(self) -> dict[str, str]:
        for f in [*self.owners.values(), self.drops]:
            f.close()
        self.csv_file.close()
        return {o: str(f.path) for o, f in self.owners.items()} | {"dropped": str(self.drops.path)}


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
            "frames_received": rig.taken.get(g.spec.name, 0),
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
                "first_index": (x.app.comp_ring.cons - rig.taken.get(x.spec.name, 0))
                & RING_INDEX_MASK,
            },
            "frames_received": rig.taken.get(x.spec.name, 0),
        })  # fmt: skip
    manifest = {
        "seed": seed, "scenario": scenario, "input_pcap": pcap or None, "guests": guests,
        "xsks": xsks,
    }  # fmt: skip
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return {"manifest": str(out / "manifest.json")}


class ChainFigures:
    """For a guest posting multi-buffer chains: frames by how many segments of their chain
    they filled (net header included), gathered batch by batch."""

    def __init__(self) -> None:
        self.filled: dict[int, int] = {}
        self.segments: set[int] = set()

    def add(self, received: list[RxFrame]) -> None:
        for f in received:
            for b in f.buffers:
                ends = [0]
                for _, n in b.segments:
                    ends.append(ends[-1] + n)
                k = next(i for i, e in enumerate(ends) if e >= b.used_len)
                self.filled[k] = self.filled.get(k, 0) + 1
                self.segments.add(len(b.segments))

    def figures(self, recycled: int) -> dict[str, object]:
        return {
            "segments_per_chain": sorted(self.segments),
            "frames_by_segments_filled": {str(k): self.filled[k] for k in sorted(self.filled)},
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
    writer = CaptureWriter(Path(pcap_out), list(rig.sb.owners)) if pcap_out else None
    rig.sb.log = writer
    chains = {g.spec.name: ChainFigures() for g in rig.guests.values() if g.spec.chain_buffers != 1}
    xsk_split = dict.fromkeys(rig.xsks, 0)

    def retire() -> None:
        """Take the figures from what the owners received, then let the rig forget it."""
        for g in rig.guests.values():
            if g.spec.name in chains:
                chains[g.spec.name].add(g.received)
        for x in rig.xsks.values():
            xsk_split[x.spec.name] += sum(bool(f.flags & CplFlags.SPLIT) for f in x.received)
        rig.retire()

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
            retire()
            progress(min(k + BATCH, frames), frames)
        await rig.settle()
        problems = await rig.finish()
        retire()
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
            g.spec.name: chains[g.spec.name].figures(g.backend.stats.recycled)
            for g in rig.guests.values()
            if g.spec.name in chains
        },
        "xsk": {
            x.spec.name: {
                "frames": x.rx.stats.frames,
                "split": xsk_split[x.spec.name],
                "recycled": x.rx.stats.recycled,
                "fill_taken": x.rx.stats.fill_taken,
                "pinned_pages": rig.pool.stats(x.spec.name).pinned_pages,
            }
            for x in rig.xsks.values()
        },
    }
    if writer is not None:
        report["pcap_out"] = writer.close()
    if dump:
        report["dump"] = write_dump(rig, Path(dump), seed, name, pcap_in)
    with open(os.environ["SPLITRX_REPORT"], "w") as f:
        json.dump(report, f)
    assert not problems, "\n".join(problems)

# SPDX-License-Identifier: MIT
"""cocotb side of `make bench` (tb/bench/ plans the runs and writes the report).

``core_points`` runs a list of measurement points on splitrx_core: frames of one size (or
IMIX) driven into the MAC-side stream on a schedule (10 GbE line rate, far apart, or back to
back at the input's own speed), the host behind the PCIe model with a set descriptor-read
latency, NAPI-like host loops that check every completion against the reference model
(tb.lib.coredma.check_delivery) and give the buffers back. It records, per frame, when its last
byte entered the core and when its completion record landed in host memory, and counts every
TLP on RQ, RC and CQ by kind.

``system_points`` runs frames from the XGMII wire through splitrx_top (MAC, clock crossing,
core, PCIe model) at line rate into one queue, for the simulator's speed and for the latency
from the last wire byte.

``pinned_points`` runs the system rig (tb/lib/system.py: vhost-net backends and virtio guests
whose buffers the page constructor pins for the NIC) with IMIX from the wire at line rate,
and samples each owner's pinned pages over simulated time.

The job comes as JSON in the file named by SPLITRX_BENCH_JOB (read at import: each of its
points is a cocotb test of its own, so each starts from a reset and a fresh enumeration and
no point inherits another's state); each point appends its result as one JSON line to the
file named by SPLITRX_BENCH_RESULT. A point that fails records its error; the next one runs.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time, get_time_from_sim_steps
from cocotbext.pcie.core.tlp import Tlp, TlpType

from model import regmap
from model.records import DescFlags, PlacementMode, RxDescriptor
from model.virtio import VIRTIO_NET_HDR_V1_SIZE
from sw.nic_driver import NicDriver, RxDone, RxQueue
from tb.bench.plan import (
    BUF_BYTES,
    DATA_OFFSET,
    DRAIN_NS,
    HDR_BUF_BYTES,
    MOD_CYCLES,
    MOD_PACKETS,
    POLL_BUDGET,
    POLL_NS,
    RING,
    USER_CLK_NS,
    beats,
    frame_period_clk,
    imix_sizes,
    summarize,
)
from tb.lib.coredma import Owner, check_delivery, make_frame, setup
from tb.lib.pcie import MSI_BASE, MSI_SIZE, PcieHarness

assert DATA_OFFSET == VIRTIO_NET_HDR_V1_SIZE  # room for the virtio_net_hdr, as for a guest
FCS = 4
RAW_LATENCY_MAX = 2000  # per-frame latencies kept in the results (for the CDF) up to this
SETTLE_MAX_NS = 100_000  # after the window: wait at most this for the last completions


def qmac(qi: int) -> str:
    return f"02:00:00:00:0b:{qi:02x}"


# -- TLP accounting -------------------------------------------------------------------------


class TlpTally:
    """Counts every TLP between the root complex and the device by kind: RQ (device
    requests: data, header, completion-record and MSI-X writes, descriptor reads), RC
    (completions for descriptor reads) and CQ (host MMIO: doorbells, register reads).
    Each entry: [TLPs, payload bytes, link bytes]; link bytes = header (12 or 16 B) +
    payload + 8 B Gen3 framing (STP token with sequence number, LCRC), as
    cocotbext-pcie's Tlp.get_wire_size."""

    def __init__(self, h: PcieHarness) -> None:
        self.h = h
        self.n: dict[str, list[int]] = {}
        # classifies a device write by address; set per point
        self.classify: Callable[[int], str] = lambda addr: "data_write"
        host = h.host
        for t in (TlpType.MEM_WRITE, TlpType.MEM_WRITE_64):
            h.rc.register_rx_tlp_handler(t, self._write(host.handle_write))
        for t in (TlpType.MEM_READ, TlpType.MEM_READ_64):
            h.rc.register_rx_tlp_handler(t, self._read(host.handle_read))
        send = h.rc.send

        async def counted_send(tlp: Tlp) -> None:
            if tlp.fmt_type in (TlpType.CPL_DATA, TlpType.CPL):
                self.add("rc_desc_completion", tlp)
            elif tlp.fmt_type in (TlpType.MEM_WRITE, TlpType.MEM_WRITE_64):
                self.add("cq_mmio_write", tlp)
            elif tlp.fmt_type in (TlpType.MEM_READ, TlpType.MEM_READ_64):
                self.add("cq_mmio_read", tlp)
            else:
                self.add("cq_other", tlp)
            await send(tlp)

        h.rc.send = counted_send  # type: ignore[method-assign]

    def add(self, kind: str, tlp: Tlp) -> None:
        e = self.n.setdefault(kind, [0, 0, 0])
        e[0] += 1
        e[1] += tlp.get_payload_size()
        e[2] += tlp.get_wire_size()

    def _write(self, inner: Callable[[Tlp], Any]) -> Callable[[Tlp], Any]:
        async def handler(tlp: Tlp) -> None:
            if MSI_BASE <= tlp.address < MSI_BASE + MSI_SIZE:
                self.add("rq_msix", tlp)
            else:
                self.add(self.classify(tlp.address), tlp)
            await inner(tlp)

        return handler

    def _read(self, inner: Callable[[Tlp], Any]) -> Callable[[Tlp], Any]:
        async def handler(tlp: Tlp) -> None:
            self.add("rq_desc_read", tlp)
            await inner(tlp)

        return handler

    def snapshot(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in self.n.items()}

    def since(self, snap: dict[str, list[int]]) -> dict[str, dict[str, int]]:
        out = {}
        for k, v in sorted(self.n.items()):
            s = snap.get(k, [0, 0, 0])
            d = [a - b for a, b in zip(v, s, strict=True)]
            if d[0]:
                out[k] = {"tlps": d[0], "payload_bytes": d[1], "link_bytes": d[2]}
        return out


# -- the frame driver -----------------------------------------------------------------------


@dataclass
class Drive:
    """What the input side saw: per frame, when its first beat was offered and when its last
    beat was taken (ns), and the clocks frames waited for tready."""

    t_offer: list[float] = field(default_factory=list)
    t_in: list[float] = field(default_factory=list)
    stalls: int = 0


async def drive(dut: Any, frames: list[bytes], start_clk: list[int], d: Drive) -> None:
    """Frame k is offered at user clock start_clk[k] after the first (or as soon as the
    previous one is in, if the input is behind); tready low counts as a stall clock. Like
    tb.lib.coredma.drive_at_line_rate, with per-frame times and idle gaps waited in one
    trigger."""
    clk = 0
    dut.s_axis_rx_tvalid.value = 0
    for k, frame in enumerate(frames):
        if start_clk[k] > clk:
            await ClockCycles(dut.clk, start_clk[k] - clk)
            clk = start_clk[k]
        d.t_offer.append(get_sim_time("ns"))
        nb = (len(frame) + 7) // 8
        for b in range(nb):
            beat = frame[8 * b : 8 * b + 8]
            dut.s_axis_rx_tdata.value = int.from_bytes(beat, "little")
            dut.s_axis_rx_tkeep.value = (1 << len(beat)) - 1
            dut.s_axis_rx_tlast.value = int(b == nb - 1)
            dut.s_axis_rx_tuser.value = 0
            dut.s_axis_rx_tvalid.value = 1
            while True:
                await ReadOnly()
                ready = bool(dut.s_axis_rx_tready.value)
                await RisingEdge(dut.clk)
                clk += 1
                if ready:
                    break
                d.stalls += 1
        d.t_in.append(get_sim_time("ns"))
        dut.s_axis_rx_tvalid.value = 0


def schedule(kind: str, sizes: list[int], spacing_ns: float = 0.0) -> list[int]:
    """Start clock of each frame (sizes include the FCS): 'load' at 10 GbE line rate (each
    frame's own wire time: frame + 8 B preamble + 12 B gap), 'idle' every spacing_ns,
    'overdrive' back to back at one 8-byte beat per clock."""
    out = []
    t = 0.0
    for s in sizes:
        out.append(math.floor(t + 0.5))
        if kind == "load":
            t += frame_period_clk(s)
        elif kind == "idle":
            t += spacing_ns / USER_CLK_NS
        else:
            t += beats(s - FCS)
    return out


# -- host side ------------------------------------------------------------------------------


class Pools:
    """Data (2048 B) + header (256 B) buffers per queue index, allocated once per run and
    reused by every point; each descriptor is a group of one (EOG)."""

    def __init__(self, h: PcieHarness) -> None:
        self.h = h
        self.by_queue: dict[int, list[RxDescriptor]] = {}
        self.hdr_bases: set[int] = set()

    def get(self, qi: int) -> list[RxDescriptor]:
        if qi not in self.by_queue:
            pool = []
            for i in range(RING):
                hdr = self.h.host.alloc_dma(HDR_BUF_BYTES, align=HDR_BUF_BYTES)
                self.hdr_bases.add(hdr)
                pool.append(
                    RxDescriptor(
                        self.h.host.alloc_dma(BUF_BYTES, align=64),
                        hdr,
                        (0xBE << 24) + (qi << 16) + i,
                        BUF_BYTES,
                        HDR_BUF_BYTES,
                        DescFlags.EOG,
                    )
                )
            self.by_queue[qi] = pool
        return self.by_queue[qi]


@dataclass
class Bench:
    """One point's harness, driver, TLP tally, buffers and stimulus RNG."""

    dut: Any
    h: PcieHarness
    drv: NicDriver
    tally: TlpTally
    pools: Pools
    rng: random.Random


class Host:
    """One queue's NAPI-like host: polls every ``poll_ns`` (the job's, default POLL_NS),
    collects up to POLL_BUDGET completions, checks them (``on_done``) and gives their buffers
    back once it holds ``refill_batch`` of them (default 1: all it got, at once), with one
    DESC_TAIL doorbell."""

    def __init__(self, q: RxQueue, on_done: Callable[[RxDone], None]) -> None:
        self.q, self.on_done = q, on_done
        self.held: list[RxDescriptor] = []
        self.stop = False

    async def serve(self, flush: bool = False) -> int:
        got = await self.q.poll(budget=POLL_BUDGET)
        for r in got:
            self.on_done(r)
            self.held += r.descs
        if self.held and (flush or len(self.held) >= JOB.get("refill_batch", 1)):
            await self.q.post(self.held)
            self.held = []
        return len(got)

    async def loop(self) -> None:
        while not self.stop:
            await Timer(JOB.get("poll_ns", POLL_NS), "ns")
            await self.serve()

    async def finish(self, task: Any) -> None:
        """Stop the loop, then poll until nothing is left and give every buffer back."""
        self.stop = True
        await task
        while await self.serve(flush=True):
            pass


def cpl_times(writes: list[Any], q: RxQueue) -> list[float]:
    """Landing time of each completion record of ``q``, in ring order (a coalesced write
    lands several at once)."""
    lo, hi = q.cpl_base, q.cpl_base + q.cpl_entries * 32
    out: list[float] = []
    for w in writes:
        if lo <= w.addr < hi:
            slot = (w.addr - lo) // 32
            assert slot == len(out) % q.cpl_entries, (slot, len(out))
            out += [w.time_ns] * (len(w.data) // 32)
    return out


async def run_point(b: Bench, task: dict[str, Any]) -> dict[str, Any]:
    h, drv, dut = b.h, b.drv, b.dut
    kind = task["kind"]
    nq = task.get("queues", 1)
    mode = PlacementMode[task["mode"]]
    h.host.read_latency_ns = float(task["read_latency_ns"])
    warm, n = task["warmup"], task["frames"]
    total = warm + n
    if task["size"] == "imix":
        sizes = imix_sizes(total, b.rng)
    else:
        sizes = [int(task["size"])] * total
    need = DATA_OFFSET + max(sizes) - FCS
    mergeable = need > BUF_BYTES
    # -- queues
    queues: list[RxQueue] = []
    owners: list[Owner] = []
    gidx: list[list[int]] = []
    for qi in range(nq):
        q = await drv.open_queue(
            qi, desc_entries=RING, data_offset=DATA_OFFSET, mode=mode, mergeable=mergeable
        )
        await q.set_moderation(MOD_PACKETS, MOD_CYCLES)
        await q.enable_irq(qi)
        pool = b.pools.get(qi)
        queues.append(q)
        owners.append(Owner(q, qmac(qi), pool, every=1, slot=0))
        gidx.append([])
        await q.post(pool)
    rings = [(q.cpl_base, q.cpl_base + q.cpl_entries * 32) for q in queues]
    hdrs = b.pools.hdr_bases

    def classify(addr: int) -> str:
        for lo, hi in rings:
            if lo <= addr < hi:
                return "rq_cpl_write"
        base = addr & ~(HDR_BUF_BYTES - 1)
        return "rq_hdr_write" if base in hdrs else "rq_data_write"

    b.tally.classify = classify
    await h.barrier()
    await Timer(3000, "ns")  # the descriptor caches fill
    # -- frames
    frames: list[bytes] = []
    for k, s in enumerate(sizes):
        qi = 0 if nq == 1 else b.rng.randrange(nq)
        f = make_frame(b.rng, s - FCS, dst=qmac(qi), v4udp=True)
        owners[qi].frames.append(f)
        gidx[qi].append(k)
        frames.append(f)
    starts = schedule(kind, sizes, task.get("spacing_ns", 0.0))
    # -- snapshots
    c0 = await drv.counters()
    qc0 = [await q.counters() for q in queues]
    w0, m0 = len(h.host.writes), len(h.host.msis)
    tl0 = b.tally.snapshot()
    done: list[list[int]] = [[] for _ in range(nq)]  # frame index of each completion, per queue
    hdr_lens: list[int] = []
    desc_counts: list[int] = []

    def on_done_of(qi: int) -> Callable[[RxDone], None]:
        o = owners[qi]

        def on_done(r: RxDone) -> None:
            check_delivery(h, o, r, exact=False)
            done[qi].append(gidx[qi][o.matched - 1])
            hdr_lens.append(r.cpl.hdr_len)
            desc_counts.append(r.cpl.desc_count)

        return on_done

    hosts = [Host(q, on_done_of(i)) for i, q in enumerate(queues)]
    loops = [cocotb.start_soon(hq.loop()) for hq in hosts]
    d = Drive()
    sim0 = get_sim_time("ns")
    await drive(dut, frames, starts, d)
    await Timer(DRAIN_NS, "ns")
    # then until every frame is accounted for (completed or dropped), so that a late
    # completion is told apart from a drop
    per_queue = [len(o.frames) for o in owners]
    for _ in range(SETTLE_MAX_NS // 1000):
        qd = [await q.counters() for q in queues]
        if all(len(done[i]) + qd[i].drops - qc0[i].drops >= per_queue[i] for i in range(nq)):
            break
        await Timer(1000, "ns")
    for hq, lp in zip(hosts, loops, strict=True):
        await hq.finish(lp)
    # -- results
    tlps = b.tally.since(tl0)
    c1 = await drv.counters()
    qc1 = [await q.counters() for q in queues]
    writes = h.host.writes[w0:]
    msis = len(h.host.msis) - m0
    t_cpl: list[float | None] = [None] * total
    for i, q in enumerate(queues):
        times = cpl_times(writes, q)
        assert len(times) >= len(done[i]), (len(times), len(done[i]))
        for j, k in enumerate(done[i]):
            t_cpl[k] = times[j]
    for q in queues:
        await q.close()
    h.host.writes.clear()
    h.host.read_log.clear()
    h.host.msis.clear()
    meas = range(warm, total)
    window_end = d.t_in[-1] + DRAIN_NS
    delivered = [k for k in meas if t_cpl[k] is not None and t_cpl[k] <= window_end]  # type: ignore[operator]
    late = [k for k in meas if t_cpl[k] is not None and t_cpl[k] > window_end]  # type: ignore[operator]
    lat = [t_cpl[k] - d.t_in[k] for k in delivered]  # type: ignore[operator]
    done_t = [t for k in meas if (t := t_cpl[k]) is not None]
    first, last = meas[0], meas[-1]
    # the input span of the measured frames: first offered .. last offered + its own period
    # at the point's rate, so that frames offered on schedule give exactly the offered span
    own = (starts[last] - starts[last - 1]) * USER_CLK_NS if last > 0 else 0.0
    if kind == "load":
        own = frame_period_clk(sizes[last]) * USER_CLK_NS
    span = d.t_offer[last] - d.t_offer[first] + own
    drops = {
        r.name.lower(): c1.drops[r] - c0.drops[r] for r in c1.drops if c1.drops[r] - c0.drops[r]
    }
    res: dict[str, Any] = {
        "frames_total": total,
        "frames_delivered": len(delivered),
        "frames_late": len(late),
        "frames_missing": n - len(delivered) - len(late),
        "cpl_span_ns": (max(done_t) - min(done_t)) if len(done_t) > 1 else None,
        "wire_bytes_offered": sum(sizes[k] + 20 for k in meas),
        "wire_bytes_delivered": sum(sizes[k] + 20 for k in delivered),
        "input_span_ns": span,
        "offered_span_ns": (starts[last] - starts[first]) * USER_CLK_NS + own,
        "input_stall_clocks": d.stalls,
        "latency_ns": summarize(lat),
        "drain_ns": max(done_t) - d.t_in[-1] if done_t else None,
        "counters": {
            "packets": sum(b1.packets - b0.packets for b0, b1 in zip(qc0, qc1, strict=True)),
            "drops": sum(b1.drops - b0.drops for b0, b1 in zip(qc0, qc1, strict=True)),
            "drop_reasons": drops,
            "rx_frames": c1.rx_frames - c0.rx_frames,
        },
        "requests": tlps,
        "msix": msis,
        "hdr_len_mean": sum(hdr_lens) / len(hdr_lens) if hdr_lens else 0.0,
        "desc_per_frame": sum(desc_counts) / len(desc_counts) if desc_counts else 0.0,
        "mergeable": mergeable,
        "sim_traffic_ns": get_sim_time("ns") - sim0,
    }
    if kind == "idle" or task["size"] == 64:
        res["latencies_ns"] = [round(x, 1) for x in lat[:RAW_LATENCY_MAX]]
    return res


def load_job() -> dict[str, Any]:
    path = os.environ.get("SPLITRX_BENCH_JOB")
    if not path:
        return {"tasks": []}
    with open(path) as f:
        job: dict[str, Any] = json.load(f)
    return job


JOB = load_job()  # read at import: one cocotb test per point


def point_rng(task: dict[str, Any]) -> random.Random:
    """Each point's stimulus depends only on the seed and the point, not on which job or
    in which order it runs."""
    return random.Random(f"{JOB['seed']}:{json.dumps(task, sort_keys=True)}")


def record(res: dict[str, Any]) -> None:
    """Append one point's result (a JSON line) and update the progress count."""
    with open(os.environ["SPLITRX_BENCH_RESULT"], "a") as f:
        f.write(json.dumps(res) + "\n")
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(os.environ["SPLITRX_BENCH_RESULT"]) as f:
            done = sum(1 for _ in f)
        with open(path, "w") as f:
            f.write(f"{done} {len(JOB['tasks'])}\n")


def mrrs_mps(dut: Any) -> tuple[int, int]:
    return 128 << int(dut.cfg_max_read_req.value), 128 << int(dut.cfg_max_payload.value)


async def fresh_harness(dut: Any, queues: int) -> tuple[PcieHarness, NicDriver]:
    """Reset, enumerate and probe (a new harness per point, so no point inherits another's
    state); MSI-X on, one steering entry and vector per queue, promiscuous off."""
    h, drv = await setup(dut, read_latency_ns=1000.0, max_payload=JOB["mps"])
    await h.enable_msix()
    await drv.set_promisc(False)
    for qi in range(queues):
        await drv.set_msix_vector(qi, MSI_BASE, 0x40 + qi)
        await drv.set_steer_entry(qi, qmac(qi), qi)
    return h, drv


@cocotb.test()
@cocotb.parametrize(point=list(range(len(JOB["tasks"]))))
async def core_points(dut: Any, point: int) -> None:
    """One point of the job on splitrx_core (a failure is recorded with the point)."""
    task = JOB["tasks"][point]
    w0, cpu0 = time.perf_counter(), time.process_time()
    h, drv = await fresh_harness(dut, 8)
    pools = Pools(h)
    for qi in range(task.get("queues", 1)):  # allocated first: addresses do not depend on
        pools.get(qi)  # the point's history
    b = Bench(dut, h, drv, TlpTally(h), pools, point_rng(task))
    mrrs, mps = mrrs_mps(dut)
    setup_wall = time.perf_counter() - w0
    w0, s0, cpu1 = time.perf_counter(), get_sim_time("ns"), time.process_time()
    try:
        res = await run_point(b, task)
        res["error"] = None
    except Exception as exc:  # noqa: BLE001 - a failed point is reported, the rest run
        dut._log.exception("point %s failed", task)
        res = {"error": f"{type(exc).__name__}: {exc}"}
    res.update(
        task=task,
        mps=mps,
        mrrs=mrrs,
        dma_cpl_flush_clocks=regmap.DMA_CPL_FLUSH.fields["cycles"].reset,
        dma_desc_wait_clocks=regmap.DMA_DESC_WAIT.fields["cycles"].reset,
        setup_wall_s=setup_wall,
        setup_cpu_s=cpu1 - cpu0,
        wall_s=time.perf_counter() - w0,
        cpu_s=time.process_time() - cpu1,  # the simulator process: Verilator + Python
        sim_ns=get_sim_time("ns") - s0,
    )
    record(res)


@cocotb.test()
@cocotb.parametrize(point=list(range(len(JOB["tasks"]))))
async def system_points(dut: Any, point: int) -> None:
    """Frames from the XGMII wire through splitrx_top at line rate (back to back with the
    minimum 12-byte gap, played from splitrx_feed_top's ring of words) into one FULL queue
    (1 us descriptor reads, NAPI-like host loop with model check) until the host has polled
    every completion: wall time, simulated time and the latency from each frame's last wire
    byte to its completion in host memory."""
    from cocotbext.eth import XgmiiFrame

    from tb.lib.xgmii import XgmiiFeed

    task = JOB["tasks"][point]
    rng = point_rng(task)
    h, drv = await fresh_harness(dut, 1)
    wire = XgmiiFeed(dut, dut.mac_clk)  # splitrx_feed_top: frames go to its ring of words
    mrrs, mps = mrrs_mps(dut)
    size, n = int(task["size"]), task["frames"]
    h.host.read_latency_ns = float(task["read_latency_ns"])
    mergeable = DATA_OFFSET + size - FCS > BUF_BYTES
    q = await drv.open_queue(0, desc_entries=RING, data_offset=DATA_OFFSET, mergeable=mergeable)
    await q.set_moderation(MOD_PACKETS, MOD_CYCLES)
    await q.enable_irq(0)
    o = Owner(q, qmac(0), Pools(h).get(0), every=1, slot=0)
    await q.post(o.pool)
    await h.barrier()
    await Timer(3000, "ns")
    o.frames = [make_frame(rng, size - FCS, dst=qmac(0), v4udp=True) for _ in range(n)]
    for k in range(n):  # the expected parse goes with the stimulus, outside the timed window
        o.meta(k)
    c0 = await q.counters()
    w0 = len(h.host.writes)
    order: list[int] = []

    def on_done(r: RxDone) -> None:
        check_delivery(h, o, r, exact=False)
        order.append(o.matched - 1)

    ends: list[float] = [math.nan] * n  # last wire byte (FCS) of each frame, ns

    def sent_of(k: int) -> Callable[[Any], None]:
        # the source sends a copy of the frame: the callback, not the object, says when
        def sent(fr: Any) -> None:
            ends[k] = get_time_from_sim_steps(fr.sim_time_end, "ns")

        return sent

    wall0, sim0, cpu0 = time.perf_counter(), get_sim_time("ns"), time.process_time()
    host = Host(q, on_done)
    loop = cocotb.start_soon(host.loop())
    for k, f in enumerate(o.frames):
        await wire.send(XgmiiFrame.from_payload(f, tx_complete=sent_of(k)))
    await wire.wait()
    for _ in range(SETTLE_MAX_NS // 500):  # until the host has every completion
        if len(order) >= n:
            break
        await Timer(500, "ns")
    await host.finish(loop)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    sim = get_sim_time("ns") - sim0
    c1 = await q.counters()
    times = cpl_times(h.host.writes[w0:], q)
    lat = [times[j] - ends[k] for j, k in enumerate(order)]
    record(
        {
            "task": task,
            "frames_sent": n,
            "frames_delivered": len(order),
            "drops": c1.drops - c0.drops,
            "wall_s": wall,
            "cpu_s": cpu,
            "sim_ns": sim,
            "latency_ns": summarize(lat),
            "latencies_ns": [round(x, 1) for x in lat[:RAW_LATENCY_MAX]],
            "mps": mps,
            "mrrs": mrrs,
            "error": None,
        }
    )


@cocotb.test()
@cocotb.parametrize(point=list(range(len(JOB["tasks"]))))
async def pinned_points(dut: Any, point: int) -> None:
    """Pinned pages per owner over time: guests on the page constructor (sw/page_pool.py)
    behind the system rig, IMIX frames from the XGMII wire back to back, the host served at
    each interrupt, every frame checked by the rig's scoreboard; each owner's pinned pages
    and the buffers the NIC holds sampled every ``sample_ns`` of simulated time, from before
    the first frame until every frame is served. Owners marked ``teardown`` are torn down
    (vhost backend closed, owner unregistered) once two thirds of the frames are through;
    the rest follow."""
    from model.records import SplitLevel
    from tb.lib.system import GuestSpec, SystemRig
    from tb.lib.traffic import scapy_frame

    task = JOB["tasks"][point]
    rng = point_rng(task)
    specs = []
    for i, o in enumerate(task["owners"]):
        specs.append(
            GuestSpec(
                o["name"], pinned_mac(i), i + 1, guest_num=o["guest_num"],
                nic_entries=o["nic_entries"], quota_pages=o["quota_pages"],
                mode=PlacementMode[o["mode"]], split_level=SplitLevel.L4,
                stalled=o.get("stalled", False), posts=o.get("posts"),
            )
        )  # fmt: skip
    w0, cpu0 = time.perf_counter(), time.process_time()
    try:
        rig = SystemRig(dut, guests=specs, read_latency_ns=float(task["read_latency_ns"]))
        await rig.start()
        sizes = imix_sizes(task["frames"], rng)
        macs = [pinned_mac(i) for i in range(len(specs))]
        shares = [o["share"] for o in task["owners"]]
        dst = rng.choices(range(len(specs)), shares, k=len(sizes))
        frames = [scapy_frame(rng, sizes[i] - FCS, i, dst=macs[d]) for i, d in enumerate(dst)]
        names = [sp.name for sp in specs]
        doomed = [o["name"] for o in task["owners"] if o.get("teardown")]
        received: dict[str, int] = {}
        refusals: dict[str, int] = {}  # buffers the pool refused for the owner's quota
        teardown_ns: dict[str, float] = {}
        t_ns: list[float] = []
        pinned: dict[str, list[int]] = {n: [] for n in names}
        held: dict[str, list[int]] = {n: [] for n in names}
        sim0 = get_sim_time("ns")

        def sample() -> None:
            t_ns.append(round(get_sim_time("ns") - sim0, 1))
            live = rig.pool.owners
            for n in names:
                st = rig.pool.stats(n) if n in live else None  # None: torn down
                pinned[n].append(st.pinned_pages if st else 0)
                held[n].append(st.in_flight if st else 0)

        async def sampler() -> None:
            while True:
                sample()
                await Timer(int(task["sample_ns"]), "ns")

        sampling = cocotb.start_soon(sampler())
        server = cocotb.start_soon(rig.serve())
        cut = len(frames) * 2 // 3 if doomed else len(frames)
        for f in frames[:cut]:
            await rig.send(f)
        if doomed:
            await rig.wire.wait()
            for n in doomed:
                g, before = await rig.retire_guest(n)
                refusals[n], received[n] = before.refusals, len(g.received)
                teardown_ns[n] = get_sim_time("ns") - sim0
            for f in frames[cut:]:
                await rig.send(f)
        await rig.wire.wait()
        t_wire = get_sim_time("ns") - sim0
        await rig.receive_all()
        await Timer(2000, "ns")  # the last buffers go back
        sampling.cancel()
        server.cancel()
        sample()
        problems = await rig.finish()
        received |= {n: len(g.received) for n, g in rig.guests.items()}
        refusals |= {n: rig.pool.stats(n).refusals for n in rig.guests}
        sent = {n: sum(1 for d in dst if d == i) for i, n in enumerate(names)}
        res: dict[str, Any] = {
            "owners": [
                {
                    **o,
                    "frames_sent": sent[o["name"]],
                    "frames_received": received[o["name"]],
                    "refusals": refusals[o["name"]],
                    "teardown_ns": teardown_ns.get(o["name"]),
                }
                for o in task["owners"]
            ],
            "t_ns": t_ns,
            "pinned_pages": pinned,
            "buffers_held": held,
            "wire_ns": t_wire,
            "frames": len(frames),
            "error": f"scoreboard: {problems[0]}" if problems else None,
        }
    except Exception as exc:  # noqa: BLE001 - reported with the point
        dut._log.exception("pinned point %s failed", task)
        res = {"error": f"{type(exc).__name__}: {exc}"}
    res.update(
        task=task,
        wall_s=time.perf_counter() - w0,
        cpu_s=time.process_time() - cpu0,
    )
    record(res)


def pinned_mac(i: int) -> str:
    return f"02:00:00:00:0c:{i:02x}"

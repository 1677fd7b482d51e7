# SPDX-License-Identifier: MIT
"""cocotb test of the core reset (DEV_CTRL.reset, docs/registers.md) in splitrx_core, under
line-rate traffic with descriptor reads in flight. Run through tests/test_core_reset.py.

Every delivered frame is checked against the reference model (tb.lib.coredma.check_delivery);
tag reuse is checked from the host's own record of when each read arrived and when the
host began to answer it."""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time

from model import regmap
from model.records import DropReason
from model.rss import INDIRECTION_ENTRIES, MS_VERIFICATION_KEY, RSS_RESET, RssConfig
from sw.nic_driver import RxDone
from tb.lib.common import seeded_rng
from tb.lib.coredma import (
    CLK_NS,
    Owner,
    check_delivery,
    drive_at_line_rate,
    host_loop,
    make_frame,
    setup,
    stocked_owner,
)

READ_NS = 1500.0  # descriptor read latency, plus up to 500 ns jitter
HELD_NS = 20_000.0  # extra latency of queue 1's reads issued just before the reset
RESET_AT_NS = 30_000.0  # after the first frame
FRAMES = 1600  # 64-byte frames at 10 GbE: 107 us
RSS_QUEUE = 5  # the indirection table's queue before the reset (never opened)


class Delivered:
    """An owner's host loop: checks each completion against the model (frames may drop
    around the reset) and records which of the owner's frames each one was."""

    def __init__(self, h: Any, o: Owner, rss: RssConfig = RSS_RESET) -> None:
        self.o = o
        self.rss = rss
        self.frames: list[int] = []  # indices into o.frames
        self.stop = [False]
        self.job = cocotb.start_soon(host_loop(o.q, o.got, self.stop, self.check))
        self.h = h

    def check(self, r: RxDone) -> None:
        check_delivery(self.h, self.o, r, exact=False, rss=self.rss)
        self.frames.append(self.o.matched - 1)

    async def end(self) -> None:
        self.stop[0] = True
        await self.job


@cocotb.test()
async def core_reset_under_traffic_reuses_no_pending_tag_and_traffic_resumes(dut: Any) -> None:
    """Two queues at 64-byte line rate, descriptor reads taking 1.5-2 us. 30 us in, the host
    resets the core while reads are in flight; the reads queue 1 issued in the last 4 us
    before it are answered 20 us late. Then: every register reads its reset value, the
    steering table is empty and the RSS table cleared; no read uses a tag whose read is
    still unanswered; the late answers do not reach the reopened queues; no DMA write lands
    in a retired queue's rings or buffers once it is quiescent; each reopened queue receives
    every frame sent to it from then on, checked byte for byte against the model; counters,
    kept across the reset, account for every frame on the wire."""
    rng = seeded_rng("core_reset")
    h, drv = await setup(dut, read_latency_ns=READ_NS, max_payload=256)
    h.host.read_jitter_ns = 500.0
    h.host.rng = random.Random(rng.random())
    # settings the reset must undo
    await drv.set_promisc(False)
    await drv.set_dma_params(cpl_flush=17)
    rss = RssConfig(MS_VERIFICATION_KEY, indirection=(RSS_QUEUE,) * INDIRECTION_ENTRIES)
    await drv.set_rss(rss.key, rss.indirection)
    macs = ("02:00:00:00:08:00", "02:00:00:00:08:01")
    old = [
        await stocked_owner(h, drv, qi, macs[qi], 128, 0xE0 + qi, every=2, slot=qi)
        for qi in range(2)
    ]
    b_ring = (old[1].q.desc_base, old[1].q.desc_base + old[1].q.desc_entries * 32)

    # the host's view of every read: (arrived, tag, began to answer)
    reads: list[list[float]] = []
    serve = h.host._serve_read
    t0 = get_sim_time("ns")

    async def serve_held(tlp: Any) -> None:
        entry = [get_sim_time("ns"), float(tlp.tag), 0.0]
        reads.append(entry)
        if b_ring[0] <= tlp.address < b_ring[1] and entry[0] >= t0 + RESET_AT_NS - 4000:
            await Timer(HELD_NS, "ns")
        entry[2] = get_sim_time("ns")
        await serve(tlp)

    h.host._serve_read = serve_held  # type: ignore[method-assign]

    # traffic: frame k to queue k % 2, started at k * period
    period = 8 * (60 + 4 + 20) / 10 / CLK_NS
    frames = []
    for k in range(FRAMES):
        o = old[k % 2]
        o.frames.append(make_frame(rng, 60, dst=o.mac, v4udp=True))
        frames.append(o.frames[-1])
    starts = [t0 + round(k * period) * CLK_NS for k in range(FRAMES)]
    loops = [Delivered(h, o, rss) for o in old]
    wire = cocotb.start_soon(drive_at_line_rate(dut, frames, period))

    await Timer(RESET_AT_NS, "ns")
    for lp in loops:
        await lp.end()
    t_reset = get_sim_time("ns")
    drops_before = [(await o.q.counters()).drops for o in old]
    retiring = await drv.reset_core()
    assert retiring == [o.q for o in old]
    st = await h.read_reg(regmap.DEV_STATUS.offset)
    assert regmap.DEV_STATUS.fields["core_resets"].get(st) == 1, hex(st)
    assert regmap.DEV_STATUS.fields["reset_busy"].get(st) == 0, hex(st)
    for reg in (regmap.STEER_CTRL, regmap.DMA_CPL_FLUSH, regmap.RSS_CTRL, regmap.RSS_KEY):
        assert await h.read_reg(reg.offset) == reg.reset, reg
    for qi in range(regmap.RXQ.entries):
        for name in ("CTRL", "DESC_BASE_LO", "DESC_TAIL", "CPL_BASE_LO", "CPL_HEAD", "IRQ"):
            got = await h.read_reg(regmap.RXQ.addr(qi, name))
            assert got == regmap.RXQ.regs[name].reset, (qi, name, hex(got))
    # promiscuous again (its reset value): frames go to the cleared indirection table's
    # queue 0, which is disabled; none to RSS_QUEUE
    await Timer(2000, "ns")
    await drv.set_promisc(False)
    t_promisc_off = get_sim_time("ns")

    retired: dict[int, float] = {}
    new: dict[int, Owner] = {}
    new_loops: list[Delivered] = []
    ready: dict[int, float] = {}

    async def reopen(qi: int) -> None:
        await old[qi].q.retire()
        retired[qi] = get_sim_time("ns")
        o = await stocked_owner(h, drv, qi, macs[qi], 128, 0xE2 + qi, every=2, slot=qi)
        ready[qi] = get_sim_time("ns")
        o.frames = old[qi].frames
        # frames that left before the reset can only have gone to the retired queue
        o.matched = sum(1 for k in range(qi, FRAMES, 2) if starts[k] < t_reset)
        new[qi] = o
        new_loops.append(Delivered(h, o))

    jobs = [cocotb.start_soon(reopen(qi)) for qi in range(2)]
    stalls = await wire
    await Timer(5000, "ns")
    for j in jobs:
        await j
    for lp in new_loops:
        await lp.end()

    # tags: no read used a tag between another read's arrival with it and its answer
    held = [r for r in reads if r[2] - r[0] >= HELD_NS]
    in_flight = [r for r in held if r[0] < t_reset < r[2]]
    assert in_flight, f"no read of queue 1 was held across the reset: {len(held)} held"
    overlap = [
        (a, b) for a in held for b in reads if b is not a and b[1] == a[1] and a[0] < b[0] <= a[2]
    ]
    assert not overlap, overlap[:3]
    after = [r for r in reads if t_reset < r[0] < max(r2[2] for r2 in held)]
    assert len(after) >= 4, f"only {len(after)} reads while held reads were outstanding"

    # the retired queues: nothing written into their rings or buffers once quiescent
    for qi, o in enumerate(old):
        spans = [(d.data_addr, d.data_addr + d.data_len) for d in o.pool]
        spans += [(d.hdr_addr, d.hdr_addr + d.hdr_len) for d in o.pool]
        spans.append((o.q.cpl_base, o.q.cpl_base + o.q.cpl_entries * 32))
        stray = [
            w
            for w in h.host.writes
            if w.time_ns >= retired[qi] and any(a <= w.addr < b for a, b in spans)
        ]
        assert stray == [], (qi, stray[:3])

    # the reopened queues: every frame sent to them once ready was delivered
    for qi, o in new.items():
        lp = next(lp for lp in new_loops if lp.o is o)
        due = [j for j, k in enumerate(range(qi, FRAMES, 2)) if starts[k] > ready[qi] + 1000]
        missing = sorted(set(due) - set(lp.frames))
        dut._log.info(
            "queue %d: retired %.0f ns after the reset, ready after %.0f ns; %d frames "
            "delivered before the reset, %d after (%d due after ready, %d missing)",
            qi, retired[qi] - t_reset, ready[qi] - t_reset, len(loops[qi].frames),
            len(lp.frames), len(due), len(missing),
        )  # fmt: skip
        assert len(due) > 100 and not missing, missing[:10]

    # steering table emptied: queue 1's frames between promiscuous off and its new entry
    # were filtered; RSS table cleared: nothing went to RSS_QUEUE
    total = await drv.counters()
    filtered = total.drops[DropReason.FILTERED]
    b_gap = sum(1 for k in range(1, FRAMES, 2) if t_promisc_off + 500 < starts[k] < ready[1] - 4000)
    dut._log.info("counters %s; queue 1 frames while unsteered %d; stalls %d", total, b_gap, stalls)
    assert b_gap > 10 and filtered >= b_gap, (filtered, b_gap)
    rss_q = await drv.read_counter64(regmap.RXQ, RSS_QUEUE, "DROPS")
    assert rss_q == 0, rss_q
    # queue 0 dropped nothing before the reset (queue 1's held reads cost it buffers)
    assert drops_before[0] == 0, drops_before
    assert total.rx_frames + total.total_drops == FRAMES, total
    assert stalls == 0
    assert h.host.faults == [], h.host.faults[:3]

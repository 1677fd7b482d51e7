# SPDX-License-Identifier: MIT
"""cocotb tests of the RX DMA engine in splitrx_core (docs/dma.md): frames in on the
MAC-side stream, descriptors read from host memory with latency, frames placed in every
mode over groups, completions and interrupts written back. Run through tests/test_rx_dma.py.

The expected bytes and completion of every frame come from the reference model
(model.nic_model, written from docs/dma.md) fed with the reference parser's verdicts
(tb.lib.parse_ref, from scapy), never from the RTL. Host memory is compared byte for byte,
including the poison around every buffer."""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time

from model import regmap
from model.nic_model import QueueState, predict_frame
from model.records import (
    CPL_BYTES,
    CplStatus,
    DescFlags,
    DropReason,
    PlacementMode,
    QueueError,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
)
from sw.nic_driver import RxQueue
from sw.vhost import DEFAULT_MIN_BUFFER as VHOST_MIN_BUFFER
from sw.xsk_owner import DEFAULT_MIN_BUFFER as XSK_MIN_BUFFER
from tb.lib.common import deadline, seeded_rng
from tb.lib.coredma import (
    CLK_NS,
    Owner,
    cfg_of,
    check_region,
    frame_source,
    line_rate_run,
    make_frame,
    make_pool,
    plain,
    poisoned,
    post_fetched,
    send,
    setup,
    stocked_owner,
    until,
    wait_done,
    wire_clk,
)
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference

#: The smallest buffer the host's guest and user-space owners accept.
MIN_BUFFER = min(VHOST_MIN_BUFFER, XSK_MIN_BUFFER)


@cocotb.test()
async def placement_matches_the_model_in_every_mode(dut: object) -> None:
    """Seeded sample of modes x split levels x frame sizes (60..9014 B) x buffer sizes
    (256..4096) x header buffer sizes (64..256) x groups of 1-3 descriptors x mergeable,
    descriptor reads split at RCB and reordered across tags: every completion equals the
    model's, every buffer holds exactly the predicted bytes and the poison around it is
    untouched."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=500.0)
    h.host.split_on_rcb = True  # descriptor reads come back 64 bytes at a time ...
    h.host.read_jitter_ns = 600.0  # ... and out of order across tags
    h.host.rng = random.Random(rng.random())
    src = frame_source(dut)
    q = await drv.open_queue(0, desc_entries=64, enable=False)
    sizes = [60, 61, 64, 127, 128, 255, 300, 1000, 1514, 2000, 4000, 9014]
    for case in range(40):
        mode = rng.choice(list(PlacementMode))
        level = rng.choice(list(SplitLevel))
        mergeable = rng.random() < 0.4
        size = rng.choice(sizes)
        buf = rng.choice([256, 512, 1024, 2048, 4096])
        hdr_buf = rng.choice([0, 64, 128, 256])
        q.data_offset = rng.choice([0, 12, 12, 33])
        await q.reset(enable=False)
        await q._write("DATA_OFFSET", bytes=q.data_offset)
        await q.configure(mode=mode, split_level=level, mergeable=mergeable)
        await q.enable()
        descs: list[RxDescriptor] = []
        regions: list[tuple[int, int]] = []
        need = q.data_offset + size
        if mergeable:
            while sum(d.data_len for d in descs) < need + buf and len(descs) < 40:
                a = poisoned(h, buf, offset=rng.randrange(4))
                hb = poisoned(h, hdr_buf) if hdr_buf and not descs else 0
                descs.append(
                    RxDescriptor(
                        a,
                        hb,
                        0xC0DE_0000 + 64 * case + len(descs),
                        buf,
                        hdr_buf if hb else 0,
                        DescFlags.EOG,
                    )
                )
                regions += [(a, buf)] + ([(hb, hdr_buf)] if hb else [])
            descs = descs[: q.desc_entries]
        else:
            n = rng.randrange(1, 4)
            for k in range(n):
                ln = rng.choice([0, buf]) if 0 < k < n - 1 else buf
                a = poisoned(h, max(ln, 1), offset=rng.randrange(4))
                hb = poisoned(h, hdr_buf) if hdr_buf and k == 0 else 0
                flags = DescFlags.EOG if k == n - 1 else DescFlags.NONE
                descs.append(
                    RxDescriptor(
                        a, hb, 0xC0DE_0000 + 64 * case + k, ln, hdr_buf if hb else 0, flags
                    )
                )
                regions += [(a, max(ln, 1))] + ([(hb, hdr_buf)] if hb else [])
        frame = make_frame(rng, size)
        meta = reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS)
        want = predict_frame(cfg_of(q), QueueState(desc_tail=len(descs)), descs, frame, meta)
        await post_fetched(h, q, descs)
        label = (
            f"case {case}: {mode.name}/{level.name} mergeable={mergeable} frame {size} B, "
            f"{len(descs)} x {buf} B buffers, header buffer {hdr_buf} B, offset {q.data_offset}"
        )
        dut._log.info(label)  # type: ignore[attr-defined]
        await send(src, frame)
        if want.completion is None:
            raise AssertionError(
                f"{label}: test setup expects a completion, model says {want.drop}"
            )
        done = await wait_done(q, f"{label}: completion")
        assert done.cpl == want.completion, (
            f"{label}:\n got      {done.cpl}\n expected {want.completion}"
        )
        assert list(done.descs) == list(want.descriptors), label
        for base, ln in regions:
            check_region(h, base, ln, want.data_writes, f"{label}: buffer 0x{base:x}")
    assert h.host.faults == []


@cocotb.test()
async def line_rate_64_byte_frames_with_1us_reads_in_every_mode(dut: object) -> None:
    """64-byte frames (60 B + FCS) at 10 GbE line rate (one every 16.8 user clocks) with
    1 us descriptor-read latency through a 128-entry ring the host refills (index and phase
    wrap 4 times): zero drops in FULL, SPLIT_HOLE and SPLIT, every completion and every byte
    as the model says, the last completion within 1 us of the last frame, and at most 0.5
    requests per frame that are not frame data (descriptor reads, completion writes,
    MSI-X)."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=1000.0, max_payload=256)
    await drv.set_promisc(False)
    n = 500
    for qi, mode in enumerate(PlacementMode):
        o = await stocked_owner(h, drv, qi, f"02:00:00:00:01:{qi:02x}", 128, 0xA0 + qi, mode=mode)
        q = o.q
        reads0, msis0, writes0 = h.host.reads, len(h.host.msis), len(h.host.writes)
        stalls, drain_ns = await line_rate_run(dut, h, [o], n, rng)
        c = await q.counters()
        cpl_writes = sum(
            1 for w in h.host.writes[writes0:] if q.cpl_base <= w.addr < q.cpl_base + 128 * 32
        )
        other = (h.host.reads - reads0) + cpl_writes + (len(h.host.msis) - msis0)
        dut._log.info(  # type: ignore[attr-defined]
            "%s: %d frames, %d delivered, %d dropped, input stalls %d clocks, descriptor reads "
            "%d, completion writes %d, non-data requests per frame %.3f, last completion %.0f "
            "ns after the last frame",
            mode.name, n, c.packets, c.drops, stalls, h.host.reads - reads0, cpl_writes,
            other / n, drain_ns,
        )  # fmt: skip
        assert (c.packets, c.drops, len(o.got)) == (n, 0, n), f"{mode.name}: {c}"
        assert stalls == 0, f"{mode.name}: the engine pushed back for {stalls} clocks"
        assert other / n <= 0.5, f"{mode.name}: {other / n:.3f} non-data requests per frame"
        assert drain_ns <= 1000, f"{mode.name}: last completion {drain_ns:.0f} ns after the input"
        await q.close()


@cocotb.test()
async def engine_places_64_byte_frames_faster_than_the_wire(dut: object) -> None:
    """Overdrive: 64-byte frames back to back at the engine's input (one 8-byte beat per
    clock, twice the wire's rate) with 0.5 us descriptor reads: no drops, and the engine
    sustains at most 15 user clocks per frame in every mode (the wire needs 16.8)."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=500.0, max_payload=256)
    await drv.set_promisc(False)
    n = 400
    for qi, mode in enumerate(PlacementMode):
        o = await stocked_owner(h, drv, qi, f"02:00:00:00:06:{qi:02x}", 256, 0xC0 + qi, mode=mode)
        q = o.q
        t0 = get_sim_time("ns")
        await line_rate_run(dut, h, [o], n, rng, period_clk=8, settle_ns=30_000)
        ring = (q.cpl_base, q.cpl_base + q.cpl_entries * 32)
        t_last = max(w.time_ns for w in h.host.writes if ring[0] <= w.addr < ring[1])
        clocks = (t_last - t0) / CLK_NS / n
        c = await q.counters()
        dut._log.info(  # type: ignore[attr-defined]
            "%s: %d frames back to back, %d delivered, %d dropped, %.2f user clocks per frame",
            mode.name, n, c.packets, c.drops, clocks,
        )  # fmt: skip
        assert (c.packets, c.drops, len(o.got)) == (n, 0, n), f"{mode.name}: {c}"
        assert clocks <= 15.0, f"{mode.name}: {clocks:.2f} user clocks per 64-byte frame"
        await q.close()


@cocotb.test()
async def one_descriptor_at_a_time_owner_does_not_slow_the_others(dut: object) -> None:
    """Two queues share a saturated wire (64-byte frames at line rate, 1 us reads); queue 1's
    host posts one descriptor at a time: queue 0 receives every frame addressed to it with
    zero drops and no back-pressure; queue 1's frames are delivered or dropped no_buffer, and
    frames on the wire = delivered + drops."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=1000.0, max_payload=256)
    await drv.set_promisc(False)
    good = await stocked_owner(h, drv, 0, "02:00:00:00:04:00", 128, 0xB0, every=2, slot=0)
    slow = await stocked_owner(h, drv, 1, "02:00:00:00:04:01", 128, 0xB1, 1, every=2, slot=1)
    slow.one_at_a_time = True
    owners = [good, slow]
    n = 600
    stalls, drain_ns = await line_rate_run(dut, h, owners, n, rng)
    cg, cs = await good.q.counters(), await slow.q.counters()
    total = await drv.counters()
    dut._log.info(  # type: ignore[attr-defined]
        "good queue: %s; one-at-a-time queue: %s; input stalls %d; drain %.0f ns",
        cg, cs, stalls, drain_ns,
    )  # fmt: skip
    assert (cg.packets, cg.drops) == (n // 2, 0), cg
    assert cs.packets + cs.drops == n // 2 and cs.packets > 0, cs
    assert total.drops[DropReason.NO_BUFFER] == cs.drops == total.total_drops, total
    assert stalls == 0 and drain_ns <= 1000, (stalls, drain_ns)


@cocotb.test()
async def minimum_size_buffer_owner_does_not_slow_the_others(dut: object) -> None:
    """Three queues share a saturated wire (frames of 60..9000 B at 10 GbE line rate, 1 us
    reads); queue 0's owner posts only the smallest buffers the host's guest and user-space
    owners accept (sw.vhost / sw.xsk_owner DEFAULT_MIN_BUFFER) as mergeable groups, so its
    frames take 1 to 32 descriptors each: queues 1 (2 KiB buffers) and 2 (4 KiB, mergeable)
    receive every frame with zero drops, every byte and completion as the model says, and
    no back-pressure; queue 0's frames are delivered intact or dropped no_buffer, and frames
    on the wire = delivered + drops."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=1000.0, max_payload=256)
    await drv.set_promisc(False)
    assert drv.caps is not None
    small = MIN_BUFFER
    offset = 12
    most = drv.caps.desc_cache * small - offset  # the longest frame one cache-full holds
    tiny = await stocked_owner(
        h, drv, 0, "02:00:00:00:09:00", 256, 0xB8, every=3, slot=0,
        buffer=small, mergeable=True, data_offset=offset,
    )  # fmt: skip
    # (at line rate the cache is refilled 8 descriptors at a time and topped up only after
    # ~1 us of quiet, so a frame of the longest size behind smaller ones may drop no_buffer;
    # frame_using_the_whole_cache_fits_after_a_quiet_microsecond shows the top-up)
    tiny.sizes = (*(s for s in (60, 300, 1514, 4000) if s < most), most)
    tiny.one_at_a_time = True  # its frames may drop: match them in order
    std = await stocked_owner(h, drv, 1, "02:00:00:00:09:01", 128, 0xB9, every=3, slot=1)
    std.sizes = (60, 576, 1514)
    jumbo = await stocked_owner(
        h, drv, 2, "02:00:00:00:09:02", 128, 0xBA, every=3, slot=2, buffer=4096, mergeable=True
    )
    jumbo.sizes = (60, 1514, 9000)
    owners = [tiny, std, jumbo]
    n = 180
    stalls, drain_ns = await line_rate_run(dut, h, owners, n, rng)
    wire = sum(wire_clk(len(f)) for o in owners for f in o.frames)
    counts = [await o.q.counters() for o in owners]
    total = await drv.counters()
    descs = [sum(len(r.descs) for r in o.got) for o in owners]
    for o, c, d in zip(owners, counts, descs, strict=True):
        dut._log.info(  # type: ignore[attr-defined]
            "queue %d (%d B buffers): %d frames sent, %d delivered, %d dropped, %.1f "
            "descriptors per delivered frame",
            o.q.index, o.pool[0].data_len, len(o.frames), c.packets, c.drops,
            d / max(len(o.got), 1),
        )  # fmt: skip
    dropped = [*tiny.skipped, *range(tiny.matched, len(tiny.frames))]
    for size in tiny.sizes:
        dut._log.info(  # type: ignore[attr-defined]
            "queue 0, %d B frames (%d descriptors each): %d sent, %d dropped",
            size, -(-(size + offset) // small), sum(len(f) == size for f in tiny.frames),
            sum(len(tiny.frames[k]) == size for k in dropped),
        )  # fmt: skip
    dut._log.info(  # type: ignore[attr-defined]
        "%d frames in %.0f user clocks of wire (%.1f per frame), input stalls %d, last "
        "completion %.0f ns after the last frame, drops %s",
        n, wire, wire / n, stalls, drain_ns, {r.name: v for r, v in total.drops.items() if v},
    )  # fmt: skip
    for o, c in zip(owners[1:], counts[1:], strict=True):
        assert (c.packets, c.drops, len(o.got)) == (len(o.frames), 0, len(o.frames)), c
        assert o.matched == len(o.frames), (o.q.index, o.matched)
    ct = counts[0]
    assert ct.packets == len(tiny.got) > 0 and ct.packets + ct.drops == len(tiny.frames), ct
    assert len(dropped) == ct.drops, (dropped, ct)
    assert max(len(r.descs) for r in tiny.got) >= 16, "no long frame reached the small buffers"
    assert total.drops[DropReason.NO_BUFFER] == ct.drops == total.total_drops, total
    assert total.rx_frames + total.total_drops == n, total
    assert stalls == 0, f"the engine pushed back for {stalls} clocks"
    assert h.host.faults == []


@cocotb.test()
async def frame_using_the_whole_cache_fits_after_a_quiet_microsecond(dut: object) -> None:
    """A queue of minimum-size mergeable buffers, fully stocked: 1 to 3 small frames leave
    the cache 1 to 3 descriptors short of its 32 (reads are of 8); after 1.5 us of quiet (the
    ~1 us top-up plus the read latency) a frame needing every cached descriptor is delivered
    whole, every time."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=500.0)
    src = frame_source(dut)
    depth = drv._caps().desc_cache
    offset = 12
    q = await drv.open_queue(0, desc_entries=256, data_offset=offset, mergeable=True)
    pool = make_pool(h, 255, 0x70, buffer=MIN_BUFFER)
    await post_fetched(h, q, pool)
    big = depth * MIN_BUFFER - offset  # exactly the whole cache
    for k in range(6):
        for _ in range(1 + k % 3):
            await send(src, make_frame(rng, 60, v4udp=True))
            done = await wait_done(q, f"round {k}: small frame", timeout_ns=20_000)
            await q.post(done.descs)
        await Timer(1500, "ns")
        frame = make_frame(rng, big, v4udp=True)
        await send(src, frame)
        done = await wait_done(q, f"round {k}: {big}-byte frame", timeout_ns=20_000)
        assert done.cpl.status == CplStatus.OK and done.cpl.desc_count == depth, done.cpl
        got = b"".join(h.mem.read(d.data_addr, d.data_len) for d in done.descs)
        assert got[offset : offset + big] == frame, f"round {k}: bytes differ"
        await post_fetched(h, q, done.descs)  # the cache refills before the next round
    c = await q.counters()
    dut._log.info("queue counters %s", c)  # type: ignore[attr-defined]
    assert (c.packets, c.drops) == (12 + 6, 0), c


@cocotb.test()
async def descriptor_read_error_stops_only_its_queue_until_reset(dut: object) -> None:
    """Queue 1's descriptor ring is unmapped: its read is answered UR, queue 1 stops with
    DESC_READ and its frames drop as queue_error, queue 0 keeps receiving; after a reset with
    the ring mapped again queue 1 receives."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut)
    src = frame_source(dut)
    await drv.set_promisc(False)
    qs = []
    for i in range(2):
        qs.append(await drv.open_queue(i, desc_entries=16))
        await drv.set_steer_entry(i, f"02:00:00:00:02:{i:02x}", i)
    bad = qs[1]
    assert h.host.domain is not None
    h.host.domain.unmap(bad.desc_base, 4096)
    bufs = [[plain(h, 0x100 * i + k) for k in range(4)] for i in range(2)]
    await qs[0].post(bufs[0])
    await bad.post(bufs[1])
    await h.barrier()
    await deadline(_until_status(bad), 50_000, "queue 1 error status")
    st = await bad.status()
    assert st.error and st.error_code == QueueError.DESC_READ, st
    f0 = make_frame(rng, 200, dst="02:00:00:00:02:00")
    f1 = make_frame(rng, 200, dst="02:00:00:00:02:01")
    await send(src, f1)
    await send(src, f0)
    done = await wait_done(qs[0], "queue 0 completion")
    assert done.cpl.cookie == bufs[0][0].cookie
    assert h.mem.read(bufs[0][0].data_addr, len(f0)) == f0
    c1 = await bad.counters()
    assert (c1.packets, c1.drops) == (0, 1), c1
    assert (await drv.counters()).drops[DropReason.QUEUE_ERROR] == 1
    h.host.domain.map(
        bad.desc_base, bad.desc_base, 4096, h.host.domain.lookup(qs[0].desc_base).perm
    )  # type: ignore[union-attr]
    lost = await bad.reset()
    await post_fetched(h, bad, lost)
    await h.barrier()
    assert not (await bad.status()).error
    await send(src, f1)
    done = await wait_done(bad, "queue 1 completion after reset")
    assert done.cpl.cookie == bufs[1][0].cookie
    assert h.mem.read(bufs[1][0].data_addr, len(f1)) == f1


async def _until_status(q: RxQueue) -> None:
    while not (await q.status()).error:
        await Timer(200, "ns")


@cocotb.test()
async def bad_programming_stops_the_queue_with_a_reason(dut: object) -> None:
    """Enabling with an unaligned ring base -> BAD_CONFIG; changing the mode while enabled ->
    CONFIG_CHANGED; a frame for an unknown queue number is dropped queue_disabled; the other
    queue keeps receiving."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut)
    src = frame_source(dut)
    await drv.set_promisc(False)
    good = await drv.open_queue(0, desc_entries=16)
    await drv.set_steer_entry(0, "02:00:00:00:03:00", 0)
    await drv.set_steer_entry(1, "02:00:00:00:03:01", 1)
    await drv.set_steer_entry(2, "02:00:00:00:03:0f", 15)  # no such queue
    q1 = await drv.open_queue(1, desc_entries=16, enable=False)
    await q1._write("DESC_BASE_LO", addr=(q1.desc_base + 8) & 0xFFFF_FFFF)
    await q1.enable()
    st = await q1.status()
    assert st.error and st.error_code == QueueError.BAD_CONFIG, st
    await q1.disable()
    await q1._write("DESC_BASE_LO", addr=q1.desc_base & 0xFFFF_FFFF)
    await q1.reset(enable=True)
    assert not (await q1.status()).error
    # mode change behind the driver's back while enabled
    await q1._write(
        "CTRL", enable=1, mode=int(PlacementMode.SPLIT), split_level=2, drop_when_empty=1
    )
    st = await q1.status()
    assert st.error and st.error_code == QueueError.CONFIG_CHANGED, st
    buf = plain(h, 0x77)
    await post_fetched(h, good, [buf])
    await h.barrier()
    for dst in ("02:00:00:00:03:01", "02:00:00:00:03:0f", "02:00:00:00:03:00"):
        await send(src, make_frame(rng, 100, dst=dst))
    done = await wait_done(good, "queue 0 completion")
    assert done.cpl.cookie == 0x77 and done.cpl.status == CplStatus.OK
    c = await drv.counters()
    assert c.drops[DropReason.QUEUE_ERROR] == 1 and c.drops[DropReason.QUEUE_DISABLED] == 1, c


@cocotb.test()
async def interrupts_follow_moderation(dut: object) -> None:
    """MODERATION packets=4: 8 frames give 2 interrupts, each after the completion records it
    announces have landed; cycles=250 alone: one interrupt about 1 us after a lone frame."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut)
    src = frame_source(dut)
    await h.enable_msix()
    await drv.set_msix_vector(3, 0xFEE0_0000, 0x4443)
    q = await drv.open_queue(0, desc_entries=32, data_offset=12)
    await q.enable_irq(3)
    await q.set_moderation(4, 0)
    seen: list[tuple[float, int]] = []  # (time, completions in memory)

    def on_msi(addr: int, data: int) -> None:
        n = 0
        while True:
            raw = h.mem.read(q.cpl_base + CPL_BYTES * n, CPL_BYTES)
            if RxCompletion.phase_of(raw) != 1 or n >= 32:
                break
            n += 1
        seen.append((get_sim_time("ns"), n))

    h.host.on_msi = on_msi
    bufs = [plain(h, 0x500 + i) for i in range(32)]
    await q.post(bufs)
    await h.barrier()
    await Timer(3000, "ns")
    for _ in range(8):
        await send(src, make_frame(rng, 100))
    await deadline(until(lambda: len(seen) >= 2), 50_000, "two interrupts")
    await Timer(3000, "ns")
    assert [n for _, n in seen] == [4, 8] or (
        len(seen) == 2 and seen[0][1] >= 4 and seen[1][1] == 8
    ), seen
    await q.set_moderation(255, 250)
    await send(src, make_frame(rng, 100))
    t0 = get_sim_time("ns")
    await deadline(until(lambda: len(seen) >= 3), 50_000, "timer interrupt")
    assert seen[2][1] == 9, seen
    assert 900 <= seen[2][0] - t0 <= 3000, (
        f"timer interrupt {seen[2][0] - t0:.0f} ns after the frame"
    )


@cocotb.test()
async def withheld_read_times_out_and_its_tag_waits_for_it(dut: object) -> None:
    """Queue 1's descriptor read is never answered: queue 1 stops with DESC_TIMEOUT after
    DMA_RD_TIMEOUT while queue 0 receives throughout, and no later read ever uses the
    unanswered tag; after a reset queue 1 receives again; a read answered Completer Abort
    stops it with DESC_READ."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=500.0)
    src = frame_source(dut)
    timeout_x256 = 32
    await drv.set_dma_params(rd_timeout_x256=timeout_x256)
    await drv.set_promisc(False)
    qs = []
    for i in range(2):
        qs.append(await drv.open_queue(i, desc_entries=16))
        await drv.set_steer_entry(i, f"02:00:00:00:05:{i:02x}", i)
    q0, q1 = qs
    fault: dict[str, str | None] = {"q1": "withhold"}

    def read_fault(addr: int, n: int) -> str | None:
        return fault["q1"] if q1.desc_base <= addr < q1.desc_base + 4096 else None

    h.host.read_fault = read_fault
    await q1.post([plain(h, 0x900 + k) for k in range(2)])
    await h.barrier()
    await Timer(200, "ns")
    held = [
        (t, tag)
        for t, tag, addr, _ in h.host.read_log
        if q1.desc_base <= addr < q1.desc_base + 4096
    ]
    assert len(held) == 1, held
    t_held, tag_held = held[0]
    # queue 0 keeps receiving while the read is outstanding; its reads avoid the tag
    bufs0 = [plain(h, 0x800 + k) for k in range(12)]
    for k in range(12):
        await post_fetched(h, q0, [bufs0[k]])
        frame = make_frame(rng, 100, dst="02:00:00:00:05:00")
        await send(src, frame)
        done = await wait_done(q0, f"queue 0 frame {k}")
        assert done.cpl.cookie == 0x800 + k
        assert h.mem.read(bufs0[k].data_addr, len(frame)) == frame
    timeout_ns = timeout_x256 * 256 * CLK_NS
    assert not (await q1.status()).error, "queue 1 stopped before its timeout"
    await deadline(_until_status(q1), 50_000, "queue 1 timeout")
    elapsed = get_sim_time("ns") - t_held
    st = await q1.status()
    assert st.error and st.error_code == QueueError.DESC_TIMEOUT, st
    # ages count 256-clock ticks of a free-running prescaler: the first tick comes 1..256
    # clocks after the read left
    tick_ns = 256 * CLK_NS
    assert timeout_ns - tick_ns <= elapsed <= timeout_ns + 1000, (elapsed, timeout_ns)
    # recovery, then a Completer Abort
    fault["q1"] = None
    lost = await q1.reset()
    await post_fetched(h, q1, lost)
    frame = make_frame(rng, 100, dst="02:00:00:00:05:01")
    await send(src, frame)
    done = await wait_done(q1, "queue 1 frame after reset")
    assert done.cpl.cookie == 0x900 and h.mem.read(lost[0].data_addr, len(frame)) == frame
    fault["q1"] = "CA"
    await q1.post([plain(h, 0x9FF)])
    await deadline(_until_status(q1), 50_000, "queue 1 error after CA")
    st = await q1.status()
    assert st.error_code == QueueError.DESC_READ, st
    later = [tag for t, tag, _, _ in h.host.read_log if t > t_held]
    assert len(later) >= 14 and tag_held not in later, (tag_held, later)
    assert h.host.faults == []


async def _reset_without_waiting(q: RxQueue) -> list[RxDescriptor]:
    """``RxQueue.reset`` by a driver that does not wait for STATUS.quiescent (one that gave
    up waiting): disable, then CTRL.reset at once, with reads of the queue still in flight."""

    async def disable_only(max_reads: int = 0) -> None:
        await q.disable()

    q.quiesce = disable_only  # type: ignore[method-assign]
    try:
        return await q.reset(enable=True)
    finally:
        del q.quiesce


@cocotb.test()
async def queue_reset_with_a_read_outstanding_does_not_reuse_its_tag(dut: object) -> None:
    """Queue 0's first descriptor read is answered 10 us late (memory read on time, the
    completion held back), queue 0 is reset while it is outstanding (STATUS.quiescent is 0)
    and re-opened with other descriptors in the same ring slots, while queue 1 receives
    64-byte frames at line rate: no read issued before the late answer uses its tag, the tag
    serves again after it; the late answer's (old) descriptors are never used: after the
    reset queue 0 receives every frame into its new descriptors, exactly as the model says,
    and nothing is ever written to the old buffers; queue 1 receives every frame."""
    rng = seeded_rng("rx_dma")
    latency_ns, hold_ns = 1000.0, 10_000.0
    h, drv = await setup(dut, read_latency_ns=latency_ns, max_payload=256)
    await drv.set_promisc(False)
    b = await stocked_owner(h, drv, 1, "02:00:00:00:0a:01", 128, 0xF1)
    a = await stocked_owner(h, drv, 0, "02:00:00:00:0a:00", 64, 0xF0, post=0)
    old, new = a.pool[:8], a.pool[8:]  # old: posted before the reset, one read of 8
    ring = (a.q.desc_base, a.q.desc_base + a.q.desc_entries * 32)
    answer_at: list[float] = []  # when the held read's completions leave the host

    def read_delay(addr: int, n: int) -> float:
        if ring[0] <= addr < ring[1] and not answer_at:
            answer_at.append(get_sim_time("ns") + hold_ns)
            return hold_ns
        return 0.0

    h.host.read_delay = read_delay
    t_reset: list[float] = []

    async def hold_and_reset() -> None:
        await Timer(2000, "ns")
        await a.q.post(old)
        await deadline(until(lambda: answer_at), 10_000, "queue 0's descriptor read")
        await a.q.disable()
        st = await a.q.status()
        assert not st.quiescent and not st.error, f"queue 0 with its read held: {st}"
        t_reset.append(get_sim_time("ns"))
        lost = await _reset_without_waiting(a.q)
        assert lost == old, lost
        await a.q.post(new)

    # phase 1: queue 1 alone on the wire while queue 0's read is held and queue 0 is reset
    job = cocotb.start_soon(hold_and_reset())
    n1 = 300
    stalls1, _ = await line_rate_run(dut, h, [b], n1, rng)
    await job
    t2 = get_sim_time("ns")
    held = [(t, tag) for t, tag, addr, _ in h.host.read_log if ring[0] <= addr < ring[1]]
    t_held, tag_held = held[0]
    t_answer = answer_at[0]
    assert [t for t, _ in held if t < t_reset[0]] == [t_held], held
    assert t_held + latency_ns <= t_reset[0] < t_answer < t2, (t_held, t_reset, t_answer, t2)
    # phase 2: both queues share the wire
    a.every, a.slot, b.every, b.slot = 2, 0, 2, 1
    n2 = 400
    stalls2, drain_ns = await line_rate_run(dut, h, [a, b], n2, rng)
    ca, cb = await a.q.counters(), await b.q.counters()
    total = await drv.counters()
    during = [tag for t, tag, _, _ in h.host.read_log if t_held < t < t_answer]
    reuse = [t for t, tag, _, _ in h.host.read_log if t > t_held and tag == tag_held]
    old_spans = [(d.data_addr, d.data_len) for d in old] + [(d.hdr_addr, d.hdr_len) for d in old]
    stray = [w for w in h.host.writes if any(x <= w.addr < x + n for x, n in old_spans)]
    dut._log.info(  # type: ignore[attr-defined]
        "tag %d held from %.0f to %.0f ns, queue 0 reset at %.0f ns; %d reads meanwhile with "
        "tags %s; tag %d next used at %.0f ns; queue 0 %s, queue 1 %s, drops %d, input "
        "stalls %d/%d, drain %.0f ns",
        tag_held, t_held, t_answer, t_reset[0], len(during), sorted(set(during)), tag_held,
        reuse[0] if reuse else -1, ca, cb, total.total_drops, stalls1, stalls2, drain_ns,
    )  # fmt: skip
    assert len(during) >= 8 and tag_held not in during, (tag_held, during)
    assert reuse and reuse[0] >= t_answer, (t_answer, reuse[:3])
    assert (ca.packets, ca.drops, len(a.got)) == (n2 // 2, 0, n2 // 2), ca
    assert a.got[0].cpl.cookie == new[0].cookie, a.got[0].cpl
    assert not {r.cpl.cookie for r in a.got} & {d.cookie for d in old}
    assert stray == [], stray[:3]
    assert (cb.packets, cb.drops, len(b.got)) == (n1 + n2 // 2, 0, n1 + n2 // 2), cb
    assert a.matched == len(a.frames) and b.matched == len(b.frames)
    assert total.total_drops == 0 and stalls1 == stalls2 == 0, (total, stalls1, stalls2)
    assert h.host.faults == []


@cocotb.test()
async def queue_reset_under_traffic_loses_nothing_elsewhere(dut: object) -> None:
    """Two queues at line rate (64-byte frames alternating); halfway, queue 1's host
    quiesces it (disable, wait for STATUS.quiescent), resets it and reposts its buffers while
    frames keep coming: queue 0 receives all of its frames with zero drops; no write lands in
    queue 1's buffers between quiescence and the repost; afterwards queue 1 receives again;
    frames sent = delivered + drops."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=1000.0, max_payload=256)
    await drv.set_promisc(False)
    owners = [
        await stocked_owner(
            h, drv, qi, f"02:00:00:00:07:{qi:02x}", 128, 0xD0 + qi, every=2, slot=qi
        )
        for qi in range(2)
    ]
    steady, reset = owners
    reset.one_at_a_time = True  # its frames may drop while it is down
    quiet: list[tuple[float, float]] = []  # (quiescent at, reposted at)

    async def reset_midway() -> None:
        await Timer(8000, "ns")
        await reset.q.quiesce()
        t_quiet = get_sim_time("ns")
        lost = await reset.q.reset(enable=True)
        t_back = get_sim_time("ns")
        await reset.q.post(lost)
        quiet.append((t_quiet, t_back))

    job = cocotb.start_soon(reset_midway())
    n = 1200
    stalls, _ = await line_rate_run(dut, h, owners, n, rng)
    await job
    t_quiet, t_back = quiet[0]
    spans = [(d.data_addr, d.data_addr + d.data_len) for d in reset.pool]
    stray = [
        w
        for w in h.host.writes
        if t_quiet <= w.time_ns < t_back and any(a <= w.addr < b for a, b in spans)
    ]
    cs, cr = await steady.q.counters(), await reset.q.counters()
    total = await drv.counters()
    dut._log.info(  # type: ignore[attr-defined]
        "steady %s, reset %s, quiet %.0f..%.0f ns, stalls %d", cs, cr, t_quiet, t_back, stalls
    )
    assert (cs.packets, cs.drops) == (n // 2, 0), cs
    assert stray == [], stray[:3]
    assert len(reset.got) > 0 and reset.got[-1].cpl.status == CplStatus.OK
    late = [r for r in reset.got if r.descs[0].cookie in {d.cookie for d in reset.pool}]
    assert late, "queue 1 received nothing after its reset"
    assert total.rx_frames + total.total_drops == n, total
    assert stalls == 0


@cocotb.test()
async def pcie_backpressure_fills_the_fifo_then_recovers(dut: object) -> None:
    """The PCIe core stops taking requests (the UltraScale+ model's RQ sink paused, so
    tready stays low, for 60 us) while 64-byte frames
    arrive at line rate: the packet FIFO fills and drops whole frames as fifo_overflow, none
    is corrupted, and once tready returns every queued frame is placed; frames sent =
    delivered + drops."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut, read_latency_ns=500.0, max_payload=256)
    q = await drv.open_queue(0, desc_entries=2048, data_offset=12)
    o = Owner(q, "02:00:00:00:00:02", make_pool(h, 2048, 0xE0), every=1, slot=0)
    o.one_at_a_time = True  # frames may drop (fifo_overflow): match them in order
    await q.post(o.pool)
    await h.barrier()
    await Timer(5000, "ns")

    async def hold() -> None:
        await Timer(2000, "ns")
        h.dev.rq_sink.pause = True
        await Timer(60_000, "ns")
        h.dev.rq_sink.pause = False

    job = cocotb.start_soon(hold())
    n = 1200
    await line_rate_run(dut, h, [o], n, rng, settle_ns=30_000)
    await job
    c = await drv.counters()
    dut._log.info(  # type: ignore[attr-defined]
        "%d frames: %d delivered, drops %s",
        n,
        c.rx_frames,
        {r.name: v for r, v in c.drops.items() if v},
    )
    assert c.drops[DropReason.FIFO_OVERFLOW] > 0, c
    assert c.rx_frames + c.total_drops == n and c.rx_frames == len(o.got), c
    assert c.total_drops == c.drops[DropReason.FIFO_OVERFLOW], c
    assert h.host.faults == []


@cocotb.test()
async def full_completion_ring_stops_only_that_queue(dut: object) -> None:
    """A host bug: CPL_HEAD written so the completion ring looks full. The next frame for
    that queue stops it with CPL_FULL (dropped queue_error) instead of stalling the engine;
    the other queue keeps receiving."""
    rng = seeded_rng("rx_dma")
    h, drv = await setup(dut)
    await drv.set_promisc(False)
    qs = []
    for i in range(2):
        q = await drv.open_queue(i, desc_entries=16)
        await drv.set_steer_entry(i, f"02:00:00:00:08:{i:02x}", i)
        await post_fetched(h, q, [plain(h, 0xA00 + 0x10 * i + k) for k in range(4)])
        qs.append(q)
    # CPL_HEAD = CPL_TAIL - entries (mod 2^16): the NIC sees 16 unconsumed records
    await h.write_reg(regmap.RXQ.addr(1, "CPL_HEAD"), (0 - 16) & 0xFFFF)
    await h.barrier()
    src = frame_source(dut)
    for i in (1, 0, 0):
        await send(src, make_frame(rng, 120, dst=f"02:00:00:00:08:{i:02x}"))
    for k in range(2):
        done = await wait_done(qs[0], f"queue 0 frame {k}")
        assert done.cpl.cookie == 0xA00 + k
    st = await qs[1].status()
    assert st.error and st.error_code == QueueError.CPL_FULL, st
    c = await drv.counters()
    assert c.drops[DropReason.QUEUE_ERROR] == 1 and c.rx_frames == 2, c

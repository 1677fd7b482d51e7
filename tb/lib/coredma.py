# SPDX-License-Identifier: MIT
"""DMA-level harness around splitrx_core (frames in on the MAC-side stream, the host behind
the PCIe model): set-up with a probed driver, frame builders, poison-checked buffers, a
line-rate frame driver and NAPI-like host loops that check every completion against the
reference model (model.nic_model, from docs/dma.md) and the reference parser (tb.lib.parse_ref)
before giving buffers back. Used by the RX DMA tests and by ``make bench``."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

from model.hostmem import POISON_BYTE
from model.nic_model import QueueConfig
from model.parse_meta import Meta
from model.records import DescFlags, RxDescriptor
from model.rss import RSS_RESET, RssConfig
from sw.nic_driver import NicDriver, RxDone, RxQueue
from tb.lib.common import deadline
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference
from tb.lib.pcie import PcieHarness
from tb.lib.scoreboard import CompletionMismatch, match_completion

GUARD = 16  # poison bytes checked on each side of every buffer
CLK_NS = 4  # PCIe user clock, 250 MHz


async def setup(dut: object, **kw: object) -> tuple[PcieHarness, NicDriver]:
    h = PcieHarness(dut, **kw)  # type: ignore[arg-type]
    await deadline(h.enumerate(), 50_000, "end of reset and enumeration")
    assert h.host.domain is not None
    drv = NicDriver(h, h.mem, h.host.domain)
    # promiscuous: with no steering entry every frame goes to the RSS queue, queue 0
    await drv.probe(promisc=True)
    return h, drv


def frame_source(dut: object) -> AxiStreamSource:
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_rx"), dut.clk, dut.rst)  # type: ignore[attr-defined]
    src.log.setLevel("WARNING")
    return src


async def send(src: AxiStreamSource, frame: bytes) -> None:
    beats = (len(frame) + 7) // 8
    await src.send(AxiStreamFrame(frame, tuser=[0] * beats))


def make_frame(
    rng: random.Random, size: int, dst: str = "02:00:00:00:00:02", *, v4udp: bool = False
) -> bytes:
    """A TCP or UDP frame over IPv4 or IPv6 (``v4udp``: UDP over IPv4) of ``size`` bytes, FCS
    excluded; headers longer than the frame are cut (the parser calls that malformed)."""
    v4 = v4udp or rng.random() < 0.5
    ip = IP(src="10.0.0.1", dst="10.0.0.2") if v4 else IPv6(src="fd00::1", dst="fd00::2")
    sport = rng.randrange(1024, 65535)
    l4 = UDP(sport=sport, dport=4791) if v4udp or rng.random() < 0.5 else TCP(sport=sport, dport=80)
    hdr = Ether(src="02:00:00:00:00:01", dst=dst) / ip / l4
    pad = max(size - len(hdr), 0)
    return bytes(hdr / bytes(rng.getrandbits(8) for _ in range(pad)))[:size]


def poisoned(h: PcieHarness, size: int, align: int = 1, offset: int = 0) -> int:
    """A poison-filled buffer of ``size`` bytes with GUARD poison bytes around it."""
    base = h.host.alloc_dma(size + 2 * GUARD + align + 8, align=64) + GUARD + offset
    h.mem.poison(base - GUARD, size + 2 * GUARD)
    return base


def plain(h: PcieHarness, cookie: int, size: int = 2048) -> RxDescriptor:
    """A one-descriptor group: a mapped data buffer, no header buffer."""
    return RxDescriptor(h.host.alloc_dma(size), 0, cookie, size, 0, DescFlags.EOG)


def cfg_of(q: RxQueue) -> QueueConfig:
    """The model's view of the queue the driver opened (and enabled)."""
    return QueueConfig(
        desc_base=q.desc_base,
        desc_size_log2=q.desc_log2,
        cpl_base=q.cpl_base,
        cpl_size_log2=q.cpl_log2,
        data_offset=q.data_offset,
        enabled=True,
        mode=q.mode,
        split_level=q.split_level,
        mergeable=q.mergeable,
        drop_when_empty=q.drop_when_empty,
    )


async def post_fetched(h: PcieHarness, q: RxQueue, descs: Sequence[RxDescriptor]) -> None:
    """Post and give the NIC time to fetch: with DMA_DESC_WAIT at its default 0, a frame
    whose descriptor is still being read is dropped (no_buffer) instead of holding up the
    engine."""
    await q.post(descs)
    await h.barrier()
    await Timer(h.host.read_latency_ns + h.host.read_jitter_ns + 500, "ns")


async def wait_done(q: RxQueue, what: str, timeout_ns: float = 200_000) -> RxDone:
    async def wait() -> RxDone:
        while not (got := await q.poll(budget=1)):
            await Timer(200, "ns")
        return got[0]

    return await deadline(wait(), timeout_ns, what)


def check_region(
    h: PcieHarness, base: int, size: int, writes: Sequence[tuple[int, bytes]], what: str
) -> None:
    """[base - GUARD, base + size + GUARD) holds poison except the predicted writes."""
    lo = base - GUARD
    want = bytearray([POISON_BYTE]) * (size + 2 * GUARD)
    for addr, data in writes:
        if lo <= addr < lo + len(want):
            want[addr - lo : addr - lo + len(data)] = data
    got = h.mem.read(lo, len(want))
    if got != bytes(want):
        i = next(k for k in range(len(want)) if got[k] != want[k])
        raise AssertionError(
            f"{what}: first difference at buffer{i - GUARD:+d}: got {got[i : i + 16].hex()} "
            f"expected {bytes(want[i : i + 16]).hex()}"
        )


async def until(cond: object) -> None:
    while not cond():  # type: ignore[operator]
        await Timer(500, "ns")


def wire_clk(size: int) -> float:
    """User clocks a frame of ``size`` bytes (FCS excluded) takes on a 10 GbE wire, with its
    FCS, preamble and inter-frame gap."""
    return 8 * (size + 4 + 20) / 10 / CLK_NS


def _schedule(frames: Sequence[bytes], period_clk: float | None) -> list[int]:
    if period_clk is not None:
        return [round(k * period_clk) for k in range(len(frames))]
    start = []
    t = 0.0
    for f in frames:
        start.append(round(t))
        t += wire_clk(len(f))
    return start


async def drive_at_line_rate(
    dut: object, frames: Sequence[bytes], period_clk: float | None = None
) -> int:
    """Frame k starts at user clock k * period_clk, or (``period_clk`` None) when the frames
    before it have taken their time on a 10 GbE wire, as a MAC delivers them; returns the
    clocks the frames waited for tready (the FIFO never pushes back unless full)."""
    d = dut
    start = _schedule(frames, period_clk)
    clk = 0
    stalls = 0
    d.s_axis_rx_tvalid.value = 0  # type: ignore[attr-defined]
    for k, frame in enumerate(frames):
        if clk < start[k]:
            await ClockCycles(d.clk, start[k] - clk)  # type: ignore[attr-defined]
            clk = start[k]
        beats = [frame[i : i + 8] for i in range(0, len(frame), 8)]
        for b, beat in enumerate(beats):
            d.s_axis_rx_tdata.value = int.from_bytes(beat.ljust(8, b"\0"), "little")  # type: ignore[attr-defined]
            d.s_axis_rx_tkeep.value = (1 << len(beat)) - 1  # type: ignore[attr-defined]
            d.s_axis_rx_tlast.value = int(b == len(beats) - 1)  # type: ignore[attr-defined]
            d.s_axis_rx_tuser.value = 0  # type: ignore[attr-defined]
            d.s_axis_rx_tvalid.value = 1  # type: ignore[attr-defined]
            while True:
                await ReadOnly()
                ready = bool(d.s_axis_rx_tready.value)  # type: ignore[attr-defined]
                await RisingEdge(d.clk)  # type: ignore[attr-defined]
                clk += 1
                if ready:
                    break
                stalls += 1
        d.s_axis_rx_tvalid.value = 0  # type: ignore[attr-defined]
    return stalls


async def host_loop(
    q: RxQueue,
    got: list[RxDone],
    stop: list[bool],
    check: Callable[[RxDone], None],
) -> None:
    """NAPI-like: every 1 us collect completions, check each, give its buffers back to the
    NIC."""
    while not stop[0]:
        await Timer(1000, "ns")
        back: list[RxDescriptor] = []
        for r in await q.poll(budget=256):
            check(r)
            got.append(r)
            back += r.descs
        if back:
            await q.post(back)


@dataclass
class Owner:
    """One queue's owner in a line-rate run: its share of the frames and its buffers. Its
    host side gives back every buffer it gets; ``one_at_a_time`` owners start with a single
    posted descriptor, so they never have more than one outstanding. Its frames have the
    run's size, or one of ``sizes`` (drawn from the run's generator)."""

    q: RxQueue
    mac: str
    pool: list[RxDescriptor]
    every: int  # frame k goes to this owner when k % every == slot
    slot: int
    one_at_a_time: bool = False
    sizes: tuple[int, ...] = ()
    frames: list[bytes] = field(default_factory=list)
    got: list[RxDone] = field(default_factory=list)
    matched: int = 0  # frames consumed by matching (a dropped frame is skipped)
    skipped: list[int] = field(default_factory=list)  # indices of the frames skipped
    metas: dict[bytes, Meta] = field(default_factory=dict)  # reference parses, by content

    def meta(self, k: int) -> Meta:
        """The reference parse of frame k, computed once per frame content (a test may
        replace ``frames``); a bench computes them with the stimulus, outside its timed
        window."""
        frame = self.frames[k]
        m = self.metas.get(frame)
        if m is None:
            m = self.metas[frame] = reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS)
        return m


def make_pool(h: PcieHarness, n: int, tag: int, buffer: int = 2048) -> list[RxDescriptor]:
    """n groups of one descriptor: a ``buffer``-byte data buffer and a 256-byte header
    buffer, cookies ``tag`` << 24 + i."""
    return [
        RxDescriptor(
            h.host.alloc_dma(buffer, align=64),
            h.host.alloc_dma(256, align=64),
            (tag << 24) + i,
            buffer,
            256,
            DescFlags.EOG,
        )
        for i in range(n)
    ]


async def stocked_owner(
    h: PcieHarness,
    drv: NicDriver,
    qi: int,
    mac: str,
    entries: int,
    tag: int,
    post: int | None = None,
    every: int = 1,
    slot: int = 0,
    buffer: int = 2048,
    **queue: object,
) -> Owner:
    """Open queue ``qi`` (``queue``: open_queue settings; data offset 12 unless given),
    steer ``mac`` to it with steering entry ``qi``, post ``post`` (default all) of
    ``entries`` ``buffer``-byte buffers (2 KiB unless given) with 256-byte header buffers,
    each a group of one, and give the NIC 3 us to fetch. The owner gets frame k of a
    line-rate run when k % every == slot."""
    queue.setdefault("data_offset", 12)
    q = await drv.open_queue(qi, desc_entries=entries, **queue)  # type: ignore[arg-type]
    await drv.set_steer_entry(qi, mac, qi)
    o = Owner(q, mac, make_pool(h, entries, tag, buffer), every=every, slot=slot)
    await q.post(o.pool[:post])
    await h.barrier()
    await Timer(3000, "ns")
    return o


def check_delivery(
    h: PcieHarness, o: Owner, r: RxDone, exact: bool, rss: RssConfig = RSS_RESET
) -> None:
    """The completion and the bytes in memory are the model's for the owner's next frame
    (``exact``), or for one of its next frames (an owner whose frames may drop), on a NIC
    with RSS settings ``rss`` (default: as out of reset)."""
    start = o.matched
    frames = ((o.frames[k], o.meta(k)) for k in range(start, len(o.frames)))
    try:
        m = match_completion(cfg_of(o.q), r, frames, h.mem.read, rss, may_drop=not exact)
    except CompletionMismatch as x:
        at = "" if x.index is None else f" frame {start + x.index}"
        raise AssertionError(f"queue {o.q.index}{at}: {x}") from None
    o.skipped += range(start, start + m.skipped)
    o.matched = start + m.skipped + 1


async def line_rate_run(
    dut: object,
    h: PcieHarness,
    owners: list[Owner],
    n: int,
    rng: random.Random,
    size: int = 60,
    period_clk: float | None = None,
    settle_ns: float = 5000,
) -> tuple[int, float]:
    """n frames of ``size`` bytes (or of their owner's ``sizes``) at 10 GbE line rate (or one
    every ``period_clk`` user clocks) spread over the owners, then ``settle_ns`` for the last
    ones; each owner's host polls every 1 us, checks every completion against the model
    before its buffers go back, and reposts. Returns (input stall clocks, ns from the last
    frame in to the last completion written)."""
    frames = []
    for k in range(n):
        o = next(o for o in owners if k % o.every == o.slot)
        f = make_frame(rng, rng.choice(o.sizes) if o.sizes else size, dst=o.mac, v4udp=True)
        o.frames.append(f)
        frames.append(f)
    stop = [False]
    pollers = []
    for o in owners:

        def check(r: RxDone, o: Owner = o) -> None:
            check_delivery(h, o, r, exact=not o.one_at_a_time)

        pollers.append(cocotb.start_soon(host_loop(o.q, o.got, stop, check)))
    stalls = await drive_at_line_rate(dut, frames, period_clk)
    t_in = get_sim_time("ns")
    await Timer(settle_ns, "ns")
    stop[0] = True
    for p in pollers:
        await p
    cpl_times = [
        w.time_ns
        for w in h.host.writes
        for o in owners
        if o.q.cpl_base <= w.addr < o.q.cpl_base + o.q.cpl_entries * 32
    ]
    return stalls, max(cpl_times) - t_in

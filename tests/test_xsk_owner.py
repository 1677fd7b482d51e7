# SPDX-License-Identifier: MIT
"""The user-space ring owner (AF_XDP-like) end to end in pure Python: app fill ring ->
kernel glue -> page constructor -> NIC driver -> FakeNic (scapy frames) -> completions ->
app completion ring. Also quota, hostile fill entries, and a virtio guest and an app side by
side on one IOMMU domain, page pool and DMA write tracker.

The two owners sit on queue 0 of two FakeNic instances sharing one HostMemory, IOMMU domain
(same requester ID), PagePool and DmaWriteTracker -- as two queues of one NIC would.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from model.fake_nic import FakeNic
from model.hostmem import PAGE_SHIFT, PAGE_SIZE, POISON_BYTE, GuestRam, HostMemory
from model.iommu import Domain, Iommu
from model.nic_model import Prediction
from model.records import DropReason, RxDescriptor
from model.tracker import DmaWriteTracker
from model.virtio import VIRTIO_NET_HDR_V1_SIZE, VirtioNetHdr
from sw.guest_virtio import GuestVirtioNetRx, RxFrame
from sw.nic_driver import NicDriver
from sw.page_pool import PagePool, UnknownOwner
from sw.vhost import VhostNetRx
from sw.xsk_owner import (
    COOKIE_OFFSET_BITS,
    ENTRY_BYTES,
    RING_CONSUMER_OFFSET,
    RING_ENTRIES_OFFSET,
    RING_PRODUCER_OFFSET,
    CompletionEntry,
    FillEntry,
    XskApp,
    XskFrame,
    XskRx,
    bind_queue,
    register_umem,
)

RID = 0x0100
T = TypeVar("T")
XSK = "xsk0"
GUEST = "guest0"
HDR = VIRTIO_NET_HDR_V1_SIZE


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_frame(size: int, tag: int = 0, dst: str = "02:00:00:00:00:0a") -> bytes:
    """An Ether/IPv4/UDP (odd tags: TCP) frame of exactly ``size`` bytes, FCS excluded."""
    l4 = TCP(sport=tag & 0xFFFF, dport=80) if tag % 2 else UDP(sport=tag & 0xFFFF, dport=9)
    hdr = Ether(dst=dst, src="02:00:00:00:00:02") / IP(dst="10.0.0.1") / l4
    pkt = hdr / Raw(bytes((tag * 13 + i) & 0xFF for i in range(size - len(hdr))))
    raw = bytes(pkt)
    assert len(raw) == size
    return raw


class Host:
    """What both owners share: host memory, the NIC's IOMMU domain, page pool, tracker."""

    def __init__(self) -> None:
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.domain: Domain = self.iommu.attach(RID)
        self.tracker = DmaWriteTracker(raise_on_violation=True)
        self.pool = PagePool(self.iommu, RID, tracker=self.tracker)

    def nic(self) -> tuple[FakeNic, NicDriver]:
        """One more RX queue of the NIC (a FakeNic on the same domain)."""
        nic = FakeNic(self.mem, self.domain, tracker=self.tracker)
        return nic, NicDriver(nic, self.mem, self.domain)

    def iova_region_mapped(self, host_base: int, size: int) -> int:
        """Pages of ``[host_base, +size)`` mapped for the NIC at the pool's IOVAs."""
        first = (host_base + self.pool.iova_offset) >> PAGE_SHIFT
        return sum(
            self.domain.lookup((first + i) << PAGE_SHIFT) is not None
            for i in range(size >> PAGE_SHIFT)
        )


class XskSide:
    """An app, its UMEM registered with the pool, bound to its own NIC queue."""

    def __init__(
        self,
        host: Host,
        *,
        owner: str = XSK,
        frames: int = 16,
        chunk_size: int = 2048,
        ring_size: int = 16,
        comp_size: int | None = None,
        nic_entries: int = 16,
        quota: int = 1024,
        data_offset: int = 0,
        min_buffer: int = 256,
        start_index: int = 0,
    ) -> None:
        self.host, self.owner = host, owner
        self.nic, self.drv = host.nic()
        self.app = XskApp(
            host.mem,
            name=owner,
            frames=frames,
            chunk_size=chunk_size,
            ring_size=ring_size,
            comp_size=comp_size,
            start_index=start_index,
        )
        umem = self.app.umem
        host.mem.poison(umem.host_base, umem.size)
        self.quota, self.nic_entries = quota, nic_entries
        self.data_offset, self.min_buffer = data_offset, min_buffer
        self.predictions: list[Prediction] = []

    async def start(self) -> XskSide:
        await self.drv.probe()
        register_umem(self.host.pool, self.owner, self.app.umem, self.quota)
        self.rx: XskRx = await bind_queue(
            self.drv,
            0,
            self.host.pool,
            self.owner,
            self.app.binding(),
            data_offset=self.data_offset,
            desc_entries=self.nic_entries,
            min_buffer=self.min_buffer,
        )
        return self

    def wire(self, frame: bytes) -> Prediction:
        """A frame arrives at this queue; its bytes are checked against the tracker."""
        p = self.nic.receive(frame)
        if p.delivered:
            self.host.tracker.check_frame(p.data_writes)
        self.predictions.append(p)
        return p

    async def deliver(self, frames: list[bytes]) -> list[XskFrame]:
        """Frames to the wire, glue services, app reads and refills, glue refills."""
        for f in frames:
            self.wire(f)
        await self.rx.service(budget=len(frames) + 1)
        got = self.app.receive()
        self.app.fill()
        await self.rx.service()
        return got

    @property
    def pinned(self) -> int:
        return self.host.pool.stats(self.owner).pinned_pages


class GuestSide:
    """A virtio guest behind vhost-net on its own NIC queue (the shape of test_vhost.Rig)."""

    def __init__(self, host: Host, *, num: int = 16, quota: int = 1024) -> None:
        self.host = host
        self.nic, self.drv = host.nic()
        self.ram = GuestRam(host.mem, 1 << 20, name=GUEST)
        host.mem.poison(self.ram.host_base, self.ram.size)
        host.tracker.add_owner_region(
            GUEST, self.ram.host_base + host.pool.iova_offset, self.ram.size
        )
        host.pool.register(GUEST, self.ram, quota)
        self.guest = GuestVirtioNetRx(self.ram, num)
        self.num = num

    async def start(self) -> GuestSide:
        await self.drv.probe()
        self.queue = await self.drv.open_queue(0, desc_entries=self.num, data_offset=HDR)
        self.backend = VhostNetRx(
            self.queue,
            self.host.pool,
            GUEST,
            self.ram,
            self.guest.layout,
            notify=self.guest.interrupt,
        )
        self.guest.kick = self.backend.kick
        self.guest.fill()
        await self.backend.service()
        return self

    def wire(self, frame: bytes) -> Prediction:
        p = self.nic.receive(frame)
        if p.delivered:
            self.host.tracker.check_frame(p.data_writes)
        return p

    async def deliver(self, frames: list[bytes]) -> list[RxFrame]:
        for f in frames:
            self.wire(f)
        await self.backend.service(budget=len(frames) + 1)
        got = self.guest.poll(budget=len(frames) + 1)
        await self.backend.service()
        return got


async def xsk(host: Host | None = None, **kw: Any) -> XskSide:
    return await XskSide(host or Host(), **kw).start()


def assert_xsk_frames(
    side: XskSide, got: list[XskFrame], sent: list[bytes], *, fresh: bool = False
) -> None:
    """Frames in order, byte-exact, at DATA_OFFSET of a chunk; the bytes before it never
    written; with ``fresh`` (first use of each chunk) none after the frame either."""
    assert [f.data for f in got] == sent
    chunk = side.app.chunk_size
    for f in got:
        assert f.offset == side.data_offset and f.addr % chunk == 0
        untouched = side.app.umem.read(f.addr, f.offset)
        if fresh:
            tail_at = f.addr + f.offset + len(f.data)
            untouched += side.app.umem.read(tail_at, f.addr + chunk - tail_at)
        assert untouched == bytes([POISON_BYTE]) * len(untouched)


# -- the path end to end --------------------------------------------------------------------


@pytest.mark.parametrize("data_offset", [0, 64])
@pytest.mark.parametrize("start_index", [0, 0xFFFF_FFF9])
def test_app_reads_scapy_frames_byte_exact_in_order_across_ring_wraps(
    data_offset: int, start_index: int
) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def go() -> None:
        s = await xsk(frames=8, ring_size=8, nic_entries=4, data_offset=data_offset,
                      start_index=start_index)  # fmt: skip
        assert s.nic.config().data_offset == data_offset
        s.app.fill()
        await s.rx.service()
        assert s.rx.in_flight == 4 and s.rx.fill_pending == 4
        first = [make_frame(n, 100 + n) for n in (60, 1514, 2048 - data_offset, 333)]
        assert_xsk_frames(s, await s.deliver(first), first, fresh=True)
        sent: list[bytes] = []
        got: list[XskFrame] = []
        while len(sent) < 60:
            n = min(rng.randint(1, 4), 60 - len(sent))
            batch = [make_frame(rng.randrange(60, 2048 - data_offset + 1), len(sent) + k)
                     for k in range(n)]  # fmt: skip
            sent += batch
            got += await s.deliver(batch)
        assert_xsk_frames(s, got, sent)
        c = await s.drv.counters()
        total = sum(map(len, first + sent))
        assert (c.rx_frames, c.rx_bytes, c.total_drops) == (64, total, 0)
        assert s.rx.stats.frames == 64 and s.app.stats.frames == 64
        assert s.host.tracker.violations == [] and s.host.iommu.faults == []
        assert s.app.comp_ring.cons == (start_index + 64) & 0xFFFF_FFFF
        assert len({f.addr for f in got}) == 8  # its own chunks, reused

    run(go())


def test_ring_layout_and_cookie_are_as_documented() -> None:
    async def go() -> None:
        s = await xsk(frames=4, ring_size=4, nic_entries=4, chunk_size=4096)
        space, fill, comp = s.app.space, s.app.fill_ring.layout, s.app.comp_ring.layout
        s.app.post([FillEntry(4096, 1000), FillEntry(0, 3000)])
        assert space.read(fill.base + RING_PRODUCER_OFFSET, 4) == (2).to_bytes(4, "little")
        raw = space.read(fill.base + RING_ENTRIES_OFFSET, 2 * ENTRY_BYTES)
        assert raw == struct.pack("<QII", 4096, 1000, 0) + struct.pack("<QII", 0, 3000, 0)
        await s.rx.service()
        assert space.read(fill.base + RING_CONSUMER_OFFSET, 4) == (2).to_bytes(4, "little")
        descs: list[RxDescriptor] = s.rx.queue.posted_descriptors
        assert [(d.cookie >> COOKIE_OFFSET_BITS, d.cookie & 0xFFFF_FFFF_FFFF) for d in descs] == [
            (0, 4096),
            (1, 0),
        ]
        assert [d.data_len for d in descs] == [1000, 3000]
        assert descs[0].data_addr == s.app.umem.host_base + 4096 + s.host.pool.iova_offset
        f = make_frame(500)
        s.wire(f)
        await s.rx.service()
        assert space.read(comp.base + RING_PRODUCER_OFFSET, 4) == (1).to_bytes(4, "little")
        raw = space.read(comp.base + RING_ENTRIES_OFFSET, ENTRY_BYTES)
        assert raw == struct.pack("<QIHH", 4096, 500, 0, 0)
        assert CompletionEntry.unpack(raw) == CompletionEntry(addr=4096, len=500, offset=0, flags=0)
        assert s.app.umem.read(4096, 500) == f

    run(go())


def test_fill_ring_running_empty_drops_frames_as_no_buffer() -> None:
    async def go() -> None:
        s = await xsk(frames=16, ring_size=16, nic_entries=16)
        s.app.fill(3)
        await s.rx.service()
        sent = [make_frame(100 + i, i) for i in range(5)]
        drops = [s.wire(f).drop for f in sent]
        assert drops == [None] * 3 + [DropReason.NO_BUFFER] * 2
        await s.rx.service()
        assert_xsk_frames(s, s.app.receive(), sent[:3])
        c = await s.drv.counters()
        assert c.drops[DropReason.NO_BUFFER] == 2 and c.rx_frames == 3
        assert s.rx.in_flight == 0 and s.pinned == 0  # all returned: nothing stays pinned
        s.app.fill()
        await s.rx.service()
        more = [make_frame(200, 9)]
        assert_xsk_frames(s, await s.deliver(more), more)

    run(go())


def test_frame_too_long_for_its_buffer_is_recycled_and_never_reaches_the_app() -> None:
    async def go() -> None:
        s = await xsk(frames=2, chunk_size=512, ring_size=2, nic_entries=2, data_offset=16)
        s.app.fill(1)
        await s.rx.service()
        first = s.rx.queue.posted_descriptors
        assert s.wire(make_frame(512 - 16 + 1)).drop is DropReason.TOO_LONG_FOR_GROUP
        await s.rx.service()
        assert s.app.receive() == [] and s.rx.stats.recycled == 1
        assert s.rx.queue.posted_descriptors == first and s.pinned == 1
        assert s.host.pool.stats(XSK).returned == 0
        fits = make_frame(512 - 16)
        assert_xsk_frames(s, await s.deliver([fits]), [fits])

    run(go())


# -- quota ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [2048, 4096])
def test_quota_below_ring_size_refuses_leaves_entries_in_the_fill_ring_and_never_overpins(
    chunk_size: int,
) -> None:
    async def go() -> None:
        quota = 4
        per_page = PAGE_SIZE // chunk_size
        s = await xsk(frames=32, chunk_size=chunk_size, ring_size=32, nic_entries=32, quota=quota)
        s.app.fill()
        await s.rx.service()
        held = quota * per_page  # two 2 KiB chunks share a page and are charged once
        st = s.host.pool.stats(XSK)
        assert s.rx.in_flight == held and st.pinned_pages == quota
        assert s.rx.stats.quota_refusals == 1 and st.refusals == 1 and st.rejected_posts == 0
        assert s.rx.fill_pending == 32 - held  # refused entry and the rest stay in the ring
        assert s.rx.stats.invalid_total == 0
        sent: list[bytes] = []
        got: list[XskFrame] = []
        for rnd in range(12):
            batch = [make_frame(200 + rnd, rnd * 8 + k) for k in range(held)]
            sent += batch
            got += await s.deliver(batch)
            assert s.pinned <= quota and s.host.pool.pinned_pages <= quota
            assert s.host.iova_region_mapped(s.app.umem.host_base, s.app.umem.size) <= quota
            assert s.rx.fill_pending == 32 - held
        assert_xsk_frames(s, got, sent)
        st = s.host.pool.stats(XSK)
        assert st.peak_pinned_pages == quota and s.nic.drops[DropReason.NO_BUFFER] == 0
        assert s.rx.stats.quota_refusals >= 12

    run(go())


# -- hostile fill entries -------------------------------------------------------------------

BAD = {
    "outside_umem": lambda s: [FillEntry(s.app.umem.size - 100, 512)],
    "ring_memory": lambda s: [FillEntry(s.app.umem.size, 512)],  # the fill ring after the UMEM
    "far_away": lambda s: [FillEntry(1 << 40, 512)],
    "wrapping": lambda s: [FillEntry((1 << 64) - 256, 512)],
    "too_small": lambda s: [FillEntry(4096, 255)],
    "empty": lambda s: [FillEntry(4096, 0)],
    "reserved": lambda s: [FillEntry(4096, 2048, reserved=1)],
    "bigger_than_quota": lambda s: [FillEntry(0, 4 * PAGE_SIZE)],
    "overlap_same_batch": lambda s: [FillEntry(4096, 2048), FillEntry(4096 + 1024, 2048)],
    "overlap_held": lambda s: [FillEntry(3 * 4096 + 100, 1024)],
}
KIND = {
    "outside_umem": "outside_umem",
    "ring_memory": "outside_umem",
    "far_away": "outside_umem",
    "wrapping": "outside_umem",
    "too_small": "too_small",
    "empty": "too_small",
    "reserved": "reserved",
    "bigger_than_quota": "too_large",
    "overlap_same_batch": "overlap",
    "overlap_held": "overlap",
}


@pytest.mark.parametrize("case", list(BAD))
def test_hostile_fill_entry_is_refused_before_the_nic_sees_it(case: str) -> None:
    async def go() -> None:
        s = await xsk(frames=8, chunk_size=4096, ring_size=16, nic_entries=16, quota=3)
        s.app.post([FillEntry(3 * 4096, 4096)])  # held by the NIC from now on
        await s.rx.service()
        good = [FillEntry(5 * 4096, 4096)]
        bad = BAD[case](s)
        s.app.post(bad + good)
        await s.rx.service()
        valid = [3 * 4096] + ([4096] if case == "overlap_same_batch" else []) + [5 * 4096]
        descs = s.rx.queue.posted_descriptors
        assert [d.cookie & 0xFFFF_FFFF_FFFF for d in descs] == valid
        iova = s.app.umem.host_base + s.host.pool.iova_offset
        assert [d.data_addr - iova for d in descs] == valid
        assert len(s.host.tracker.posted_buffers(XSK)) == len(valid)
        assert s.rx.stats.invalid == {KIND[case]: 1}
        assert s.rx.stats.last_invalid is not None
        st = s.host.pool.stats(XSK)
        assert st.handed_over == len(valid) and st.rejected_posts == 0 and st.refusals == 0
        assert s.rx.fill_pending == 0  # consumed, not retried
        assert s.pinned == len(valid) <= 3
        sent = [make_frame(300, i) for i in range(len(valid))]
        for f in sent:
            s.wire(f)
        await s.rx.service()
        got = s.app.receive()
        assert [f.data for f in got] == sent and [f.addr for f in got] == valid
        assert s.host.tracker.violations == []

    run(go())


def test_completion_ring_never_overflows_an_app_that_does_not_read() -> None:
    async def go() -> None:
        s = await xsk(frames=16, ring_size=16, comp_size=4, nic_entries=16)
        s.app.fill()
        await s.rx.service()
        assert s.rx.in_flight == 4  # one completion slot per buffer the NIC holds
        for i in range(10):
            s.wire(make_frame(100, i))
            await s.rx.service()
        assert s.rx.stats.frames == 4 and s.rx.in_flight == 0 and s.rx.stats.comp_ring_full == 0
        assert s.nic.drops[DropReason.NO_BUFFER] == 6 and s.pinned == 0
        assert [f.data for f in s.app.receive()] == [make_frame(100, i) for i in range(4)]
        await s.rx.service()
        assert s.rx.in_flight == 4

    run(go())


# -- a randomized mix -----------------------------------------------------------------------


def test_random_mix_of_good_and_bad_entries_keeps_quota_order_and_tracker_clean() -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def go() -> None:
        quota = 3
        s = await xsk(frames=16, chunk_size=2048, ring_size=16, nic_entries=8, quota=quota)
        umem = s.app.umem.size
        expected: list[bytes] = []
        got: list[bytes] = []
        for step in range(300):
            act = rng.random()
            if act < 0.25:
                s.app.fill(rng.randint(0, 4))
            elif act < 0.35:  # hostile entries only: a valid stray one would alias a chunk
                s.app.post(
                    [
                        rng.choice(
                            [
                                FillEntry(rng.randrange(umem - 299, umem + 8192), 300),
                                FillEntry(rng.randrange(0, umem - 256), rng.randrange(0, 256)),
                                FillEntry(rng.randrange(0, umem, 2048), 2048, 1 + rng.randrange(9)),
                            ]
                        )
                    ]
                )
            elif act < 0.75:
                f = make_frame(rng.randrange(60, 1515), step)
                if s.wire(f).delivered:
                    expected.append(f)
            elif act < 0.9:
                await s.rx.service(budget=rng.randint(1, 8))
            else:
                got += [f.data for f in s.app.receive(rng.randint(1, 8))]
            assert s.pinned <= quota
            assert s.host.iova_region_mapped(s.app.umem.host_base, umem) <= quota
        await s.rx.service(budget=64)
        got += [f.data for f in s.app.receive()]
        assert got == expected
        assert s.host.tracker.violations == [] and s.host.iommu.faults == []
        assert s.rx.stats.invalid_total > 0 and s.rx.stats.quota_refusals > 0
        await s.rx.teardown()
        assert s.host.pool.pinned_pages == 0 and s.host.tracker.posted_buffers() == []
        assert s.host.iova_region_mapped(s.app.umem.host_base, umem) == 0

    run(go())


# -- two owners on one NIC ------------------------------------------------------------------


async def two_owners(**xsk_kw: Any) -> tuple[Host, GuestSide, XskSide]:
    host = Host()
    g = await GuestSide(host).start()
    x = await XskSide(host, **xsk_kw).start()
    x.app.fill()
    await x.rx.service()
    return host, g, x


def test_guest_and_app_on_one_domain_each_get_exactly_their_frames_with_a_clean_tracker() -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def go() -> None:
        host, g, x = await two_owners()
        sent_g: list[bytes] = []
        sent_x: list[bytes] = []
        got_g: list[RxFrame] = []
        got_x: list[XskFrame] = []
        for rnd in range(20):
            bg: list[bytes] = []
            bx: list[bytes] = []
            for k in range(rng.randint(1, 8)):
                f = make_frame(rng.randrange(60, 1515), rnd * 16 + k)
                (bg if rng.random() < 0.5 else bx).append(f)
            sent_g += bg
            sent_x += bx
            got_g += await g.deliver(bg)
            got_x += await x.deliver(bx)
        assert [f.data for f in got_g] == sent_g
        assert all(f.hdr == VirtioNetHdr(num_buffers=1) for f in got_g)
        assert_xsk_frames(x, got_x, sent_x)
        assert host.tracker.violations == [] and host.iommu.faults == []
        assert host.tracker.write_count == len(sent_g) + len(sent_x)
        # both owners' buffers were live in the one domain at the same time
        assert host.tracker.posted_buffers(GUEST) and host.tracker.posted_buffers(XSK)
        assert g.nic.drops == x.nic.drops == {r: 0 for r in DropReason}

    run(go())


def test_a_write_into_a_returned_guest_buffer_is_caught_by_the_tracker_not_the_iommu() -> None:
    async def go() -> None:
        host, g, x = await two_owners()
        first, second = g.queue.posted_descriptors[:2]  # 2 KiB guest buffers share a page
        assert first.data_addr >> PAGE_SHIFT == second.data_addr >> PAGE_SHIFT
        g.wire(make_frame(100))
        await g.backend.process_completions()  # the first buffer is returned, not reposted
        host.tracker.raise_on_violation = False
        stray = first.data_addr + HDR
        host.iommu.dma_write(RID, host.mem, stray, b"stray")  # the page is still mapped
        host.tracker.record_write(stray, b"stray")  # what the xsk queue's DMA would report
        assert host.iommu.faults == []
        (v,) = host.tracker.violations
        assert (v.owner, v.state, v.bad_address) == (GUEST, "returned", stray)

    run(go())


@pytest.mark.parametrize("victim", ["xsk", "guest"])
def test_teardown_of_one_owner_mid_traffic_leaves_the_other_unaffected(victim: str) -> None:
    async def go() -> None:
        host, g, x = await two_owners()
        warm_g = [make_frame(400, i) for i in range(3)]
        warm_x = [make_frame(500, 10 + i) for i in range(3)]
        assert [f.data for f in await g.deliver(warm_g)] == warm_g
        assert_xsk_frames(x, await x.deliver(warm_x), warm_x)
        landed_g = [make_frame(300, 20 + i) for i in range(2)]
        landed_x = [make_frame(300, 30 + i) for i in range(2)]
        for f in landed_g:
            g.wire(f)  # landed, not yet serviced
        for f in landed_x:
            x.wire(f)
        other_before = host.pool.stats(XSK if victim == "guest" else GUEST)
        if victim == "xsk":
            chunks = len(x.app.free_chunks)
            unused = await x.rx.teardown()
            region = (x.app.umem.host_base, x.app.umem.size)
            dead_owner, dead_nic = XSK, x.nic
            assert_xsk_frames(x, x.app.receive(recycle=False), landed_x)  # what landed
            x.app.reclaim(unused)
            assert chunks + len(unused) + len(landed_x) == 16  # every chunk accounted for
        else:
            await g.backend.teardown()
            region = (g.ram.host_base, g.ram.size)
            dead_owner, dead_nic = GUEST, g.nic
            g.guest.interrupt()
            assert [f.data for f in g.guest.poll()] == landed_g
        assert dead_owner not in host.pool.owners
        assert host.iova_region_mapped(*region) == 0
        assert host.tracker.posted_buffers(dead_owner) == []
        assert not dead_nic.config().enabled
        assert dead_nic.receive(make_frame(64)).drop is DropReason.QUEUE_DISABLED
        # the survivor: untouched quota accounting, and every later frame arrives
        other = XSK if victim == "guest" else GUEST
        assert host.pool.stats(other).pinned_pages == other_before.pinned_pages
        later = [make_frame(n, 40 + i) for i, n in enumerate([64, 900, 1514, 77])]
        if victim == "xsk":
            await g.backend.service()  # what landed before the other owner's teardown
            got_g = [f.data for f in g.guest.poll()]
            await g.backend.service()
            got_g += [f.data for f in await g.deliver(later)]
            assert got_g == landed_g + later
        else:
            await x.rx.service()
            got_x = x.app.receive()
            x.app.fill()
            await x.rx.service()
            got_x += await x.deliver(later)
            assert_xsk_frames(x, got_x, landed_x + later)
        assert host.tracker.violations == [] and host.iommu.faults == []
        assert host.pool.pinned_pages == host.pool.stats(other).pinned_pages

    run(go())


def test_app_that_never_reads_starves_only_its_own_queue() -> None:
    async def go() -> None:
        host, g, x = await two_owners(comp_size=8)
        sent_g: list[bytes] = []
        got_g: list[RxFrame] = []
        for rnd in range(10):
            batch = [make_frame(700, rnd * 4 + k) for k in range(4)]
            sent_g += batch
            got_g += await g.deliver(batch)
            for k in range(4):  # the app's frames: wire only, it never reads
                x.wire(make_frame(700, 1000 + rnd * 4 + k))
            await x.rx.service()
        assert [f.data for f in got_g] == sent_g and sum(g.nic.drops.values()) == 0
        assert x.rx.stats.frames == 8 and x.nic.drops[DropReason.NO_BUFFER] == 32
        assert x.pinned == 0 and x.rx.in_flight == 0
        assert host.tracker.violations == []

    run(go())


def test_bind_refuses_an_unregistered_owner_before_opening_the_queue() -> None:
    async def go() -> None:
        host = Host()
        nic, drv = host.nic()
        await drv.probe()
        app = XskApp(host.mem, frames=4)
        with pytest.raises(UnknownOwner):
            await bind_queue(drv, 0, host.pool, XSK, app.binding())
        assert drv.queues == {} and nic.config().desc_base == 0
        register_umem(host.pool, XSK, app.umem, 8)
        with pytest.raises(ValueError):
            await bind_queue(drv, 0, host.pool, XSK, app.binding(), data_offset=256)
        assert drv.queues == {}

    run(go())

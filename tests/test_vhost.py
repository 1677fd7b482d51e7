# SPDX-License-Identifier: MIT
"""vhost-net backend end to end in pure Python: guest virtio-net driver -> backend -> page
constructor -> NIC driver -> FakeNic (scapy frames) -> completions -> used ring -> guest.
Also malicious chains, quota, recycling of too-long frames, teardown."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from model.fake_nic import FakeNic
from model.hostmem import PAGE_SIZE, POISON_BYTE, GuestRam, HostMemory
from model.iommu import Iommu
from model.nic_model import Prediction
from model.records import CsumStatus, DropReason, L3Type, RxCompletion
from model.tracker import DmaWriteTracker
from model.virtio import (
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_V1_SIZE,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VirtioNetHdr,
    VringDesc,
)
from sw.guest_virtio import GuestVirtioNetRx, RxFrame
from sw.nic_driver import NicDriver, RxQueue
from sw.page_pool import PagePool
from sw.vhost import DEFAULT_FEATURES, VhostNetRx, net_hdr_flags

RID = 0x0100
OWNER = "guest0"
HDR = VIRTIO_NET_HDR_V1_SIZE
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def make_frame(size: int, tag: int = 0, tcp: bool = False) -> bytes:
    """An Ether/IPv4/UDP (or TCP) frame of exactly ``size`` bytes, FCS excluded."""
    l4 = TCP(sport=tag & 0xFFFF, dport=80) if tcp else UDP(sport=tag & 0xFFFF, dport=9)
    hdr = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02") / IP(dst="10.0.0.1") / l4
    pkt = hdr / Raw(bytes((tag * 7 + i) & 0xFF for i in range(size - len(hdr))))
    raw = bytes(pkt)
    assert len(raw) == size
    return raw


class Rig:
    """Host memory + IOMMU + FakeNic + NIC driver + page pool + guest + backend."""

    def __init__(
        self,
        *,
        guest_num: int = 8,
        nic_entries: int = 8,
        cpl_entries: int | None = None,
        buf_size: int = 2048,
        buf_align: int = 64,
        quota: int = 1024,
        reuse: bool = True,
        start_idx: int = 0,
        ram_size: int = 1 << 20,
        min_buffer: int = 256,
        features: int = DEFAULT_FEATURES,
    ) -> None:
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.domain = self.iommu.attach(RID)
        self.tracker = DmaWriteTracker(raise_on_violation=True)
        self.nic = FakeNic(self.mem, self.domain, tracker=self.tracker)
        self.drv = NicDriver(self.nic, self.mem, self.domain)
        self.pool = PagePool(self.iommu, RID, tracker=self.tracker)
        self.ram = GuestRam(self.mem, ram_size, name=OWNER)
        self.mem.poison(self.ram.host_base, ram_size)
        self.tracker.add_owner_region(OWNER, self.ram.host_base + self.pool.iova_offset, ram_size)
        self.pool.register(OWNER, self.ram, quota)
        self.guest = GuestVirtioNetRx(
            self.ram,
            guest_num,
            buf_size=buf_size,
            buf_align=buf_align,
            reuse=reuse,
            start_idx=start_idx,
            features=features,
        )
        self.nic_entries, self.cpl_entries = nic_entries, cpl_entries
        self.min_buffer, self.features, self.start_idx = min_buffer, features, start_idx
        self.needs_reset: list[str] = []
        self.predictions: list[Prediction] = []

    async def start(self) -> Rig:
        await self.drv.probe()
        self.queue: RxQueue = await self.drv.open_queue(
            0, desc_entries=self.nic_entries, cpl_entries=self.cpl_entries, data_offset=HDR
        )
        self.backend = VhostNetRx(
            self.queue,
            self.pool,
            OWNER,
            self.ram,
            self.guest.layout,
            features=self.features,
            notify=self.guest.interrupt,
            min_buffer=self.min_buffer,
            on_needs_reset=self.needs_reset.append,
            vring_base=self.start_idx,
        )
        self.guest.kick = self.backend.kick
        return self

    def wire(self, frame: bytes) -> Prediction:
        """A frame arrives at the NIC; its placement is checked against the tracker."""
        p = self.nic.receive(frame)
        if p.delivered:
            self.tracker.check_frame(p.data_writes)
        self.predictions.append(p)
        return p

    async def deliver(self, frames: list[bytes]) -> list[RxFrame]:
        """Frames to the wire, backend services, guest polls."""
        for f in frames:
            self.wire(f)
        await self.backend.service(budget=len(frames) + 1)
        got = self.guest.poll(budget=len(frames) + 1)
        await self.backend.service()  # refill from the guest's reposts
        return got


async def rig(**kw: Any) -> Rig:
    return await Rig(**kw).start()


def assert_frames(got: list[RxFrame], sent: list[bytes]) -> None:
    assert [f.data for f in got] == sent
    for f, s in zip(got, sent, strict=True):
        assert f.hdr == VirtioNetHdr(flags=0, gso_type=0, num_buffers=1)
        assert f.used_len == HDR + len(s)


# -- the path end to end --------------------------------------------------------------------


def test_guest_reads_back_scapy_frames_byte_exact_and_nothing_else_changes() -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8)
        r.guest.fill()
        await r.backend.service()
        assert r.queue.outstanding == 8 and r.backend.in_flight == 8
        sent = [make_frame(n, i, tcp=i % 2 == 1) for i, n in enumerate([60, 64, 590, 1514, 333])]
        got = await r.deliver(sent)
        assert_frames(got, sent)
        for f in got:  # bytes after the frame are still the poison
            tail = r.ram.read(f.addr + f.used_len, 2048 - f.used_len)
            assert tail == bytes([POISON_BYTE]) * len(tail)
        c = await r.drv.counters()
        assert (c.rx_frames, c.rx_bytes, c.total_drops) == (5, sum(map(len, sent)), 0)
        assert r.backend.stats.frames == 5 and r.tracker.violations == []

    run(go())


@pytest.mark.parametrize("start_idx", [0, 0xFFFA])
def test_ring_and_phase_wrap_with_many_more_frames_than_entries(start_idx: int) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=4, cpl_entries=8, start_idx=start_idx)
        r.guest.fill()
        await r.backend.service()
        sent: list[bytes] = []
        got: list[RxFrame] = []
        while len(sent) < 100:
            batch = [
                make_frame(rng.randrange(60, 1515), len(sent) + k) for k in range(rng.randint(1, 4))
            ]
            sent += batch
            got += await r.deliver(batch)
        assert_frames(got, sent)
        assert r.nic.drops[DropReason.NO_BUFFER] == 0
        phases = [p.completion.phase for p in r.predictions if p.completion is not None]
        assert phases[:24] == [1] * 8 + [0] * 8 + [1] * 8
        assert r.guest.ring.last_used_idx == (start_idx + len(sent)) & 0xFFFF
        assert len({f.addr for f in got}) == 8  # the guest's own buffers, reused

    run(go())


def test_too_long_frame_is_recycled_and_never_seen_by_the_guest() -> None:
    async def go() -> None:
        r = await rig(guest_num=1, nic_entries=1, buf_size=512)
        r.guest.fill()
        await r.backend.service()
        first = r.queue.posted_descriptors[0]
        pinned = r.pool.stats(OWNER).pinned_pages
        big = make_frame(512 - HDR + 1)
        assert r.wire(big).drop is DropReason.TOO_LONG_FOR_GROUP
        await r.backend.service()
        assert r.guest.stats.interrupts == 0 and r.guest.ring.used_idx_in_ring == 0
        assert r.guest.poll() == []
        # the same buffer went straight back to the NIC, still pinned
        assert r.queue.posted_descriptors == [first] and r.backend.stats.recycled == 1
        assert r.pool.stats(OWNER).pinned_pages == pinned
        assert r.pool.stats(OWNER).returned == 0
        fits = make_frame(512 - HDR)
        got = await r.deliver([fits])
        assert_frames(got, [fits])
        assert (await r.drv.counters()).drops[DropReason.TOO_LONG_FOR_GROUP] == 1

    run(go())


def test_no_buffer_is_counted_when_the_guest_posts_nothing() -> None:
    async def go() -> None:
        r = await rig()
        await r.backend.service()
        got = await r.deliver([make_frame(100, i) for i in range(3)])
        assert got == [] and r.guest.stats.interrupts == 0
        c = await r.drv.counters()
        assert c.drops[DropReason.NO_BUFFER] == 3 and c.rx_frames == 0
        assert r.nic.writes == [] and r.queue.tail == 0

    run(go())


# -- malicious chains -----------------------------------------------------------------------


def publish(g: GuestVirtioNetRx, head: int) -> None:
    """Put ``head`` in the avail ring by hand (the guest's own ``add_buf`` would refuse)."""
    lay, ring = g.layout, g.ring
    idx = ring._avail_idx_shadow
    g.ram.write(lay.avail_ring_addr(idx % lay.num), head.to_bytes(2, "little"))
    ring._avail_idx_shadow = (idx + 1) & 0xFFFF
    g.ram.write(lay.avail_idx_addr, ring._avail_idx_shadow.to_bytes(2, "little"))


def bad_chain(g: GuestVirtioNetRx, kind: str) -> str:
    """Publish one malicious chain; returns a word its needs-reset reason must contain."""
    ring, ram = g.ring, g.ram
    buf = ram.alloc(4096, 64)
    W = VRING_DESC_F_WRITE
    if kind == "outside":
        ring.add_buf([], [(ram.size - 100, 512)])
        return "outside guest RAM"
    if kind == "readable":
        ring.add_buf([(buf, 512)], [])
        return "device-readable"
    if kind == "small":
        ring.add_buf([], [(buf, 255)])
        return "below the minimum of 256"
    if kind == "huge":
        ring.add_buf([], [(ram.alloc(70000, 64), 70000)])
        return "above the bound"
    if kind == "two_buffers":
        ring.add_buf([], [(buf, 512), (buf + 1024, 512)])
        return "one buffer per chain"
    if kind == "loop":
        ring.write_desc(6, VringDesc(buf, 512, W | VRING_DESC_F_NEXT, 7))
        ring.write_desc(7, VringDesc(buf + 512, 512, W | VRING_DESC_F_NEXT, 6))
        publish(g, 6)
        return "loop"
    if kind == "bad_head":
        publish(g, 0x4000)
        return "head index out of range"
    if kind == "indirect":
        ring.write_desc(5, VringDesc(buf, 16, 4, 0))
        publish(g, 5)
        return "INDIRECT"
    raise AssertionError(kind)


KINDS = ["outside", "readable", "small", "huge", "two_buffers", "loop", "bad_head", "indirect"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("good_first", [False, True])
def test_malicious_chain_puts_the_device_in_needs_reset_and_nothing_reaches_the_nic(
    kind: str, good_first: bool
) -> None:
    async def go() -> None:
        r = await rig(guest_num=8, ram_size=1 << 20)
        if good_first:  # a valid chain in the same batch is not posted either
            r.guest.fill(1)
        word = bad_chain(r.guest, kind)
        r.backend.kick()
        await r.backend.service()
        assert r.backend.needs_reset and word in (r.backend.needs_reset_reason or "")
        assert r.needs_reset == [r.backend.needs_reset_reason]
        assert r.nic.state().desc_tail == 0 and r.queue.tail == 0
        assert r.pool.pinned_pages == 0 and r.pool.stats(OWNER).in_flight == 0
        assert r.tracker.posted_buffers() == []
        r.guest.fill()  # good buffers after the fact are not taken either
        await r.backend.service()
        assert r.nic.state().desc_tail == 0 and r.backend.stats.invalid_chains == 1
        assert r.wire(make_frame(64)).drop is DropReason.NO_BUFFER

    run(go())


def test_buffer_overlapping_one_the_nic_holds_is_refused() -> None:
    async def go() -> None:
        r = await rig(guest_num=4)
        buf = r.ram.alloc(1024, 64)
        r.guest.ring.add_buf([], [(buf, 1024)])
        r.backend.kick()
        await r.backend.service()
        assert r.queue.tail == 1
        r.guest.ring.add_buf([], [(buf + 512, 1024)])
        r.backend.kick()
        await r.backend.service()
        assert r.backend.needs_reset and "overlaps" in (r.backend.needs_reset_reason or "")
        assert r.queue.tail == 1  # only the first
        # the frame already in flight completes; the dead device publishes nothing
        r.wire(make_frame(100))
        await r.backend.service()
        assert r.guest.ring.used_idx_in_ring == 0 and r.backend.stats.dropped_after_reset == 1
        assert r.pool.pinned_pages == 0

    run(go())


# -- quota ----------------------------------------------------------------------------------


def test_quota_below_ring_size_refuses_leaves_entries_in_the_avail_ring_and_never_overpins() -> (
    None
):
    async def go() -> None:
        r = await rig(
            guest_num=16, nic_entries=16, buf_size=PAGE_SIZE, buf_align=PAGE_SIZE, quota=4
        )
        r.guest.fill()
        await r.backend.service()
        st = r.pool.stats(OWNER)
        assert r.queue.outstanding == 4 and st.pinned_pages == 4
        assert r.backend.stats.quota_refusals >= 1 and st.refusals >= 1
        assert r.backend.avail_unconsumed == 12
        pool_pages = r.domain.mapped_pages
        sent: list[bytes] = []
        got: list[RxFrame] = []
        for rnd in range(10):
            batch = [make_frame(200 + rnd, rnd * 4 + k) for k in range(4)]
            sent += batch
            got += await r.deliver(batch)
            assert r.pool.stats(OWNER).pinned_pages <= 4
            assert r.domain.mapped_pages <= pool_pages
        assert_frames(got, sent)
        st = r.pool.stats(OWNER)
        assert st.peak_pinned_pages == 4 and r.nic.drops[DropReason.NO_BUFFER] == 0
        assert r.backend.avail_unconsumed == 12  # still parked, guest reposted the rest
        assert r.backend.stats.quota_refusals >= 10

    run(go())


# -- teardown -------------------------------------------------------------------------------


def test_teardown_mid_traffic_unpins_unmaps_and_delivers_what_landed() -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8)
        r.guest.fill()
        await r.backend.service()
        sent = [make_frame(300, i) for i in range(3)]
        for f in sent:
            r.wire(f)  # landed, not yet serviced
        assert r.pool.pinned_pages > 0
        await r.backend.teardown()
        assert r.pool.pinned_pages == 0 and OWNER not in r.pool.owners
        assert r.domain.mapped_pages == 0  # data pages and both rings
        assert r.tracker.posted_buffers() == []
        assert not r.nic.config().enabled
        assert r.guest.ring.used_idx_in_ring == 3
        r.guest.interrupt()
        assert_frames(r.guest.poll(), sent)
        assert r.wire(make_frame(64)).drop is DropReason.QUEUE_DISABLED

    run(go())


def test_chain_larger_than_the_whole_quota_is_invalid_not_retried_forever() -> None:
    """A buffer needing more pages than the owner's entire quota can never be pinned: the
    device goes to needs-reset at once instead of stalling on endless quota refusals."""

    async def go() -> None:
        r = await rig(guest_num=4, nic_entries=4, buf_size=3 * PAGE_SIZE, buf_align=PAGE_SIZE,
                      quota=2)  # fmt: skip
        r.guest.fill()
        await r.backend.service()
        assert r.backend.needs_reset and "quota" in (r.backend.needs_reset_reason or "")
        assert r.queue.outstanding == 0 and r.backend.stats.quota_refusals == 0
        assert r.pool.stats(OWNER).pinned_pages == 0

    run(go())


@pytest.mark.parametrize(
    ("guest_csum", "l3", "ip4", "l4", "valid"),
    [
        (True, L3Type.IPV4, CsumStatus.GOOD, CsumStatus.GOOD, True),
        (True, L3Type.IPV4, CsumStatus.BAD, CsumStatus.GOOD, False),  # header checksum bad
        (True, L3Type.IPV4, CsumStatus.GOOD, CsumStatus.BAD, False),
        (True, L3Type.IPV4, CsumStatus.GOOD, CsumStatus.NOT_CHECKED, False),  # e.g. fragment
        (True, L3Type.IPV6, CsumStatus.NOT_CHECKED, CsumStatus.GOOD, True),  # no v6 hdr csum
        (True, L3Type.IPV6, CsumStatus.NOT_CHECKED, CsumStatus.BAD, False),
        (True, L3Type.NONE, CsumStatus.NOT_CHECKED, CsumStatus.NOT_CHECKED, False),
        (False, L3Type.IPV4, CsumStatus.GOOD, CsumStatus.GOOD, False),  # not negotiated
    ],
)
def test_data_valid_only_for_verified_checksums_when_negotiated(
    guest_csum: bool, l3: L3Type, ip4: CsumStatus, l4: CsumStatus, valid: bool
) -> None:
    fields = {f.name: 0 for f in RxCompletion.field_layouts()}
    fields.update(l3_type=l3, csum_status=ip4 | l4 << 2)
    features = DEFAULT_FEATURES | (1 << VIRTIO_NET_F_GUEST_CSUM if guest_csum else 0)
    flags = net_hdr_flags(RxCompletion(**fields), features)
    assert flags == (VIRTIO_NET_HDR_F_DATA_VALID if valid else 0)

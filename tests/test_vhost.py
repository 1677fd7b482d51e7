# SPDX-License-Identifier: MIT
"""vhost-net backend end to end in pure Python: guest virtio-net driver -> backend -> page
constructor -> NIC driver -> FakeNic (scapy frames, parsed by the reference parser) ->
completions -> used ring -> guest. Also malicious chains, quota, recycling of too-long
frames, teardown, SPLIT_HOLE placement (host header buffers, header copy into the hole),
mergeable RX buffers and big-packet chains (one avail chain of several buffers = one NIC
group)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, PadN
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

from model.fake_nic import FakeNic
from model.hostmem import PAGE_SIZE, POISON_BYTE, GuestRam, HostMemory
from model.iommu import Iommu, Perm
from model.nic_model import DESC_CACHE, Prediction
from model.records import (
    CplFlags,
    CplStatus,
    CsumStatus,
    DescFlags,
    DropReason,
    L3Type,
    PlacementMode,
    RxCompletion,
    SplitLevel,
)
from model.tracker import DmaWriteTracker, TrackerViolation
from model.virtio import (
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_V1_SIZE,
    VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
    VirtioNetHdr,
    VringDesc,
)
from sw.guest_virtio import GuestVirtioNetRx, RxFrame
from sw.nic_driver import NicDriver, NicProtocolError, RxDone, RxQueue
from sw.page_pool import PagePool
from sw.vhost import DEFAULT_FEATURES, VhostNetRx, net_hdr_flags, vhost_queue_settings
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference

RID = 0x0100
OWNER = "guest0"
HDR = VIRTIO_NET_HDR_V1_SIZE
MRG = DEFAULT_FEATURES | 1 << VIRTIO_NET_F_MRG_RXBUF
FULL, SPLIT_HOLE = PlacementMode.FULL, PlacementMode.SPLIT_HOLE
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


def l4_frame(
    size: int, tag: int = 0, *, ip: int = 4, tcp: bool = True, vlan: bool = False
) -> bytes:
    """Ether[/802.1Q]/IPv4-or-IPv6/TCP-or-UDP of exactly ``size`` bytes (FCS excluded), or
    headers only when ``size`` is below their length."""
    eth: Packet = Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
    if vlan:
        eth = eth / Dot1Q(vlan=100 + tag % 7)
    l3: Packet = IP(dst="10.0.0.1", src="10.0.0.2") if ip == 4 else IPv6(dst="fd00::1")
    l4: Packet = TCP(sport=tag & 0xFFFF, dport=443) if tcp else UDP(sport=tag & 0xFFFF, dport=53)
    hdr = eth / l3 / l4
    size = max(size, len(hdr))
    raw = bytes(hdr / Raw(bytes((tag * 13 + i) & 0xFF for i in range(size - len(hdr)))))
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
        buf_size: int | Sequence[int] = 2048,
        buf_align: int = 64,
        quota: int = 1024,
        reuse: bool = True,
        start_idx: int = 0,
        ram_size: int = 1 << 20,
        min_buffer: int = 256,
        features: int = DEFAULT_FEATURES,
        mode: PlacementMode = PlacementMode.FULL,
        split_level: SplitLevel = SplitLevel.L4,
        hdr_buf_size: int = 256,
        chain_buffers: int | Sequence[int] = 1,
        desc_cache: int | None = None,  # the descriptor cache the driver reads from CAP_QUEUES
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
            chain_buffers=chain_buffers,
        )
        self.desc_cache = desc_cache
        self.nic_entries, self.cpl_entries = nic_entries, cpl_entries
        self.min_buffer, self.features, self.start_idx = min_buffer, features, start_idx
        self.mode, self.split_level, self.hdr_buf_size = mode, split_level, hdr_buf_size
        self.headers: list[tuple[bytes, RxCompletion]] = []  # what inspect_header saw
        self.needs_reset: list[str] = []
        self.predictions: list[Prediction] = []

    async def start(self) -> Rig:
        caps = await self.drv.probe()
        if self.desc_cache is not None:
            self.drv.caps = dataclasses.replace(caps, desc_cache=self.desc_cache)
        self.queue: RxQueue = await self.drv.open_queue(
            0,
            desc_entries=self.nic_entries,
            cpl_entries=self.cpl_entries,
            **vhost_queue_settings(self.features, self.mode, self.split_level),
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
            hdr_buf_size=self.hdr_buf_size,
            inspect_header=lambda hdr, c: self.headers.append((hdr, c)),
        )
        self.guest.kick = self.backend.kick
        return self

    def wire(self, frame: bytes) -> Prediction:
        """A frame arrives at the NIC, parsed as the reference parser says (so the split
        point is known); its placement is checked against the tracker."""
        p = self.nic.receive(frame, meta=reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS))
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
    if kind == "chain_middle_outside":  # one bad segment in an otherwise good chain
        ring.add_buf([], [(buf, 512), (ram.size - 100, 512), (buf + 1024, 512)])
        return "outside guest RAM"
    if kind == "chain_last_small":
        ring.add_buf([], [(buf, 512), (buf + 1024, 512), (buf + 2048, 255)])
        return "below the minimum of 256"
    if kind == "chain_readable_first":
        ring.add_buf([(buf, 512)], [(buf + 1024, 512)])
        return "device-readable"
    if kind == "chain_overlapping_itself":
        ring.add_buf([], [(buf, 1024), (buf + 512, 1024)])
        return "overlaps"
    if kind == "chain_longer_than_nic_ring":  # the rig's NIC ring has 8 entries
        ring.add_buf([], [(buf + 384 * k, 256) for k in range(9)])
        return "9 buffers, more than the NIC ring's 8 descriptors"
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


KINDS = ["outside", "readable", "small", "huge", "chain_middle_outside", "chain_last_small",
         "chain_readable_first", "chain_overlapping_itself", "chain_longer_than_nic_ring",
         "loop", "bad_head", "indirect"]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("good_first", [False, True])
def test_malicious_chain_puts_the_device_in_needs_reset_and_nothing_reaches_the_nic(
    kind: str, good_first: bool
) -> None:
    async def go() -> None:
        r = await rig(guest_num=16, ram_size=1 << 20)
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


@pytest.mark.parametrize(("buf_size", "chain"), [(3 * PAGE_SIZE, 1), (PAGE_SIZE, 3)],
                         ids=["one-buffer", "three-page-chain"])  # fmt: skip
def test_chain_larger_than_the_whole_quota_is_invalid_not_retried_forever(
    buf_size: int, chain: int
) -> None:
    """A buffer needing more pages than the owner's entire quota can never be pinned: the
    device goes to needs-reset at once instead of stalling on endless quota refusals."""

    async def go() -> None:
        r = await rig(guest_num=4, nic_entries=4, buf_size=buf_size, buf_align=PAGE_SIZE,
                      quota=2, chain_buffers=chain)  # fmt: skip
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


# -- SPLIT_HOLE: host header buffers, header copied into the hole ---------------------------


def l4_mix(sizes: Sequence[int]) -> list[bytes]:
    """TCP and UDP over IPv4 and IPv6 (one VLAN-tagged), each at every size."""
    kinds = [(4, True, False), (4, False, False), (6, True, False), (6, False, False),
             (4, True, True)]  # fmt: skip
    return [
        l4_frame(n, k * 31 + i, ip=ip, tcp=tcp, vlan=vlan)
        for i, n in enumerate(sizes)
        for k, (ip, tcp, vlan) in enumerate(kinds)
    ]


async def traffic(frames: list[bytes], batch: int = 4, **kw: Any) -> tuple[Rig, list[RxFrame]]:
    """A rig with the guest's ring full, ``frames`` delivered ``batch`` at a time."""
    r = await rig(**kw)
    r.guest.fill()
    await r.backend.service()
    got: list[RxFrame] = []
    for k in range(0, len(frames), batch):
        got += await r.deliver(frames[k : k + batch])
    return r, got


def guest_bytes(r: Rig, got: list[RxFrame]) -> list[bytes]:
    """Every byte of every buffer (each segment of its chain) the frames used, as the guest
    sees its memory."""
    return [r.ram.read(a, n) for f in got for b in f.buffers for a, n in b.segments]


@pytest.mark.parametrize("features", [DEFAULT_FEATURES, MRG], ids=["big", "mergeable"])
def test_split_hole_guest_bytes_identical_to_full_for_tcp_udp_ipv4_ipv6(features: int) -> None:
    sent = l4_mix([60, 99, 600, 1514])

    async def go() -> None:
        kw: dict[str, Any] = dict(guest_num=64, nic_entries=64, buf_size=512, reuse=False,
                                  ram_size=1 << 21, features=features)  # fmt: skip
        if features == DEFAULT_FEATURES:
            kw["buf_size"] = 2048
        full, got_full = await traffic(sent, mode=FULL, **kw)
        hole, got_hole = await traffic(sent, mode=SPLIT_HOLE, **kw)
        assert [f.data for f in got_hole] == sent
        assert got_hole == got_full  # headers, used lens, buffers, addresses
        assert guest_bytes(hole, got_hole) == guest_bytes(full, got_full)
        # the split really happened: the NIC put the headers in host buffers and left the
        # hole unwritten; the host copied exactly the header bytes
        cpls = [p.completion for p in hole.predictions if p.completion is not None]
        ends = [reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS).l4_end for f in sent]
        assert all(c.flags & CplFlags.SPLIT for c in cpls)
        assert [c.hdr_len for c in cpls] == ends
        first_pos = [  # a headers-only frame (h == n) writes nothing to the guest
            p.buffer_writes[0].stream_pos if p.buffer_writes else HDR + len(f)
            for p, f in zip(hole.predictions, sent, strict=True)
        ]
        assert first_pos == [HDR + h for h in ends]
        assert any(not p.buffer_writes for p in hole.predictions)
        assert [w.data for w in hole.nic.writes if w.kind == "header"] == [
            f[:h] for f, h in zip(sent, ends, strict=True)
        ]
        assert [hdr for hdr, _ in hole.headers] == [f[:h] for f, h in zip(sent, ends, strict=True)]
        assert hole.backend.stats.hdr_copy_bytes == sum(ends)
        assert full.backend.stats.hdr_copy_bytes == 0 and full.headers == []
        assert hole.tracker.violations == [] and hole.iommu.faults == []

    run(go())


@pytest.mark.parametrize(
    ("frame", "hdr_buf_size"),
    [
        (bytes(Ether(dst="02:00:00:00:00:01") / ARP() / Raw(b"\x5a" * 40)), 256),  # not IP
        (bytes(Ether(dst="02:00:00:00:00:01") / IP(frag=100, proto=17) / Raw(b"f" * 300)), 256),
        (l4_frame(800, 3, ip=6, tcp=True), 64),  # 74-byte header, 64-byte header buffer
    ],
    ids=["arp", "ipv4-non-first-fragment", "longer-than-header-buffer"],
)
def test_header_overflow_frame_in_split_hole_is_placed_full_and_delivered_intact(
    frame: bytes, hdr_buf_size: int
) -> None:
    async def go() -> None:
        r, got = await traffic([frame], mode=SPLIT_HOLE, hdr_buf_size=hdr_buf_size)
        assert_frames(got, [frame])
        (p,) = r.predictions
        assert p.completion is not None and p.completion.flags & CplFlags.HDR_OVERFLOW
        assert not p.completion.flags & CplFlags.SPLIT and p.completion.hdr_len == 0
        assert [w for w in r.nic.writes if w.kind == "header"] == []
        assert r.backend.stats.hdr_copy_bytes == 0 and r.headers == []
        assert (r.backend.stats.hdr_overflows, r.backend.stats.split_frames) == (1, 0)
        assert r.tracker.violations == []

    run(go())


def test_split_hole_header_buffers_are_host_memory_never_guest_memory() -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8, mode=SPLIT_HOLE, reuse=False)
        r.guest.fill()
        await r.backend.service()
        hdr = r.backend.hdr_bufs
        assert hdr is not None
        guest_host = range(r.ram.host_base, r.ram.host_base + r.ram.size)
        guest_iova = range(
            guest_host.start + r.pool.iova_offset, guest_host.stop + r.pool.iova_offset
        )
        descs = r.queue.posted_descriptors
        assert len({d.hdr_addr for d in descs}) == 8
        for d in descs:
            assert d.hdr_len == 256 and d.hdr_addr not in guest_iova
            m = r.domain.lookup(d.hdr_addr)
            assert m is not None and m.perm == Perm.WRITE  # the device may not read it
            host = m.host_page + (d.hdr_addr % PAGE_SIZE)
            assert host not in guest_host and host + 255 not in guest_host
            assert hdr.base <= host and host + 256 <= hdr.base + hdr.region_bytes
        # the tracker sees them as the host's buffers, never the guest's
        assert len(r.tracker.posted_buffers(r.backend.hdr_owner)) == 8
        assert len(r.tracker.posted_buffers(OWNER)) == 8
        sent = l4_mix([200])
        got = await r.deliver(sent[:4])
        assert_frames(got, sent[:4])
        for w in r.nic.writes:
            inside = hdr.base <= w.iova < hdr.base + hdr.region_bytes
            assert inside == (w.kind == "header")
        assert r.tracker.violations == []
        assert len(r.tracker.posted_buffers(r.backend.hdr_owner)) == 4  # 4 given back
        # a stray device write into a header buffer the NIC gave back is caught, and named;
        # the IOMMU cannot tell: the whole header region stays mapped
        returned = r.nic.writes[0].iova
        assert r.domain.lookup(returned) is not None
        with pytest.raises(TrackerViolation) as e:
            r.tracker.record_write(returned, b"\x00")
        assert e.value.violation.owner == r.backend.hdr_owner
        assert e.value.violation.state == "returned"
        await r.backend.teardown()
        assert r.domain.mapped_pages == 0 and r.tracker.posted_buffers() == []

    run(go())


@pytest.mark.parametrize("level", list(SplitLevel), ids=[lv.name for lv in SplitLevel])
def test_split_level_sets_the_hole_and_the_copied_header_bytes(level: SplitLevel) -> None:
    sent = l4_mix([300])

    async def go() -> None:
        r, got = await traffic(sent, mode=SPLIT_HOLE, split_level=level)
        assert_frames(got, sent)
        metas = [reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS) for f in sent]
        ends = [[m.l2_end, m.l3_end, m.l4_end][level] for m in metas]
        assert [c.hdr_len for _, c in r.headers] == ends
        assert r.backend.stats.hdr_copy_bytes == sum(ends)

    run(go())


def test_header_copy_byte_counter_counts_split_headers_only() -> None:
    split = l4_mix([70, 1000])
    overflow = [bytes(Ether(dst="02:00:00:00:00:01") / ARP())]
    sent = split[:3] + overflow + split[3:]

    async def go() -> None:
        r, got = await traffic(sent, mode=SPLIT_HOLE, guest_num=16, nic_entries=16)
        assert [f.data for f in got] == sent
        st = r.backend.stats
        ends = [reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS).l4_end for f in split]
        assert st.hdr_copy_bytes == sum(ends)
        assert (st.split_frames, st.hdr_overflows, st.frames) == (len(split), 1, len(sent))
        assert st.hdr_copy_bytes / st.frames == sum(ends) / len(sent)  # host copy per frame

    run(go())


# -- mergeable RX buffers -------------------------------------------------------------------


def used_ring(r: Rig, start: int, n: int) -> list[tuple[int, int]]:
    """(id, len) of ``n`` used entries from ``start``, read from guest memory."""
    ring = r.guest.ring
    return [(e.id, e.len) for e in (ring.read_used_elem(start + k) for k in range(n))]


def assert_mergeable(got: list[RxFrame], sent: list[bytes]) -> None:
    """Each frame: num_buffers buffers, all but the last full, used lens summing to 12 + F."""
    assert [f.data for f in got] == sent
    for f, s in zip(got, sent, strict=True):
        lens = [b.used_len for b in f.buffers]
        assert f.hdr == VirtioNetHdr(num_buffers=len(f.buffers))
        assert sum(lens) == f.used_len == HDR + len(s)
        assert lens[:-1] == [b.size for b in f.buffers[:-1]]
        assert 0 < lens[-1] <= f.buffers[-1].size


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_mergeable_frame_over_three_buffers_has_num_buffers_3_and_stream_used_lens(
    mode: PlacementMode,
) -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8, buf_size=512, features=MRG, mode=mode)
        r.guest.fill()
        await r.backend.service()
        frame = l4_frame(1300, 1, ip=6, tcp=True)  # stream end 1312 = 512 + 512 + 288
        p = r.wire(frame)
        assert p.completion is not None
        assert (p.completion.group_count, p.completion.desc_count) == (3, 3)
        await r.backend.service()
        heads = [r.ram.to_guest(d.data_addr - r.pool.iova_offset) for d in p.descriptors]
        assert r.guest.ring.used_idx_in_ring == 3
        lens = [n for _, n in used_ring(r, 0, 3)]
        assert lens == [512, 512, 288]
        r.guest.interrupt()
        (f,) = r.guest.poll()
        assert f.data == frame and f.hdr.num_buffers == 3
        assert [b.addr for b in f.buffers] == heads  # stream order is NIC ring order
        assert [(b.head, b.used_len) for b in f.buffers] == used_ring(r, 0, 3)
        tail = r.ram.read(heads[2] + 288, 512 - 288)  # the last buffer's unused bytes
        assert tail == bytes([POISON_BYTE]) * len(tail)
        st = r.backend.stats
        assert (st.frames, st.used_entries, st.bytes) == (1, 3, HDR + 1300)
        assert r.tracker.violations == []

    run(go())


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_mergeable_jumbo_9000_bytes_over_2k_buffers(mode: PlacementMode) -> None:
    async def go() -> None:
        sent = [l4_frame(9000, 5, ip=4, tcp=True), l4_frame(9000, 6, ip=6, tcp=False)]
        r, got = await traffic(sent, 1, guest_num=16, nic_entries=16, features=MRG, mode=mode)
        assert_mergeable(got, sent)
        assert [[b.used_len for b in f.buffers] for f in got] == [[2048] * 4 + [820]] * 2
        assert r.nic.drops[DropReason.TOO_LONG_FOR_GROUP] == 0 and r.tracker.violations == []

    run(go())


def long_header_frame() -> bytes:
    """IPv6 with a destination-options header: 250 bytes of headers up to L4."""
    return bytes(
        Ether(dst="02:00:00:00:00:01")
        / IPv6(dst="fd00::1")
        / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 172)])
        / TCP()
        / Raw(bytes(range(200)))
    )


def test_mergeable_split_hole_hole_spanning_two_buffers() -> None:
    """A 250-byte header in 256-byte buffers: the hole [12, 262) crosses into the second
    buffer, and the host's copy follows stream positions there too."""
    frame = long_header_frame()

    async def go() -> None:
        r, got = await traffic([frame], guest_num=8, nic_entries=8, buf_size=256,
                               buf_align=512, features=MRG, mode=SPLIT_HOLE)  # fmt: skip
        assert_mergeable(got, [frame])
        gap = r.ram.read(got[0].buffers[0].addr + 256, 256)  # between the guest's buffers
        assert gap == bytes([POISON_BYTE]) * 256
        assert r.headers[0][1].hdr_len == 250 and r.backend.stats.hdr_copy_bytes == 250

    run(go())


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_mergeable_mixed_buffer_and_frame_sizes_match_full_and_big_frames(
    mode: PlacementMode,
) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    sizes = [rng.randrange(60, 9001) if rng.random() < 0.3 else rng.randrange(60, 1515)
             for _ in range(40)]  # fmt: skip
    sent = [
        l4_frame(n, i, ip=rng.choice([4, 6]), tcp=rng.random() < 0.5) for i, n in enumerate(sizes)
    ]
    bufs = [384, 1024, 512, 2048, 1536, 4096, 448]

    async def go() -> None:
        kw: dict[str, Any] = dict(guest_num=64, nic_entries=64, buf_size=bufs, ram_size=1 << 21,
                                  features=MRG)  # fmt: skip
        r, got = await traffic(sent, 1, mode=mode, **kw)
        assert_mergeable(got, sent)
        assert {b.size for f in got for b in f.buffers} == set(bufs)
        assert max(len(f.buffers) for f in got) > 2
        assert (await r.drv.counters()).total_drops == 0
        if mode == SPLIT_HOLE:
            full, got_full = await traffic(sent, 1, mode=FULL, **kw)
            assert got == got_full
            assert guest_bytes(r, got) == guest_bytes(full, got_full)
            assert r.backend.stats.split_frames == len(sent)

    run(go())


def test_mergeable_frame_needing_more_than_32_buffers_is_recycled_never_seen() -> None:
    async def go() -> None:
        r = await rig(guest_num=64, nic_entries=64, buf_size=256, features=MRG,
                      ram_size=1 << 21)  # fmt: skip
        r.guest.fill()
        await r.backend.service()
        first = r.queue.posted_descriptors[0]
        p = r.wire(l4_frame(9000))  # 9012 stream bytes > 32 * 256
        assert p.drop is DropReason.TOO_LONG_FOR_GROUP and len(p.descriptors) == 1
        await r.backend.service()
        assert r.guest.ring.used_idx_in_ring == 0 and r.backend.stats.recycled == 1
        assert r.queue.posted_descriptors[-1] == first  # the one group went back to the NIC
        sent = [l4_frame(1000, 2)]
        got = await r.deliver(sent)
        assert_mergeable(got, sent)
        assert len(got[0].buffers) == 4

    run(go())


def feed_one_completion(r: Rig, ndesc: int, **fields: int) -> None:
    """Make the rig's NIC queue report one completion (every field 0 but ``fields``, the
    cookie of the first posted descriptor, ``ndesc`` descriptors taken): what a NIC bug
    would write, for the backend's protocol checks."""
    descs = tuple(r.queue.posted_descriptors[:ndesc])
    cpl = {f.name: 0 for f in RxCompletion.field_layouts()}
    cpl.update(cookie=descs[0].cookie, status=CplStatus.OK, phase=1, **fields)

    async def fake_poll(budget: int = 64) -> list[RxDone]:
        return [RxDone(RxCompletion(**cpl), descs)]

    r.queue.poll = fake_poll  # type: ignore[method-assign]


def test_completion_inconsistent_with_the_guest_buffers_is_a_protocol_error() -> None:
    """The backend derives used lens from the group sizes; a completion whose groups cannot
    hold its stream (a NIC bug) is refused, not published."""

    async def go() -> None:
        r = await rig(guest_num=4, nic_entries=4, buf_size=512, features=MRG)
        r.guest.fill()
        await r.backend.service()
        feed_one_completion(r, 2, frame_len=1200, payload_len=1200, desc_count=2, group_count=2)
        with pytest.raises(NicProtocolError, match="stream end 1212"):
            await r.backend.process_completions()
        assert r.guest.ring.used_idx_in_ring == 0

    run(go())


def test_backend_refuses_a_queue_that_does_not_match_the_guest_features() -> None:
    async def go() -> None:
        r = await rig()
        ring = r.guest.layout
        args = (r.pool, "other", r.ram, ring)
        with pytest.raises(ValueError, match="MRG_RXBUF is negotiated"):
            VhostNetRx(r.queue, *args, features=MRG)  # queue not mergeable
        await r.queue.disable()
        await r.queue.configure(mergeable=True)
        with pytest.raises(ValueError, match="MRG_RXBUF is not negotiated"):
            VhostNetRx(r.queue, *args)
        await r.queue.configure(mode=PlacementMode.SPLIT)
        with pytest.raises(ValueError, match="SPLIT cannot serve a virtio guest"):
            VhostNetRx(r.queue, *args, features=MRG)
        with pytest.raises(ValueError, match="SPLIT cannot serve"):
            vhost_queue_settings(MRG, PlacementMode.SPLIT)
        assert vhost_queue_settings(MRG, SPLIT_HOLE, SplitLevel.L3) == dict(
            data_offset=HDR, mode=SPLIT_HOLE, split_level=SplitLevel.L3, mergeable=True
        )

    run(go())


# -- big packets: one avail chain of several buffers = one NIC group -------------------------

SEG = 1024  # segment size of the chain tests


def stream_of(frame: bytes) -> bytes:
    """What a big-packet chain must hold: the net header (num_buffers 1), then the frame."""
    return VirtioNetHdr(num_buffers=1).pack() + frame


def assert_chain_bytes(r: Rig, f: RxFrame, frame: bytes) -> None:
    """Read guest memory segment by segment, without the guest's help: each holds its slice
    of the stream, and every byte past the stream end is still the poison."""
    (buf,) = f.buffers
    stream = stream_of(frame)
    pos = 0
    for addr, n in buf.segments:
        want = stream[pos : pos + n]
        got = r.ram.read(addr, n)
        assert got == want + bytes([POISON_BYTE]) * (n - len(want)), (addr, pos)
        pos += n


async def chain_traffic(
    frames: list[bytes], mode: PlacementMode, batch: int = 2, **kw: Any
) -> tuple[Rig, list[RxFrame]]:
    kw = dict(guest_num=32, nic_entries=32, buf_size=SEG, chain_buffers=4, reuse=False) | kw
    return await traffic(frames, batch, mode=mode, **kw)


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_big_packet_chain_is_one_nic_group_with_eog_on_its_last_segment(
    mode: PlacementMode,
) -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, buf_size=SEG, chain_buffers=4, mode=mode)
        r.guest.fill()
        await r.backend.service()
        descs = r.queue.posted_descriptors
        assert len(descs) == 16 and r.backend.in_flight == 4
        assert r.backend.stats.chains_taken == 4 and r.backend.stats.descriptors_posted == 16
        assert [bool(d.flags & DescFlags.EOG) for d in descs] == [False] * 3 + [True] * 1 + [
            False
        ] * 3 + [True] + [False] * 3 + [True] + [False] * 3 + [True]
        chains = [r.guest.ring.read_chain(h) for h in range(0, 16, 4)]
        for k, chain in enumerate(chains):
            group = descs[4 * k : 4 * k + 4]
            gpas = [r.ram.to_guest(d.data_addr - r.pool.iova_offset) for d in group]
            assert gpas == [seg.addr for seg in chain.segments]  # in chain order
            assert gpas == sorted(gpas, reverse=True)  # the guest's segments run backwards
            assert [d.data_len for d in group] == [SEG] * 4
            # SPLIT_HOLE: a header buffer on the group's first descriptor (the NIC uses no other)
            assert [d.hdr_len for d in group] == [256 if mode == SPLIT_HOLE else 0, 0, 0, 0]
        assert r.pool.stats(OWNER).in_flight == 4  # one pool buffer per chain
        assert len(r.tracker.posted_buffers(OWNER)) == 4

    run(go())


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_big_packet_frames_spanning_one_two_and_all_segments_of_a_chain_byte_exact(
    mode: PlacementMode,
) -> None:
    # stream ends: inside segment 1, at its last byte, one byte into segment 2, inside 2,
    # inside 4, at the chain's last byte
    sizes = [500, SEG - HDR, SEG - HDR + 1, 1500, 3500, 4 * SEG - HDR]
    sent = [l4_frame(n, i, ip=6 if i % 2 else 4, tcp=i % 3 != 1) for i, n in enumerate(sizes)]

    async def go() -> None:
        r, got = await chain_traffic(sent, mode)
        assert_frames(got, sent)  # through the guest's own used-ring walk
        assert used_ring(r, 0, len(sent)) == [
            (f.head, HDR + len(s)) for f, s in zip(got, sent, strict=True)
        ]
        for f, s in zip(got, sent, strict=True):
            assert len(f.buffers) == 1 and len(f.buffers[0].segments) == 4
            assert f.buffers[0].size == 4 * SEG and f.used_len == HDR + len(s)
            assert_chain_bytes(r, f, s)
        cpls = [p.completion for p in r.predictions]
        assert [(c.desc_count, c.group_count) for c in cpls if c] == [(4, 1)] * len(sent)
        st = r.backend.stats
        assert (st.frames, st.used_entries) == (len(sent), len(sent))
        assert st.bytes == sum(HDR + len(s) for s in sent)
        assert r.tracker.violations == [] and r.iommu.faults == []
        if mode == SPLIT_HOLE:  # the guest sees exactly FULL's bytes and used lengths
            assert st.split_frames == len(sent)
            full, got_full = await chain_traffic(sent, FULL)
            assert got == got_full and guest_bytes(r, got) == guest_bytes(full, got_full)

    run(go())


def test_big_packet_split_hole_hole_crossing_into_the_second_segment() -> None:
    """A 250-byte header in a chain of 256-byte segments apart in memory: the hole
    [12, 262) crosses into the second segment, and the copy follows stream positions."""
    frame = long_header_frame()

    async def go() -> None:
        kw: dict[str, Any] = dict(buf_size=256, buf_align=512, guest_num=8, nic_entries=8)
        r, got = await chain_traffic([frame], SPLIT_HOLE, **kw)
        assert_frames(got, [frame])
        assert_chain_bytes(r, got[0], frame)
        (a0, _), (a1, _) = got[0].buffers[0].segments[:2]
        assert r.ram.read(a1 + 256, 256) == bytes([POISON_BYTE]) * 256  # the gap between
        assert r.headers[0][1].hdr_len == 250 and r.backend.stats.hdr_copy_bytes == 250
        full, got_full = await chain_traffic([frame], FULL, **kw)
        assert guest_bytes(r, got) == guest_bytes(full, got_full)

    run(go())


def test_big_packet_frame_too_long_for_its_chain_recycles_every_segment_unseen() -> None:
    async def go() -> None:
        r = await rig(guest_num=4, nic_entries=4, buf_size=256, chain_buffers=4)
        r.guest.fill()
        await r.backend.service()
        group = r.queue.posted_descriptors
        assert len(group) == 4
        pinned = r.pool.stats(OWNER).pinned_pages
        p = r.wire(l4_frame(4 * 256 - HDR + 1))
        assert p.drop is DropReason.TOO_LONG_FOR_GROUP and len(p.descriptors) == 4
        await r.backend.service()
        assert r.guest.stats.interrupts == 0 and r.guest.ring.used_idx_in_ring == 0
        # the whole chain went back to the NIC, still pinned, as one group
        assert r.queue.posted_descriptors == group and r.backend.stats.recycled == 1
        assert r.backend.stats.descriptors_posted == 8 and r.backend.stats.chains_taken == 1
        st = r.pool.stats(OWNER)
        assert (st.pinned_pages, st.returned, st.in_flight) == (pinned, 0, 1)
        fits = l4_frame(4 * 256 - HDR)
        got = await r.deliver([fits])
        assert_frames(got, [fits])
        assert used_ring(r, 0, 1) == [(got[0].head, 4 * 256)]

    run(go())


@pytest.mark.parametrize("cache", [None, 8], ids=["caps", "caps-say-8"])
def test_chain_longer_than_the_nic_descriptor_cache_is_invalid(cache: int | None) -> None:
    """The bound is CAP_QUEUES.desc_cache as the driver read it: a chain of exactly that
    many buffers is served (a frame may fill all of them), one more is an invalid chain."""
    limit = cache or DESC_CACHE

    async def go() -> None:
        r = await rig(guest_num=128, nic_entries=64, buf_size=256, chain_buffers=limit,
                      desc_cache=cache, ram_size=1 << 21)  # fmt: skip
        r.guest.fill(1)
        await r.backend.service()
        assert r.queue.tail == limit and not r.backend.needs_reset
        frame = l4_frame(limit * 256 - HDR)
        got = await r.deliver([frame])
        assert_frames(got, [frame])
        assert len(got[0].buffers[0].segments) == limit
        assert r.predictions[0].completion is not None
        assert r.predictions[0].completion.desc_count == limit
        before = r.pool.stats(OWNER).pinned_pages  # the guest reposted its chain
        fresh = [r.ram.alloc(256, PAGE_SIZE) for _ in range(limit + 1)]  # pages of their own
        r.guest.ring.add_buf([], [(a, 256) for a in fresh])
        r.backend.kick()
        await r.backend.service()
        assert r.backend.needs_reset
        assert f"descriptor cache of {limit}" in (r.backend.needs_reset_reason or "")
        assert r.queue.tail == 2 * limit  # the guest's repost only
        assert r.pool.stats(OWNER).pinned_pages == before
        assert not any(r.pool.is_pinned(r.ram.to_host(a)) for a in fresh)
        assert len(r.tracker.posted_buffers(OWNER)) == 1

    run(go())


def test_big_packet_chains_pin_whole_chains_and_never_exceed_the_quota() -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, buf_size=PAGE_SIZE, buf_align=PAGE_SIZE,
                      chain_buffers=3, quota=7, ram_size=1 << 21)  # fmt: skip
        r.guest.fill()
        await r.backend.service()
        st = r.pool.stats(OWNER)
        # two chains of three pages fit the quota of 7; the third waits in the avail ring
        assert r.backend.in_flight == 2 and r.queue.outstanding == 6 and st.pinned_pages == 6
        assert r.backend.avail_unconsumed == 3 and r.backend.stats.quota_refusals >= 1
        assert r.domain.mapped_pages == 6 + 2  # the pool's pages and the NIC driver's rings
        sent: list[bytes] = []
        got: list[RxFrame] = []
        for rnd in range(8):
            batch = [l4_frame(rng.randrange(60, 3 * PAGE_SIZE - HDR + 1), rnd * 2 + k)
                     for k in range(2)]  # fmt: skip
            sent += batch
            got += await r.deliver(batch)
            assert r.pool.stats(OWNER).pinned_pages <= 7
            assert r.domain.mapped_pages <= 6 + 2
        assert_frames(got, sent)
        st = r.pool.stats(OWNER)
        assert st.peak_pinned_pages == 6 and r.nic.drops[DropReason.NO_BUFFER] == 0
        assert r.tracker.violations == []

    run(go())


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_teardown_with_chains_in_flight_unpins_every_segment(mode: PlacementMode) -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, buf_size=SEG, chain_buffers=(4, 2),
                      mode=mode)  # fmt: skip
        r.guest.fill()
        await r.backend.service()
        assert r.backend.in_flight == 5 and r.queue.outstanding == 16
        sent = [l4_frame(n, i) for i, n in enumerate([3000, 1500, 100])]
        for f in sent:
            assert r.wire(f).delivered  # landed, not yet serviced
        assert r.pool.pinned_pages > 0
        await r.backend.teardown()
        assert r.pool.pinned_pages == 0 and OWNER not in r.pool.owners
        assert r.domain.mapped_pages == 0  # every segment, both rings, header buffers
        assert r.tracker.posted_buffers() == []
        assert r.guest.ring.used_idx_in_ring == 3
        r.guest.interrupt()
        assert_frames(r.guest.poll(), sent)

    run(go())


@pytest.mark.parametrize("mode", [FULL, SPLIT_HOLE], ids=["full", "split_hole"])
def test_mergeable_chains_of_two_segments_get_one_used_entry_per_chain(
    mode: PlacementMode,
) -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, buf_size=256, buf_align=512,
                      chain_buffers=2, features=MRG, mode=mode)  # fmt: skip
        r.guest.fill()
        await r.backend.service()
        frame = l4_frame(1300, 1, ip=6, tcp=True)  # stream end 1312 = 512 + 512 + 288
        p = r.wire(frame)
        assert p.completion is not None
        assert (p.completion.group_count, p.completion.desc_count) == (3, 6)
        await r.backend.service()
        assert [n for _, n in used_ring(r, 0, 3)] == [512, 512, 288]
        r.guest.interrupt()
        (f,) = r.guest.poll()
        assert f.data == frame and f.hdr.num_buffers == 3
        assert [len(b.segments) for b in f.buffers] == [2, 2, 2]
        assert [(b.head, b.used_len) for b in f.buffers] == used_ring(r, 0, 3)
        st = r.backend.stats
        assert (st.frames, st.used_entries, st.bytes) == (1, 3, HDR + 1300)
        assert r.tracker.violations == []

    run(go())


@pytest.mark.parametrize("features", [DEFAULT_FEATURES, MRG], ids=["big", "mergeable"])
def test_chains_of_mixed_lengths_and_sizes_split_hole_matches_full(features: int) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    sent = [l4_frame(rng.randrange(60, 6000), i, ip=rng.choice([4, 6]), tcp=rng.random() < 0.5)
            for i in range(40)]  # fmt: skip

    async def go() -> None:
        kw: dict[str, Any] = dict(guest_num=64, nic_entries=64, buf_size=[512, 1024, 384, 2048],
                                  chain_buffers=(1, 3, 2, 4), ram_size=1 << 21,
                                  features=features)  # fmt: skip
        r, got = await traffic(sent, 1, mode=SPLIT_HOLE, **kw)
        fits = [f for f, p in zip(sent, r.predictions, strict=True) if p.delivered]
        too_long = len(sent) - len(fits)
        assert [f.data for f in got] == fits
        assert r.nic.drops[DropReason.TOO_LONG_FOR_GROUP] == too_long
        assert r.backend.stats.recycled == too_long
        if features == MRG:
            assert too_long == 0
            assert_mergeable(got, sent)
        else:
            assert too_long > 0
            assert_frames(got, fits)
        assert any(len(b.segments) > 1 for f in got for b in f.buffers)
        full, got_full = await traffic(sent, 1, mode=FULL, **kw)
        assert got == got_full and guest_bytes(r, got) == guest_bytes(full, got_full)
        assert r.tracker.violations == [] and full.tracker.violations == []

    run(go())


def test_completion_ending_inside_a_chain_is_a_protocol_error() -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8, buf_size=256, chain_buffers=4)
        r.guest.fill()
        await r.backend.service()
        feed_one_completion(r, 2, frame_len=300, payload_len=300, desc_count=2, group_count=1)
        with pytest.raises(NicProtocolError, match="2 of the 4 descriptors"):
            await r.backend.process_completions()
        assert r.guest.ring.used_idx_in_ring == 0

    run(go())

# SPDX-License-Identifier: MIT
"""Host NIC driver against FakeNic: probe, queue programming (eight queues, each with its own
placement settings), posting within the completion ring, phase-bit polling across laps,
group completions that return several descriptors, per-queue and global counters,
moderation, DMA and RSS settings, quiesce on STATUS.quiescent, errors, reset, close."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from model import regmap
from model.fake_nic import FakeNic
from model.hostmem import PAGE_SIZE, HostMemory
from model.iommu import Domain, Iommu, IommuFault, Perm
from model.nic_model import FrameWaits, QueueState
from model.parse_meta import Meta
from model.records import (
    CPL_BYTES,
    DESC_BYTES,
    CplFlags,
    CplStatus,
    DescFlags,
    DropReason,
    L3Type,
    L4Type,
    PlacementMode,
    QueueError,
    RssType,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
    ring_phase,
)
from model.rss import INDIRECTION_ENTRIES, MS_VERIFICATION_KEY, RSS_RESET, RssConfig
from model.steer import EMPTY, steer_frame
from sw.nic_driver import (
    DriverError,
    NicDriver,
    NicProtocolError,
    ProbeError,
    QueueCounters,
    QueueFull,
    QuiesceTimeout,
    RxDone,
    RxQueue,
)
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference

RID = 0x0100
T = TypeVar("T")
CTRL = regmap.RXQ.regs["CTRL"].fields
STATUS = regmap.RXQ.regs["STATUS"].fields


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def frame(size: int, tag: int = 0) -> bytes:
    hdr = Ether(dst="02:00:00:00:00:01") / IP(dst="10.0.0.1") / UDP(sport=tag, dport=9)
    return bytes(hdr / Raw(bytes((tag + i) & 0xFF for i in range(size - len(hdr)))))


#: What the parser reports for ``frame()``: Ethernet 14, IPv4 20, UDP 8 bytes of headers.
UDP_META = Meta(
    l2_end=14,
    l3_end=34,
    l4_end=42,
    l3_type=L3Type.IPV4,
    l4_type=L4Type.UDP,
    l2_ok=True,
    l3_ok=True,
    l4_ok=True,
)


class Host:
    def __init__(self, nic_cls: type[FakeNic] = FakeNic, **fake_kw: Any) -> None:
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.domain: Domain = self.iommu.attach(RID)
        self.nic = nic_cls(self.mem, self.domain, **fake_kw)
        self.drv = NicDriver(self.nic, self.mem, self.domain)
        # data buffers, mapped write-only for the device
        self.bufs = self.mem.alloc(64 * PAGE_SIZE, name="bufs")
        self.domain.map(self.bufs, self.bufs, 64 * PAGE_SIZE, Perm.WRITE)
        # header buffers (split modes), 256 bytes each
        self.hdrs = self.mem.alloc(2 * PAGE_SIZE, name="hdrs")
        self.domain.map(self.hdrs, self.hdrs, 2 * PAGE_SIZE, Perm.WRITE)

    def desc(
        self, i: int, length: int = 2048, flags: int = DescFlags.EOG, hdr: bool = False
    ) -> RxDescriptor:
        addr = self.bufs + (i % 32) * 2 * PAGE_SIZE
        hdr_addr = self.hdrs + (i % 32) * 256 if hdr else 0
        return RxDescriptor(
            addr, hdr_addr, cookie=0x1000 + i, data_len=length, hdr_len=256 if hdr else 0,
            flags=flags,
        )  # fmt: skip

    async def queue(
        self, desc: int = 4, cpl: int | None = None, offset: int = 12, index: int = 0, **kw: Any
    ) -> RxQueue:
        if self.drv.caps is None:
            await self.drv.probe()
        return await self.drv.open_queue(
            index, desc_entries=desc, cpl_entries=cpl, data_offset=offset, **kw
        )


def reg(h: Host, name: str, index: int = 0) -> int:
    return h.nic.read_now(regmap.RXQ.addr(index, name))


def ctrl_settings(h: Host, index: int = 0) -> tuple[int, int, int, int, int]:
    """(enable, mode, split_level, mergeable, drop_when_empty) as CTRL reads."""
    v = reg(h, "CTRL", index)
    names = ("enable", "mode", "split_level", "mergeable", "drop_when_empty")
    e, m, s, g, d = (CTRL[n].get(v) for n in names)
    return e, m, s, g, d


def cookies(done: list[RxDone]) -> list[int]:
    return [d.cpl.cookie for d in done]


# -- probe ----------------------------------------------------------------------------------


def test_probe_reads_capabilities_from_the_register_map() -> None:
    h = Host()
    caps = run(h.drv.probe())
    assert caps.id == regmap.ID.reset
    v = regmap.VERSION.fields
    assert caps.version == (v["major"].reset, v["minor"].reset, v["patch"].reset) == (0, 4, 0)
    assert caps.rx_queues == regmap.CAP_QUEUES.fields["rx_queues"].reset == 8
    assert caps.desc_cache == 32
    assert caps.msix_vectors == regmap.CAP_QUEUES.fields["msix_vectors"].reset
    assert caps.rss_key_bytes == regmap.CAP_TABLES.fields["rss_key_bytes"].reset
    assert (caps.desc_bytes, caps.cpl_bytes) == (DESC_BYTES, CPL_BYTES)


def test_probe_refuses_a_device_with_the_wrong_id() -> None:
    h = Host(id_value=0x10EE9038)
    with pytest.raises(ProbeError, match=r"ID register reads 0x10ee9038, expected 0x53505258"):
        run(h.drv.probe())
    assert h.drv.caps is None
    with pytest.raises(DriverError, match="probe"):
        run(h.drv.open_queue(0))


class OtherVersion(FakeNic):
    def __init__(self, *a: Any, version: int, datapath: int, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.version, self.datapath = version, datapath

    def read_now(self, offset: int) -> int:
        if offset == regmap.VERSION.offset:
            return self.version
        if offset == regmap.CAP_DATAPATH.offset:
            return self.datapath
        return super().read_now(offset)


@pytest.mark.parametrize(
    ("version", "datapath", "match"),
    [
        (regmap.VERSION.fields["major"].put(1), regmap.CAP_DATAPATH.reset, "major version 0"),
        (
            regmap.VERSION.reset,
            regmap.CAP_DATAPATH.reset & ~regmap.CAP_DATAPATH.fields["cpl_bytes"].mask
            | regmap.CAP_DATAPATH.fields["cpl_bytes"].put(64),
            "64 B completions",
        ),
    ],
)
def test_probe_refuses_unknown_major_version_or_record_size(
    version: int, datapath: int, match: str
) -> None:
    mem, io = HostMemory(), Iommu()
    nic = OtherVersion(mem, io.attach(RID), version=version, datapath=datapath)
    with pytest.raises(ProbeError, match=match):
        run(NicDriver(nic, mem, io.attach(RID)).probe())


# -- queue set-up ---------------------------------------------------------------------------


def test_open_queue_allocates_maps_and_programs_the_rings() -> None:
    h = Host()
    q = run(h.queue(desc=8, cpl=16, offset=12))
    cfg = h.nic.config()
    assert (cfg.desc_base, cfg.cpl_base) == (q.desc_base, q.cpl_base)
    assert (cfg.desc_size_log2, cfg.cpl_size_log2, cfg.data_offset) == (3, 4, 12)
    assert cfg.enabled and cfg.problem() is None
    # defaults: FULL, split at L4, not mergeable, drop when empty (the RDL reset values)
    assert ctrl_settings(h) == (1, PlacementMode.FULL, SplitLevel.L4, 0, 1)
    assert reg(h, "CTRL") == regmap.RXQ.regs["CTRL"].reset | CTRL["enable"].put(1)
    assert not (run(q.status())).error
    desc_map, cpl_map = h.domain.lookup(q.desc_base), h.domain.lookup(q.cpl_base)
    assert desc_map is not None and desc_map.host_page == q.desc_base  # identity IOVA
    assert desc_map.perm == Perm.READ
    assert cpl_map is not None and cpl_map.perm == Perm.WRITE
    with pytest.raises(IommuFault):  # the device cannot scribble on its descriptor ring
        h.iommu.dma_write(RID, h.mem, q.desc_base, b"x")
    assert h.mem.read(q.cpl_base, 16 * CPL_BYTES) == bytes(16 * CPL_BYTES)


@pytest.mark.parametrize(("desc", "cpl"), [(3, None), (8, 4), (1 << 16, None), (0, None)])
def test_open_queue_refuses_bad_ring_sizes(desc: int, cpl: int | None) -> None:
    h = Host()
    with pytest.raises(ValueError):
        run(h.queue(desc=desc, cpl=cpl))
    assert h.nic.mmio_writes == 0 or not h.nic.config().enabled


# -- posting and polling --------------------------------------------------------------------


def test_post_writes_records_then_doorbell_and_poll_returns_completions_in_order() -> None:
    h = Host()

    async def go() -> tuple[RxQueue, list[RxDone]]:
        q = await h.queue(desc=4)
        descs = [h.desc(i) for i in range(3)]
        await q.post(descs)
        for i in range(3):
            raw = h.mem.read(q.desc_base + i * DESC_BYTES, DESC_BYTES)
            assert RxDescriptor.unpack(raw) == descs[i]
        assert reg(h, "DESC_TAIL") == 3
        for i in range(3):
            h.nic.receive(frame(100 + i, tag=i))
        return q, await q.poll(budget=8)

    q, done = run(go())
    cpls = [d.cpl for d in done]
    assert [c.cookie for c in cpls] == [0x1000, 0x1001, 0x1002]
    assert [d.descs for d in done] == [(h.desc(i),) for i in range(3)]
    assert [c.frame_len for c in cpls] == [100, 101, 102]
    assert all(c.status == CplStatus.OK and c.phase == 1 for c in cpls)
    assert reg(h, "CPL_HEAD") == 3 and q.cpl_head == 3
    assert h.mem.read(h.bufs + 2 * 2 * PAGE_SIZE + 12, 102) == frame(102, tag=2)


def test_driver_never_lets_the_nic_find_the_completion_ring_full() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4, cpl=4)
        await q.post([h.desc(i) for i in range(4)])
        with pytest.raises(QueueFull):
            await q.post([h.desc(4)])
        assert reg(h, "DESC_TAIL") == 4
        for i in range(4):
            h.nic.receive(frame(80, i))
        # the NIC consumed every descriptor, but their completions are unacknowledged
        assert reg(h, "DESC_HEAD") == 4 and q.free_slots == 0
        # completion ring full and nothing posted: a plain no_buffer, the queue lives on
        assert h.nic.receive(frame(80)).drop is DropReason.NO_BUFFER
        assert not (await q.status()).error
        with pytest.raises(QueueFull):
            await q.post([h.desc(4)])
        assert len(await q.poll(budget=2)) == 2
        assert q.free_slots == 2
        await q.post([h.desc(4), h.desc(5)])
        for i in range(2):
            h.nic.receive(frame(80, i))
        assert h.nic.state().error_code is QueueError.NONE
        assert cookies(await q.poll(budget=8)) == [0x1002, 0x1003, 0x1004, 0x1005]

    run(go())


def test_phase_polling_across_many_laps_with_a_larger_completion_ring() -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4, cpl=8)
        posted = got = 0
        phases: list[int] = []
        while got < 60:
            n = rng.randint(0, q.free_slots)
            await q.post([h.desc(posted + k) for k in range(n)])
            posted += n
            for _ in range(rng.randint(0, posted - got)):
                h.nic.receive(frame(64))
            # entries of the previous lap are still in memory: only new ones count
            cpls = [d.cpl for d in await q.poll(budget=rng.randint(1, 5))]
            assert [c.cookie for c in cpls] == [0x1000 + got + k for k in range(len(cpls))]
            phases += [c.phase for c in cpls]
            got += len(cpls)
        rest = [d.cpl for d in await q.poll(budget=8)]  # frames received after the last poll
        assert [c.cookie for c in rest] == [0x1000 + got + k for k in range(len(rest))]
        got += len(rest)
        assert phases[:24] == ([1] * 8 + [0] * 8) + [1] * 8
        assert q.cpl_head == got and reg(h, "CPL_HEAD") == got == reg(h, "CPL_TAIL")
        assert await q.poll() == []  # the ring is full of older laps' records: none valid

    run(go())


def test_indices_wrap_at_16_bits_from_a_late_start() -> None:
    """Driver and NIC both placed just below 2**16 (test-only poke of their counters, as if
    65 000 frames had passed): posting, doorbells and phase stay right across the wrap."""
    h = Host()
    start = 0x10000 - 6

    async def go() -> None:
        q = await h.queue(desc=4, cpl=8)
        h.nic.queues[0].state = QueueState(start, start, start, start)
        q.tail = q.cpl_head = start
        for i in range(start, start + 8):  # each slot holds its previous lap's record
            old = RxCompletion.unpack(bytes(CPL_BYTES - 1) + bytes([1 ^ ring_phase(i, 3)]))
            h.mem.write(q.cpl_base + (i % 8) * CPL_BYTES, old.pack())
        got: list[RxCompletion] = []
        for i in range(5):
            await q.post([h.desc(3 * i + k) for k in range(3)])
            for _ in range(3):
                h.nic.receive(frame(64))
            got += [d.cpl for d in await q.poll()]
        assert [c.cookie for c in got] == [0x1000 + i for i in range(15)]
        phases = [ring_phase((start + i) & 0xFFFF, 3) for i in range(15)]
        assert [c.phase for c in got] == phases and phases[5:7] == [0, 1]  # lap at the wrap
        assert q.tail == (start + 15) & 0xFFFF == reg(h, "DESC_TAIL") == reg(h, "CPL_HEAD") == 9

    run(go())


@pytest.mark.slow
def test_indices_wrap_at_16_bits() -> None:
    h = Host()
    n = 1 << 12

    async def go() -> None:
        q = await h.queue(desc=n, cpl=n)
        total = 0
        while total < 0x10000 + 2 * n:
            await q.post([h.desc(total + k) for k in range(n)])
            for _ in range(n):
                h.nic.receive(b"\x00" * 60)
            cpls = await q.poll(budget=n)
            assert len(cpls) == n and cpls[0].cpl.cookie == 0x1000 + total
            total += n
        assert q.tail == total & 0xFFFF == reg(h, "DESC_TAIL") == reg(h, "CPL_TAIL")

    run(go())
    assert h.nic.rx_frames == 0x10000 + 2 * n


def test_completion_with_an_unexpected_cookie_is_a_protocol_error() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        await q.post([h.desc(0)])
        bogus = RxCompletion(0xBAD, 0, 60, 0, 60, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1)
        h.mem.write(q.cpl_base, bogus.pack())
        with pytest.raises(NicProtocolError, match="cookie 0xbad"):
            await q.poll()

    run(go())


# -- groups: one completion, several descriptors ---------------------------------------------


class AckSpy(FakeNic):
    """Records the driver's free slots at the moment its CPL_HEAD write reaches the NIC."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.queue: RxQueue | None = None
        self.free_at_ack: list[int] = []

    def write_now(self, offset: int, value: int) -> None:
        if offset == regmap.RXQ.addr(0, "CPL_HEAD") and self.queue is not None:
            self.free_at_ack.append(self.queue.free_slots)
        super().write_now(offset, value)


def test_group_completion_returns_all_its_descriptors_and_frees_that_many_slots() -> None:
    h = Host(AckSpy)
    nic = h.nic
    assert isinstance(nic, AckSpy)

    async def go() -> None:
        q = await h.queue(desc=4, cpl=4)
        nic.queue = q
        group = [h.desc(0, 100, flags=0), h.desc(1, 100, flags=0), h.desc(2, 100)]
        await q.post([*group, h.desc(3)])
        assert (q.outstanding, q.free_slots) == (4, 0)
        p = h.nic.receive(frame(200))  # 12 + 200 bytes: needs all three 100-byte buffers
        assert p.delivered and p.completion is not None and p.completion.desc_count == 3
        assert (reg(h, "DESC_HEAD"), reg(h, "CPL_TAIL")) == (3, 1)
        (done,) = await q.poll()
        assert done.cpl == p.completion and done.descs == tuple(group)
        # slots count as free only once CPL_HEAD acknowledges the completion that freed them
        assert nic.free_at_ack == [0]
        assert (q.outstanding, q.free_slots) == (1, 3)
        assert q.posted_descriptors == [h.desc(3)]
        await q.post([h.desc(4), h.desc(5), h.desc(6)])
        assert q.free_slots == 0 and reg(h, "DESC_TAIL") == 7
        ring = h.mem.read(q.desc_base, 4 * DESC_BYTES)
        with pytest.raises(QueueFull, match="1 descriptors posted, 0 free"):
            await q.post([h.desc(7)])
        assert reg(h, "DESC_TAIL") == 7 and h.mem.read(q.desc_base, 4 * DESC_BYTES) == ring
        assert q.posted_descriptors == [h.desc(i) for i in range(3, 7)]

    run(go())


def test_posting_beyond_free_slots_raises_queue_full_and_writes_nothing() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=8)
        await q.post([h.desc(i) for i in range(5)])
        writes = h.nic.mmio_writes
        with pytest.raises(QueueFull):
            await q.post([h.desc(5 + i) for i in range(4)])  # 3 free
        assert h.nic.mmio_writes == writes and q.tail == 5 and q.free_slots == 3
        assert h.mem.read(q.desc_base + 5 * DESC_BYTES, 3 * DESC_BYTES) == bytes(3 * DESC_BYTES)
        await q.post([h.desc(5 + i) for i in range(3)])
        assert q.free_slots == 0 and reg(h, "DESC_TAIL") == 8

    run(go())


def test_a_completion_ending_inside_a_group_is_a_protocol_error() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        await q.post([h.desc(0, flags=0), h.desc(1)])
        bogus = RxCompletion(0x1000, 0, 60, 0, 60, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1)
        h.mem.write(q.cpl_base, bogus.pack())
        with pytest.raises(NicProtocolError, match="inside a group"):
            await q.poll()

    run(go())


# -- several queues, placement settings --------------------------------------------------------


def test_two_queues_with_different_modes_place_frames_their_own_way() -> None:
    h = Host()
    pkt = frame(300, tag=7)

    async def go() -> None:
        await h.drv.probe()
        full = await h.drv.open_queue(0, desc_entries=4, data_offset=12)
        split = await h.drv.open_queue(
            5, desc_entries=8, data_offset=0, mode=PlacementMode.SPLIT, split_level=SplitLevel.L4
        )
        assert full.desc_base != split.desc_base and full.cpl_base != split.cpl_base
        assert (h.nic.config(0).mode, h.nic.config(5).mode) == (
            PlacementMode.FULL,
            PlacementMode.SPLIT,
        )
        assert ctrl_settings(h, 5) == (1, PlacementMode.SPLIT, SplitLevel.L4, 0, 1)
        assert reg(h, "DESC_SIZE", 5) == 3 and reg(h, "DESC_SIZE", 0) == 2
        await full.post([h.desc(0)])
        await split.post([h.desc(1, hdr=True)])
        pf = h.nic.receive(pkt, queue=0, meta=UDP_META)
        ps = h.nic.receive(pkt, queue=5, meta=UDP_META)
        assert pf.delivered and ps.delivered
        assert (reg(h, "DESC_HEAD", 0), reg(h, "DESC_HEAD", 5)) == (1, 1)
        (df,) = await full.poll()
        (ds,) = await split.poll()
        assert (df.cpl.cookie, ds.cpl.cookie) == (0x1000, 0x1001)
        assert (df.cpl.hdr_len, df.cpl.flags & CplFlags.SPLIT) == (0, 0)
        assert (ds.cpl.hdr_len, ds.cpl.payload_len, ds.cpl.flags & CplFlags.SPLIT) == (
            42,
            258,
            CplFlags.SPLIT,
        )
        assert h.mem.read(h.desc(0).data_addr + 12, 300) == pkt  # FULL: the whole frame
        d1 = h.desc(1, hdr=True)
        assert h.mem.read(d1.hdr_addr, 42) == pkt[:42]  # SPLIT: headers to the header buffer
        assert h.mem.read(d1.data_addr, 258) == pkt[42:]  # payload from data_offset 0
        assert await full.poll() == [] and await split.poll() == []

    run(go())


def test_open_queue_accepts_every_queue_the_device_has_and_no_other() -> None:
    h = Host()

    async def go() -> None:
        await h.drv.probe()
        for i in range(8):
            await h.drv.open_queue(i, desc_entries=2, data_offset=i)
        assert [h.nic.config(i).data_offset for i in range(8)] == list(range(8))
        assert all(h.nic.config(i).enabled for i in range(8))
        with pytest.raises(ValueError, match="RX queue 8"):
            await h.drv.open_queue(8, desc_entries=2)
        with pytest.raises(DriverError, match="already open"):
            await h.drv.open_queue(3, desc_entries=2)

    run(go())


def test_enable_disable_and_reset_keep_the_queue_settings_in_ctrl() -> None:
    """Every CTRL write carries the queue's settings: a write of only ``enable`` would turn
    the queue into FULL/L2/not mergeable/waiting and, while enabled, stop it."""
    h = Host()
    want = (PlacementMode.SPLIT_HOLE, SplitLevel.L3, 1, 0)

    async def go() -> None:
        q = await h.queue(
            desc=4, index=2, mode=PlacementMode.SPLIT_HOLE, split_level=SplitLevel.L3,
            mergeable=True, drop_when_empty=False, enable=False,
        )  # fmt: skip
        assert ctrl_settings(h, 2) == (0, *want)
        await q.enable()
        assert ctrl_settings(h, 2) == (1, *want)
        await q.post([h.desc(0)])
        await q.disable()
        assert ctrl_settings(h, 2) == (0, *want)
        await q.enable()
        await q.reset()
        assert ctrl_settings(h, 2) == (1, *want)
        await q.quiesce()
        assert ctrl_settings(h, 2) == (0, *want)
        assert not (await q.status()).error and h.nic.state(2).error_code is QueueError.NONE
        cfg = h.nic.config(2)
        assert (cfg.mode, cfg.split_level, cfg.mergeable, cfg.drop_when_empty) == (
            PlacementMode.SPLIT_HOLE,
            SplitLevel.L3,
            True,
            False,
        )

    run(go())


def test_drop_when_empty_is_per_queue() -> None:
    h = Host()

    async def go() -> None:
        await h.queue(desc=4, index=0)
        await h.queue(desc=4, index=1, drop_when_empty=False)
        assert h.nic.receive(frame(64), queue=0).drop is DropReason.NO_BUFFER
        with pytest.raises(FrameWaits):  # the engine would wait for the host
            h.nic.receive(frame(64), queue=1)

    run(go())


def test_changing_the_mode_of_an_enabled_queue_stops_it_with_config_changed() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        await q.post([h.desc(0), h.desc(1)])
        writes = h.nic.mmio_writes
        with pytest.raises(DriverError, match="disable"):
            await q.configure(mode=PlacementMode.SPLIT)
        assert h.nic.mmio_writes == writes and q.mode is PlacementMode.FULL
        # what a driver that wrote CTRL while enabled would do
        h.nic.write_now(
            regmap.RXQ.addr(0, "CTRL"),
            reg(h, "CTRL") & ~CTRL["mode"].mask | CTRL["mode"].put(PlacementMode.SPLIT),
        )
        st = await q.status()
        assert st.error and st.error_code is QueueError.CONFIG_CHANGED and not st.quiescent
        assert h.nic.receive(frame(64)).drop is DropReason.QUEUE_ERROR
        lost = await q.reset()  # back to the driver's settings, error cleared
        assert [d.cookie for d in lost] == [0x1000, 0x1001]
        st = await q.status()
        assert not st.error and st.error_code is QueueError.NONE
        assert ctrl_settings(h)[:2] == (1, PlacementMode.FULL)
        # the right way: disable, configure, enable
        await q.quiesce()
        await q.configure(mode=PlacementMode.SPLIT, split_level=SplitLevel.L3)
        await q.enable()
        assert not (await q.status()).error
        assert ctrl_settings(h)[:3] == (1, PlacementMode.SPLIT, SplitLevel.L3)
        await q.post([h.desc(2, hdr=True)])
        assert h.nic.receive(frame(200), meta=UDP_META).delivered
        (d,) = await q.poll()
        assert d.cpl.hdr_len == 34 and d.cpl.flags & CplFlags.SPLIT  # split after IPv4

    run(go())


def test_enabling_a_queue_with_a_bad_ring_stops_it_with_bad_config() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4, enable=False)
        assert not (await q.status()).error
        h.nic.write_now(regmap.RXQ.addr(0, "DESC_BASE_LO"), q.desc_base + 8)  # unaligned
        await q.enable()
        st = await q.status()  # at once, before any frame
        assert st.error and st.error_code is QueueError.BAD_CONFIG

    run(go())


# -- moderation and engine settings -----------------------------------------------------------


def test_set_moderation_programs_the_queues_register() -> None:
    h = Host()
    m = regmap.RXQ.regs["MODERATION"]

    async def go() -> None:
        q0 = await h.queue(desc=4)
        q3 = await h.queue(desc=4, index=3)
        assert reg(h, "MODERATION", 3) == m.reset
        await q3.set_moderation(16, 1000)
        v = reg(h, "MODERATION", 3)
        assert (m.fields["packets"].get(v), m.fields["cycles"].get(v)) == (16, 1000)
        assert reg(h, "MODERATION", 0) == m.reset and q0.moderation == (1, 0)
        writes = h.nic.mmio_writes
        for bad in ((256, 0), (1, 1 << 16), (-1, 0)):
            with pytest.raises(ValueError):
                await q3.set_moderation(*bad)
        assert h.nic.mmio_writes == writes and q3.moderation == (16, 1000)

    run(go())


def test_set_dma_params_writes_only_what_it_is_given() -> None:
    h = Host()
    regs = (regmap.DMA_DESC_WAIT, regmap.DMA_CPL_FLUSH, regmap.DMA_RD_TIMEOUT)

    def values() -> list[int]:
        return [h.nic.read_now(r.offset) for r in regs]

    async def go() -> None:
        await h.drv.probe()
        wait0, flush0, timeout0 = (r.reset for r in regs)
        assert values() == [wait0, flush0, timeout0]
        await h.drv.set_dma_params(cpl_flush=10)
        assert values() == [wait0, 10, timeout0]
        await h.drv.set_dma_params(desc_wait=1000, rd_timeout_x256=3)
        assert values() == [1000, 10, 3]
        writes = h.nic.mmio_writes
        with pytest.raises(ValueError, match="DMA_RD_TIMEOUT"):
            await h.drv.set_dma_params(desc_wait=5, rd_timeout_x256=1 << 16)
        assert h.nic.mmio_writes == writes and values() == [1000, 10, 3]

    run(go())


# -- RSS ------------------------------------------------------------------------------------

RSS_KEY_REGS = [regmap.RSS_KEY_OFFSET + i * regmap.RSS_KEY_STRIDE for i in range(10)]
INDIR = regmap.RSS_INDIR.fields


def test_rss_registers_out_of_reset_program_nothing() -> None:
    h = Host()
    assert [h.nic.read_now(a) for a in RSS_KEY_REGS] == [0] * 10
    assert h.nic.read_now(regmap.RSS_CTRL.offset) == regmap.RSS_CTRL.reset == 0
    assert h.nic.read_now(regmap.RSS_INDIR.offset) == 0
    assert h.nic.rss_config() == RSS_RESET == RssConfig(bytes(40), False, (0,) * 128)


def test_set_rss_writes_the_key_as_big_endian_words_the_control_and_every_entry() -> None:
    h = Host()
    table = [(7 * i + 3) % 8 for i in range(128)]

    async def go() -> None:
        await h.drv.probe()
        writes = h.nic.mmio_writes
        await h.drv.set_rss(MS_VERIFICATION_KEY, table, udp_4tuple=True)
        assert h.nic.mmio_writes - writes == 10 + 1 + 128
        words = [h.nic.read_now(a) for a in RSS_KEY_REGS]
        assert words[0] == 0x6D5A56DA and words[9] == 0xBEAC01FA  # key byte 0 in bits 31:24
        assert h.nic.read_now(regmap.RSS_CTRL.offset) == 1
        last = h.nic.read_now(regmap.RSS_INDIR.offset)  # the last entry written; write reads 0
        assert (INDIR["index"].get(last), INDIR["queue"].get(last)) == (127, table[127])
        assert INDIR["write"].get(last) == 0
        assert h.nic.rss_config() == RssConfig(MS_VERIFICATION_KEY, True, tuple(table))
        await h.drv.set_rss(bytes(range(40)), [1] * 128)
        assert h.nic.rss_config() == RssConfig(bytes(range(40)), False, (1,) * 128)

    run(go())


@pytest.mark.parametrize(
    ("key", "table", "match"),
    [
        (bytes(39), [0] * 128, "key of 39 bytes"),
        (MS_VERIFICATION_KEY, [0] * 127, "127 entries"),
        (MS_VERIFICATION_KEY, [0] * 127 + [8], "queue 8"),
        (MS_VERIFICATION_KEY, [-1] + [0] * 127, "queue -1"),
    ],
)
def test_set_rss_refuses_a_bad_key_table_or_queue_and_writes_nothing(
    key: bytes, table: list[int], match: str
) -> None:
    h = Host()

    async def go() -> None:
        await h.drv.probe()
        writes = h.nic.mmio_writes
        with pytest.raises(ValueError, match=match):
            await h.drv.set_rss(key, table, udp_4tuple=True)
        assert h.nic.mmio_writes == writes and h.nic.rss_config() == RSS_RESET

    run(go())


def test_rss_indir_stages_without_write_and_sets_one_entry_with_it() -> None:
    h = Host()
    h.nic.write_now(regmap.RSS_INDIR.offset, INDIR["index"].put(5) | INDIR["queue"].put(3))
    assert h.nic.rss_table == [0] * 128  # staged only
    assert h.nic.read_now(regmap.RSS_INDIR.offset) == INDIR["index"].put(5) | INDIR["queue"].put(3)
    v = INDIR["index"].put(9) | INDIR["queue"].put(63) | INDIR["write"].put(1)
    h.nic.write_now(regmap.RSS_INDIR.offset, v)
    assert [i for i, q in enumerate(h.nic.rss_table) if q] == [9] and h.nic.rss_table[9] == 63
    assert h.nic.read_now(regmap.RSS_INDIR.offset) == v & ~INDIR["write"].mask


def tcp_frame(src: str, sport: int, dst: str, dport: int, mac: str = "ff:ff:ff:ff:ff:ff") -> bytes:
    pkt = Ether(dst=mac) / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport) / Raw(bytes(20))
    return bytes(pkt)


def test_completions_carry_the_hash_and_type_of_the_programmed_key() -> None:
    """Microsoft's first IPv4 verification vector (66.9.149.187:2794 -> 161.142.100.80:1766,
    TCP hash 0x51ccc178, address-only hash 0x323e8fc2): 0 with the key out of reset, the
    published hash once the driver programs the verification key; the type either way."""
    h = Host()
    pkt = tcp_frame("66.9.149.187", 2794, "161.142.100.80", 1766)
    meta = reference(pkt, MAX_HDR_BYTES, MAX_EXT_HDRS)
    frag = bytearray(pkt)
    frag[14 + 6] |= 0x20  # MF: a first fragment hashes its addresses only
    frag_meta = reference(bytes(frag), MAX_HDR_BYTES, MAX_EXT_HDRS)

    async def go() -> None:
        q = await h.queue(desc=8)
        await q.post([h.desc(i) for i in range(3)])
        h.nic.receive(pkt, meta=meta)
        await h.drv.set_rss(MS_VERIFICATION_KEY, [0] * 128)
        h.nic.receive(pkt, meta=meta)
        h.nic.receive(bytes(frag), meta=frag_meta)
        got = [(d.cpl.rss_hash, d.cpl.rss_type) for d in await q.poll()]
        assert got == [
            (0, RssType.IPV4_TCP),
            (0x51CCC178, RssType.IPV4_TCP),
            (0x323E8FC2, RssType.IPV4),
        ]

    run(go())


def test_broadcast_and_promiscuous_frames_steer_to_the_indirection_entry_of_their_hash() -> None:
    table = [i % 4 for i in range(128)]
    rss = RssConfig(MS_VERIFICATION_KEY, False, tuple(table))
    want = table[0x51CCC178 & 127]
    for mac, promisc in (("ff:ff:ff:ff:ff:ff", False), ("01:00:5e:00:00:01", False),
                         ("02:00:00:00:00:09", True)):  # fmt: skip
        pkt = tcp_frame("66.9.149.187", 2794, "161.142.100.80", 1766, mac)
        meta = reference(pkt, MAX_HDR_BYTES, MAX_EXT_HDRS)
        assert steer_frame([EMPTY] * 16, pkt, meta, promisc, rss).queue == want
        assert steer_frame([EMPTY] * 16, pkt, meta, promisc).queue == 0  # out of reset
    pkt = tcp_frame("66.9.149.187", 2794, "161.142.100.80", 1766, "02:00:00:00:00:09")
    meta = reference(pkt, MAX_HDR_BYTES, MAX_EXT_HDRS)
    assert steer_frame([EMPTY] * 16, pkt, meta, False, rss).drop


# -- counters, status, reset ----------------------------------------------------------------


def test_counters_report_every_outcome_and_read_64_bits() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        await q.post([h.desc(0), h.desc(1), h.desc(2, length=100)])
        h.nic.receive(frame(200))
        h.nic.receive(frame(300))
        h.nic.receive(frame(200))  # does not fit 100 B
        for _ in range(3):
            h.nic.receive(frame(64))  # nothing posted
        await q.disable()
        h.nic.receive(frame(64))
        c = await h.drv.counters()
        expected = dict.fromkeys(DropReason, 0)
        expected[DropReason.TOO_LONG_FOR_GROUP] = 1
        expected[DropReason.NO_BUFFER] = 3
        expected[DropReason.QUEUE_DISABLED] = 1
        assert c.drops == expected
        assert (c.rx_frames, c.rx_bytes) == (2, 500)
        assert c.total_drops + c.rx_frames == 7
        assert await q.counters() == QueueCounters(packets=2, bytes=500, drops=5)
        h.nic.set_counter(DropReason.BAD_FCS, (5 << 32) | 7)
        assert (await h.drv.counters()).drops[DropReason.BAD_FCS] == (5 << 32) | 7

    run(go())


def test_per_queue_counters_count_each_queue_apart_and_read_lo_before_hi() -> None:
    h = Host()

    async def go() -> None:
        q1 = await h.queue(desc=4, index=1)
        q6 = await h.queue(desc=4, index=6)
        await q1.post([h.desc(0), h.desc(1)])
        await q6.post([h.desc(2, length=50)])
        h.nic.receive(frame(100), queue=1)
        h.nic.receive(frame(120), queue=1)
        h.nic.receive(frame(64), queue=1)  # no buffer
        h.nic.receive(frame(100), queue=6)  # too long for its 50-byte group
        h.nic.receive(frame(64), queue=6)  # no buffer
        await q6.disable()
        h.nic.receive(frame(64), queue=6)
        assert await q1.counters() == QueueCounters(2, 220, 1)
        assert await q6.counters() == QueueCounters(0, 0, 3)
        g = await h.drv.counters()
        assert (g.rx_frames, g.rx_bytes, g.total_drops) == (2, 220, 4)
        # HI is latched by the LO read: read HI first and the carry is lost
        h.nic.set_counter("bytes", (7 << 32) | 0xFFFF_FFFF, queue=6)
        assert (await q6.counters()).bytes == (7 << 32) | 0xFFFF_FFFF
        h.nic.set_counter("drops", 1 << 40, queue=1)
        assert (await q1.counters()).drops == 1 << 40
        assert (await q6.counters()).drops == 3

    run(go())


def test_queue_error_shows_in_status_and_reset_recovers_with_a_fresh_ring() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=64)
        await q.post([h.desc(0)])
        h.nic.receive(frame(64))
        assert len(await q.poll()) == 1
        # a first group longer than the descriptor cache (32): no EOG within it
        await q.post([h.desc(1 + i, flags=0) for i in range(32)])
        h.nic.receive(frame(64))
        h.nic.receive(frame(64))
        st = await q.status()
        assert st.error and st.error_code is QueueError.BAD_GROUP
        assert h.nic.drops[DropReason.QUEUE_ERROR] == 2
        assert reg(h, "DESC_HEAD") == 1  # nothing consumed
        lost = await q.reset()
        assert [d.cookie for d in lost] == [0x1001 + i for i in range(32)]
        assert not (await q.status()).error
        assert h.mem.read(q.cpl_base, 4 * CPL_BYTES) == bytes(4 * CPL_BYTES)
        assert (reg(h, "DESC_TAIL"), reg(h, "DESC_HEAD"), reg(h, "CPL_HEAD")) == (0, 0, 0)
        assert h.nic.config().enabled and q.free_slots == 64
        await q.post([h.desc(40)])
        h.nic.receive(frame(90))
        (d,) = await q.poll()
        assert (d.cpl.cookie, d.cpl.phase, d.cpl.frame_len) == (0x1028, 1, 90)

    run(go())


def test_core_reset_returns_every_register_to_reset_and_keeps_the_counters() -> None:
    h = Host()

    async def go() -> None:
        q0 = await h.queue(desc=8, index=0, mode=PlacementMode.SPLIT)
        q1 = await h.queue(desc=8, index=3)
        await h.drv.set_dma_params(cpl_flush=7)
        await h.drv.set_rss(MS_VERIFICATION_KEY, (3,) * INDIRECTION_ENTRIES)
        await q0.post([h.desc(0, hdr=True), h.desc(1, hdr=True)])
        await q1.post([h.desc(2)])
        h.nic.receive(frame(64), queue=0, meta=UDP_META)
        assert len(await q0.poll()) == 1
        assert await h.drv.reset_core() == [q0, q1]
        # the descriptors the NIC did not use come back; both queues are closed and unmapped
        assert [d.cookie for d in await q0.retire()] == [0x1001]
        assert [d.cookie for d in await q1.retire()] == [0x1002]
        assert h.drv.queues == {} and q0.closed and q1.closed
        with pytest.raises(IommuFault):
            h.domain.translate(q0.desc_base, 32, write=False)
        # every register reads its reset value; counters survive
        for i in (0, 3):
            for name in ("CTRL", "DESC_BASE_LO", "DESC_SIZE", "DESC_TAIL", "CPL_HEAD"):
                assert reg(h, name, i) == regmap.RXQ.regs[name].reset, (i, name)
        assert h.nic.read_now(regmap.DMA_CPL_FLUSH.offset) == regmap.DMA_CPL_FLUSH.reset
        assert h.nic.rss_config() == RSS_RESET
        status = h.nic.read_now(regmap.DEV_STATUS.offset)
        assert regmap.DEV_STATUS.fields["core_resets"].get(status) == 1
        assert (await h.drv.counters()).rx_frames == 1
        assert h.nic.counter("packets", 0) == 1
        # a fresh queue takes over
        q = await h.queue(desc=8, index=0)
        await q.post([h.desc(5)])
        h.nic.receive(frame(70))
        (d,) = await q.poll()
        assert (d.cpl.cookie, d.cpl.frame_len) == (0x1005, 70)

    run(go())


def test_status_reports_unknown_error_codes_as_numbers() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        h.nic.queues[0].state = QueueState(error_code=99)  # type: ignore[arg-type]
        st = await q.status()
        assert st.error and st.error_code == 99 and not isinstance(st.error_code, QueueError)

    run(go())


# -- quiesce ----------------------------------------------------------------------------------


class SlowQuiesce(FakeNic):
    """STATUS.quiescent stays 0 for ``busy_reads`` STATUS reads after the queue is disabled
    (a frame still being placed, a completion buffered), while DESC_HEAD == CPL_TAIL."""

    def __init__(self, *a: Any, busy_reads: int = 5, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.busy_reads = busy_reads
        self.status_reads = 0

    def read_now(self, offset: int) -> int:
        v = super().read_now(offset)
        if offset == regmap.RXQ.addr(0, "STATUS"):
            self.status_reads += 1
            if self.busy_reads > 0 and not self.queues[0].ctrl_enable:
                self.busy_reads -= 1
                v &= ~STATUS["quiescent"].mask
        return v


def test_quiesce_waits_for_status_quiescent() -> None:
    h = Host(SlowQuiesce, busy_reads=5)
    nic = h.nic
    assert isinstance(nic, SlowQuiesce)

    async def go() -> None:
        q = await h.queue(desc=4)
        assert reg(h, "DESC_HEAD") == reg(h, "CPL_TAIL")
        before = nic.status_reads
        await q.quiesce()
        assert nic.status_reads - before == 6 and nic.busy_reads == 0
        assert not h.nic.config().enabled and not q.enabled

    run(go())


def test_quiesce_gives_up_with_quiesce_timeout_or_returns_on_error() -> None:
    h = Host(SlowQuiesce, busy_reads=1000)
    nic = h.nic
    assert isinstance(nic, SlowQuiesce)

    async def go() -> None:
        q = await h.queue(desc=4)
        with pytest.raises(QuiesceTimeout):
            await q.quiesce(max_reads=20)
        nic.queues[0].fail(QueueError.DESC_TIMEOUT)
        before = nic.status_reads
        await q.quiesce(max_reads=20)  # stopped: reset discards what is still in flight
        assert nic.status_reads - before == 1

    run(go())


def test_quiesce_after_a_group_completion_where_head_and_tail_differ() -> None:
    """A completion consumed two descriptors: DESC_HEAD 2, CPL_TAIL 1 for good. Comparing
    them would never see the queue idle."""
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        await q.post([h.desc(0, 60, flags=0), h.desc(1, 100)])
        assert h.nic.receive(frame(100)).delivered
        assert (reg(h, "DESC_HEAD"), reg(h, "CPL_TAIL")) == (2, 1)
        await q.quiesce(max_reads=3)
        assert STATUS["quiescent"].get(reg(h, "STATUS"))
        (d,) = await q.poll()
        assert len(d.descs) == 2

    run(go())


def test_close_quiesces_and_unmaps_the_rings() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=8)
        await q.post([h.desc(i) for i in range(3)])
        h.nic.receive(frame(64))
        lost = await q.close()
        assert [d.cookie for d in lost] == [0x1000, 0x1001, 0x1002]  # one unpolled
        assert h.domain.lookup(q.desc_base) is None and h.domain.lookup(q.cpl_base) is None
        assert not h.nic.config().enabled
        assert h.drv.queues == {}
        with pytest.raises(DriverError):
            await q.post([h.desc(9)])

    run(go())
    assert h.domain.mapped_pages == 64 + 2  # only the test's own data and header buffers

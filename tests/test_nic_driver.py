# SPDX-License-Identifier: MIT
"""Host NIC driver against FakeNic: probe, queue programming, posting within the
completion ring, phase-bit polling across laps, counters, errors, reset, close."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from model import regmap
from model.hostmem import PAGE_SIZE, HostMemory
from model.iommu import Domain, Iommu, IommuFault, Perm
from model.nic_model import (
    CPL_BYTES,
    DESC_BYTES,
    FakeNic,
    QueueErrorCode,
    QueueState,
    ring_phase,
)
from model.records import CplStatus, DescFlags, DropReason, RxCompletion, RxDescriptor
from sw.nic_driver import (
    DriverError,
    NicDriver,
    NicProtocolError,
    ProbeError,
    QueueFull,
    RxQueue,
)

RID = 0x0100
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def frame(size: int, tag: int = 0) -> bytes:
    hdr = Ether(dst="02:00:00:00:00:01") / IP(dst="10.0.0.1") / UDP(sport=tag, dport=9)
    return bytes(hdr / Raw(bytes((tag + i) & 0xFF for i in range(size - len(hdr)))))


class Host:
    def __init__(self, **fake_kw: Any) -> None:
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.domain: Domain = self.iommu.attach(RID)
        self.nic = FakeNic(self.mem, self.domain, **fake_kw)
        self.drv = NicDriver(self.nic, self.mem, self.domain)
        # data buffers, mapped write-only for the device
        self.bufs = self.mem.alloc(64 * PAGE_SIZE, name="bufs")
        self.domain.map(self.bufs, self.bufs, 64 * PAGE_SIZE, Perm.WRITE)

    def desc(self, i: int, length: int = 2048, flags: int = DescFlags.EOG) -> RxDescriptor:
        addr = self.bufs + (i % 32) * 2 * PAGE_SIZE
        return RxDescriptor(addr, 0, cookie=0x1000 + i, data_len=length, hdr_len=0, flags=flags)

    async def queue(self, desc: int = 4, cpl: int | None = None, offset: int = 12) -> RxQueue:
        await self.drv.probe()
        return await self.drv.open_queue(0, desc_entries=desc, cpl_entries=cpl, data_offset=offset)


def reg(h: Host, name: str) -> int:
    return h.nic.read_now(regmap.RXQ.addr(0, name))


# -- probe ----------------------------------------------------------------------------------


def test_probe_reads_capabilities_from_the_register_map() -> None:
    h = Host()
    caps = run(h.drv.probe())
    assert caps.id == regmap.ID.reset
    assert caps.version == (0, 1, 0)
    assert caps.rx_queues == regmap.CAP_QUEUES.fields["rx_queues"].reset
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

    async def go() -> tuple[RxQueue, list[RxCompletion]]:
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

    q, cpls = run(go())
    assert [c.cookie for c in cpls] == [0x1000, 0x1001, 0x1002]
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
        assert h.nic.state().error_code is QueueErrorCode.NONE
        assert [c.cookie for c in await q.poll(budget=8)] == [0x1002, 0x1003, 0x1004, 0x1005]

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
            cpls = await q.poll(budget=rng.randint(1, 5))
            assert [c.cookie for c in cpls] == [0x1000 + got + k for k in range(len(cpls))]
            phases += [c.phase for c in cpls]
            got += len(cpls)
        rest = await q.poll(budget=8)  # frames received after the last poll
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
        q.tail = q.cpl_head = q._cpl_head_written = start
        for i in range(start, start + 8):  # each slot holds its previous lap's record
            old = RxCompletion.unpack(bytes(CPL_BYTES - 1) + bytes([1 ^ ring_phase(i, 3)]))
            h.mem.write(q.cpl_base + (i % 8) * CPL_BYTES, old.pack())
        got: list[RxCompletion] = []
        for i in range(5):
            await q.post([h.desc(3 * i + k) for k in range(3)])
            for _ in range(3):
                h.nic.receive(frame(64))
            got += await q.poll()
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
            assert len(cpls) == n and cpls[0].cookie == 0x1000 + total
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
        h.nic.set_counter(DropReason.BAD_FCS, (5 << 32) | 7)
        assert (await h.drv.counters()).drops[DropReason.BAD_FCS] == (5 << 32) | 7

    run(go())


def test_queue_error_shows_in_status_and_reset_recovers_with_a_fresh_ring() -> None:
    h = Host()

    async def go() -> None:
        q = await h.queue(desc=4)
        await q.post([h.desc(0)])
        h.nic.receive(frame(64))
        assert len(await q.poll()) == 1
        await q.post([h.desc(1, flags=0), h.desc(2)])  # no EOG: chains not supported
        h.nic.receive(frame(64))
        h.nic.receive(frame(64))
        st = await q.status()
        assert st.error and st.error_code == QueueErrorCode.NO_EOG
        assert h.nic.drops[DropReason.QUEUE_ERROR] == 2
        lost = await q.reset()
        assert [d.cookie for d in lost] == [0x1001, 0x1002]
        assert not (await q.status()).error
        assert h.mem.read(q.cpl_base, 4 * CPL_BYTES) == bytes(4 * CPL_BYTES)
        assert (reg(h, "DESC_TAIL"), reg(h, "DESC_HEAD"), reg(h, "CPL_HEAD")) == (0, 0, 0)
        assert h.nic.config().enabled and q.free_slots == 4
        await q.post([h.desc(3)])
        h.nic.receive(frame(90))
        (c,) = await q.poll()
        assert (c.cookie, c.phase, c.frame_len) == (0x1003, 1, 90)

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
    assert h.domain.mapped_pages == 64  # only the test's own data buffers

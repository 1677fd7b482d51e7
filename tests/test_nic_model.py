# SPDX-License-Identifier: MIT
"""Reference model of the RX queue (predictor) and FakeNic (the model behind BAR0 registers
and host memory): placement, completions, drop reasons and their precedence, queue errors,
phase, register semantics, IOMMU and tracker hooks."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from model import regmap
from model.hostmem import PAGE_SIZE, HostMemory
from model.iommu import Iommu, Perm
from model.nic_model import (
    CPL_BYTES,
    DESC_BYTES,
    DescriptorReadError,
    FakeNic,
    MmioError,
    QueueConfig,
    QueueErrorCode,
    QueueState,
    predict_frame,
    ring_phase,
)
from model.records import CplStatus, DescFlags, DropReason, RxCompletion, RxDescriptor
from model.tracker import DmaWriteTracker

RID = 0x0100
EOG = int(DescFlags.EOG)


def udp_frame(size: int, tag: int = 0) -> bytes:
    """A scapy-built Ethernet/IPv4/UDP frame of exactly ``size`` bytes (FCS excluded)."""
    hdr = (
        Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02")
        / IP(src="10.0.0.2", dst="10.0.0.1")
        / UDP(sport=1000 + tag, dport=2000)
    )
    payload = bytes((tag + i) & 0xFF for i in range(size - len(hdr)))
    raw = bytes(hdr / Raw(payload))
    assert len(raw) == size
    return raw


def desc(
    addr: int = 0x10000, length: int = 2048, cookie: int = 7, flags: int = EOG
) -> RxDescriptor:
    return RxDescriptor(
        data_addr=addr, hdr_addr=0, cookie=cookie, data_len=length, hdr_len=0, flags=flags
    )


CFG = QueueConfig(
    desc_base=0x1000, desc_size_log2=2, cpl_base=0x2000, cpl_size_log2=3, data_offset=12
)


def never(slot: int) -> RxDescriptor:
    raise AssertionError(f"descriptor ring read at slot {slot}")


# -- predictor ------------------------------------------------------------------------------


def test_ok_frame_lands_at_data_offset_and_completes_with_phase_one() -> None:
    frame = udp_frame(100)
    ring = [desc(cookie=c, addr=0x10000 + c * 0x1000) for c in range(4)]
    st = QueueState(desc_tail=3, desc_head=1, cpl_tail=1, cpl_head=0)
    p = predict_frame(CFG, st, ring, frame)
    assert p.drop is None and p.delivered
    assert p.data_writes == ((0x11000 + 12, frame),)
    assert p.descriptor == ring[1]
    assert p.cpl_addr == 0x2000 + 1 * CPL_BYTES
    c = p.completion
    assert c is not None
    assert (c.cookie, c.frame_len, c.payload_len, c.hdr_len) == (1, 100, 100, 0)
    assert (c.desc_count, c.group_count, c.status, c.phase) == (1, 1, CplStatus.OK, 1)
    assert (c.flags, c.csum, c.rss_hash, c.l3_type, c.l4_type, c.csum_status) == (0,) * 6
    assert p.state == QueueState(desc_tail=3, desc_head=2, cpl_tail=2, cpl_head=0)
    assert p.writes == [(0x11000 + 12, frame), (0x2000 + CPL_BYTES, c.pack())]


@pytest.mark.parametrize("extra", [0, 1])
def test_frame_that_does_not_fit_is_completed_too_long_with_nothing_written(extra: int) -> None:
    frame = udp_frame(200)
    d = desc(length=12 + 200 - extra)
    p = predict_frame(CFG, QueueState(desc_tail=1), [d] * 4, frame)
    assert p.completion is not None and p.completion.frame_len == 200
    if extra == 0:  # exactly fits
        assert p.drop is None and p.data_writes == ((d.data_addr + 12, frame),)
        assert p.completion.payload_len == 200
    else:
        assert p.drop is DropReason.TOO_LONG_FOR_GROUP and p.data_writes == ()
        assert p.completion.status == CplStatus.TOO_LONG_FOR_GROUP
        assert p.completion.payload_len == 0 and p.completion.cookie == d.cookie
    assert p.state.desc_head == 1 and p.state.cpl_tail == 1


def test_no_posted_descriptor_is_no_buffer_and_reads_nothing() -> None:
    st = QueueState(desc_tail=5, desc_head=5, cpl_tail=5, cpl_head=5)
    p = predict_frame(CFG, st, never, udp_frame(64))
    assert p.drop is DropReason.NO_BUFFER and p.state == st and p.writes == []


def test_disabled_queue_drops_before_anything_else() -> None:
    st = QueueState(desc_tail=1, error_code=QueueErrorCode.NO_EOG)
    p = predict_frame(replace(CFG, enabled=False, desc_base=3), st, never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_DISABLED and p.state == st


def test_queue_in_error_drops_everything_until_reset() -> None:
    st = QueueState(desc_tail=1, error_code=QueueErrorCode.CPL_FULL)
    p = predict_frame(CFG, st, never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueErrorCode.NONE
    assert p.state == st


def test_descriptor_without_eog_stops_the_queue() -> None:
    p = predict_frame(CFG, QueueState(desc_tail=2), [desc(flags=0)] * 4, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueErrorCode.NO_EOG
    assert p.state.error_code is QueueErrorCode.NO_EOG and p.state.desc_head == 1
    assert p.completion is None and p.data_writes == ()
    p2 = predict_frame(CFG, p.state, [desc()] * 4, udp_frame(64))
    assert p2.drop is DropReason.QUEUE_ERROR


def test_failed_descriptor_read_stops_the_queue() -> None:
    def fault(slot: int) -> RxDescriptor:
        raise DescriptorReadError(f"slot {slot}")

    p = predict_frame(CFG, QueueState(desc_tail=1), fault, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.state.error_code is QueueErrorCode.DESC_READ


def test_full_completion_ring_is_a_queue_error_not_a_stall() -> None:
    st = QueueState(desc_tail=9, desc_head=8, cpl_tail=8, cpl_head=0)  # 8 entries unread
    p = predict_frame(CFG, st, never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueErrorCode.CPL_FULL
    ok = predict_frame(CFG, replace(st, cpl_head=1), [desc()] * 4, udp_frame(64))
    assert ok.drop is None and ok.cpl_addr == CFG.cpl_base  # slot 8 % 8


def test_full_completion_ring_with_nothing_posted_is_no_buffer_not_an_error() -> None:
    """Equal rings, every descriptor completed, host not polled yet: legal for the driver.
    The NIC needs no completion slot for a frame it drops, so this is not a queue error."""
    cfg = replace(CFG, cpl_size_log2=CFG.desc_size_log2)
    st = QueueState(desc_tail=4, desc_head=4, cpl_tail=4, cpl_head=0)
    p = predict_frame(cfg, st, never, udp_frame(64))
    assert p.drop is DropReason.NO_BUFFER and p.error_raised is QueueErrorCode.NONE
    assert p.state == st


@pytest.mark.parametrize(
    "bad",
    [
        {"desc_base": 0x1010},
        {"cpl_base": 0x2004},
        {"cpl_size_log2": 1},  # smaller than the descriptor ring
        {"desc_size_log2": 16, "cpl_size_log2": 16},
    ],
)
def test_bad_ring_configuration_is_a_queue_error(bad: dict[str, Any]) -> None:
    cfg = replace(CFG, **bad)
    assert cfg.problem() is not None
    p = predict_frame(cfg, QueueState(desc_tail=1), never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueErrorCode.BAD_CONFIG


def test_phase_flips_each_lap_including_across_the_16_bit_wrap() -> None:
    assert [ring_phase(i, 2) for i in range(12)] == [1] * 4 + [0] * 4 + [1] * 4
    for log2 in range(16):
        n = 1 << log2
        seq = [ring_phase(i & 0xFFFF, log2) for i in range(0x10000 - 2 * n, 0x10000 + 2 * n)]
        laps = [seq[k * n] for k in range(4)]
        assert laps == [1, 0, 1, 0], log2  # 65536 / n laps is even: no phase glitch at wrap
        assert all(seq[k * n : (k + 1) * n] == [laps[k]] * n for k in range(4))


def test_completion_slot_and_descriptor_slot_wrap_at_ring_size() -> None:
    ring = [desc(cookie=c) for c in range(4)]
    st = QueueState(desc_tail=0x0001, desc_head=0xFFFF, cpl_tail=0xFFFF, cpl_head=0xFFF9)
    p = predict_frame(CFG, st, ring, udp_frame(64))
    assert p.completion is not None and p.completion.cookie == 3  # slot 0xFFFF % 4
    assert p.cpl_addr == CFG.cpl_base + 7 * CPL_BYTES and p.completion.phase == 0
    assert (p.state.desc_head, p.state.cpl_tail) == (0, 0)


# -- FakeNic: registers ---------------------------------------------------------------------


def make_fake(**kw: object) -> tuple[HostMemory, Iommu, FakeNic]:
    mem, io = HostMemory(), Iommu()
    return mem, io, FakeNic(mem, io.attach(RID), **kw)  # type: ignore[arg-type]


def q(reg: str) -> int:
    return regmap.RXQ.addr(0, reg)


def test_identification_and_capability_registers_read_their_reset_values() -> None:
    _, _, nic = make_fake()
    for reg in (
        regmap.ID,
        regmap.VERSION,
        regmap.CAP_QUEUES,
        regmap.CAP_TABLES,
        regmap.CAP_DATAPATH,
    ):
        assert nic.read_now(reg.offset) == reg.reset
    assert nic.read_now(regmap.ID.offset) == 0x53505258
    nic.write_now(regmap.SCRATCH.offset, 0xCAFEF00D)
    assert nic.read_now(regmap.SCRATCH.offset) == 0xCAFEF00D


def test_bad_access_sets_err_status_which_is_write_one_to_clear() -> None:
    _, _, nic = make_fake()
    bit = regmap.ERR_STATUS.fields["mmio_bad_access"].put(1)
    with pytest.raises(MmioError):
        nic.write_now(q("CPL_TAIL"), 5)  # read-only
    assert nic.read_now(regmap.ERR_STATUS.offset) & bit
    assert nic.state().cpl_tail == 0
    nic.write_now(regmap.ERR_STATUS.offset, bit)
    assert nic.read_now(regmap.ERR_STATUS.offset) == 0
    lax = make_fake(strict=False)[2]
    assert lax.read_now(0x0FF0) == 0xFFFF_FFFF
    assert lax.read_now(regmap.ERR_STATUS.offset) == bit


def test_reading_a_counters_low_word_latches_its_high_word() -> None:
    _, _, nic = make_fake()
    nic.set_counter(DropReason.NO_BUFFER, (3 << 32) | 0xFFFF_FFFF)
    lo_addr = regmap.DROP.addr(DropReason.NO_BUFFER, "LO")
    hi_addr = regmap.DROP.addr(DropReason.NO_BUFFER, "HI")
    assert nic.read_now(hi_addr) == 0  # nothing latched yet
    assert nic.read_now(lo_addr) == 0xFFFF_FFFF
    nic.set_counter(DropReason.NO_BUFFER, 4 << 32)  # carries after the LO read
    assert nic.read_now(hi_addr) == 3  # the latched value, consistent with LO
    nic.set_counter("rx_bytes", (9 << 32) | 1)
    assert nic.read_now(regmap.RX_BYTES.addr(0, "LO")) == 1
    assert nic.read_now(regmap.RX_BYTES.addr(0, "HI")) == 9


def test_ctrl_reset_clears_nic_pointers_and_error_but_not_host_doorbells() -> None:
    _, _, nic = make_fake()
    qs = nic.queues[0]
    qs.state = QueueState(
        desc_tail=7, desc_head=5, cpl_tail=5, cpl_head=3, error_code=QueueErrorCode.NO_EOG
    )
    f = regmap.RXQ.regs["CTRL"].fields
    nic.write_now(q("CTRL"), f["enable"].put(1) | f["reset"].put(1))
    assert nic.state() == QueueState(desc_tail=7, cpl_head=3)
    assert nic.read_now(q("CTRL")) == f["enable"].put(1)  # reset is a pulse
    assert nic.read_now(q("STATUS")) == 0


# -- FakeNic: memory ------------------------------------------------------------------------


def program(nic: FakeNic, cfg: QueueConfig) -> None:
    f = regmap.RXQ.regs
    nic.write_now(q("DESC_BASE_LO"), cfg.desc_base & 0xFFFF_FFFF)
    nic.write_now(q("DESC_BASE_HI"), cfg.desc_base >> 32)
    nic.write_now(q("DESC_SIZE"), cfg.desc_size_log2)
    nic.write_now(q("CPL_BASE_LO"), cfg.cpl_base & 0xFFFF_FFFF)
    nic.write_now(q("CPL_BASE_HI"), cfg.cpl_base >> 32)
    nic.write_now(q("CPL_SIZE"), cfg.cpl_size_log2)
    nic.write_now(q("DATA_OFFSET"), cfg.data_offset)
    nic.write_now(q("CTRL"), f["CTRL"].fields["enable"].put(int(cfg.enabled)))


def rings(mem: HostMemory, io: Iommu) -> QueueConfig:
    dom = io.attach(RID)
    dbase = mem.alloc(PAGE_SIZE)
    cbase = mem.alloc(PAGE_SIZE)
    dom.map(dbase, dbase, PAGE_SIZE, Perm.READ)
    dom.map(cbase, cbase, PAGE_SIZE, Perm.WRITE)
    return QueueConfig(dbase, 2, cbase, 3, 12)


def test_fake_nic_places_scapy_frame_and_completion_in_host_memory() -> None:
    mem, io, nic = make_fake()
    cfg = rings(mem, io)
    program(nic, cfg)
    assert nic.config() == cfg
    buf = mem.alloc(PAGE_SIZE)
    io.attach(RID).map(buf, buf, PAGE_SIZE, Perm.WRITE)
    mem.poison(buf, PAGE_SIZE)
    mem.write(cfg.desc_base, desc(addr=buf, length=1000, cookie=0xABC).pack())
    nic.write_now(q("DESC_TAIL"), 1)
    pkt = udp_frame(300, tag=5)
    p = nic.receive(pkt)
    assert p.drop is None
    assert mem.read(buf + 12, 300) == pkt
    assert mem.read(buf, 12) == b"\xa5" * 12 and mem.read(buf + 312, 10) == b"\xa5" * 10
    cpl = RxCompletion.unpack(mem.read(cfg.cpl_base, CPL_BYTES))
    assert cpl == p.completion and cpl.cookie == 0xABC and cpl.phase == 1
    assert [w.kind for w in nic.writes] == ["data", "completion"]
    assert (nic.read_now(q("DESC_HEAD")), nic.read_now(q("CPL_TAIL"))) == (1, 1)
    assert (nic.rx_frames, nic.rx_bytes) == (1, 300)


def test_dma_to_unmapped_buffer_is_an_iommu_fault_and_writes_nothing() -> None:
    mem, io, nic = make_fake()
    cfg = rings(mem, io)
    program(nic, cfg)
    stray = mem.alloc(PAGE_SIZE)  # never mapped for the device
    mem.write(cfg.desc_base, desc(addr=stray, length=1000).pack())
    nic.write_now(q("DESC_TAIL"), 1)
    nic.receive(udp_frame(100))
    assert len(io.faults) == 1 and io.faults[0].address == stray + 12 and io.faults[0].write
    assert mem.read(stray, 200) == bytes(200)
    assert [(w.kind, w.faulted) for w in nic.writes] == [("data", True), ("completion", False)]


def test_unreadable_descriptor_ring_stops_the_queue_with_desc_read() -> None:
    mem, io, nic = make_fake()
    program(nic, replace(rings(mem, io), desc_base=0x7000_0000))
    nic.write_now(q("DESC_TAIL"), 1)
    assert nic.receive(udp_frame(64)).drop is DropReason.QUEUE_ERROR
    status = nic.read_now(q("STATUS"))
    f = regmap.RXQ.regs["STATUS"].fields
    assert f["error"].get(status) == 1 and f["error_code"].get(status) == 1
    assert io.faults and not io.faults[0].write


def test_data_writes_are_reported_to_the_tracker() -> None:
    mem, io = HostMemory(), Iommu()
    tracker = DmaWriteTracker()
    nic = FakeNic(mem, io.attach(RID), tracker=tracker)
    cfg = rings(mem, io)
    program(nic, cfg)
    buf = mem.alloc(2 * PAGE_SIZE)
    io.attach(RID).map(buf, buf, 2 * PAGE_SIZE, Perm.WRITE)
    mem.write(
        cfg.desc_base, desc(addr=buf, cookie=1).pack() + desc(addr=buf + PAGE_SIZE, cookie=2).pack()
    )
    nic.write_now(q("DESC_TAIL"), 2)
    tracker.post_buffer("g", 1, [(buf, 2048)])
    p = nic.receive(udp_frame(500))
    tracker.check_frame(p.data_writes)
    assert tracker.violations == []
    nic.receive(udp_frame(500))  # buffer 2 was never posted to the tracker
    assert len(tracker.violations) == 1 and tracker.violations[0].iova == buf + PAGE_SIZE + 12


def test_random_traffic_conserves_frames_and_places_every_delivered_byte() -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    mem, io, nic = make_fake()
    cfg = rings(mem, io)
    program(nic, cfg)
    bufs = mem.alloc(4 * PAGE_SIZE)
    io.attach(RID).map(bufs, bufs, 4 * PAGE_SIZE, Perm.WRITE)
    tail = head = 0
    sent = 0
    for _ in range(300):
        op = rng.random()
        if op < 0.3 and (tail - head) < 4:  # post, respecting both rings
            slot = tail % 4
            mem.write(
                cfg.desc_base + slot * DESC_BYTES,
                desc(
                    addr=bufs + slot * PAGE_SIZE, length=rng.choice([100, 700, 1600]), cookie=tail
                ).pack(),
            )
            tail += 1
            nic.write_now(q("DESC_TAIL"), tail & 0xFFFF)
        elif op < 0.35:
            enable = regmap.RXQ.regs["CTRL"].fields["enable"]
            nic.write_now(q("CTRL"), enable.put(int(rng.random() < 0.7)))
        else:
            pkt = udp_frame(rng.randrange(60, 1500), tag=sent)
            p = nic.receive(pkt)
            sent += 1
            if p.completion is not None:
                head += 1
                nic.write_now(q("CPL_HEAD"), head & 0xFFFF)  # host consumes at once
                assert p.completion.cookie == head - 1
            if p.delivered:
                assert p.descriptor is not None
                assert mem.read(p.descriptor.data_addr + 12, len(pkt)) == pkt
    assert nic.state().error_code is QueueErrorCode.NONE
    assert sent == nic.rx_frames + sum(nic.drops.values())
    assert nic.drops[DropReason.QUEUE_ERROR] == 0

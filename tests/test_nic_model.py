# SPDX-License-Identifier: MIT
"""Reference model of the RX queue (predictor, docs/dma.md) and FakeNic (the model behind
BAR0 registers and host memory): per-frame checks and their precedence, header split per
mode and level on scapy frames parsed by the reference parser, the byte stream over groups
(mergeable or not), the descriptor-cache limit, completions, queue errors, phase, register
semantics, IOMMU and tracker hooks."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

from model import regmap
from model.fake_nic import FakeNic, MmioError
from model.hostmem import PAGE_SIZE, HostMemory
from model.iommu import Iommu, Perm
from model.nic_model import (
    DESC_CACHE,
    DescriptorReadError,
    FrameWaits,
    Prediction,
    QueueConfig,
    QueueErrorCode,
    QueueState,
    predict_frame,
)
from model.parse_meta import Meta
from model.records import (
    CPL_BYTES,
    DESC_BYTES,
    CplFlags,
    CplStatus,
    CsumStatus,
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
from model.rss import MS_VERIFICATION_KEY, RSS_RESET, Flow, RssConfig, rss
from model.steer import EMPTY, Entry, steer_frame
from model.tracker import DmaWriteTracker
from tb.lib import parse_ref
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference

RID = 0x0100
EOG = int(DescFlags.EOG)
FULL, SPLIT_HOLE, SPLIT = PlacementMode.FULL, PlacementMode.SPLIT_HOLE, PlacementMode.SPLIT
L2, L3, L4 = SplitLevel.L2, SplitLevel.L3, SplitLevel.L4
MACS = {"dst": "02:00:00:00:00:01", "src": "02:00:00:00:00:02"}
IPS = {"src": "10.0.0.2", "dst": "10.0.0.1"}


def udp_frame(size: int, tag: int = 0) -> bytes:
    """A scapy-built Ethernet/IPv4/UDP frame of exactly ``size`` bytes (FCS excluded)."""
    hdr = Ether(**MACS) / IP(**IPS) / UDP(sport=1000 + tag, dport=2000)
    payload = bytes((tag + i) & 0xFF for i in range(size - len(hdr)))
    raw = bytes(hdr / Raw(payload))
    assert len(raw) == size
    return raw


def tcp_frame(payload: int, *, vlan: bool = False, tag: int = 0) -> tuple[bytes, dict[int, int]]:
    """Ethernet (+802.1Q) / IPv4 with a 4-byte option / TCP with an MSS option, and the
    L2/L3/L4 header ends from scapy's own layer lengths."""
    l2: Packet = Ether(**MACS) / Dot1Q(vlan=42, prio=5) if vlan else Ether(**MACS)
    l3 = IP(**IPS, options=[IPOption_Router_Alert()])
    l4 = TCP(sport=1234, dport=80, options=[("MSS", 1460)])
    body = bytes((tag + 3 * i) & 0xFF for i in range(payload))
    frame = bytes(l2 / l3 / l4 / Raw(body)) if payload else bytes(l2 / l3 / l4)
    ends = {L2: len(l2), L3: len(l2) + len(l3), L4: len(l2) + len(l3) + len(l4)}
    return frame, ends


def parse(frame: bytes) -> Meta:
    return reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS)


def desc(
    addr: int = 0x10000,
    length: int = 2048,
    cookie: int = 7,
    flags: int = EOG,
    hdr: int = 0,
    hdr_len: int = 0,
) -> RxDescriptor:
    return RxDescriptor(
        data_addr=addr, hdr_addr=hdr, cookie=cookie, data_len=length, hdr_len=hdr_len, flags=flags
    )


def buf(i: int) -> int:
    """Data buffer address of descriptor ``i`` in the larger tests (disjoint buffers)."""
    return 0x100_0000 + i * 0x1_0000


HDR_BUF = 0x80_0000


def group(lengths: list[int], first: int = 0, hdr_len: int = 128) -> list[RxDescriptor]:
    """One group: descriptors ``first``... with these data lengths, EOG on the last, a
    header buffer on the first."""
    out = []
    for k, n in enumerate(lengths):
        i = first + k
        out.append(
            desc(
                addr=buf(i),
                length=n,
                cookie=i,
                flags=EOG if k == len(lengths) - 1 else 0,
                hdr=HDR_BUF + i * 0x100 if k == 0 else 0,
                hdr_len=hdr_len if k == 0 else 0,
            )
        )
    return out


def ring_of(descs: list[RxDescriptor], entries: int = 64) -> list[RxDescriptor]:
    """A ring with ``descs`` from slot 0; the other slots must not be read."""
    poison = desc(addr=0xDEAD_0000, length=0xFFFF, cookie=0xDEAD, flags=0)
    return descs + [poison] * (entries - len(descs))


def posted_only(descs: list[RxDescriptor], head: int = 0) -> Callable[[int], RxDescriptor]:
    """A descriptor source holding ``descs`` from free-running index ``head``; reading any
    other slot fails the test."""
    slots = {(head + k) & 63: d for k, d in enumerate(descs)}

    def read(slot: int) -> RxDescriptor:
        assert slot in slots, f"slot {slot} read but not posted"
        return slots[slot]

    return read


CFG = QueueConfig(
    desc_base=0x1000, desc_size_log2=2, cpl_base=0x2000, cpl_size_log2=3, data_offset=12
)
BIG = replace(CFG, desc_size_log2=6, cpl_size_log2=6)  # 64-entry rings for group tests


def never(slot: int) -> RxDescriptor:
    raise AssertionError(f"descriptor ring read at slot {slot}")


def predict(
    cfg: QueueConfig, descs: list[RxDescriptor], frame: bytes, meta: Meta | None = None
) -> Prediction:
    """Predict with exactly ``descs`` posted from head 0 on a fresh queue."""
    return predict_frame(cfg, QueueState(desc_tail=len(descs)), posted_only(descs), frame, meta)


def cpl(p: Prediction) -> RxCompletion:
    assert p.completion is not None
    return p.completion


# -- predictor: checks and their precedence -------------------------------------------------


def test_ok_frame_lands_at_data_offset_and_completes_with_phase_one() -> None:
    frame = udp_frame(100)
    ring = [desc(cookie=c, addr=0x10000 + c * 0x1000) for c in range(4)]
    st_ = QueueState(desc_tail=3, desc_head=1, cpl_tail=1, cpl_head=0)
    p = predict_frame(CFG, st_, ring, frame)
    assert p.drop is None and p.delivered
    assert p.data_writes == ((0x11000 + 12, frame),)
    assert p.descriptors == (ring[1],)
    assert p.cpl_addr == 0x2000 + 1 * CPL_BYTES
    c = cpl(p)
    assert (c.cookie, c.frame_len, c.payload_len, c.hdr_len) == (1, 100, 100, 0)
    assert (c.desc_count, c.group_count, c.status, c.phase) == (1, 1, CplStatus.OK, 1)
    assert (c.flags, c.csum, c.rss_hash, c.l3_type, c.l4_type, c.csum_status) == (0,) * 6
    assert p.state == QueueState(desc_tail=3, desc_head=2, cpl_tail=2, cpl_head=0)
    assert p.writes == [(0x11000 + 12, frame), (0x2000 + CPL_BYTES, c.pack())]
    assert p.buffer_bytes() == [(ring[1], 12, frame)]


@pytest.mark.parametrize("extra", [0, 1])
def test_frame_that_does_not_fit_is_completed_too_long_with_nothing_written(extra: int) -> None:
    frame = udp_frame(200)
    d = desc(length=12 + 200 - extra)
    p = predict_frame(CFG, QueueState(desc_tail=1), [d] * 4, frame)
    assert cpl(p).frame_len == 200
    if extra == 0:  # exactly fits
        assert p.drop is None and p.data_writes == ((d.data_addr + 12, frame),)
        assert cpl(p).payload_len == 200
    else:
        assert p.drop is DropReason.TOO_LONG_FOR_GROUP and p.data_writes == ()
        assert cpl(p).status == CplStatus.TOO_LONG_FOR_GROUP
        assert cpl(p).payload_len == 0 and cpl(p).cookie == d.cookie
    assert p.state.desc_head == 1 and p.state.cpl_tail == 1


def test_no_posted_descriptor_is_no_buffer_and_reads_nothing() -> None:
    st_ = QueueState(desc_tail=5, desc_head=5, cpl_tail=5, cpl_head=5)
    p = predict_frame(CFG, st_, never, udp_frame(64))
    assert p.drop is DropReason.NO_BUFFER and p.state == st_ and p.writes == []


def test_without_drop_when_empty_an_empty_queue_makes_the_frame_wait() -> None:
    st_ = QueueState(desc_tail=5, desc_head=5, cpl_tail=5, cpl_head=5)
    with pytest.raises(FrameWaits):
        predict_frame(replace(CFG, drop_when_empty=False), st_, never, udp_frame(64))
    # once something is posted, the setting changes nothing
    p = predict_frame(
        replace(CFG, drop_when_empty=False), replace(st_, desc_tail=6), [desc()] * 4, udp_frame(64)
    )
    assert p.delivered


def test_disabled_queue_drops_before_anything_else() -> None:
    st_ = QueueState(desc_tail=1, error_code=QueueError.BAD_GROUP)
    p = predict_frame(replace(CFG, enabled=False, desc_base=3), st_, never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_DISABLED and p.state == st_


def test_queue_in_error_drops_everything_until_reset() -> None:
    st_ = QueueState(desc_tail=1, error_code=QueueError.CPL_FULL)
    p = predict_frame(CFG, st_, never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueError.NONE
    assert p.state == st_


def test_failed_descriptor_read_stops_the_queue_and_consumes_nothing() -> None:
    def fault(slot: int) -> RxDescriptor:
        raise DescriptorReadError(f"slot {slot}")

    st_ = QueueState(desc_tail=1)
    p = predict_frame(CFG, st_, fault, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueError.DESC_READ
    assert p.state == replace(st_, error_code=QueueError.DESC_READ)
    assert p.writes == [] and p.descriptors == ()


def test_failed_read_of_a_later_descriptor_of_the_group_stops_the_queue() -> None:
    descs = group([100, 100, 2000])

    def read(slot: int) -> RxDescriptor:
        if slot == 2:
            raise DescriptorReadError("UR")
        return descs[slot]

    p = predict_frame(BIG, QueueState(desc_tail=3), read, udp_frame(300))
    assert p.error_raised is QueueError.DESC_READ and p.drop is DropReason.QUEUE_ERROR
    assert p.state.desc_head == 0 and p.writes == []


def test_full_completion_ring_is_a_queue_error_not_a_stall() -> None:
    st_ = QueueState(desc_tail=9, desc_head=8, cpl_tail=8, cpl_head=0)  # 8 entries unread
    p = predict_frame(CFG, st_, never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueError.CPL_FULL
    assert p.state == replace(st_, error_code=QueueError.CPL_FULL) and p.writes == []
    ok = predict_frame(CFG, replace(st_, cpl_head=1), [desc()] * 4, udp_frame(64))
    assert ok.drop is None and ok.cpl_addr == CFG.cpl_base  # slot 8 % 8


def test_full_completion_ring_with_nothing_posted_is_no_buffer_not_an_error() -> None:
    """Equal rings, every descriptor completed, host not polled yet: legal for the driver.
    The NIC needs no completion slot for a frame it drops, so this is not a queue error."""
    cfg = replace(CFG, cpl_size_log2=CFG.desc_size_log2)
    st_ = QueueState(desc_tail=4, desc_head=4, cpl_tail=4, cpl_head=0)
    p = predict_frame(cfg, st_, never, udp_frame(64))
    assert p.drop is DropReason.NO_BUFFER and p.error_raised is QueueError.NONE
    assert p.state == st_


@pytest.mark.parametrize(
    "bad",
    [
        {"desc_base": 0x1010},
        {"cpl_base": 0x2004},
        {"desc_base": 0},
        {"cpl_base": 0},
        {"cpl_size_log2": 1},  # smaller than the descriptor ring
        {"desc_size_log2": 16, "cpl_size_log2": 16},
    ],
)
def test_bad_ring_configuration_is_a_queue_error(bad: dict[str, Any]) -> None:
    cfg = replace(CFG, **bad)
    assert cfg.problem() is not None
    p = predict_frame(cfg, QueueState(desc_tail=1), never, udp_frame(64))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueError.BAD_CONFIG
    assert p.state.error_code is QueueError.BAD_CONFIG


def test_largest_legal_rings_are_accepted() -> None:
    cfg = replace(CFG, desc_size_log2=15, cpl_size_log2=15, desc_base=0x20, cpl_base=0x40)
    assert cfg.problem() is None


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
    st_ = QueueState(desc_tail=0x0001, desc_head=0xFFFF, cpl_tail=0xFFFF, cpl_head=0xFFF9)
    p = predict_frame(CFG, st_, ring, udp_frame(64))
    assert cpl(p).cookie == 3  # slot 0xFFFF % 4
    assert p.cpl_addr == CFG.cpl_base + 7 * CPL_BYTES and cpl(p).phase == 0
    assert (p.state.desc_head, p.state.cpl_tail) == (0, 0)


def test_group_walk_wraps_around_the_descriptor_ring() -> None:
    descs = group([40, 40, 2000], first=0)
    head = 0xFFFE  # slots 62, 63, 0 of the 64-entry ring
    st_ = QueueState(desc_tail=(head + 3) & 0xFFFF, desc_head=head)
    p = predict_frame(BIG, st_, posted_only(descs, head), udp_frame(100))
    assert p.descriptors == tuple(descs) and p.state.desc_head == 1


def test_desc_cache_limit_is_the_capability_register_value() -> None:
    assert DESC_CACHE == regmap.CAP_QUEUES.fields["desc_cache"].reset == 32
    assert QueueErrorCode is QueueError


def test_meta_is_shared_by_the_model_and_the_reference_parser() -> None:
    assert parse_ref.Meta is Meta
    m = parse(tcp_frame(10)[0])
    assert isinstance(m, Meta) and m.l4_ok and Meta().l2_ok is False


# -- predictor: header split ----------------------------------------------------------------


def one_group_with_hdr(hdr_len: int = 128, length: int = 2048) -> list[RxDescriptor]:
    return group([length], hdr_len=hdr_len)


@pytest.mark.parametrize("level", list(SplitLevel))
@pytest.mark.parametrize("mode", list(PlacementMode))
def test_each_mode_and_split_level_places_a_tcp_frame_per_the_table(
    mode: PlacementMode, level: SplitLevel
) -> None:
    frame, ends = tcp_frame(300)
    n, h, off = len(frame), ends[level], 12
    assert ends == {L2: 14, L3: 38, L4: 62}
    cfg = replace(BIG, mode=mode, split_level=level, data_offset=off)
    d = one_group_with_hdr()[0]
    p = predict(cfg, [d], frame, parse(frame))
    c = cpl(p)
    assert p.delivered and c.status == CplStatus.OK and c.frame_len == n
    if mode == FULL:
        assert p.data_writes == ((d.data_addr + off, frame),)
        assert (c.hdr_len, c.payload_len, c.flags) == (0, n, 0)
    else:
        hole = h if mode == SPLIT_HOLE else 0
        assert p.data_writes == ((d.hdr_addr, frame[:h]), (d.data_addr + off + hole, frame[h:]))
        assert (c.hdr_len, c.payload_len, c.flags) == (h, n - h, CplFlags.SPLIT)
    assert (c.l3_type, c.l4_type) == (L3Type.IPV4, L4Type.TCP)
    assert c.ipv4_csum == CsumStatus.GOOD and c.l4_csum == CsumStatus.GOOD
    assert c.csum == parse_ref.ones_sum(frame[14:])


def test_split_hole_leaves_the_hole_unwritten_and_payload_at_data_offset_plus_h() -> None:
    frame, ends = tcp_frame(500)
    cfg = replace(BIG, mode=SPLIT_HOLE, split_level=L4, data_offset=12)
    d = one_group_with_hdr()[0]
    p = predict(cfg, [d], frame, parse(frame))
    stream = [(a, b) for a, b in p.data_writes if d.data_addr <= a < d.data_addr + d.data_len]
    assert stream == [(d.data_addr + 12 + 62, frame[62:])]
    touched = {a + i for a, b in stream for i in range(len(b))}
    assert not touched & set(range(d.data_addr, d.data_addr + 12 + 62))  # net hdr + hole
    assert p.buffer_bytes() == [(d, 12 + 62, frame[62:])]


def test_split_places_payload_at_data_offset() -> None:
    frame, _ = tcp_frame(500)
    cfg = replace(BIG, mode=SPLIT, split_level=L3, data_offset=20)
    d = one_group_with_hdr()[0]
    p = predict(cfg, [d], frame, parse(frame))
    assert p.data_writes == ((d.hdr_addr, frame[:38]), (d.data_addr + 20, frame[38:]))


@pytest.mark.parametrize("mode", [SPLIT, SPLIT_HOLE])
def test_header_only_frame_splits_with_an_empty_stream(mode: PlacementMode) -> None:
    frame, ends = tcp_frame(0)
    n = len(frame)
    assert ends[L4] == n == 62
    cfg = replace(BIG, mode=mode, split_level=L4, data_offset=12)
    d = one_group_with_hdr(length=12 + n)[0]  # room for the hole in SPLIT_HOLE
    p = predict(cfg, [d], frame, parse(frame))
    c = cpl(p)
    assert p.delivered and p.data_writes == ((d.hdr_addr, frame),)
    assert (c.hdr_len, c.payload_len, c.flags) == (n, 0, CplFlags.SPLIT)
    # the stream end still counts: SPLIT_HOLE needs room for data_offset + n
    small = predict(cfg, one_group_with_hdr(length=12 + n - 1), frame, parse(frame))
    assert small.delivered == (mode == SPLIT)


@pytest.mark.parametrize("mode", [SPLIT, SPLIT_HOLE])
def test_header_longer_than_header_buffer_is_placed_full_with_hdr_overflow(
    mode: PlacementMode,
) -> None:
    frame, ends = tcp_frame(200)
    cfg = replace(BIG, mode=mode, split_level=L4)
    exact = predict(cfg, one_group_with_hdr(hdr_len=ends[L4]), frame, parse(frame))
    assert cpl(exact).flags == CplFlags.SPLIT and cpl(exact).hdr_len == 62
    d = one_group_with_hdr(hdr_len=ends[L4] - 1)[0]
    p = predict(cfg, [d], frame, parse(frame))
    c = cpl(p)
    assert p.delivered and p.data_writes == ((d.data_addr + 12, frame),)
    assert (c.hdr_len, c.payload_len, c.flags) == (0, len(frame), CplFlags.HDR_OVERFLOW)


def test_missing_header_buffer_is_a_header_overflow() -> None:
    frame, _ = tcp_frame(200)
    d = replace(one_group_with_hdr()[0], hdr_addr=0)  # hdr_len stays 128
    p = predict(replace(BIG, mode=SPLIT_HOLE), [d], frame, parse(frame))
    assert p.data_writes == ((d.data_addr + 12, frame),)
    assert cpl(p).flags == CplFlags.HDR_OVERFLOW and cpl(p).hdr_len == 0


def test_full_mode_never_reports_header_overflow() -> None:
    frame, _ = tcp_frame(200)
    d = replace(one_group_with_hdr()[0], hdr_addr=0)
    assert cpl(predict(replace(BIG, mode=FULL), [d], frame, parse(frame))).flags == 0


def test_l4_split_on_a_non_first_fragment_overflows_while_l3_split_is_done() -> None:
    frame = bytes(Ether(**MACS) / IP(**IPS, frag=100, proto=17) / Raw(bytes(range(200))))
    meta = parse(frame)
    assert meta.fragment and not meta.l4_ok and meta.l3_end == 34
    d = one_group_with_hdr()[0]
    l4 = predict(replace(BIG, mode=SPLIT, split_level=L4), [d], frame, meta)
    assert l4.data_writes == ((d.data_addr + 12, frame),)
    assert cpl(l4).flags == CplFlags.HDR_OVERFLOW
    l3 = predict(replace(BIG, mode=SPLIT, split_level=L3), [d], frame, meta)
    assert l3.data_writes == ((d.hdr_addr, frame[:34]), (d.data_addr + 12, frame[34:]))
    assert cpl(l3).flags == CplFlags.SPLIT and cpl(l3).l4_type == L4Type.NONE


def test_non_ip_frame_splits_at_l2_only() -> None:
    frame = bytes(Ether(**MACS) / ARP(psrc="10.0.0.2", pdst="10.0.0.1") / Raw(bytes(18)))
    meta = parse(frame)
    d = one_group_with_hdr()[0]
    for level, flags in ((L2, CplFlags.SPLIT), (L3, CplFlags.HDR_OVERFLOW)):
        p = predict(replace(BIG, mode=SPLIT_HOLE, split_level=level), [d], frame, meta)
        assert cpl(p).flags == flags, level
    l2 = predict(replace(BIG, mode=SPLIT_HOLE, split_level=L2), [d], frame, meta)
    assert l2.data_writes == ((d.hdr_addr, frame[:14]), (d.data_addr + 12 + 14, frame[14:]))


def test_parser_header_overflow_prevents_the_split_at_every_level() -> None:
    """docs/dma.md: the split is done only if the parser 'did not report hdr_overflow' --
    read literally, even an L2 split (whose header was found) is not done then."""
    ext = IPv6ExtHdrDestOpt()
    pkt = Ether(**MACS) / IPv6() / ext / ext / ext / ext / ext / UDP() / Raw(bytes(100))
    frame = bytes(pkt)
    meta = parse(frame)
    assert meta.hdr_overflow and meta.l2_ok and meta.l2_end == 14
    d = one_group_with_hdr()[0]
    for level in SplitLevel:
        p = predict(replace(BIG, mode=SPLIT, split_level=level), [d], frame, meta)
        assert cpl(p).flags == CplFlags.HDR_OVERFLOW and p.data_writes == (
            (d.data_addr + 12, frame),
        )


def test_frame_without_parse_result_is_placed_full_with_overflow_in_split_modes() -> None:
    frame = udp_frame(100)
    d = one_group_with_hdr()[0]
    p = predict(replace(BIG, mode=SPLIT), [d], frame)  # meta None: the parser found nothing
    c = cpl(p)
    assert p.data_writes == ((d.data_addr + 12, frame),) and c.flags == CplFlags.HDR_OVERFLOW
    assert (c.l3_type, c.l4_type, c.csum, c.csum_status, c.vlan_tci) == (0, 0, 0, 0, 0)


def test_completion_carries_the_parser_verdicts_vlan_tci_and_bad_checksum() -> None:
    l2 = Ether(**MACS) / Dot1Q(vlan=42, prio=5)
    frame = bytes(l2 / IP(**IPS) / TCP(chksum=0x1234) / Raw(bytes(range(100))))
    meta = parse(frame)
    d = one_group_with_hdr()[0]
    c = cpl(predict(replace(BIG, mode=SPLIT, split_level=L4), [d], frame, meta))
    assert c.flags == CplFlags.SPLIT | CplFlags.VLAN and c.hdr_len == 18 + 20 + 20
    assert c.vlan_tci == (5 << 13) | 42
    assert c.ipv4_csum == CsumStatus.GOOD and c.l4_csum == CsumStatus.BAD
    assert c.csum == meta.csum == parse_ref.ones_sum(frame[14:])


def test_malformed_frame_sets_the_malformed_flag_and_is_not_split_at_l3() -> None:
    frame = bytes(Ether(**MACS) / IP(**IPS, len=1000) / UDP() / Raw(bytes(100)))
    meta = parse(frame)
    assert meta.malformed and not meta.l3_ok
    c = cpl(predict(replace(BIG, mode=SPLIT, split_level=L3), group([2048]), frame, meta))
    assert c.flags == CplFlags.HDR_OVERFLOW | CplFlags.MALFORMED
    assert c.l3_type == L3Type.MALFORMED


def test_vlan_tci_is_zero_without_vlan_even_if_the_parser_left_one() -> None:
    meta = Meta(vlan=False, vlan_tci=0x1234)
    assert cpl(predict(BIG, group([2048]), udp_frame(100), meta)).vlan_tci == 0


# -- predictor: the stream and groups -------------------------------------------------------


def test_frame_spanning_buffers_lands_at_stream_positions_and_skips_zero_length_ones() -> None:
    frame = udp_frame(300)
    descs = group([100, 0, 50, 2000, 500])  # the last buffer is not reached
    p = predict(BIG, descs, frame)
    assert p.data_writes == (
        (buf(0) + 12, frame[:88]),
        (buf(2), frame[88:138]),
        (buf(3), frame[138:]),
    )
    assert [(w.desc_index, w.offset, w.stream_pos) for w in p.buffer_writes] == [
        (0, 12, 12),
        (2, 0, 100),
        (3, 0, 150),
    ]
    c = cpl(p)
    assert (c.desc_count, c.group_count, c.cookie) == (5, 1, 0)
    assert p.descriptors == tuple(descs) and p.state.desc_head == 5


def test_data_offset_beyond_the_first_buffer_starts_in_a_later_one() -> None:
    frame = udp_frame(100)
    descs = group([0, 8, 2000])  # zero-length first buffer, data_offset 12 past the second
    p = predict(BIG, descs, frame)
    assert p.data_writes == ((buf(2) + 4, frame),)


def test_split_hole_stream_positions_cross_buffers_after_the_hole() -> None:
    frame, ends = tcp_frame(300)
    h = ends[L4]
    descs = group([50, 40, 2000])  # the hole ends at 12 + 62 = 74, inside buffer 1
    p = predict(replace(BIG, mode=SPLIT_HOLE), descs, frame, parse(frame))
    assert p.data_writes == (
        (descs[0].hdr_addr, frame[:h]),
        (buf(1) + 24, frame[h : h + 16]),
        (buf(2), frame[h + 16 :]),
    )


def test_non_mergeable_frame_too_long_for_group_consumes_the_group_and_writes_nothing() -> None:
    frame, ends = tcp_frame(300)
    n = len(frame)
    descs = group([100, 12 + n - 101]) + group([4096], first=2)  # one byte short
    p = predict(replace(BIG, mode=SPLIT_HOLE), descs, frame, parse(frame))
    c = cpl(p)
    assert p.drop is DropReason.TOO_LONG_FOR_GROUP and p.data_writes == ()
    assert (c.status, c.desc_count, c.group_count) == (CplStatus.TOO_LONG_FOR_GROUP, 2, 1)
    assert (c.hdr_len, c.payload_len, c.frame_len, c.cookie) == (0, 0, n, 0)
    assert c.flags == 0 and (c.l3_type, c.l4_type) == (L3Type.IPV4, L4Type.TCP)
    assert p.descriptors == tuple(descs[:2]) and p.state.desc_head == 2
    assert p.state.cpl_tail == 1 and p.writes == [(BIG.cpl_base, c.pack())]
    fits = predict(BIG, group([100, 12 + n - 100]), frame, parse(frame))
    assert fits.delivered and cpl(fits).desc_count == 2


def test_too_long_completion_keeps_vlan_flag_but_not_split_or_overflow() -> None:
    frame, _ = tcp_frame(300, vlan=True)
    for mode in PlacementMode:
        p = predict(replace(BIG, mode=mode), group([64]), frame, parse(frame))
        assert cpl(p).flags == CplFlags.VLAN and cpl(p).vlan_tci == (5 << 13) | 42, mode


def test_split_shortens_the_stream_so_a_frame_fits_a_smaller_group() -> None:
    frame, ends = tcp_frame(300)
    n, h = len(frame), ends[L4]
    descs = group([12 + n - h], hdr_len=h)
    for mode, fits in ((SPLIT, True), (SPLIT_HOLE, False), (FULL, False)):
        p = predict(replace(BIG, mode=mode), descs, frame, parse(frame))
        assert p.delivered == fits, mode


def test_mergeable_frame_spans_three_groups_and_consumes_the_rest_of_the_last() -> None:
    frame = udp_frame(1400)
    descs = group([512]) + group([256, 256], first=1) + group([500, 300, 300], first=3)
    cfg = replace(BIG, mergeable=True)
    p = predict(cfg, descs + group([4096], first=6), frame)
    c = cpl(p)
    assert p.delivered and (c.group_count, c.desc_count) == (3, 6)
    assert p.descriptors == tuple(descs) and p.state.desc_head == 6
    assert p.data_writes == (
        (buf(0) + 12, frame[:500]),
        (buf(1), frame[500:756]),
        (buf(2), frame[756:1012]),
        (buf(3), frame[1012:1400]),
    )
    assert c.payload_len == 1400 and c.cookie == 0


def test_mergeable_frame_that_fits_its_first_group_uses_one_group() -> None:
    frame = udp_frame(400)
    p = predict(replace(BIG, mergeable=True), group([1024]) + group([1024], first=1), frame)
    assert (cpl(p).group_count, cpl(p).desc_count) == (1, 1)


def test_mergeable_frame_needing_more_than_the_cache_is_too_long_and_consumes_first_group() -> None:
    frame = udp_frame(12 + 32 * 64 - 11)  # 32 one-descriptor groups of 64 hold E - 1
    descs = [g for i in range(40) for g in group([64], first=i)]
    p = predict(replace(BIG, mergeable=True), descs, frame)
    c = cpl(p)
    assert p.drop is DropReason.TOO_LONG_FOR_GROUP and p.data_writes == ()
    assert (c.status, c.desc_count, c.group_count) == (CplStatus.TOO_LONG_FOR_GROUP, 1, 1)
    assert p.state.desc_head == 1 and p.descriptors == (descs[0],)


def test_mergeable_frame_filling_exactly_the_cache_is_placed() -> None:
    frame = udp_frame(32 * 64 - 12)
    descs = [g for i in range(40) for g in group([64], first=i)]
    p = predict(replace(BIG, mergeable=True), descs, frame)
    assert p.delivered and (cpl(p).desc_count, cpl(p).group_count) == (32, 32)
    assert b"".join(b for _, b in p.data_writes) == frame


def test_mergeable_group_ending_beyond_the_cache_makes_the_frame_too_long() -> None:
    """The stream end falls in the second group, but whole groups are used and the second
    one ends at descriptor 40 > 32."""
    frame = udp_frame(1000)
    descs = group([40] * 20) + group([40] * 20, first=20)  # E = 1012 at descriptor 26
    p = predict(replace(BIG, mergeable=True), descs, frame)
    assert p.drop is DropReason.TOO_LONG_FOR_GROUP
    assert (cpl(p).desc_count, cpl(p).group_count) == (20, 1) and p.state.desc_head == 20


@pytest.mark.parametrize("mergeable", [False, True])
def test_first_group_without_eog_within_the_cache_stops_the_queue_with_bad_group(
    mergeable: bool,
) -> None:
    descs = [desc(addr=buf(i), length=4096, cookie=i, flags=0) for i in range(32)]
    descs += group([64], first=32)  # EOG on the 33rd
    st_ = QueueState(desc_tail=33)
    cfg = replace(BIG, mergeable=mergeable)
    p = predict_frame(cfg, st_, posted_only(descs), udp_frame(100))
    assert p.drop is DropReason.QUEUE_ERROR and p.error_raised is QueueError.BAD_GROUP
    assert p.state == replace(st_, error_code=QueueError.BAD_GROUP) and p.writes == []


def test_group_of_exactly_the_cache_size_is_accepted() -> None:
    descs = group([8] * 31 + [4096])
    p = predict(BIG, descs, udp_frame(500))
    assert p.delivered and cpl(p).desc_count == 32 and p.state.desc_head == 32


def test_partial_group_posted_is_no_buffer_and_consumes_nothing() -> None:
    descs = group([100, 100, 2000])[:2]  # EOG not posted yet
    st_ = QueueState(desc_tail=2, cpl_tail=3, cpl_head=1)
    p = predict_frame(BIG, st_, posted_only(descs), udp_frame(100))  # reads only slots 0, 1
    assert p.drop is DropReason.NO_BUFFER and p.state == st_ and p.writes == []
    assert p.error_raised is QueueError.NONE and p.descriptors == ()


def test_mergeable_frame_whose_groups_are_not_all_posted_is_no_buffer() -> None:
    descs = group([512]) + group([512], first=1)  # 1024 < 12 + 1400
    p = predict(replace(BIG, mergeable=True), descs, udp_frame(1400))
    assert p.drop is DropReason.NO_BUFFER and p.state.desc_head == 0 and p.writes == []


# -- predictor: RSS hash and type, RSS queue in steering --------------------------------------

RSS_MS = RssConfig(MS_VERIFICATION_KEY, False, tuple(i % 4 for i in range(128)))


def rss_frames() -> list[tuple[str, bytes]]:
    v4 = {"src": "66.9.149.187", "dst": "161.142.100.80"}
    v6 = {"src": "3ffe:2501:200:1fff::7", "dst": "3ffe:2501:200:3::1"}
    pay = Raw(bytes(30))
    return [
        ("v4 tcp", bytes(Ether(**MACS) / IP(**v4) / TCP(sport=2794, dport=1766) / pay)),
        ("v4 udp", bytes(Ether(**MACS) / IP(**v4) / UDP(sport=2794, dport=1766) / pay)),
        ("v4 tcp first fragment", bytes(Ether(**MACS) / IP(**v4, flags="MF") / TCP() / pay)),
        ("v4 later fragment", bytes(Ether(**MACS) / IP(**v4, frag=9, proto=6) / pay)),
        ("v6 tcp tagged", bytes(Ether(**MACS) / Dot1Q(vlan=5) / IPv6(**v6) / TCP() / pay)),
        ("v6 udp", bytes(Ether(**MACS) / IPv6(**v6) / UDP(sport=2794, dport=1766) / pay)),
        ("v6 dest options udp", bytes(Ether(**MACS) / IPv6(**v6) / IPv6ExtHdrDestOpt() / UDP())),
        ("arp", bytes(Ether(**MACS) / ARP()).ljust(60, b"\0")),
    ]


@pytest.mark.parametrize("udp_4tuple", [False, True])
def test_completion_carries_the_rss_hash_and_type_of_the_parsed_tuple(udp_4tuple: bool) -> None:
    cfg = replace(RSS_MS, udp_4tuple=udp_4tuple)
    for what, frame in rss_frames():
        meta = parse(frame)
        c = cpl(predict_frame(CFG, QueueState(desc_tail=1), [desc()], frame, meta, cfg))
        want = rss(meta.flow(), MS_VERIFICATION_KEY, udp_4tuple, cfg.indirection)
        assert (c.rss_hash, c.rss_type) == (want.hash, want.rss_type), what
        # the key out of reset (all zero): the same type, hash 0
        zero = replace(RSS_RESET, udp_4tuple=udp_4tuple)
        c0 = cpl(predict_frame(CFG, QueueState(desc_tail=1), [desc()], frame, meta, zero))
        assert (c0.rss_hash, c0.rss_type) == (0, want.rss_type), what
        if not udp_4tuple:  # the default is the NIC out of reset
            assert cpl(predict_frame(CFG, QueueState(desc_tail=1), [desc()], frame, meta)) == c0
        # everything else in the completion is RSS-independent
        assert replace(c0, rss_hash=c.rss_hash) == c, what


def test_rss_type_follows_the_selection_rules() -> None:
    """Published verification hashes for the first IPv4 / IPv6 vectors, reached through the
    reference parser's tuple: TCP 4-tuple, UDP 2-tuple (4-tuple with udp_4tuple), fragments
    2-tuple, non-IP no hash."""
    got = {}
    for u4 in (False, True):
        cfg = replace(RSS_MS, udp_4tuple=u4)
        for what, frame in rss_frames():
            r = cfg.result(parse(frame).flow())
            got[what, u4] = (r.hash, r.rss_type)
    assert got["v4 tcp", False] == (0x51CCC178, RssType.IPV4_TCP)
    assert got["v4 udp", False] == (0x323E8FC2, RssType.IPV4)
    assert got["v4 udp", True] == (0x51CCC178, RssType.IPV4_UDP)
    for u4 in (False, True):
        assert got["v4 tcp first fragment", u4] == (0x323E8FC2, RssType.IPV4)
        assert got["v4 later fragment", u4] == (0x323E8FC2, RssType.IPV4)
        assert got["v6 tcp tagged", u4][1] == RssType.IPV6_TCP
        assert got["arp", u4] == (0, RssType.NONE)
    assert got["v6 udp", False] == (0x2CC18CD5, RssType.IPV6)
    assert got["v6 udp", True] == (0x40207D3D, RssType.IPV6_UDP)
    assert got["v6 dest options udp", False] == (0x2CC18CD5, RssType.IPV6)


def test_meta_flow_is_the_rss_tuple() -> None:
    m = parse(rss_frames()[4][1])  # tagged IPv6 TCP
    f = m.flow()
    assert f == Flow.from_strings("3ffe:2501:200:1fff::7", "3ffe:2501:200:3::1", 20, 80, tcp=True)
    assert (m.is_ip, m.is_ipv6, m.is_tcp, m.is_udp, m.is_frag) == (True, True, True, False, False)
    assert Meta().flow().is_ip is False and RSS_RESET.result(Meta().flow()).queue == 0
    later = parse(rss_frames()[3][1])
    assert (later.is_tcp, later.is_frag, later.src_port, later.src_addr) == (
        False,
        True,
        0,
        0x42_09_95_BB,
    )


def test_steering_sends_group_and_promiscuous_frames_to_the_rss_queue() -> None:
    frame = rss_frames()[0][1]  # to 02:00:00:00:00:01, TCP hash 0x51ccc178
    rss_q = RSS_MS.indirection[0x51CCC178 & 127]
    table = [EMPTY] * 16
    table[3] = Entry(True, 0x02_00_00_00_00_01, False, 0, 6)

    def with_dst(mac: bytes) -> bytes:
        return mac + frame[6:]

    meta = parse(frame)
    assert steer_frame(table, frame, meta, False, RSS_MS).queue == 6  # a match wins
    assert steer_frame([EMPTY] * 16, frame, meta, True, RSS_MS).queue == rss_q
    assert steer_frame([EMPTY] * 16, frame, meta, False, RSS_MS).drop
    for dst in (b"\xff" * 6, bytes.fromhex("333300000001")):
        assert steer_frame(table, with_dst(dst), meta, False, RSS_MS).queue == rss_q
        assert steer_frame(table, with_dst(dst), meta, False).queue == 0  # out of reset


def test_rss_config_checks_its_sizes() -> None:
    with pytest.raises(ValueError, match="40 bytes"):
        RssConfig(bytes(39))
    with pytest.raises(ValueError, match="128 entries"):
        RssConfig(indirection=(0,) * 127)


# -- predictor: property over random queues, groups, frames and modes -----------------------

STRIDE = 0x1_0000  # data buffers at buf(i), header buffers at HDR_BUF + i * 0x100: disjoint


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[QueueConfig, int, list[RxDescriptor], bytes, Meta]:
    cfg = replace(
        BIG,
        mode=draw(st.sampled_from(PlacementMode)),
        split_level=draw(st.sampled_from(SplitLevel)),
        mergeable=draw(st.booleans()),
        data_offset=draw(st.integers(0, 40)),
    )
    n = draw(st.integers(1, 700))
    salt = draw(st.integers(0, 250))
    frame = bytes((salt + i) % 251 for i in range(n))
    e2 = draw(st.integers(1, n))
    e3 = draw(st.integers(e2, n))
    e4 = draw(st.integers(e3, n))
    meta = Meta(
        l2_end=e2,
        l3_end=e3,
        l4_end=e4,
        l2_ok=draw(st.booleans()),
        l3_ok=draw(st.booleans()),
        l4_ok=draw(st.booleans()),
        hdr_overflow=draw(st.integers(0, 4)) == 0,
        vlan=draw(st.booleans()),
        vlan_tci=draw(st.integers(0, 0xFFFF)),
        malformed=draw(st.booleans()),
        csum=draw(st.integers(0, 0xFFFF)),
        ip4_csum=draw(st.sampled_from(CsumStatus)),
        l4_csum=draw(st.sampled_from(CsumStatus)),
    )
    eog_one_in = draw(st.sampled_from([1, 2, 4, 40]))
    descs = [
        desc(
            addr=buf(i),
            length=draw(st.sampled_from([0, 1, 7, 40, 64, 100, 300, 1000])),
            cookie=i,
            flags=EOG if draw(st.integers(1, eog_one_in)) == 1 else 0,
            hdr=draw(st.sampled_from([0, HDR_BUF + i * 0x100])),
            hdr_len=draw(st.integers(0, 128)),
        )
        for i in range(draw(st.integers(0, 40)))
    ]
    head = draw(st.integers(0, 0xFFFF))
    return cfg, head, descs, frame, meta


def expected_split(cfg: QueueConfig, meta: Meta, first: RxDescriptor) -> int | None:
    """The split rule of docs/dma.md, spelled out independently."""
    if cfg.mode == FULL or meta.hdr_overflow or first.hdr_addr == 0:
        return None
    ok = (meta.l2_ok, meta.l3_ok, meta.l4_ok)[cfg.split_level]
    h = (meta.l2_end, meta.l3_end, meta.l4_end)[cfg.split_level]
    return h if ok and h <= first.hdr_len else None


def stream_of(cfg: QueueConfig, meta: Meta, first: RxDescriptor, frame: bytes) -> tuple[int, bytes]:
    """(stream position of the first stream byte, the stream bytes), per the table."""
    h = expected_split(cfg, meta, first)
    if h is None:
        return cfg.data_offset, frame
    if cfg.mode == SPLIT_HOLE:
        return cfg.data_offset + h, frame[h:]
    return cfg.data_offset, frame[h:]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_random_frames_land_exactly_at_their_stream_positions(
    case: tuple[QueueConfig, int, list[RxDescriptor], bytes, Meta],
) -> None:
    cfg, head, descs, frame, meta = case
    n = len(frame)
    st_ = QueueState(desc_tail=(head + len(descs)) & 0xFFFF, desc_head=head)
    p = predict_frame(cfg, st_, posted_only(descs, head), frame, meta)
    note(f"prediction: {p}")
    k = len(p.descriptors)
    assert p.descriptors == tuple(descs[:k]) and p.state.desc_head == (head + k) & 0xFFFF
    if p.completion is None:  # dropped without a trace
        assert k == 0 and p.data_writes == () and p.drop is not None
        if p.drop is DropReason.QUEUE_ERROR:
            assert p.error_raised is QueueError.BAD_GROUP and len(descs) >= DESC_CACHE
            assert not any(d.flags & EOG for d in descs[:DESC_CACHE])
        else:  # the frame needs a descriptor not posted
            assert p.drop is DropReason.NO_BUFFER and len(descs) < DESC_CACHE
            ends = [i + 1 for i, d in enumerate(descs) if d.flags & EOG]
            if ends and descs:
                f, e = stream_of(cfg, meta, descs[0], frame)
                assert cfg.mergeable and sum(d.data_len for d in descs[: ends[-1]]) < f + len(e)
        return
    c = p.completion
    assert c.desc_count == k and 0 < k <= DESC_CACHE and descs[k - 1].flags & EOG
    assert c.cookie == descs[0].cookie and c.frame_len == n
    eogs = sum(1 for d in p.descriptors if d.flags & EOG)
    h = expected_split(cfg, meta, descs[0])
    first, payload = stream_of(cfg, meta, descs[0], frame)
    end = first + len(payload)
    capacity = sum(d.data_len for d in p.descriptors)
    if not p.delivered:
        assert p.drop is DropReason.TOO_LONG_FOR_GROUP and p.data_writes == ()
        assert (c.status, c.group_count, c.payload_len, c.hdr_len) == (1, 1, 0, 0)
        assert eogs == 1 and c.flags & (CplFlags.SPLIT | CplFlags.HDR_OVERFLOW) == 0
        assert capacity < end  # else the first group would have taken it
        return
    assert c.status == CplStatus.OK and c.group_count == eogs and capacity >= end
    if not cfg.mergeable:
        assert eogs == 1
    else:  # the fewest whole groups: without the last one they would not hold the stream
        last_start = max((i + 1 for i in range(k - 1) if descs[i].flags & EOG), default=0)
        assert sum(d.data_len for d in descs[:last_start]) < end or last_start == 0
    assert c.hdr_len + c.payload_len == n and c.hdr_len == (h or 0)
    assert bool(c.flags & CplFlags.SPLIT) == (h is not None)
    assert bool(c.flags & CplFlags.HDR_OVERFLOW) == (h is None and cfg.mode != FULL)
    writes = list(p.data_writes)
    if h is not None:
        assert writes.pop(0) == (descs[0].hdr_addr, frame[:h]) and h <= descs[0].hdr_len
    starts = [sum(d.data_len for d in descs[:i]) for i in range(k)]
    pos, stream = first, b""
    for addr, data in writes:
        i = (addr - buf(0)) // STRIDE
        d = descs[i]
        assert i < k and d.data_addr <= addr and addr + len(data) <= d.data_addr + d.data_len
        assert len(data) > 0 and starts[i] + addr - d.data_addr == pos
        pos += len(data)
        stream += data
    assert stream == payload and pos == end
    assert [(d.data_addr + off, b) for d, off, b in p.buffer_bytes()] == writes


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
    mem, io, nic = make_fake()
    cfg = rings(mem, io)
    program(nic, cfg)  # valid rings: enabling does not stop the queue
    qs = nic.queues[0]
    qs.state = QueueState(
        desc_tail=7, desc_head=5, cpl_tail=5, cpl_head=3, error_code=QueueError.BAD_GROUP
    )
    nic.write_now(q("CTRL"), ctrl_value(cfg, reset=1))
    assert nic.state() == QueueState(desc_tail=7, cpl_head=3)
    assert nic.read_now(q("CTRL")) == ctrl_value(cfg)  # reset is a pulse
    assert nic.read_now(q("STATUS")) == 0


# -- FakeNic: memory ------------------------------------------------------------------------


def program(nic: FakeNic, cfg: QueueConfig) -> None:
    nic.write_now(q("DESC_BASE_LO"), cfg.desc_base & 0xFFFF_FFFF)
    nic.write_now(q("DESC_BASE_HI"), cfg.desc_base >> 32)
    nic.write_now(q("DESC_SIZE"), cfg.desc_size_log2)
    nic.write_now(q("CPL_BASE_LO"), cfg.cpl_base & 0xFFFF_FFFF)
    nic.write_now(q("CPL_BASE_HI"), cfg.cpl_base >> 32)
    nic.write_now(q("CPL_SIZE"), cfg.cpl_size_log2)
    nic.write_now(q("DATA_OFFSET"), cfg.data_offset)
    nic.write_now(q("CTRL"), ctrl_value(cfg))


def ctrl_value(cfg: QueueConfig, **extra: int) -> int:
    """RXQ CTRL holding ``cfg``'s settings (and ``extra`` fields, e.g. reset=1)."""
    f = regmap.RXQ.regs["CTRL"].fields
    values = {
        "enable": int(cfg.enabled),
        "mode": int(cfg.mode),
        "split_level": int(cfg.split_level),
        "mergeable": int(cfg.mergeable),
        "drop_when_empty": int(cfg.drop_when_empty),
        **extra,
    }
    return sum(f[name].put(v) for name, v in values.items())


def rings(mem: HostMemory, io: Iommu) -> QueueConfig:
    dom = io.attach(RID)
    dbase = mem.alloc(PAGE_SIZE)
    cbase = mem.alloc(PAGE_SIZE)
    dom.map(dbase, dbase, PAGE_SIZE, Perm.READ)
    dom.map(cbase, cbase, PAGE_SIZE, Perm.WRITE)
    return QueueConfig(
        desc_base=dbase, desc_size_log2=2, cpl_base=cbase, cpl_size_log2=3, data_offset=12
    )


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
            nic.write_now(q("CTRL"), ctrl_value(replace(cfg, enabled=rng.random() < 0.7)))
        else:
            pkt = udp_frame(rng.randrange(60, 1500), tag=sent)
            p = nic.receive(pkt)
            sent += 1
            if p.completion is not None:
                head += 1
                nic.write_now(q("CPL_HEAD"), head & 0xFFFF)  # host consumes at once
                assert p.completion.cookie == head - 1
            if p.delivered:
                assert len(p.descriptors) == 1
                assert mem.read(p.descriptors[0].data_addr + 12, len(pkt)) == pkt
    assert nic.state().error_code is QueueError.NONE
    assert sent == nic.rx_frames + sum(nic.drops.values())
    assert nic.drops[DropReason.QUEUE_ERROR] == 0

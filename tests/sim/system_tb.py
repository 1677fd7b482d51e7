# SPDX-License-Identifier: MIT
"""cocotb tests of the thin path, wire to guest: scapy frames on XGMII into splitrx_top,
through the MAC, clock crossing, packet FIFO and DMA, into a virtio guest's buffers via the
host NIC driver, page constructor and vhost backend. Run through tests/test_system.py."""

from __future__ import annotations

import cocotb
from cocotb.triggers import Timer
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Packet, Raw

from model.hostmem import POISON_BYTE
from model.records import CplFlags, CsumStatus, DropReason, L3Type, RxCompletion
from model.virtio import VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_HDR_F_DATA_VALID
from sw.guest_virtio import RxFrame
from sw.vhost import DEFAULT_FEATURES
from tb.lib.common import seeded_rng
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference
from tb.lib.system import HDR, SystemRig, XskSpec
from tb.lib.traffic import GUEST_MAC, PEER_MAC, scapy_frame


def check_completion(c: RxCompletion, frame: bytes, k: int) -> None:
    """The completion's parser fields against the reference parser (scapy + own checksums)."""
    m = reference(frame, MAX_HDR_BYTES, MAX_EXT_HDRS)
    want = {
        "l3_type": int(m.l3_type),
        "l4_type": int(m.l4_type),
        "csum": m.csum,
        "csum_status": int(m.ip4_csum) | int(m.l4_csum) << 2,
        "vlan_tci": m.vlan_tci if m.vlan else 0,
        "flags": (CplFlags.VLAN if m.vlan else 0)
        | (CplFlags.MALFORMED if m.l3_type == L3Type.MALFORMED else 0),
        "frame_len": len(frame),
    }
    got = {key: getattr(c, key) for key in want}
    assert got == want, f"frame {k} ({Ether(frame).summary()}): completion {got}, expected {want}"


def check_received(rig: SystemRig, got: list[RxFrame], sent: list[bytes]) -> None:
    """Call right after receiving, before the buffers can be reused by later frames."""
    assert len(got) == len(sent), f"{len(got)} frames received, {len(sent)} sent"
    for k, (f, s) in enumerate(zip(got, sent, strict=True)):
        if f.data != s:
            i = next((j for j in range(min(len(f.data), len(s))) if f.data[j] != s[j]), None)
            raise AssertionError(
                f"frame {k}: {len(f.data)} B received, {len(s)} B sent, first difference at "
                f"{i}: got {f.data[i : i + 16].hex() if i is not None else ''} "
                f"expected {s[i : i + 16].hex() if i is not None else ''}"
            )
        assert f.hdr.num_buffers == 1 and f.used_len == HDR + len(s), (k, f.hdr, f.used_len)
        tail = rig.ram.read(f.addr + f.used_len, rig.buf_size - f.used_len)
        assert tail == bytes([POISON_BYTE]) * len(tail), f"frame {k}: bytes after it changed"
    assert rig.tracker.violations == [], rig.tracker.violations[:3]
    assert rig.h.host.faults == [] and rig.h.iommu.faults == []


@cocotb.test()
async def guest_reads_back_every_good_frame_byte_exact(dut: object) -> None:
    """Frames of every size class and kind go from the wire to the guest's used ring, byte
    for byte, in order, with a 12-byte virtio_net_hdr (num_buffers 1) in front; the guest
    ring (16 entries) wraps several times; every buffer is fresh (posted once), so its bytes
    after the frame must still be poison; no device write lands outside a posted buffer."""
    rig = await SystemRig(dut, reuse=False).start()
    rng = seeded_rng("guest_reads_back_every_good_frame_byte_exact")
    sizes = [60, 64, 65, 128, 1514] + [rng.randint(60, 1514) for _ in range(35)]
    sent = [scapy_frame(rng, n, i) for i, n in enumerate(sizes)]
    for k in range(0, len(sent), 8):  # bursts of 8, so the 16-entry ring never runs dry
        batch = sent[k : k + 8]
        for f in batch:
            await rig.send(f)
        check_received(rig, await rig.receive(len(batch)), batch)
    assert len(rig.completions) == len(sent)
    for k, (c, f) in enumerate(zip(rig.completions, sent, strict=True)):
        check_completion(c, f, k)
    c = await rig.drv.counters()
    assert (c.rx_frames, c.rx_bytes, c.total_drops) == (len(sent), sum(sizes), 0)


@cocotb.test()
async def bad_fcs_frame_is_dropped_and_counted(dut: object) -> None:
    """Frames with a corrupted FCS never reach the guest and are counted as bad_fcs; the good
    frames around them arrive intact; frames on the wire = delivered + drops."""
    rig = await SystemRig(dut).start()
    rng = seeded_rng("bad_fcs_frame_is_dropped_and_counted")
    good: list[bytes] = []
    bad_positions = {1, 4, 5}
    for i in range(8):
        f = scapy_frame(rng, rng.randint(60, 600), i)
        if i in bad_positions:
            await rig.send(f, bad_fcs=True)
        else:
            await rig.send(f)
            good.append(f)
    got = await rig.receive(len(good))
    await rig.settle()
    check_received(rig, got, good)
    c = await rig.drv.counters()
    assert c.drops[DropReason.BAD_FCS] == len(bad_positions)
    assert c.rx_frames + c.total_drops == rig.stats.sent == 8


@cocotb.test()
async def empty_guest_ring_drops_as_no_buffer(dut: object) -> None:
    """With every guest buffer in use and not yet returned, further frames are dropped as
    no_buffer and counted; once the guest takes its frames and reposts, traffic resumes."""
    rig = await SystemRig(dut, guest_num=4, nic_entries=4, may_drop=True).start()
    rng = seeded_rng("empty_guest_ring_drops_as_no_buffer")
    first = [scapy_frame(rng, 200, i) for i in range(4)]
    extra = [scapy_frame(rng, 200, 10 + i) for i in range(3)]
    for f in first + extra:
        await rig.send(f)
    await rig.wire.wait()
    await Timer(2000, "ns")  # let the NIC finish all 7 before the host gives buffers back
    check_received(rig, await rig.receive(4), first)
    c = await rig.drv.counters()
    assert c.drops[DropReason.NO_BUFFER] == 3
    later = [scapy_frame(rng, 300, 20 + i) for i in range(4)]
    for f in later:
        await rig.send(f)
    check_received(rig, await rig.receive(4), later)
    c = await rig.drv.counters()
    assert c.rx_frames + c.total_drops == rig.stats.sent == 11


@cocotb.test()
async def checksum_verdicts_reach_the_guest_as_data_valid(dut: object) -> None:
    """With VIRTIO_NET_F_GUEST_CSUM negotiated, frames whose checksums verify (TCP and UDP
    over IPv4, IPv4 with a VLAN tag, IPv6) arrive with DATA_VALID; frames with a corrupted
    UDP/TCP checksum or IPv4 header checksum, and non-IP frames, arrive without it."""
    rig = await SystemRig(dut, features=DEFAULT_FEATURES | 1 << VIRTIO_NET_F_GUEST_CSUM).start()
    rng = seeded_rng("checksum_verdicts_reach_the_guest_as_data_valid")
    sent: list[bytes] = []
    want: list[bool] = []
    for i in range(24):
        frame = bytearray(scapy_frame(rng, rng.randint(60, 1000), i))
        pkt = Ether(bytes(frame))
        corrupt = rng.randrange(3)  # 0: as built, 1: L4 checksum, 2: IPv4 header checksum
        if corrupt == 2 and IP not in pkt:
            corrupt = 1
        if TCP not in pkt and UDP not in pkt:
            corrupt = 0
        if corrupt == 1:
            l4 = pkt[TCP] if TCP in pkt else pkt[UDP]
            off = len(frame) - len(l4) + (16 if TCP in pkt else 6)
            frame[off] ^= 0x5A
        elif corrupt == 2:
            off = len(frame) - len(pkt[IP]) + 10
            frame[off] ^= 0x5A
        sent.append(bytes(frame))
        # DATA_VALID only for an L4 checksum verified good (and the IPv4 header's, if any):
        # the reference parser's verdicts (scapy + our own checksum code) say which
        m = reference(bytes(frame), MAX_HDR_BYTES, MAX_EXT_HDRS)
        good = m.l4_csum == CsumStatus.GOOD and m.ip4_csum != CsumStatus.BAD
        assert corrupt == 0 or not good, f"frame {i}: corruption {corrupt} not seen"
        want.append(good)
    for k in range(0, len(sent), 8):
        for f in sent[k : k + 8]:
            await rig.send(f)
        got = await rig.receive(len(sent[k : k + 8]))
        for j, g in enumerate(got):
            assert g.data == sent[k + j], f"frame {k + j} differs"
            check_completion(rig.completions[k + j], sent[k + j], k + j)
            valid = bool(g.hdr.flags & VIRTIO_NET_HDR_F_DATA_VALID)
            assert valid == want[k + j], (
                f"frame {k + j} ({Ether(sent[k + j]).summary()}): DATA_VALID {valid}, "
                f"expected {want[k + j]}"
            )


@cocotb.test()
async def steering_table_filters_unmatched_unicast(dut: object) -> None:
    """With the guest's MAC in the steering table and promiscuous mode off: frames to it,
    broadcast and multicast are delivered; unicast to an unknown MAC is dropped as filtered;
    unicast to a MAC steered to a queue this device does not have is dropped as
    queue_disabled; a VLAN-qualified entry matches only its VLAN. Counters add up."""
    rig = await SystemRig(dut).start()
    rng = seeded_rng("steering_table_filters_unmatched_unicast")
    await rig.set_steer_entry(0, GUEST_MAC, 0)
    await rig.set_steer_entry(1, "02:00:00:00:00:33", 5)  # a queue that does not exist
    await rig.set_steer_entry(2, "02:00:00:00:00:44", 0, vlan_id=7)
    await rig.set_promisc(False)
    await rig.h.barrier()

    def to(dst: str, vlan: int | None = None) -> bytes:
        eth = Ether(dst=dst, src=PEER_MAC)
        l3 = IP(src="10.0.0.2", dst="10.0.0.1") / UDP(dport=9)
        pkt = eth / Dot1Q(vlan=vlan) / l3 if vlan is not None else eth / l3
        return bytes(pkt / Raw(rng.randbytes(rng.randint(20, 400))))

    cases = [
        (to(GUEST_MAC), None),
        (to("ff:ff:ff:ff:ff:ff"), None),
        (to("01:00:5e:00:00:01"), None),
        (to("02:00:00:00:00:99"), DropReason.FILTERED),
        (to("02:00:00:00:00:33"), DropReason.QUEUE_DISABLED),
        (to("02:00:00:00:00:44", vlan=7), None),
        (to("02:00:00:00:00:44", vlan=8), DropReason.FILTERED),
        (to(GUEST_MAC, vlan=8), None),  # entry 0 has no VLAN condition
    ]
    for f, _ in cases:
        await rig.send(f)
    good = [f for f, why in cases if why is None]
    got = await rig.receive(len(good))
    await rig.settle()
    check_received(rig, got, good)
    c = await rig.drv.counters()
    for reason in (DropReason.FILTERED, DropReason.QUEUE_DISABLED):
        assert c.drops[reason] == sum(why == reason for _, why in cases), (reason, c.drops)
    assert c.rx_frames + c.total_drops == len(cases)


@cocotb.test()
async def xsk_app_reads_split_frames_with_the_headers_in_front_of_the_payload(dut: object) -> None:
    """A user-space ring owner on its own SPLIT queue (DATA_OFFSET 256, 256-byte kernel header
    buffers): a UDP/IPv4 and a TCP/IPv6 frame arrive split, the payload at 256 in the chunk and
    the headers (42 and 74 bytes, from scapy's layer lengths) copied right in front of it, so
    the completion-ring entry says offset 256 - headers; a non-IP frame is placed whole at 256
    (HDR_OVERFLOW); a split frame whose payload fills the chunk to its last byte still fits,
    and a non-IP frame one byte too long for it is too_long_for_group and never reaches the
    app. Every other byte of each (fresh) chunk is still poison; the header buffers are host
    memory outside the app's; after teardown nothing of the app is pinned or posted."""
    spec = XskSpec(chunks=16, nic_entries=8, ring_size=16)
    rig = await SystemRig(dut, guests=[], xsks=[spec]).start()
    x = rig.xsks[spec.name]
    rng = seeded_rng("xsk_app_reads_split_frames_with_the_headers_in_front_of_the_payload")
    eth = Ether(dst=spec.mac, src=PEER_MAC)
    room = spec.chunk_size - spec.data_offset  # payload bytes a chunk holds

    def body(hdr: Packet, n: int) -> bytes:
        return bytes(hdr / Raw(rng.randbytes(n)))

    udp4 = eth / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=7, dport=9)
    tcp6 = eth / IPv6(src="fd00::2", dst="fd00::1") / TCP(sport=7, dport=80)
    raw = Ether(dst=spec.mac, src=PEER_MAC, type=0x88B5)
    cases = [  # (frame, expected header bytes copied (0: placed whole), reaches the app)
        (body(udp4, 300), 42, True),
        (body(tcp6, 1000), 74, True),
        (body(raw, 500), 0, True),
        (body(udp4, room), 42, True),  # payload exactly fills the chunk
        (body(raw, room - 14 + 1), 0, False),  # whole at 256: one byte too long
    ]
    assert len(bytes(udp4)) == 42 and len(bytes(tcp6)) == 74
    for f, _, _ in cases:
        await rig.send(f)
    await rig.receive_all()
    await rig.settle()
    assert await rig.finish() == []
    want = [(f, h) for f, h, ok in cases if ok]
    assert [f.data for f in x.received] == [f for f, _ in want]
    for got, (f, h) in zip(x.received, want, strict=True):
        assert got.offset == spec.data_offset - h, (got, h)
        split = bool(got.flags & CplFlags.SPLIT)
        assert split == (h > 0) and bool(got.flags & CplFlags.HDR_OVERFLOW) == (h == 0)
        before = x.app.umem.read(got.addr, got.offset)
        end = got.addr + got.offset + len(f)
        after = x.app.umem.read(end, got.addr + spec.chunk_size - end)
        assert before + after == bytes([POISON_BYTE]) * (len(before) + len(after))
    assert x.rx.stats.recycled == 1 and x.rx.stats.frames == len(want)
    c = await rig.drv.counters()
    assert c.drops[DropReason.TOO_LONG_FOR_GROUP] == 1 and c.rx_frames == len(want)
    hb = x.rx.hdr_bufs
    assert hb is not None
    app_lo, app_hi = x.app.space.host_base, x.app.space.host_base + x.app.space.size
    assert hb.base + hb.region_bytes <= app_lo or app_hi <= hb.base
    await x.rx.teardown()
    assert rig.pool.pinned_pages == 0 and x.rx.in_flight == 0
    assert rig.tracker.posted_buffers(spec.name) == []
    assert rig.tracker.posted_buffers(x.rx.hdr_owner) == []
    assert rig.tracker.violations == [] and rig.h.host.faults == []

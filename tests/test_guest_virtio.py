# SPDX-License-Identifier: MIT
"""Guest virtio-net RX driver: kicks and interrupts per the event index, NAPI polling with a
budget, lost notifications, buffer reuse or not, bad used lengths; mergeable RX buffers
(reassembly from num_buffers used entries, missing and oversized buffers, budget in frames,
mixed buffer sizes); big-packet chains (a buffer of several segments, read by used.len in
chain order)."""

from __future__ import annotations

from typing import Any

import pytest

from model.hostmem import GuestRam, HostMemory
from model.records import DropReason
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_V1_SIZE,
    Chain,
    SplitRing,
    VirtioNetHdr,
)
from sw.guest_virtio import DEFAULT_FEATURES, GuestVirtioNetRx
from tests.test_vhost import assert_frames, l4_frame, make_frame, rig, run

HDR = VIRTIO_NET_HDR_V1_SIZE


def test_guest_kicks_only_when_the_backend_asks() -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16)
        assert r.guest.fill(4) == 4 and r.guest.stats.kicks == 1
        r.guest.fill(4)  # the backend has not looked yet: avail_event still 0
        assert r.guest.stats.kicks == 1 and r.backend.stats.kicks == 1
        await r.backend.service()
        assert r.queue.outstanding == 8  # it took both batches on the one kick
        r.guest.fill(1)  # now avail_event == 8: this post crosses it
        assert r.guest.stats.kicks == 2
        await r.backend.service()
        assert r.queue.outstanding == 9

    run(go())


def test_without_event_idx_the_guest_kicks_every_batch() -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, features=1 << VIRTIO_F_VERSION_1)
        r.guest.fill(4)
        r.guest.fill(4)
        assert r.guest.stats.kicks == 2
        await r.backend.service()
        assert r.queue.outstanding == 8

    run(go())


def test_backend_notifies_only_when_the_guest_asks() -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8)
        r.guest.fill()
        await r.backend.service()
        r.wire(make_frame(100, 0))
        await r.backend.service()
        assert r.backend.stats.notifications == 1 and r.guest.poll_scheduled
        # interrupt taken, poll not yet run: callbacks are off, more frames stay quiet
        for i in range(1, 4):
            r.wire(make_frame(100, i))
            await r.backend.service()
        assert r.backend.stats.notifications == 1 and r.guest.stats.interrupts == 1
        got = r.guest.poll()
        assert [f.data for f in got] == [make_frame(100, i) for i in range(4)]
        assert not r.guest.poll_scheduled
        r.wire(make_frame(100, 4))
        await r.backend.service()
        assert r.backend.stats.notifications == 2
        assert [f.data for f in r.guest.poll()] == [make_frame(100, 4)]

    run(go())


def test_lost_notification_shows_as_frames_not_received() -> None:
    async def go() -> None:
        r = await rig(guest_num=8, nic_entries=8)
        r.guest.fill()
        await r.backend.service()
        lost: list[int] = []
        r.backend.notify = lambda: lost.append(1)  # the interrupt never reaches the guest
        sent = [make_frame(80, i) for i in range(3)]
        got = await r.deliver(sent)
        assert got == [] and len(lost) == 1 and r.guest.stats.frames == 0
        assert r.guest.ring.used_idx_in_ring == 3  # the frames are there, unseen
        r.backend.notify = r.guest.interrupt
        more = await r.deliver([make_frame(80, 3)])
        assert more == []  # the guest never re-armed: still no interrupt
        assert r.guest.stats.interrupts == 0
        r.guest.interrupt()  # e.g. a watchdog
        assert_frames(r.guest.poll(), [*sent, make_frame(80, 3)])

    run(go())


def test_poll_budget_leaves_napi_scheduled_until_drained() -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16)
        r.guest.fill()
        await r.backend.service()
        sent = [make_frame(64, i) for i in range(10)]
        for f in sent:
            r.wire(f)
        await r.backend.service(budget=16)
        first = r.guest.poll(budget=4)
        assert len(first) == 4 and r.guest.poll_scheduled
        second = r.guest.poll(budget=4)
        third = r.guest.poll(budget=4)
        assert len(second) == 4 and len(third) == 2 and not r.guest.poll_scheduled
        assert_frames(first + second + third, sent)
        assert r.backend.stats.notifications == 1 and r.guest.stats.polls == 3

    run(go())


def test_reuse_reposts_the_same_buffers() -> None:
    async def go() -> None:
        r = await rig(guest_num=4, nic_entries=4)
        r.guest.fill()
        await r.backend.service()
        first = {d.data_addr for d in r.queue.posted_descriptors}
        sent = [make_frame(90, i) for i in range(12)]
        got = []
        for k in range(0, 12, 3):
            got += await r.deliver(sent[k : k + 3])
        assert_frames(got, sent)
        assert len({f.addr for f in got}) == 4
        assert {d.data_addr for d in r.queue.posted_descriptors} == first
        assert r.guest.stats.posted == 16

    run(go())


def test_no_reuse_posts_each_buffer_once_and_keeps_it_intact() -> None:
    async def go() -> None:
        r = await rig(guest_num=4, nic_entries=4, reuse=False)
        r.guest.fill()
        await r.backend.service()
        sent = [make_frame(200, i) for i in range(4)]
        got = await r.deliver(sent)
        assert_frames(got, sent)
        assert r.queue.outstanding == 0 and r.guest.ring.num_free == 4
        assert r.wire(make_frame(64)).drop is DropReason.NO_BUFFER
        assert sorted(r.guest.retired) == sorted(f.addr for f in got)
        for f, s in zip(got, sent, strict=True):  # a memory dump still shows every frame
            assert r.ram.read(f.addr + HDR, len(s)) == s
        r.guest.fill(2)  # fresh buffers, never the retired ones
        await r.backend.service()
        new = {r.ram.to_guest(d.data_addr - r.pool.iova_offset) for d in r.queue.posted_descriptors}
        assert len(new) == 2 and not new & set(r.guest.retired)

    run(go())


def test_used_entry_with_a_bad_length_or_header_is_counted_not_delivered() -> None:
    mem = HostMemory()
    ram = GuestRam(mem, 1 << 16)
    g = GuestVirtioNetRx(ram, 4, buf_size=512)
    g.fill()
    dev = SplitRing(ram, g.layout, event_idx=True)
    dev.init_device()
    heads = [dev.pop_avail() for _ in range(3)]
    assert all(h is not None for h in heads)
    addr = [h.segments[0].addr for h in heads if h is not None]
    ram.write(addr[0], VirtioNetHdr().pack() + b"ok")
    ram.write(addr[1], VirtioNetHdr().pack())
    ram.write(addr[2], VirtioNetHdr(num_buffers=2).pack())
    dev.push_used_n(
        [(heads[0].head, HDR + 2), (heads[1].head, 513), (heads[2].head, HDR + 4)]  # type: ignore[union-attr]
    )
    g.interrupt()
    got = g.poll()
    assert [f.data for f in got] == [b"ok"]
    assert (g.stats.length_errors, g.stats.hdr_errors) == (1, 1)
    assert g.ring.num_free == 0 and g.stats.posted == 4 + 3  # all three reposted


def test_spurious_interrupt_is_counted_and_schedules_nothing() -> None:
    mem = HostMemory()
    g = GuestVirtioNetRx(GuestRam(mem, 1 << 16), 4)
    g.interrupt()
    assert g.stats.spurious_interrupts == 1 and not g.poll_scheduled and g.poll() == []


def test_guest_refuses_virtio_0_9() -> None:
    with pytest.raises(ValueError, match="VERSION_1"):
        GuestVirtioNetRx(GuestRam(HostMemory(), 1 << 16), 4, features=0)


# -- mergeable RX buffers (Linux receive_mergeable) ------------------------------------------

MRG = DEFAULT_FEATURES | 1 << VIRTIO_NET_F_MRG_RXBUF


def hand_device(num: int = 8, buf_size: int | list[int] = 256) -> tuple[
    GuestVirtioNetRx, SplitRing, list[tuple[int, int]]
]:  # fmt: skip
    """A mergeable guest with its ring full, and the device side of the ring driven by hand;
    returns the avail buffers (head, addr) in order."""
    g, dev, popped = device_by_hand(num, buf_size=buf_size, features=MRG)
    return g, dev, [(c.head, c.segments[0].addr) for c in popped]


def device_by_hand(num: int, **guest: Any) -> tuple[GuestVirtioNetRx, SplitRing, list[Chain]]:
    """A guest (``GuestVirtioNetRx`` keywords) with its ring full, and the device side of the
    ring driven by hand; returns the avail chains in order."""
    ram = GuestRam(HostMemory(), 1 << 16)
    g = GuestVirtioNetRx(ram, num, **guest)
    g.fill()
    dev = SplitRing(ram, g.layout, event_idx=True)
    dev.init_device()
    popped = []
    while (c := dev.pop_avail()) is not None:
        popped.append(c)
    return g, dev, popped


def put_frame(
    g: GuestVirtioNetRx, bufs: list[tuple[int, int]], frame: bytes, size: int
) -> list[tuple[int, int]]:
    """Write ``frame`` behind a net header as a stream over ``size``-byte buffers taken
    from ``bufs``; returns the used entries (head, len)."""
    stream = VirtioNetHdr(num_buffers=-(-(HDR + len(frame)) // size)).pack() + frame
    used = []
    for k in range(0, len(stream), size):
        head, addr = bufs.pop(0)
        g.ram.write(addr, stream[k : k + size])
        used.append((head, len(stream[k : k + size])))
    return used


def test_mergeable_guest_reassembles_a_frame_from_num_buffers_used_entries() -> None:
    g, dev, bufs = hand_device()
    frame = bytes(range(256)) * 2 + b"tail"  # 516 bytes: stream 528 = 256 + 256 + 16
    used = put_frame(g, bufs, frame, 256)
    assert [n for _, n in used] == [256, 256, 16]
    dev.push_used_n(used)
    g.interrupt()
    (f,) = g.poll()
    assert f.data == frame and f.hdr.num_buffers == 3 and f.used_len == HDR + len(frame)
    assert [(b.head, b.used_len, b.size) for b in f.buffers] == [(h, n, 256) for h, n in used]
    assert (g.stats.frames, g.stats.buffers, g.stats.bytes) == (1, 3, len(frame))
    assert g.stats.posted == 8 + 3  # the three buffers went back to the ring


def test_mergeable_frame_with_missing_buffers_is_dropped_and_its_buffers_reposted() -> None:
    g, dev, bufs = hand_device()
    used = put_frame(g, bufs, b"x" * 600, 256)  # says num_buffers 3
    dev.push_used_n(used[:2])  # the device publishes only two
    g.interrupt()
    assert g.poll() == []
    assert (g.stats.missing_buffers, g.stats.frames, g.stats.buffers) == (1, 0, 2)
    assert g.ring.num_free == 0 and g.stats.posted == 8 + 2


def test_mergeable_buffer_used_beyond_its_size_drops_the_whole_frame_only() -> None:
    g, dev, bufs = hand_device()
    bad = put_frame(g, bufs, b"b" * 400, 256)
    bad[1] = (bad[1][0], 257)  # the second buffer is 256 bytes
    good = put_frame(g, bufs, b"g" * 100, 256)
    dev.push_used_n(bad + good)
    g.interrupt()
    assert [f.data for f in g.poll()] == [b"g" * 100]  # the next frame is found again
    assert (g.stats.length_errors, g.stats.frames, g.stats.buffers) == (1, 1, 3)


def test_mergeable_num_buffers_zero_is_a_header_error() -> None:
    g, dev, bufs = hand_device()
    head, addr = bufs[0]
    g.ram.write(addr, VirtioNetHdr(num_buffers=0).pack() + b"zz")
    dev.push_used(head, HDR + 2)
    g.interrupt()
    assert g.poll() == [] and g.stats.hdr_errors == 1


def test_mergeable_poll_budget_counts_frames_not_buffers() -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, buf_size=256, features=MRG)
        r.guest.fill()
        await r.backend.service()
        sent = [make_frame(600, i) for i in range(3)]  # three buffers each
        for f in sent:
            r.wire(f)
        await r.backend.service()
        assert r.guest.ring.used_idx_in_ring == 9
        first = r.guest.poll(budget=2)
        assert len(first) == 2 and r.guest.poll_scheduled and r.guest.stats.buffers == 6
        rest = r.guest.poll(budget=2)
        assert [f.data for f in first + rest] == sent and not r.guest.poll_scheduled
        assert [f.hdr.num_buffers for f in first + rest] == [3, 3, 3]

    run(go())


def test_guest_cycles_buffer_sizes_and_a_reused_buffer_keeps_its_size() -> None:
    async def go() -> None:
        sizes = [256, 1024, 512, 2048]
        r = await rig(guest_num=8, nic_entries=8, buf_size=sizes, features=MRG)
        r.guest.fill()
        await r.backend.service()
        posted = [d.data_len for d in r.queue.posted_descriptors]
        assert posted == sizes * 2
        sent = [make_frame(1400, i) for i in range(8)]
        got = []
        for f in sent:
            got += await r.deliver([f])
        assert [f.data for f in got] == sent
        for f in got:
            for b in f.buffers:
                assert b.size == r.guest.buffer_size(b.addr) and b.used_len <= b.size
        assert sorted(d.data_len for d in r.queue.posted_descriptors) == sorted(sizes * 2)

    run(go())


# -- big packets: a buffer is a chain of several segments (Linux add_recvbuf_big) ------------


def chain_device(
    num: int = 8, buf_size: int | list[int] = 512, chains: int | tuple[int, ...] = 3
) -> tuple[GuestVirtioNetRx, SplitRing, list[Chain]]:
    """A big-packet guest with its ring full of chains, and the device side of the ring
    driven by hand; returns the avail chains in order."""
    return device_by_hand(num, buf_size=buf_size, chain_buffers=chains)


def put_chain(g: GuestVirtioNetRx, chain: Chain, stream: bytes) -> None:
    """Write ``stream`` over the chain's segments in order, and junk after it."""
    pos = 0
    for seg in chain.segments:
        part = stream[pos : pos + seg.len]
        g.ram.write(seg.addr, part + b"\xee" * (seg.len - len(part)))
        pos += seg.len


def test_big_packet_guest_posts_writable_chains_whose_segments_run_backwards() -> None:
    g, _, chains = chain_device(num=8, chains=3)
    assert len(chains) == 2 and g.ring.num_free == 2 and g.stats.posted == 2
    for c in chains:
        assert [(s.len, s.write) for s in c.segments] == [(512, True)] * 3
        addrs = [s.addr for s in c.segments]
        # allocated last segment first, as add_recvbuf_big does: never one contiguous run
        assert addrs == [addrs[0] - 512 * k for k in range(3)]
        assert g.buffer_segments(addrs[0]) == tuple((s.addr, s.len) for s in c.segments)
        assert g.buffer_size(addrs[0]) == 3 * 512


@pytest.mark.parametrize("n", [100, 512 - HDR, 512 - HDR + 1, 900, 3 * 512 - HDR])
def test_big_packet_guest_reads_the_frame_across_its_chain_by_used_len(n: int) -> None:
    g, dev, chains = chain_device()
    frame = bytes((i * 7 + 3) & 0xFF for i in range(n))
    put_chain(g, chains[1], VirtioNetHdr().pack() + frame)
    dev.push_used(chains[1].head, HDR + n)
    g.interrupt()
    (f,) = g.poll()
    assert f.data == frame and f.used_len == HDR + n and f.hdr.num_buffers == 1
    assert f.head == chains[1].head and f.addr == chains[1].segments[0].addr
    (b,) = f.buffers
    assert b.segments == tuple((s.addr, s.len) for s in chains[1].segments)
    assert (b.size, b.used_len) == (3 * 512, HDR + n)
    # reposted whole, the same segments in the same order
    assert g.stats.posted == 3
    again = dev.pop_avail()
    assert again is not None and again.segments == chains[1].segments


def test_big_packet_chain_used_beyond_its_length_or_num_buffers_not_1_is_an_error() -> None:
    g, dev, chains = chain_device(num=16)
    assert len(chains) == 5
    put_chain(g, chains[0], VirtioNetHdr().pack() + b"a" * 1600)
    put_chain(g, chains[1], VirtioNetHdr(num_buffers=2).pack() + b"b" * 600)
    put_chain(g, chains[2], VirtioNetHdr().pack() + b"ok")
    dev.push_used_n([(chains[0].head, 3 * 512 + 1), (chains[1].head, HDR + 600),
                     (chains[2].head, HDR + 2)])  # fmt: skip
    g.interrupt()
    assert [f.data for f in g.poll()] == [b"ok"]
    assert (g.stats.length_errors, g.stats.hdr_errors, g.stats.frames) == (1, 1, 1)
    assert g.ring.num_free == 1 and g.stats.posted == 5 + 3  # all three reposted


def test_chain_lengths_and_segment_sizes_cycle_and_a_reused_chain_keeps_its_segments() -> None:
    g, dev, chains = chain_device(num=16, buf_size=[256, 512], chains=(1, 3))
    assert [[s.len for s in c.segments] for c in chains] == [
        [256], [512, 256, 512], [256], [512, 256, 512],
    ] * 2  # fmt: skip
    assert g.ring.num_free == 0
    frame = bytes(range(200)) * 6  # 1200 bytes: the stream ends in the third segment
    put_chain(g, chains[3], VirtioNetHdr().pack() + frame)
    dev.push_used(chains[3].head, HDR + len(frame))
    g.interrupt()
    (f,) = g.poll()
    assert f.data == frame and [n for _, n in f.buffers[0].segments] == [512, 256, 512]
    again = dev.pop_avail()
    assert again is not None and again.segments == chains[3].segments


def test_guest_refuses_a_chain_longer_than_its_ring() -> None:
    with pytest.raises(ValueError, match="chain of 9 buffers"):
        GuestVirtioNetRx(GuestRam(HostMemory(), 1 << 16), 8, chain_buffers=9)


def test_big_packet_guest_through_vhost_and_the_nic_frames_span_one_to_four_segments() -> None:
    async def go() -> None:
        r = await rig(guest_num=16, nic_entries=16, buf_size=512, chain_buffers=4)
        r.guest.fill()
        await r.backend.service()
        sent = [l4_frame(n, i) for i, n in enumerate([100, 700, 1300, 4 * 512 - HDR])]
        got = await r.deliver(sent)
        assert_frames(got, sent)
        assert [-(-(HDR + len(s)) // 512) for s in sent] == [1, 2, 3, 4]  # segments written
        assert r.guest.stats.buffers == 4 and r.guest.stats.posted == 4 + 4

    run(go())

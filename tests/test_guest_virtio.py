# SPDX-License-Identifier: MIT
"""Guest virtio-net RX driver: kicks and interrupts per the event index, NAPI polling with a
budget, lost notifications, buffer reuse or not, bad used lengths."""

from __future__ import annotations

import pytest

from model.hostmem import GuestRam, HostMemory
from model.records import DropReason
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_V1_SIZE,
    SplitRing,
    VirtioNetHdr,
)
from sw.guest_virtio import GuestVirtioNetRx
from tests.test_vhost import assert_frames, make_frame, rig, run

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


@pytest.mark.parametrize(
    ("features", "match"),
    [(0, "VERSION_1"), ((1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_NET_F_MRG_RXBUF), "mergeable")],
)
def test_guest_refuses_features_it_does_not_drive(features: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GuestVirtioNetRx(GuestRam(HostMemory(), 1 << 16), 4, features=features)

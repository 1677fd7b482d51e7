# SPDX-License-Identifier: MIT
"""vhost-user back-end (sw.vhost_user, sw.vhost_user_net) against a front-end of our own
(sw/vhost_user_client.py) that owns a memfd "guest" and runs the model virtio-net driver
on its own mapping of it: the protocol, the memory table becoming host memory (a NIC write
lands in the front-end's memfd, no copy), RX through the one vhost backend, TX drained,
stop/teardown/reconnect, and every kind of bad message: one error line, the device stopped,
nothing written into the guest, no hang. Pure Python (FakeNic), a few seconds."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from model.fake_nic import FakeNic
from model.hostmem import GuestRam, HostMemory
from model.iommu import Iommu
from model.records import DropReason
from model.tracker import DmaWriteTracker
from model.virtio import VIRTIO_NET_HDR_V1_SIZE, SplitRing, SplitRingLayout, VirtioNetHdr
from sw.nic_driver import NicDriver, RxQueue
from sw.page_pool import PagePool
from sw.vhost import VhostQueueSettings
from sw.vhost_user import (
    U64,
    VERSION,
    VRING_NOFD_MASK,
    MsgHeader,
    Request,
    VringState,
)
from sw.vhost_user_client import HIGH_START, FakeFrontEnd
from sw.vhost_user_net import DEFAULT_NET_FEATURES, VhostUserNet
from tb.lib.parse_ref import MAX_EXT_HDRS, MAX_HDR_BYTES, reference

RID = 0x0100
MAC = "02:00:00:00:00:01"
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def frame(size: int, tag: int) -> bytes:
    hdr = Ether(dst=MAC, src="02:00:00:00:00:02") / IP(dst="10.0.0.1") / UDP(sport=tag, dport=9)
    raw = bytes(hdr / Raw(bytes((tag * 7 + i) & 0xFF for i in range(size - len(hdr)))))
    assert len(raw) == size
    return raw


class Host:
    """Host memory, IOMMU, FakeNic, NIC driver, page constructor and the vhost-user device
    at a socket in ``tmp``."""

    def __init__(self, tmp: Path, nic_entries: int = 8) -> None:
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.domain = self.iommu.attach(RID)
        self.tracker = DmaWriteTracker(raise_on_violation=True)
        self.nic = FakeNic(self.mem, self.domain, tracker=self.tracker)
        self.drv = NicDriver(self.nic, self.mem, self.domain)
        self.pool = PagePool(self.iommu, RID, tracker=self.tracker)
        self.errors: list[str] = []
        self.frames: list[bytes] = []  # what the backend delivered (on_frame)
        self.queues: list[RxQueue] = []
        self.nic_entries = nic_entries
        self.path = str(tmp / "vhost.sock")

        async def open_queue(settings: VhostQueueSettings) -> RxQueue:
            q = await self.drv.open_queue(0, desc_entries=self.nic_entries, **settings)
            self.queues.append(q)
            return q

        self.dev = VhostUserNet(
            self.path, mem=self.mem, pool=self.pool, open_queue=open_queue,
            tracker=self.tracker, on_frame=lambda f, c: self.frames.append(f),
            log=self.errors.append,
        )  # fmt: skip

    async def start(self) -> Host:
        await self.drv.probe()
        return self

    async def pump(self, rounds: int = 3) -> None:
        for _ in range(rounds):
            await self.dev.pump()

    def wire(self, f: bytes) -> None:
        self.nic.receive(f, 0, meta=reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS))


async def connected(tmp: Path, **kw: Any) -> tuple[Host, FakeFrontEnd]:
    """A host and a front-end through negotiation and the memory table (no ring yet)."""
    h = await Host(tmp, **kw).start()
    fe = FakeFrontEnd(h.path)
    await h.pump(1)  # accept
    fe.send(Request.GET_FEATURES)
    await h.pump(1)
    offered = fe.reply_u64(Request.GET_FEATURES)
    assert offered & DEFAULT_NET_FEATURES == DEFAULT_NET_FEATURES
    fe.send(Request.GET_PROTOCOL_FEATURES)
    await h.pump(1)
    fe.reply_u64(Request.GET_PROTOCOL_FEATURES)
    return h, fe


async def running(tmp: Path, num: int = 16, **kw: Any) -> tuple[Host, FakeFrontEnd]:
    """Negotiated, memory table acknowledged, both rings started."""
    h = await Host(tmp, **kw).start()
    fe = FakeFrontEnd(h.path)
    await h.pump(1)
    await _negotiate(h, fe)
    fe.send_mem_table()
    await h.pump()
    assert fe.reply_u64(Request.SET_MEM_TABLE) == 0
    rx = fe.make_rx(num)
    tx = fe.make_tx(num)
    fe.setup_ring(0, rx.layout)
    fe.setup_ring(1, tx.layout)
    await h.pump()
    assert h.errors == []
    assert h.dev.rx_running
    return h, fe


async def _negotiate(h: Host, fe: FakeFrontEnd) -> None:
    """FakeFrontEnd.negotiate, with the back-end pumped while the front-end waits."""
    loop = asyncio.get_running_loop()
    done = loop.run_in_executor(None, fe.negotiate)
    while not done.done():
        await h.dev.pump()
        await asyncio.sleep(0.001)
    await done
    await h.pump()


async def deliver(h: Host, fe: FakeFrontEnd, frames: list[bytes]) -> list[bytes]:
    """Frames into the NIC, the backend services, the guest takes its interrupt and polls."""
    assert fe.rx is not None
    for f in frames:
        h.wire(f)
    await h.dev.service()
    if fe.calls(0):
        fe.rx.interrupt()
    got = [x.data for x in fe.rx.poll(budget=len(frames) + 1)]
    await h.pump()  # the guest's reposts come as kicks
    return got


# -- the path -----------------------------------------------------------------------------------


def test_frames_land_in_the_front_ends_memfd_byte_exact_through_the_one_vhost_backend(
    tmp_path: Path,
) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed={seed}")
    rng = random.Random(seed)

    async def go() -> None:
        h, fe = await running(tmp_path)
        assert fe.rx is not None
        fe.rx.fill()
        fe.kick(0)
        await h.pump()
        assert h.dev.backend is not None and h.dev.backend.in_flight == 8  # the NIC ring's 8
        sent = [frame(rng.randint(60, 1514), i) for i in range(40)]
        got: list[bytes] = []
        for k in range(0, len(sent), 5):
            got += await deliver(h, fe, sent[k : k + 5])
        assert got == sent
        assert h.frames == sent  # on_frame saw what the guest then read
        assert h.nic.drops[DropReason.NO_BUFFER] == 0
        assert h.tracker.violations == [] and h.iommu.faults == []
        # each frame is in the guest's own buffers: the front-end read it from its mmap
        assert fe.rx.stats.frames == 40 and fe.rx.stats.hdr_errors == 0
        # zero copy: host memory of the guest's RAM is the front-end's memfd
        conn = h.dev.conn
        assert conn is not None and conn.memory is not None
        region = conn.regions[1]
        h.mem.write(region.ram.host_base + 0x100, b"through the host")
        assert fe.mm[HIGH_START + 0x100 : HIGH_START + 0x110] == b"through the host"
        st = h.pool.stats(h.dev.owner)
        assert st.pinned_pages > 0 and st.in_flight == 8

    run(go())


def test_mergeable_header_and_used_lengths_are_the_model_guests(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await running(tmp_path)
        assert fe.rx is not None
        fe.rx.fill()
        fe.kick(0)
        await h.pump()
        sent = [frame(60, 1), frame(1514, 2)]
        for f in sent:
            h.wire(f)
        await h.dev.service()
        assert fe.calls(0) == 1  # one interrupt for the batch (event index)
        fe.rx.interrupt()
        got = fe.rx.poll()
        assert [g.data for g in got] == sent
        for g, f in zip(got, sent, strict=True):
            assert g.hdr == VirtioNetHdr(num_buffers=1)
            assert g.used_len == VIRTIO_NET_HDR_V1_SIZE + len(f)

    run(go())


def test_tx_chains_are_drained_counted_and_given_back(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await running(tmp_path)
        tx = fe.tx
        assert tx is not None
        sent = [frame(60 + 100 * i, 100 + i) for i in range(5)]
        for f in sent:
            buf = fe.ram.alloc(VIRTIO_NET_HDR_V1_SIZE + len(f), 64)
            fe.ram.write(buf, VirtioNetHdr(num_buffers=0).pack() + f)
            tx.add_buf([(buf, VIRTIO_NET_HDR_V1_SIZE + len(f))], [])
        assert tx.kick_prepare()
        fe.kick(1)
        await h.pump()
        assert h.dev.tx_frames == sent
        assert h.dev.stats.tx_bytes == sum(map(len, sent))
        used = [tx.get_used() for _ in sent]
        assert all(u is not None and u.len == 0 for u in used)
        assert fe.calls(1) >= 1
        assert h.errors == []

    run(go())


def test_a_disabled_rx_ring_hands_no_buffer_to_the_nic_until_it_is_enabled(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        h, fe = await running(tmp_path)
        assert fe.rx is not None and h.dev.backend is not None
        fe.send(Request.SET_VRING_ENABLE, VringState(0, 0).pack())
        await h.pump()
        fe.rx.fill()
        fe.kick(0)
        await h.pump()
        await h.dev.service()
        assert h.dev.backend.in_flight == 0 and not h.dev.rx_running
        fe.send(Request.SET_VRING_ENABLE, VringState(0, 1).pack())
        fe.kick(0)
        await h.pump()
        assert h.dev.backend.in_flight == 8 and h.dev.rx_running
        assert h.errors == []

    run(go())


def test_get_vring_base_stops_rx_quiesces_the_queue_and_unpins_everything(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        h, fe = await running(tmp_path)
        assert fe.rx is not None
        fe.rx.fill()
        fe.kick(0)
        await h.pump()
        got = await deliver(h, fe, [frame(100, 1), frame(200, 2)])
        assert len(got) == 2
        backend = h.dev.backend
        assert backend is not None
        consumed = backend.ring.last_avail_idx
        fe.send(Request.GET_VRING_BASE, VringState(0, 0).pack())
        await h.pump()
        hdr, payload = fe.reply()
        assert hdr.request == Request.GET_VRING_BASE
        assert VringState.unpack(payload) == VringState(0, consumed)
        assert h.dev.backend is None and h.queues[0].closed
        assert h.pool.pinned_pages == 0 and h.dev.owner not in h.pool.owners
        # the NIC queue is off: a frame now is dropped at the NIC, nothing lands
        writes = len(h.nic.writes)
        h.wire(frame(100, 3))
        assert len(h.nic.writes) == writes
        assert h.errors == []

    run(go())


def test_front_end_closing_tears_down_and_a_new_one_attaches_to_the_same_path(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        h, fe = await running(tmp_path)
        assert fe.rx is not None
        fe.rx.fill()
        fe.kick(0)
        await h.pump()
        assert len(await deliver(h, fe, [frame(300, 1)])) == 1
        fe.close()
        await h.pump()
        assert not h.dev.connected and h.dev.backend is None
        assert h.pool.pinned_pages == 0 and h.mem.backed == []
        assert h.errors == []  # a close is not an error
        fe2 = FakeFrontEnd(h.path)
        await h.pump(1)
        await _negotiate(h, fe2)
        fe2.send_mem_table()
        await h.pump()
        assert fe2.reply_u64(Request.SET_MEM_TABLE) == 0
        rx = fe2.make_rx(16)
        fe2.setup_ring(0, rx.layout)
        rx.fill()
        await h.pump()
        got = await deliver(h, fe2, [frame(400, 2), frame(500, 3)])
        assert got == [frame(400, 2), frame(500, 3)]
        assert h.dev.stats.connections == 2

    run(go())


def test_reply_ack_answers_each_flagged_message(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await connected(tmp_path)
        fe.send(Request.SET_PROTOCOL_FEATURES, U64(1 << 3).pack())
        fe.send(Request.SET_OWNER, need_reply=True)
        fe.send(Request.SET_VRING_NUM, VringState(0, 64).pack(), need_reply=True)
        fe.send(Request.SET_VRING_NUM, VringState(1, 64).pack())  # not flagged: no answer
        fe.send(Request.GET_FEATURES, need_reply=True)  # has a reply of its own
        await h.pump()
        assert fe.reply_u64(Request.SET_OWNER) == 0
        assert fe.reply_u64(Request.SET_VRING_NUM) == 0
        assert fe.reply_u64(Request.GET_FEATURES) & DEFAULT_NET_FEATURES
        assert h.errors == []

    run(go())


def test_half_a_message_waits_and_the_pump_returns_at_once(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await connected(tmp_path)
        raw = MsgHeader(Request.GET_FEATURES, VERSION, 0).pack()
        fe.sock.sendall(raw[:5])
        t0 = time.perf_counter()
        await h.pump()
        assert time.perf_counter() - t0 < 0.5
        fe.sock.sendall(raw[5:])
        await h.pump()
        assert fe.reply_u64(Request.GET_FEATURES) & DEFAULT_NET_FEATURES
        assert h.errors == []

    run(go())


# -- bad messages -------------------------------------------------------------------------------


#: Bad messages to a running device (both rings started, buffers at the NIC).
BAD_RUNNING = {
    "bad version": lambda fe: fe.send(Request.GET_FEATURES, flags=0x2),
    "huge payload": lambda fe: fe.send(Request.SET_FEATURES, bytes(5000)),
    "unknown request": lambda fe: fe.send(99),
    "unsupported request": lambda fe: fe.send(Request.SET_LOG_BASE, U64(0).pack()),
    "features never offered": lambda fe: fe.send(Request.SET_FEATURES, U64(1 << 5).pack()),
    "short payload": lambda fe: fe.send(Request.SET_VRING_NUM, b"\0\0\0\0"),
    "ring size not a power of two": lambda fe: fe.send(
        Request.SET_VRING_NUM, VringState(0, 100).pack()
    ),
    "ring index out of range": lambda fe: fe.send(
        Request.SET_VRING_KICK, U64(5 | VRING_NOFD_MASK).pack()
    ),
    "kick without its fd": lambda fe: fe.send(Request.SET_VRING_KICK, U64(0).pack()),
    "memory table while running": lambda fe: fe.send_mem_table(),
}
#: Bad memory tables, to a device negotiated and without any memory yet.
BAD_TABLE = {
    "overlapping regions": lambda fe: fe.send_bad("overlap"),
    "region fd cannot be mapped": lambda fe: fe.send_bad("unmappable"),
    "fewer fds than regions": lambda fe: fe.send(
        Request.SET_MEM_TABLE, fe.mem_table_payload(), [os.dup(fe.memfd)]
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_RUNNING) + sorted(BAD_TABLE))
def test_bad_message_one_error_line_device_stopped_nothing_written(
    tmp_path: Path, kind: str
) -> None:
    async def go() -> None:
        if kind in BAD_RUNNING:
            h, fe = await running(tmp_path)
            assert fe.rx is not None
            fe.rx.fill()
            fe.kick(0)
            await h.pump()
            assert h.pool.pinned_pages > 0
        else:
            h = await Host(tmp_path).start()
            fe = FakeFrontEnd(h.path)
            await h.pump(1)
            await _negotiate(h, fe)
        before = bytes(fe.mm)
        h.errors.clear()
        (BAD_RUNNING | BAD_TABLE)[kind](fe)
        t0 = time.perf_counter()
        await h.pump()
        assert time.perf_counter() - t0 < 1.0
        assert len(h.errors) == 1, h.errors
        assert "device stopped" in h.errors[0] and "\n" not in h.errors[0]
        assert not h.dev.connected and h.dev.backend is None
        assert fe.closed_by_peer()
        assert h.pool.pinned_pages == 0 and h.mem.backed == []
        # nothing more reaches the guest: a frame to its queue now is not written anywhere
        h.wire(frame(100, 9))
        await h.dev.service()
        assert bytes(fe.mm) == before
        assert h.tracker.violations == []

    run(go())


def test_refused_message_is_nacked_when_a_reply_was_asked_for(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await connected(tmp_path)
        fe.send(Request.SET_PROTOCOL_FEATURES, U64(1 << 3).pack())
        fe.send(Request.SET_VRING_NUM, VringState(0, 3).pack(), need_reply=True)
        await h.pump()
        assert fe.reply_u64(Request.SET_VRING_NUM) != 0
        assert fe.closed_by_peer()
        assert len(h.errors) == 1 and "power of two" in h.errors[0]

    run(go())


def test_ring_outside_every_region_is_refused_when_it_starts(tmp_path: Path) -> None:
    async def go() -> None:
        h = await Host(tmp_path).start()
        fe = FakeFrontEnd(h.path)
        await h.pump(1)
        await _negotiate(h, fe)
        fe.send_bad("ring-outside")  # the memory table, then a ring in the hole between
        await h.pump()
        assert fe.reply_u64(Request.SET_MEM_TABLE) == 0
        assert len(h.errors) == 1 and "outside every memory region" in h.errors[0]
        assert fe.closed_by_peer() and h.queues == []  # no NIC queue was ever opened

    run(go())


def test_second_front_end_is_refused_while_one_is_connected(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await connected(tmp_path)
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.connect(h.path)
        await h.pump()
        other.settimeout(1.0)
        assert other.recv(1) == b""
        assert h.dev.connected and h.dev.stats.refused_connections == 1
        fe.send(Request.GET_FEATURES, need_reply=False)
        await h.pump()
        assert fe.reply_u64(Request.GET_FEATURES)
        other.close()

    run(go())


# -- event index figures ------------------------------------------------------------------------


def test_kicks_count_the_eventfds_counter_not_its_wake_ups(tmp_path: Path) -> None:
    async def go() -> None:
        h, fe = await running(tmp_path)
        conn = h.dev.conn
        assert conn is not None
        before = conn.rings[0].kicks
        for _ in range(3):  # three kicks before the back-end looks: one wake-up
            fe.kick(0)
        await h.pump()
        assert conn.rings[0].kicks == before + 3

    run(go())


def test_split_ring_counts_the_kicks_and_calls_its_event_indexes_asked_for() -> None:
    """A driver (the model's, which kicks by the spec's vring_need_event) and the device
    side on one ring: each arm with nothing pending that the driver then passes asks for
    exactly one kick; an arm with entries already past it is a race; a used update with
    the driver's used_event passed asks for one call."""
    mem = HostMemory()
    ram = GuestRam(mem, 1 << 20)
    lay = SplitRingLayout.packed_1x(16, ram.alloc(SplitRingLayout.total_size_1x(16), 4096))
    drv = SplitRing(ram, lay, event_idx=True)
    drv.init_driver()
    dev = SplitRing(ram, lay, event_idx=True)
    dev.init_device()
    bufs = [ram.alloc(256, 64) for _ in range(12)]

    def post(k: int) -> bool:
        for _ in range(k):
            drv.add_buf([], [(bufs.pop(), 256)])
        return drv.kick_prepare()

    kicks = 0
    dev.disable_notify()
    assert not dev.enable_notify() and dev.kick_races == 0  # armed at 0, nothing pending
    kicks += post(3)  # passes the arm: the driver kicks
    assert kicks == 1
    while dev.pop_avail() is not None:
        pass
    assert dev.kicks_asked == 1
    kicks += post(2)  # the device has not armed again: no kick, none asked
    while dev.pop_avail() is not None:
        pass
    assert (kicks, dev.kicks_asked) == (1, 1)
    dev.disable_notify()
    kicks += post(1)  # posted while the device works: avail_event stale, no kick
    assert dev.enable_notify()  # an entry is already past the arm: a race, looks again
    assert dev.kick_races == 1 and dev.kicks_asked == 1 and kicks == 1
    assert dev.pop_avail() is not None and dev.pop_avail() is None
    dev.disable_notify()
    assert not dev.enable_notify()
    kicks += post(1)
    assert dev.avail_pending() == 1 and dev.kicks_asked == 2 and kicks == 2
    # calls: the first update always, then only when the driver's used_event is passed
    dev.push_used(0, 60)
    assert dev.need_notify() and dev.calls_asked == 1
    drv.disable_cb()
    dev.push_used(1, 60)
    assert not dev.need_notify()
    assert dev.used_updates == 2 and dev.calls_asked == 1


def test_one_device_stopped_by_bad_input_the_other_carries_on(tmp_path: Path) -> None:
    """Two vhost-user devices on one NIC (queues 0 and 1): a malformed message stops the
    first -- one line, its memfd untouched from then on -- and the second keeps receiving."""

    async def go() -> None:
        (tmp_path / "a").mkdir()
        h, fe = await running(tmp_path / "a")
        second: list[bytes] = []

        async def open_queue(settings: VhostQueueSettings) -> RxQueue:
            return await h.drv.open_queue(1, desc_entries=8, **settings)

        (tmp_path / "b").mkdir()
        dev2 = VhostUserNet(
            str(tmp_path / "b" / "vhost.sock"), mem=h.mem, pool=h.pool, open_queue=open_queue,
            owner="other", tracker=h.tracker, on_frame=lambda f, c: second.append(f),
            log=h.errors.append,
        )  # fmt: skip
        fe2 = FakeFrontEnd(dev2.path)
        await dev2.pump()
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(None, fe2.negotiate)
        while not done.done():
            await dev2.pump()
            await asyncio.sleep(0.001)
        await done
        fe2.send_mem_table()
        for _ in range(3):
            await dev2.pump()
        assert fe2.reply_u64(Request.SET_MEM_TABLE) == 0
        rx2 = fe2.make_rx(16)
        fe2.setup_ring(0, rx2.layout)
        rx2.fill()
        for _ in range(3):
            await dev2.pump()
        assert fe.rx is not None
        fe.rx.fill()
        fe.kick(0)
        await h.pump()
        fe.send(Request.GET_FEATURES, flags=0x2)  # a header of another version
        await h.pump()
        assert len(h.errors) == 1 and "device stopped" in h.errors[0]
        assert not h.dev.connected and dev2.connected
        before = bytes(fe.mm)
        sent = [frame(200 + 50 * i, i) for i in range(6)]
        for f in sent:
            h.wire(f)  # to the stopped device's queue: dropped at the NIC
            h.nic.receive(f, 1, meta=reference(f, MAX_HDR_BYTES, MAX_EXT_HDRS))
        await h.dev.service()
        await dev2.service()
        if fe2.calls(0):
            rx2.interrupt()
        assert [g.data for g in rx2.poll()] == sent == second
        assert bytes(fe.mm) == before and len(h.errors) == 1
        assert h.tracker.violations == [] and h.iommu.faults == []
        fe2.close()
        await dev2.close()

    run(go())

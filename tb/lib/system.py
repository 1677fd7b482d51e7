# SPDX-License-Identifier: MIT
"""The whole system around splitrx_top: the wire (cocotbext-eth XGMII source), the PCIe root
complex with host memory and IOMMU (tb.lib.pcie), the host NIC driver, the page constructor, one
vhost-net backend and virtio-net guest driver per guest, one user-space ring owner (the xsk
app and its kernel glue, sw.xsk_owner) per app, optionally the host's own queues (queues
0..n-1: the host's MAC, broadcast and multicast, spread by RSS when there are several; SPLIT
placement in groups of one or more descriptors, the driver reassembles header buffer +
payload), a DMA write tracker that sees every device write, and the scoreboard
(tb.lib.scoreboard) checking every frame against the reference model.

The host is interrupt-driven: each queue's MSI-X vector is a write into the host's MSI window
(tb.lib.pcie.MSI_BASE); an interrupt runs ``service()`` -- NAPI polls of every queue and the vhost
workers -- which reads completions from host memory and writes doorbells over BAR0. A lost
interrupt shows as frames never received.
"""

from __future__ import annotations

import logging
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cocotb.triggers import Event, First, Lock, Timer
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiFrame

from model import regmap
from model import steer as steer_model
from model.hostmem import GuestRam
from model.iommu import Perm
from model.nic_model import stream_span
from model.parse_meta import Meta
from model.records import (
    CPL_BYTES,
    CplFlags,
    CplStatus,
    DescFlags,
    DropReason,
    PlacementMode,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
)
from model.rss import MS_VERIFICATION_KEY, RssConfig, spread_indirection
from model.tracker import DmaWriteTracker
from model.virtio import VIRTIO_NET_HDR_V1_SIZE
from sw.guest_virtio import GuestVirtioNetRx, RxFrame
from sw.nic_driver import NicDriver, RxDone, RxQueue
from sw.page_pool import OwnerStats, PagePool
from sw.vhost import DEFAULT_HDR_BUF_SIZE, VhostNetRx, vhost_queue_settings
from sw.xsk_owner import XskApp, XskFrame, XskRx, register_umem
from tb.lib.common import deadline
from tb.lib.coredma import cfg_of
from tb.lib.parse_ref import parameter_defaults
from tb.lib.pcie import MSI_BASE, PcieHarness
from tb.lib.scoreboard import Scoreboard
from tb.lib.specs import HOST_MAC, GuestSpec, XskSpec
from tb.lib.xgmii import XgmiiWordSource

HDR = VIRTIO_NET_HDR_V1_SIZE
DRIVER = "host-driver"  # owner of the completion rings and the host queue's buffers
MSI_DATA_BASE = 0x40  # interrupt controller vector of RX queue q: 0x40 + q
HOST_BUF = 2048  # the host queues' data buffers (header buffers: DEFAULT_HDR_BUF_SIZE)
HOST_HDR_BUF = DEFAULT_HDR_BUF_SIZE
HOST_ENTRIES = 64  # descriptors per host queue (more for groups of over four buffers)
HOST_DATA_OFFSET = 0  # the host queues' stream starts at the data buffer's first byte
SPLITRX_TOP_SV = Path(__file__).resolve().parents[2] / "rtl" / "splitrx_top.sv"
# the largest frame the MAC takes, FCS included (9018 B jumbo + two VLAN tags): its one
# definition is splitrx_top's parameter default
MAX_FRAME_BYTES = parameter_defaults(SPLITRX_TOP_SV, ("MAX_FRAME_BYTES",))["MAX_FRAME_BYTES"]


MIN_FRAME = 60  # the shortest frame a sender's NIC sends, FCS excluded (64 B with it)
MAC_CONTROL_TYPE = 0x8808  # IEEE 802.3 MAC Control (PAUSE, PFC)


def mac_verdict(frame: bytes, bad_fcs: bool = False) -> DropReason | None:
    """What the MAC drops ``frame`` (FCS excluded) as, sent whole with a good or a bad FCS,
    by the priorities docs/frontend.md and rtl/mac_rx.sv document: shorter than 64 bytes
    with its FCS (runt), longer than MAX_FRAME_BYTES (oversize), bad FCS, then an untagged
    MAC Control frame (EtherType 0x8808); None: it is received."""
    if len(frame) < MIN_FRAME:
        return DropReason.RUNT
    if len(frame) + 4 > MAX_FRAME_BYTES:
        return DropReason.OVERSIZE
    if bad_fcs:
        return DropReason.BAD_FCS
    if int.from_bytes(frame[12:14], "big") == MAC_CONTROL_TYPE:
        return DropReason.MAC_CONTROL
    return None


def host_group_for(frame_bytes: int) -> int:
    """Host buffers per group for a frame of ``frame_bytes`` at the host queues'
    data_offset (a frame not split lands whole in the data buffers)."""
    return -(-(HOST_DATA_OFFSET + frame_bytes) // HOST_BUF)


def host_entries_for(group: int) -> int:
    """Descriptors of a host queue with groups of ``group``: HOST_ENTRIES, or at least 16
    groups' worth (a power of two)."""
    n = HOST_ENTRIES
    while n < 16 * group:
        n *= 2
    return n


def mac_int(mac: str) -> int:
    return int(mac.replace(":", ""), 16)


def spread_rss(rng: random.Random, queues: int) -> RssConfig:
    """Microsoft's verification key, UDP over the 4-tuple, and an indirection table giving
    each of host queues 0..``queues``-1 an equal share of the 128 entries, shuffled by
    ``rng`` (for ``SystemRig.set_rss``)."""
    return RssConfig(MS_VERIFICATION_KEY, True, spread_indirection(rng, queues))


@dataclass
class WireStats:
    sent: int = 0
    sent_bad: dict[DropReason, int] = field(default_factory=dict)


@dataclass
class Guest:
    spec: GuestSpec
    queue: RxQueue
    ram: GuestRam
    guest: GuestVirtioNetRx
    backend: VhostNetRx
    received: list[RxFrame] = field(default_factory=list)


@dataclass
class HostQueue:
    """One of the host's own RX queues: SPLIT at L4 into 256-byte header buffers, payload in
    groups of ``group`` 2 KiB buffers (not mergeable: a frame whose payload does not fit one
    group is dropped ``too_long_for_group`` and the host reposts the group); each frame is
    reassembled by the host from the two."""

    queue: RxQueue
    entries: int
    owner: str  # DRIVER with one host queue, DRIVER.q<index> with several
    group: int = 1
    received: list[bytes] = field(default_factory=list)


@dataclass
class Xsk:
    spec: XskSpec
    queue: RxQueue
    app: XskApp
    rx: XskRx
    received: list[XskFrame] = field(default_factory=list)


class SystemRig:
    """Guests (default: one on RX queue 0, promiscuous: it takes every frame), xsk apps and
    optionally the host's queues, from the XGMII wire to each owner's driver, every frame
    scoreboarded. ``host_queues`` host queues (0..n-1, with ``host_group`` descriptors per
    group); with several, ``set_rss`` spreads the host's traffic over them. With more than
    one owner, or one not on queue 0, the steering table gets each guest's and app's MAC
    and, unless ``promisc``, the host's MAC (to queue 0) with promiscuous mode off; with
    ``promisc`` the host takes every unmatched unicast frame by RSS, as a bridge would."""

    def __init__(
        self,
        dut: Any,
        *,
        guests: list[GuestSpec] | None = None,
        xsks: list[XskSpec] | None = None,
        host_queue: bool = False,
        host_queues: int = 1,
        host_group: int = 1,
        promisc: bool = False,
        read_latency_ns: float = 0.0,
        dump: bool = False,
        **single: Any,
    ) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb.lib.system")
        self.h = PcieHarness(dut, read_latency_ns=read_latency_ns)
        self.wire = XgmiiWordSource(dut.xgmii_rxd, dut.xgmii_rxc, dut.mac_clk, dut.mac_rst)
        self.wire.log.setLevel(logging.WARNING)
        self.stats = WireStats()
        # no log of every write: the tracker checks each as it lands (long runs stay flat)
        self.tracker = DmaWriteTracker(raise_on_violation=False, keep_log=False)
        self.taken: dict[str, int] = {}  # frames each owner's driver took, all run long
        self.specs = guests if guests is not None else [GuestSpec(**single)]
        self.xsk_specs = xsks or []
        self.n_host = host_queues if host_queue else 0
        self.host_group = host_group
        self.with_promisc = promisc
        # DUMP: each xsk app offers each UMEM chunk once (its frames stay for the dump) and
        # may then drop as no_buffer; guests get the same from their specs (Scenario.guests_for)
        self.dump = dump
        self.guests: dict[str, Guest] = {}
        self.retired: dict[str, Guest] = {}  # guests torn down mid-traffic
        self.xsks: dict[str, Xsk] = {}
        self.hosts: dict[int, HostQueue] = {}  # by queue index
        self.completions: list[RxCompletion] = []  # every completion the host polled
        self.irq = Event()
        self.lock = Lock()  # one round of host work at a time
        self.interrupts = 0
        self.steer_table: list[steer_model.Entry] = [steer_model.EMPTY] * 16
        self.promisc = False  # start() has the driver set what the rig wants
        self.queues: dict[int, RxQueue] = {}
        self.sb = Scoreboard(self._read_bus, lambda: get_sim_time("ns"), self._route)

    def _read_bus(self, iova: int, n: int) -> bytes:
        """Host memory at a device (bus) address, through the NIC's IOMMU domain."""
        dom = self.h.host.domain
        assert dom is not None
        return b"".join(self.h.mem.read(a, k) for a, k in dom.translate(iova, n, write=True))

    @property
    def host(self) -> HostQueue | None:
        """The host's first queue (queue 0), if it has any."""
        return self.hosts.get(0)

    # -- the first guest, for single-guest tests ------------------------------------------------

    @property
    def first(self) -> Guest:
        return next(iter(self.guests.values()))

    owner = property(lambda self: self.first.spec.name)
    queue = property(lambda self: self.first.queue)
    guest = property(lambda self: self.first.guest)
    backend = property(lambda self: self.first.backend)
    ram = property(lambda self: self.first.ram)
    buf_size = property(lambda self: self.first.guest.buf_size)  # the largest posted
    received = property(lambda self: self.first.received)

    # -- set-up -----------------------------------------------------------------------------------

    async def start(self) -> SystemRig:
        h = self.h
        await deadline(h.enumerate(), 50_000, "end of reset and enumeration")
        assert h.host.domain is not None
        h.host.on_write = self._on_write
        h.host.on_msi = self._on_msi
        steered = [(s.mac, s.queue) for s in self.specs] + [
            (x.mac, x.queue) for x in self.xsk_specs
        ]
        table = bool(self.n_host or len(steered) > 1 or any(q != 0 for _, q in steered))
        # the driver asks for promiscuous mode (the device comes up filtering): a single
        # owner on queue 0 takes every frame; with a steering table, as the rig was asked
        self.promisc = self.with_promisc if table else True
        self.drv = NicDriver(h, h.mem, h.host.domain)
        self.caps = await self.drv.probe(promisc=self.promisc)
        await h.enable_msix()
        self.pool = PagePool(h.iommu, h.host.domain.rid, tracker=self.tracker)
        for index in range(self.n_host):
            await self._open_host(index)
        for spec in self.specs:
            await self._open_guest(spec)
        for xspec in self.xsk_specs:
            await self._open_xsk(xspec)
        if table:
            for i, (mac, queue) in enumerate(steered):
                await self.set_steer_entry(i, mac, queue)
            if self.n_host and not self.with_promisc:
                await self.set_steer_entry(len(steered), HOST_MAC, 0)
        for g in self.guests.values():
            g.guest.fill(g.spec.posts)
            await g.backend.service()
        for x in self.xsks.values():
            x.app.fill()
            await x.rx.refill()
        await h.barrier()  # enables and doorbells are posted writes: let them land
        await Timer(2000, "ns")  # the NIC fetches the first descriptors
        return self

    async def _queue(self, index: int, **kw: Any) -> RxQueue:
        old = self.queues.get(index)
        if old is not None and old.closed:  # opened again: the old ring is not the NIC's now
            self.tracker.return_buffer(DRIVER, 1_000_000 + index)
        q = await self.drv.open_queue(index, **kw)
        self.queues[index] = q
        poll = q.poll

        async def tapped_poll(budget: int = 64) -> list[RxDone]:
            got = await poll(budget)
            cfg = cfg_of(q)
            for d in got:
                self.sb.completion(index, cfg, d)
            self.completions += [d.cpl for d in got]
            return got

        q.poll = tapped_poll  # type: ignore[method-assign]
        await self.drv.set_msix_vector(index, MSI_BASE, MSI_DATA_BASE + index)
        await q.enable_irq(index)
        self.tracker.add_owner_region(DRIVER, q.cpl_base, q.cpl_entries * CPL_BYTES)
        self.tracker.post_buffer(
            DRIVER, 1_000_000 + index, [(q.cpl_base, q.cpl_entries * CPL_BYTES)]
        )
        return q

    async def _open_guest(self, spec: GuestSpec) -> None:
        settings = vhost_queue_settings(spec.features, spec.mode, spec.split_level)
        q = await self._queue(spec.queue, desc_entries=spec.nic_entries, **settings)
        ram = GuestRam(self.h.mem, spec.ram_size, name=spec.name)
        self.h.mem.poison(ram.host_base, spec.ram_size)
        self.tracker.add_owner_region(
            spec.name, ram.host_base + self.pool.iova_offset, spec.ram_size
        )
        self.pool.register(spec.name, ram, spec.quota_pages)
        guest = GuestVirtioNetRx(
            ram, spec.guest_num, buf_size=spec.buf_size, reuse=spec.reuse,
            features=spec.features, chain_buffers=spec.chain_buffers,
        )  # fmt: skip
        backend = VhostNetRx(
            q, self.pool, spec.name, ram, guest.layout, notify=guest.interrupt,
            features=spec.features,
        )  # fmt: skip
        guest.kick = backend.kick
        self.guests[spec.name] = Guest(spec, q, ram, guest, backend)
        self.sb.add_owner(spec.name, spec.queue, spec.may_drop or spec.stalled, spec.stalled)

    async def _open_xsk(self, spec: XskSpec) -> None:
        q = await self._queue(
            spec.queue, desc_entries=spec.nic_entries, data_offset=spec.data_offset,
            mode=spec.mode, split_level=spec.split_level,
        )  # fmt: skip
        app = XskApp(
            self.h.mem, name=spec.name, frames=spec.chunks, chunk_size=spec.chunk_size,
            ring_size=spec.ring_size,
        )  # fmt: skip
        self.h.mem.poison(app.umem.host_base, app.umem.size)
        register_umem(self.pool, spec.name, app.umem, spec.quota_pages)
        rx = XskRx(q, self.pool, spec.name, app.binding(), min_buffer=spec.chunk_size)
        self.xsks[spec.name] = Xsk(spec, q, app, rx)
        self.sb.add_owner(spec.name, spec.queue, may_drop=self.dump)

    async def _open_host(self, index: int) -> None:
        group = self.host_group
        entries = host_entries_for(group)
        q = await self._queue(
            index, desc_entries=entries, data_offset=HOST_DATA_OFFSET, mode=PlacementMode.SPLIT,
            split_level=SplitLevel.L4,
        )  # fmt: skip
        owner = DRIVER if self.n_host == 1 else f"{DRIVER}.q{index}"
        self.hosts[index] = HostQueue(q, entries, owner, group)
        self.sb.add_owner(owner, index)
        await q.post([self._host_buffer(index, i, group) for i in range(entries // group * group)])

    def _host_buffer(self, queue: int, i: int, group: int) -> RxDescriptor:
        """Descriptor ``i`` of host queue ``queue``: a data buffer and a header buffer (the
        NIC uses the header buffer of a group's first descriptor); EOG ends each group of
        ``group``. Cookie and tracker id: ``queue << 16 | i``."""
        mem, dom = self.h.mem, self.h.host.domain
        assert dom is not None
        data = mem.alloc(HOST_BUF, 64, f"host rx {queue}.{i}")
        hdr = mem.alloc(HOST_HDR_BUF, 64, f"host hdr {queue}.{i}")
        for a, n in ((data, HOST_BUF), (hdr, HOST_HDR_BUF)):
            page = a & ~0xFFF
            if dom.lookup(page) is None:
                dom.map(page, page, 0x1000, Perm.WRITE)
            self.tracker.add_owner_region(DRIVER, a, n)
        cookie = queue << 16 | i
        self.tracker.post_buffer(DRIVER, cookie, [(data, HOST_BUF), (hdr, HOST_HDR_BUF)])
        eog = DescFlags.EOG if i % group == group - 1 else DescFlags.NONE
        return RxDescriptor(data, hdr, cookie, HOST_BUF, HOST_HDR_BUF, eog)

    # -- steering (the scoreboard routes with the same table) ----------------------------------

    async def set_steer_entry(
        self, index: int, mac: str, queue: int, vlan_id: int | None = None
    ) -> None:
        await self.drv.set_steer_entry(index, mac, queue, vlan_id=vlan_id)
        self.steer_table[index] = steer_model.Entry(
            True, mac_int(mac), vlan_id is not None, vlan_id or 0, queue
        )

    async def set_promisc(self, on: bool) -> None:
        await self.drv.set_promisc(on)
        self.promisc = on

    async def set_rss(self, cfg: RssConfig) -> None:
        """Program RSS (key, indirection table, UDP 4-tuple); the scoreboard predicts each
        frame's queue and completion under the same settings."""
        await self.drv.set_rss(cfg.key, cfg.indirection, udp_4tuple=cfg.udp_4tuple)
        self.sb.rss = cfg

    def _route(self, frame: bytes, meta: Meta) -> tuple[str | None, DropReason | None]:
        """The owner the steering model names (with the frame's queue under RSS from
        model.rss's Toeplitz hash of ``meta``'s tuple: the reference parse), or the drop
        reason."""
        v = steer_model.steer_frame(self.steer_table, frame, meta, self.promisc, self.sb.rss)
        if v.drop:
            return None, DropReason(v.reason)
        owner = self.sb.by_queue.get(v.queue)
        if owner is None:
            return None, DropReason.QUEUE_DISABLED
        return owner.name, None

    # -- what lands in host memory --------------------------------------------------------------

    def _on_write(self, iova: int, data: bytes, time_ns: float) -> None:
        v = self.tracker.record_write(iova, data, time_ns)
        if v is not None:
            self.log.error("DMA write tracker: %s", v)
        for index, q in self.queues.items():
            ring = q.cpl_entries * CPL_BYTES
            if q.cpl_base <= iova < q.cpl_base + ring and (iova - q.cpl_base) % CPL_BYTES == 0:
                for k in range(0, len(data) - CPL_BYTES + 1, CPL_BYTES):
                    self._record_landed(index, q, RxCompletion.unpack(data[k : k + CPL_BYTES]))

    def _record_landed(self, index: int, q: RxQueue, rec: RxCompletion) -> None:
        posted = q.posted_descriptors  # the host has not polled this record yet
        first = next((i for i, d in enumerate(posted) if d.cookie == rec.cookie), None)
        if first is None:
            return
        # a too_long_for_group record (nothing written: hdr_len = payload_len = 0) counts as
        # landed too: its queue's MSI-X announces it
        descs = posted[first : first + rec.desc_count]
        split = rec.hdr_len if rec.flags & CplFlags.SPLIT else None
        _, start, _ = stream_span(cfg_of(q), rec.frame_len, split)
        self.sb.record_landed(index, rec, descs, start, lambda a, n: self.tracker.written(a, n)[1])

    def _on_msi(self, address: int, data: int) -> None:
        index = data - MSI_DATA_BASE
        if address != MSI_BASE or index not in self.queues:
            self.log.error("unexpected MSI: address 0x%x data 0x%x", address, data)
            return
        self.sb.msi_landed(index)
        self.interrupts += 1
        self.irq.set()

    # -- traffic ------------------------------------------------------------------------------

    async def send(self, frame: bytes, bad_fcs: bool = False, pad: bool = True) -> None:
        """Queue a frame (FCS excluded) for the wire with its FCS appended (``bad_fcs``: one
        FCS bit flipped), padded with zeros to 60 bytes as a sender's NIC pads a short frame
        (``pad=False``: sent as it is, a true runt when shorter). The scoreboard expects the
        MAC's verdict (``mac_verdict``)."""
        if pad and len(frame) < MIN_FRAME:
            frame += bytes(MIN_FRAME - len(frame))
        fcs = bytearray(zlib.crc32(frame).to_bytes(4, "little"))
        if bad_fcs:
            fcs[-1] ^= 0x01
        xf = XgmiiFrame.from_raw_payload(frame + fcs)
        verdict = mac_verdict(frame, bad_fcs)
        if verdict is not None:
            self.stats.sent_bad[verdict] = self.stats.sent_bad.get(verdict, 0) + 1
        self.stats.sent += 1
        self.sb.wire(frame, verdict)
        await self.wire.send(xf)

    async def service(self) -> list[RxFrame]:
        """One round of host work: the host queue's poll and refill, then each backend takes
        completions and refills and its guest polls. Returns the first guest's new frames."""
        async with self.lock:
            return await self._service()

    async def _service(self) -> list[RxFrame]:
        for hq in self.hosts.values():
            back = []
            for d in await hq.queue.poll(hq.entries):
                if d.cpl.status == CplStatus.OK:  # too long for its group: only reposted
                    data = self._reassemble(d)
                    self.sb.delivered(hq.owner, data)
                    hq.received.append(data)
                    self.taken[hq.owner] = self.taken.get(hq.owner, 0) + 1
                back += d.descs
            if back:
                for d in back:
                    self.tracker.return_buffer(DRIVER, d.cookie)
                    self.tracker.post_buffer(
                        DRIVER, d.cookie, [(d.data_addr, d.data_len), (d.hdr_addr, d.hdr_len)]
                    )
                await hq.queue.post(back)
        for x in self.xsks.values():
            await x.rx.service()
            # the app's own API: its completion ring and UMEM
            frames = x.app.receive(recycle=not self.dump)
            for xf in frames:
                self.sb.delivered(x.spec.name, xf.data)
            x.received += frames
            self.taken[x.spec.name] = self.taken.get(x.spec.name, 0) + len(frames)
            x.app.fill()
            await x.rx.refill()
        first: list[RxFrame] = []
        for g in self.guests.values():
            await g.backend.service()
            if g.spec.stalled:
                continue
            got = g.guest.poll()
            for f in got:
                self.sb.delivered(g.spec.name, f.data)
            if not g.spec.reuse and g.spec.refill:
                g.guest.fill()  # fresh buffers: each is posted once and never reused
            await g.backend.service()
            g.received += got
            self.taken[g.spec.name] = self.taken.get(g.spec.name, 0) + len(got)
            if g is self.first:
                first = got
        return first

    def _reassemble(self, d: RxDone) -> bytes:
        """The frame from the first descriptor's header buffer (split done) and the stream
        from position 0 across the group's data buffers (host buffers: IOVA = host
        address)."""
        c = d.cpl
        mem = self.h.mem
        head = mem.read(d.descs[0].hdr_addr, c.hdr_len) if c.flags & CplFlags.SPLIT else b""
        left, parts = c.payload_len, [head]
        for desc in d.descs:
            n = min(left, desc.data_len)
            parts.append(mem.read(desc.data_addr, n))
            left -= n
        return b"".join(parts)

    def retire(self) -> None:
        """Forget what has been checked, so a long run's memory stays flat: the frames each
        owner took (``received``; ``taken`` keeps the counts), the completions polled and the
        host port's logs of writes, MSI-X messages and reads (each was checked as it
        landed)."""
        self.completions.clear()
        for hq in self.hosts.values():
            hq.received.clear()
        for x in self.xsks.values():
            x.received.clear()
        for g in [*self.guests.values(), *self.retired.values()]:
            g.received.clear()
        host = self.h.host
        for log in (host.writes, host.msis, host.read_log):
            log.clear()

    def delivered(self) -> int:
        """Frames the NIC placed for an owner (a stalled owner never takes them)."""
        return sum(b.placed for b in self.sb.owners.values())

    async def serve(self, more: Callable[[], object] = lambda: True) -> None:
        """Serve the host at each interrupt while ``more()`` is true (default: for ever, until the
        caller cancels it)."""
        while more():
            await self.irq.wait()
            self.irq.clear()  # before serving: an interrupt during it sets it again
            await self.service()

    async def retire_guest(self, name: str) -> tuple[Guest, OwnerStats]:
        """Tear the guest down mid-traffic (its vhost backend stops, quiesces, unpins and
        leaves the page constructor; not while the host is serving it) and stop serving it;
        returns it and its page-constructor counters as they were just before."""
        async with self.lock:
            g = self.guests[name]
            stats = self.pool.stats(name)
            await g.backend.teardown()
            del self.guests[name]
            self.retired[name] = g
        return g, stats

    async def receive(self, n: int, timeout_ns: float = 200_000) -> list[RxFrame]:
        """Serve the host at each interrupt until the first guest has ``n`` more frames."""
        want = len(self.received) + n

        def more() -> bool:
            return len(self.received) < want

        await deadline(self.serve(more), timeout_ns, f"{n} frames in the guest's used ring")
        return self.received[want - n : want]

    async def receive_all(self, timeout_ns: float = 1_000_000) -> None:
        """Serve the host at each interrupt until every frame routed to an owner so far has
        been delivered (the scoreboard knows which) or, for an owner whose queue may drop
        (``may_drop``: a DUMP guest that posts each buffer once, a stalled one), delivered
        or counted in its queue's DROPS. The host keeps serving those owners meanwhile: their
        backends hand the NIC the buffers still waiting in their rings."""

        def outstanding() -> int:
            return sum(
                len(b.pending) + len(b.completed) for b in self.sb.owners.values() if not b.may_drop
            )

        async def until_resolved() -> None:
            await self.serve(outstanding)
            while await self._in_flight_may_drop():
                await First(self.irq.wait(), Timer(1000, "ns"))
                self.irq.clear()
                await self.service()

        await deadline(until_resolved(), timeout_ns, "every routed frame at its owner or dropped")

    async def _in_flight_may_drop(self) -> int:
        """Frames routed to owners that may drop (and are still served) that are neither
        delivered nor counted as dropped by their queue yet. Frames a queue drops stay first
        in the owner's ``pending`` until a later completion skips them, so those in flight
        are the pending ones beyond the queue's DROPS not yet accounted for."""
        live = {*self.guests, *self.xsks}
        n = 0
        for b in self.sb.owners.values():
            if not b.may_drop or b.name not in live:
                continue
            left = len(b.pending) + (0 if b.stalled else len(b.completed))
            if left:
                drops = await self.drv.read_counter64(regmap.RXQ, b.queue, "DROPS")
                n += max(0, len(b.pending) - (drops - b.skipped - b.too_long))
                n += 0 if b.stalled else len(b.completed)
        return n

    async def settle(self, ns: float = 2000) -> None:
        """Wait for the wire to drain and the NIC to finish, then serve the host once."""
        await self.wire.wait()
        await Timer(ns, "ns")
        await self.service()

    async def finish(self) -> list[str]:
        """Accounting against the NIC's counters: returns the problems (none when clean)."""
        c = await self.drv.counters()
        queue_drops = {i: (await q.counters()).drops for i, q in self.queues.items()}
        problems = self.sb.finish(c.drops, queue_drops)
        if c.rx_frames != self.delivered():
            problems.append(f"RX_FRAMES {c.rx_frames}, delivered {self.delivered()}")
        if self.tracker.violations:
            problems.append(f"DMA write tracker: {self.tracker.violations[0]}")
        if self.h.host.faults:
            problems.append(f"DMA fault: {self.h.host.faults[0]}")
        return problems

# SPDX-License-Identifier: MIT
"""Real Linux guests in the system: QEMU (sw.qemu_guest) with its virtio-net device behind
our vhost-user back-end (sw.vhost_user_net), each on its own RX queue of splitrx_top.

``LinuxGuestRig`` is ``SystemRig`` (wire, PCIe root complex, IOMMU, host memory, NIC driver,
page constructor, tracker, scoreboard, optionally the host's own queue) with vhost-user
devices as more owners, each steered by its MAC (the same MAC QEMU's ``mac=`` gets):

- Linux guests (``LinuxGuestSpec``): QEMU boots the image of ``make guest-image``; the
  guest's RX virtqueue is served by the same ``VhostNetRx`` as every model guest, in FULL or
  SPLIT_HOLE placement, with or without mergeable buffers, checksum offload and event index,
  as the spec's features say; the guest's RAM is QEMU's memfd mapped into host memory, so the
  RTL's DMA writes land in the guest's RAM with no copy.
- Fake guests (``FakeSpec``): the front-end is our own (``sw.vhost_user_client``, a memfd
  model guest) -- a device that can be made to send any message, for the bad-input runs.

The scoreboard checks every frame as the backend hands it to the guest (``on_frame``). A
device's scoreboard owner lives exactly as long as its NIC queue: it is added when the
guest's RX ring starts (``open_queue``) and retired when the backend has torn the queue down
(``on_rx_stop``: frames still in flight then are counted as lost with it, and from then on a
frame to that MAC is a ``queue_disabled`` drop). A guest that attaches again to the same
socket is a new owner (``linux1.2``, ...). The guest's own receiver then reports what Linux
read and its kernel's counters, which ``guest_checks`` compares with the wire (scapy as the
oracle).

The vhost-user sockets, the kicks and the guests' control channels are pumped from the
simulation loop (``pumper``); while only the guests have work (booting, reading frames),
the loop waits in ``select`` instead of simulating idle cycles.
"""

from __future__ import annotations

import ipaddress
import os
import select
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import Timer
from cocotb.utils import get_sim_time
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
from scapy.layers.l2 import Dot1Q, Ether

from model import steer as steer_model
from model.parse_meta import Meta
from model.records import CplFlags, DropReason, PlacementMode, RxCompletion
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_RING_F_EVENT_IDX,
    SplitRing,
    has_feature,
)
from sw.nic_driver import QueueCounters, RxQueue
from sw.qemu_guest import DEFAULT_MAC, GuestConfig, GuestImage, QemuGuest, fnv1a64
from sw.vhost import VhostNetRx, VhostQueueSettings
from sw.vhost_user_client import GUEST_FEATURES, FakeFrontEnd
from sw.vhost_user_net import VhostUserNet
from tb.lib.system import SystemRig

PUMP_NS = 500  # simulated time between two pumps of the vhost-user sockets
IDLE_WAIT_S = 0.005  # wall time to wait in select when only the guests have work
#: Linux's smallest mergeable buffer (GOOD_PACKET_LEN 1518 + the 12-byte net header), and
#: its buffer without mergeable buffers: a frame needs at most ceil((len + 12) / this).
LINUX_MIN_BUF = 1530
MAX_MTU_WITHOUT_MRG = 1500  # Linux posts 1530-byte buffers then: nothing longer fits


@dataclass
class LinuxGuestSpec:
    name: str = "linux0"
    mac: str = DEFAULT_MAC
    queue: int = 1  # the NIC RX queue (0 stays the host's: broadcast and RSS land there)
    nic_entries: int = 64
    quota_pages: int = 1024
    features: int = (
        (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_NET_F_MRG_RXBUF) | (1 << VIRTIO_RING_F_EVENT_IDX)
    )
    mode: PlacementMode = PlacementMode.FULL
    guest: GuestConfig = field(default_factory=GuestConfig)
    boot_timeout_s: float = 120.0

    @property
    def mergeable(self) -> bool:
        return has_feature(self.features, VIRTIO_NET_F_MRG_RXBUF)

    @property
    def csum(self) -> bool:
        return has_feature(self.features, VIRTIO_NET_F_GUEST_CSUM)

    @property
    def event_idx(self) -> bool:
        return has_feature(self.features, VIRTIO_RING_F_EVENT_IDX)


def linux_spec(
    name: str = "linux0",
    mac: str = DEFAULT_MAC,
    queue: int = 1,
    *,
    mode: PlacementMode = PlacementMode.FULL,
    mergeable: bool = True,
    mtu: int = 1500,
    csum: bool = False,
    event_idx: bool = True,
) -> LinuxGuestSpec:
    """A guest whose device offers, and whose QEMU allows, exactly these features:
    VIRTIO_F_VERSION_1 always, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_GUEST_CSUM and
    VIRTIO_RING_F_EVENT_IDX as asked; the guest's eth0 at ``mtu``. ValueError for a
    combination Linux cannot receive with (an MTU above 1500 without mergeable buffers)."""
    if not mergeable and mtu > MAX_MTU_WITHOUT_MRG:
        raise ValueError(
            f"MTU {mtu} needs mergeable RX buffers: without them Linux posts "
            f"{LINUX_MIN_BUF}-byte buffers (MTU {MAX_MTU_WITHOUT_MRG} at most)"
        )
    if not 68 <= mtu <= 9000:
        raise ValueError(f"MTU {mtu}: not in 68..9000 (the MAC takes frames up to 9022 B)")
    features = 1 << VIRTIO_F_VERSION_1
    for on, bit in (
        (mergeable, VIRTIO_NET_F_MRG_RXBUF),
        (csum, VIRTIO_NET_F_GUEST_CSUM),
        (event_idx, VIRTIO_RING_F_EVENT_IDX),
    ):
        features |= on << bit
    config = GuestConfig(
        mac=mac, mtu=mtu, mrg_rxbuf=mergeable, guest_csum=csum, event_idx=event_idx
    )
    return LinuxGuestSpec(
        name, mac, queue, features=features, mode=PlacementMode(mode), guest=config
    )


@dataclass(frozen=True)
class FakeSpec:
    """A vhost-user device whose front-end is ours (``sw.vhost_user_client``)."""

    name: str = "fake0"
    mac: str = "02:00:00:00:00:51"
    queue: int = 3
    nic_entries: int = 16


@dataclass
class StopRecord:
    """One RX backend torn down: by whom, why, what was left in flight."""

    owner: str
    reason: str | None  # None: GET_VRING_BASE (an orderly stop)
    lost_pending: int  # frames sent to it with no completion when it stopped
    lost_completed: int  # completed by the NIC, never handed to the guest
    sim_ns: float
    writes_index: int  # len(host.writes) when it stopped
    spans: list[tuple[int, int]]  # (host base, size) of the guest's RAM it had mapped
    stats: dict[str, int]  # the backend's VhostStats


@dataclass
class Device:
    """One vhost-user device of the rig and its front-end (QEMU or our fake one)."""

    name: str
    mac: str
    queue: int
    vu: VhostUserNet
    socket: str
    spec: LinuxGuestSpec | None = None
    fake: FakeSpec | None = None
    qemu: QemuGuest | None = None
    fe: FakeFrontEnd | None = None
    incarnation: int = 1
    expect_alive: bool = False  # its QEMU runs and should
    delivered: list[bytes] = field(default_factory=list)  # as the backend handed them over
    delivered_total: int = 0  # ... over every front-end it had
    cpls: list[RxCompletion] = field(default_factory=list)  # their completions
    fake_read: list[bytes] = field(default_factory=list)  # what our front-end read
    spans: list[tuple[int, int]] = field(default_factory=list)  # the running ring's RAM
    stops: list[StopRecord] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # vhost-user error lines
    boot_s: list[float] = field(default_factory=list)  # per incarnation

    @property
    def owner(self) -> str:
        return self.vu.owner

    @property
    def backend(self) -> VhostNetRx | None:
        return self.vu.backend


class LinuxGuestRig(SystemRig):
    """``SystemRig`` with Linux guests and fake guests behind vhost-user (and whatever else
    ``kw`` asks for: ``host_queue=True`` for the host's own queue)."""

    def __init__(
        self,
        dut: Any,
        linux: list[LinuxGuestSpec],
        image: GuestImage,
        workdir: Path,
        *,
        fakes: list[FakeSpec] | None = None,
        **kw: Any,
    ) -> None:
        kw.setdefault("guests", [])
        super().__init__(dut, **kw)
        self.linux_specs = linux
        self.fake_specs = fakes or []
        self.image = image
        self.workdir = workdir
        self.devices: dict[str, Device] = {}
        self.errors: list[str] = []  # every vhost-user error line, in order
        self._pumper: Any = None
        # per queue: drops its DROPS counter holds that no live owner's book explains --
        # frames steered to it while it had no owner (queue_disabled) and frames an owner had
        # in flight when it went away (the counter outlives the queue's close and reopen)
        self.ownerless_drops: dict[int, int] = {}

    # -- set-up -------------------------------------------------------------------------------

    async def start(self) -> LinuxGuestRig:
        await super().start()
        for spec in self.linux_specs:
            await self._add_device(
                spec.name,
                spec.mac,
                spec.queue,
                spec.nic_entries,
                spec.quota_pages,
                spec.features,
                spec.mode,
                spec=spec,
            )
        for fs in self.fake_specs:
            await self._add_device(
                fs.name,
                fs.mac,
                fs.queue,
                fs.nic_entries,
                256,
                GUEST_FEATURES,
                PlacementMode.FULL,
                fake=fs,
            )
        await self.set_promisc(False)
        await self.h.barrier()
        return self

    async def _add_device(
        self,
        name: str,
        mac: str,
        queue: int,
        nic_entries: int,
        quota: int,
        features: int,
        mode: PlacementMode,
        *,
        spec: LinuxGuestSpec | None = None,
        fake: FakeSpec | None = None,
    ) -> Device:
        slot = next(i for i, e in enumerate(self.steer_table) if not e.valid)
        await self.set_steer_entry(slot, mac, queue)
        sockdir = self.workdir / name
        sockdir.mkdir(parents=True, exist_ok=True)
        sock = str(sockdir / "vhost-user.sock")

        async def open_queue(settings: VhostQueueSettings) -> RxQueue:
            q = await self._queue(queue, desc_entries=nic_entries, **settings)
            dev = self.devices[name]
            self.sb.add_owner(dev.owner, queue)
            conn = dev.vu.conn
            dev.spans = [(m.ram.host_base, m.ram.size) for m in conn.regions] if conn else []
            return q

        def on_frame(frame: bytes, c: RxCompletion) -> None:
            dev = self.devices[name]
            self.sb.delivered(dev.owner, frame)
            dev.delivered.append(frame)
            dev.delivered_total += 1
            dev.cpls.append(c)

        def on_rx_stop(b: VhostNetRx, reason: str | None) -> None:
            self._retired(self.devices[name], b, reason)

        def log(line: str) -> None:
            self.devices[name].errors.append(line)
            self.errors.append(line)
            self.log.error("%s", line)

        vu = VhostUserNet(
            sock,
            mem=self.h.mem,
            pool=self.pool,
            open_queue=open_queue,
            owner=name,
            features=features,
            quota_pages=quota,
            mode=mode,
            tracker=self.tracker,
            on_frame=on_frame,
            on_rx_stop=on_rx_stop,
            log=log,
        )
        dev = Device(name, mac, queue, vu, sock, spec=spec, fake=fake)
        if spec is not None:
            dev.qemu = QemuGuest(self.image, sockdir, sock, config=spec.guest)
        self.devices[name] = dev
        return dev

    async def _queue(self, index: int, **kw: Any) -> RxQueue:
        """``SystemRig._queue``; the queue's DROPS as the scoreboard reads them leave out
        what ``ownerless_drops`` explains (each owner's book is checked against its own)."""
        q = await super()._queue(index, **kw)
        counters = q.counters

        async def owners_share() -> QueueCounters:
            c = await counters()
            return replace(c, drops=c.drops - self.ownerless_drops.get(index, 0))

        q.counters = owners_share  # type: ignore[method-assign]
        return q

    def _route(self, frame: bytes, meta: Meta) -> tuple[str | None, DropReason | None]:
        owner, reason = super()._route(frame, meta)
        if reason is DropReason.QUEUE_DISABLED:
            v = steer_model.steer_frame(self.steer_table, frame, meta, self.promisc, self.sb.rss)
            self.ownerless_drops[v.queue] = self.ownerless_drops.get(v.queue, 0) + 1
        return owner, reason

    def _retired(self, dev: Device, b: VhostNetRx, reason: str | None) -> None:
        """The device's backend tore its NIC queue down: retire its scoreboard owner (what
        it had in flight is lost with it; from now on its MAC's frames are queue_disabled)."""
        book = self.sb.owners[dev.owner]
        if self.sb.by_queue.get(book.queue) is book:
            del self.sb.by_queue[book.queue]
        rec = StopRecord(
            dev.owner,
            reason,
            len(book.pending),
            len(book.completed),
            float(get_sim_time("ns")),
            len(self.h.host.writes),
            list(dev.spans),
            dict(vars(b.stats)),
        )
        # frames with no completion yet are dropped at the queue as it goes (queue_disabled)
        self.ownerless_drops[book.queue] = self.ownerless_drops.get(book.queue, 0) + len(
            book.pending
        )
        book.pending.clear()
        book.completed.clear()
        dev.stops.append(rec)

    # -- the loop -----------------------------------------------------------------------------

    async def pump(self) -> bool:
        """One round of every vhost-user socket, kick and guest channel; our fake
        front-ends take their interrupts and repost."""
        busy = False
        async with self.lock:
            for dev in self.devices.values():
                busy |= await dev.vu.pump()
        for dev in self.devices.values():
            if dev.qemu is not None:
                busy |= dev.qemu.poll()
            busy |= self._fake_poll(dev)
        return busy

    def _fake_poll(self, dev: Device) -> bool:
        fe = dev.fe
        if fe is None or fe.rx is None or not fe.call_fds or not fe.calls(0):
            return False
        fe.rx.interrupt()
        dev.fake_read += [f.data for f in fe.rx.poll(budget=1 << 16)]
        fe.rx.fill()
        return True

    def start_pumper(self) -> None:
        async def loop() -> None:
            while True:
                await Timer(PUMP_NS, "ns")
                await self.pump()

        self._pumper = cocotb.start_soon(loop())

    def stop_pumper(self) -> None:
        if self._pumper is not None:
            self._pumper.cancel()
            self._pumper = None

    def idle_wait(self, timeout_s: float = IDLE_WAIT_S) -> None:
        """Wait (wall time, simulation paused) until a guest or QEMU has something."""
        fds: list[int] = []
        for dev in self.devices.values():
            fds += dev.vu.wait_fds()
            if dev.qemu is not None:
                fds += dev.qemu.wait_fds()
        select.select(fds, [], [], timeout_s)

    def _check_alive(self, what: str) -> None:
        for dev in self.devices.values():
            q = dev.qemu
            if dev.expect_alive and q is not None and not q.alive:
                rc = q.proc.returncode if q.proc else "?"
                raise AssertionError(
                    f"{dev.name}: QEMU exited ({rc}) waiting for {what}; guest console:\n"
                    f"{q.console_tail()}"
                )

    async def until(
        self, done: Callable[[], object], timeout_s: float, what: str, dev: Device | None = None
    ) -> float:
        """Pump (waiting in select between rounds) until ``done()``; returns the wall time
        it took, or fails naming ``what`` with the tail of ``dev``'s console."""
        t0 = time.monotonic()
        while not done():
            self._check_alive(what)
            if time.monotonic() - t0 > timeout_s:
                tail = (
                    f"; {dev.name}'s console:\n{dev.qemu.console_tail()}"
                    if (dev is not None and dev.qemu is not None)
                    else ""
                )
                raise AssertionError(f"watchdog: no {what} within {timeout_s:.0f} s (wall){tail}")
            if not await self.pump():
                self.idle_wait()
            await Timer(50, "ns")
        return time.monotonic() - t0

    # -- phases ---------------------------------------------------------------------------------

    async def boot(self, names: list[str] | None = None) -> dict[str, float]:
        """Start the QEMUs of ``names`` (default: every Linux guest) at once and wait until
        each guest is ready (receiver listening) with RX buffers at the NIC; returns each
        one's boot time (wall)."""
        devs = [self.devices[n] for n in (names or [s.name for s in self.linux_specs])]
        for dev in devs:
            assert dev.qemu is not None
            dev.qemu.start()
            dev.expect_alive = True

        def ready(dev: Device) -> Callable[[], bool]:
            def done() -> bool:
                q, vu = dev.qemu, dev.vu
                b = vu.backend
                return bool(q and q.ready and vu.rx_running and b and b.in_flight)

            return done

        timeout = max(d.spec.boot_timeout_s for d in devs if d.spec is not None)
        for dev in devs:
            await self.until(ready(dev), timeout, f"{dev.name} ready with RX buffers posted", dev)
        out = {}
        for dev in devs:
            assert dev.qemu is not None and dev.qemu.boot_s is not None
            dev.boot_s.append(dev.qemu.boot_s)
            out[dev.name] = dev.qemu.boot_s
        return out

    async def wait_buffers(self, name: str, n: int, timeout_s: float = 30.0) -> None:
        """Until the NIC holds at least ``n`` of the guest's buffers (the guest reposts in
        its own time; a test that wants no no_buffer drops paces the wire to it)."""
        dev = self.devices[name]
        entries = dev.spec.nic_entries if dev.spec else dev.fake.nic_entries if dev.fake else 0
        want = min(n, entries)
        await self.until(
            lambda: dev.vu.backend is not None and dev.vu.backend.in_flight >= want,
            timeout_s,
            f"{want} of {name}'s buffers at the NIC",
            dev,
        )

    async def guest_read(self, name: str, n: int, timeout_s: float = 60.0) -> None:
        """Until the guest's receiver reported ``n`` frames."""
        dev = self.devices[name]
        q = dev.qemu
        assert q is not None
        await self.until(lambda: len(q.frames) >= n, timeout_s, f"{n} frames read in {name}", dev)

    async def guest_stats(self, name: str, timeout_s: float = 30.0) -> dict[str, int]:
        """The guest kernel's counters, as the receiver reads them now."""
        dev = self.devices[name]
        q = dev.qemu
        assert q is not None
        before = len(q.stats)
        q.send("stats")
        await self.until(lambda: len(q.stats) > before, timeout_s, f"{name}'s counters", dev)
        return q.stats[-1]

    async def kill(self, name: str, timeout_s: float = 10.0) -> float:
        """SIGKILL the guest's QEMU and pump until the back-end has seen its socket close
        (and torn the device down); returns the wall time that took."""
        dev = self.devices[name]
        assert dev.qemu is not None
        dev.expect_alive = False
        dev.qemu.kill()
        return await self.until(
            lambda: not dev.vu.connected, timeout_s, f"the back-end seeing {name}'s socket close"
        )

    async def reattach(self, name: str) -> float:
        """A new QEMU on the same socket path (a new owner, ``name.2``, ...): boots it and
        returns its boot time."""
        dev = self.devices[name]
        assert dev.spec is not None and not dev.vu.connected
        if dev.qemu is not None:
            dev.qemu.stop()
        dev.incarnation += 1
        dev.vu.owner = f"{name}.{dev.incarnation}"
        dev.delivered, dev.cpls = [], []
        sockdir = self.workdir / name / str(dev.incarnation)
        dev.qemu = QemuGuest(self.image, sockdir, dev.socket, config=dev.spec.guest)
        return (await self.boot([name]))[name]

    async def run_client(
        self, what: str, fn: Callable[[], object], timeout_s: float = 20.0
    ) -> None:
        """Run ``fn`` (a blocking front-end exchange of our fake client) in a thread while
        the loop pumps the back-ends; fails if it raised or did not end."""
        failure: list[BaseException] = []

        def body() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 (re-raised in the caller)
                failure.append(exc)

        t = threading.Thread(target=body, daemon=True)
        t.start()
        await self.until(lambda: not t.is_alive(), timeout_s, what)
        if failure:
            raise AssertionError(f"{what}: {failure[0]!r}")

    async def shutdown(self, timeout_s: float = 30.0) -> dict[str, int | None]:
        """Every guest's receiver quits, each guest powers off (QEMU stops the rings:
        GET_VRING_BASE, the backend quiesces its NIC queue and unpins), QEMU exits; the
        sockets are closed. A guest whose receiver never came up is simply stopped."""
        rcs: dict[str, int | None] = {}
        quitting = []
        for dev in self.devices.values():
            q = dev.qemu
            if q is not None and q.alive and q.rx_ready and dev.expect_alive:
                try:
                    q.send("quit")
                except (RuntimeError, OSError):
                    continue
                quitting.append(q)
        t0 = time.monotonic()
        while any(q.alive for q in quitting) and time.monotonic() - t0 < timeout_s:
            if not await self.pump():
                self.idle_wait()
            await Timer(50, "ns")
        for dev in self.devices.values():
            dev.expect_alive = False
            if dev.qemu is not None:
                rcs[dev.name] = dev.qemu.stop()
            if dev.fe is not None:
                dev.fe.close()
                dev.fe = None
        for _ in range(20):  # the sockets' close, seen by the back-ends
            if not await self.pump():
                break
        async with self.lock:
            for dev in self.devices.values():
                await dev.vu.close()
        return rcs

    async def _service(self) -> list[Any]:
        first = await super()._service()
        for dev in self.devices.values():
            await dev.vu.service()
        for dev in self.devices.values():
            self._fake_poll(dev)
        return first

    async def settle_pumps(self, quiet_rounds: int = 3, timeout_s: float = 2.0) -> None:
        """Pump until nothing happened ``quiet_rounds`` times in a row (20 ms of wall time
        apart): every kick a guest wrote is read before figures are taken."""
        t0, quiet = time.monotonic(), 0
        while quiet < quiet_rounds and time.monotonic() - t0 < timeout_s:
            if await self.pump():
                quiet = 0
            else:
                quiet += 1
                self.idle_wait(0.02)
            await Timer(50, "ns")

    # -- what the device side saw ---------------------------------------------------------------

    def ring_figures(self, name: str) -> dict[str, int]:
        """What the event index (or the flags) of the guest's rings asked for, next to the
        kicks and calls that happened (RX ring: the running backend's; TX: the drain's).
        Take them after ``settle_pumps``: a kick still unread would be missing."""
        dev = self.devices[name]
        conn = dev.vu.conn
        out: dict[str, int] = {}
        rings: list[tuple[str, SplitRing | None, int]] = [
            ("rx", dev.backend.ring if dev.backend else None, 0),
            ("tx", dev.vu.tx, 1),
        ]
        for tag, ring, index in rings:
            if ring is None or conn is None:
                continue
            vr = conn.rings[index]
            out |= {
                f"{tag}_kicks": vr.kicks,
                f"{tag}_kicks_asked": ring.kicks_asked,
                f"{tag}_kick_races": ring.kick_races,
                f"{tag}_calls": vr.calls,
                f"{tag}_calls_asked": ring.calls_asked,
                f"{tag}_used_updates": ring.used_updates,
            }
        return out


def delta(now: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items()}


# -- what the guest kernel should count -----------------------------------------------------------


def _ones_sum_ok(raw: bytes) -> bool:
    if len(raw) % 2:
        raw += b"\0"
    s = sum(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def _ipv4_csum_ok(pkt: Any) -> bool:
    return _ones_sum_ok(bytes(pkt[IP])[: pkt[IP].ihl * 4])


def _l4_csum_ok(pkt: Any, layer: Any) -> bool:
    """The frame's UDP/TCP checksum is what scapy computes for it (UDP 0 over IPv4: not
    used, so not wrong)."""
    got = pkt[layer].chksum
    if layer is UDP and got == 0 and IP in pkt:
        return True
    clone = pkt.copy()
    del clone[layer].chksum
    return bool(Ether(bytes(clone))[layer].chksum == got)


@dataclass(frozen=True)
class CsumClass:
    """What a frame's checksums are, by scapy: ``bad`` (a wrong TCP/UDP or IPv4 header
    checksum: the guest must not hold it as verified), ``plain`` (IPv4/IPv6 TCP or UDP the
    NIC's parser checks -- up to two VLAN tags, IPv4 options, IPv6 hop-by-hop and
    destination options, not a fragment -- with every checksum right and, for UDP over
    IPv4, present: DATA_VALID is due), or neither."""

    bad: bool
    plain: bool


def _l4_of(ip: Any) -> Any:
    """The TCP or UDP header right after ``ip`` (an IPv6 header: after hop-by-hop and
    destination options only), or None."""
    layer = ip.payload
    while isinstance(layer, (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt)):
        layer = layer.payload
    return layer if isinstance(layer, (TCP, UDP)) else None


def _vlan_tags(pkt: Any) -> int:
    tags = 0
    layer = pkt.payload
    while isinstance(layer, Dot1Q):
        tags += 1
        layer = layer.payload
    return tags


def csum_class(frame: bytes) -> CsumClass:
    pkt = Ether(frame)
    if _vlan_tags(pkt) > 2:
        return CsumClass(False, False)
    if IP in pkt:
        ip = pkt[IP]
        if ip.flags.MF or ip.frag:
            return CsumClass(not _ipv4_csum_ok(pkt), False)
        l4 = _l4_of(ip)
        hdr_ok = _ipv4_csum_ok(pkt)
        l4_ok = l4 is None or _l4_csum_ok(pkt, type(l4))
        zero_udp = isinstance(l4, UDP) and l4.chksum == 0
        bad = not hdr_ok or not l4_ok
        return CsumClass(bad, l4 is not None and not bad and not zero_udp)
    if IPv6 in pkt:
        l4 = _l4_of(pkt[IPv6])
        if l4 is None:
            return CsumClass(False, False)
        bad = not _l4_csum_ok(pkt, type(l4)) or isinstance(l4, UDP) and l4.chksum == 0
        return CsumClass(bad, not bad)
    return CsumClass(False, False)


def expected_datagrams(frames: list[bytes], config: GuestConfig) -> list[tuple[int, int, int, int]]:
    """(port, IP version, length, FNV-1a) of each UDP datagram the guest's sockets must read
    from ``frames``: to its address (IPv4: or its subnet's broadcast), one of its ports, not
    a fragment, untagged (the guest has no VLAN device), every checksum right."""
    iface = ipaddress.ip_interface(config.ip)
    mine4 = {str(iface.ip), str(iface.network.broadcast_address), "255.255.255.255"}
    mine6 = str(ipaddress.ip_interface(config.ip6).ip)
    out = []
    for f in frames:
        pkt = Ether(f)
        if UDP not in pkt or pkt[UDP].dport not in config.udp_ports or Dot1Q in pkt:
            continue
        if pkt.type == 0x0800 and IP in pkt and pkt[IP].dst in mine4:
            ip: Any = pkt[IP]
            if ip.flags.MF or ip.frag or not _ipv4_csum_ok(pkt) or not _l4_csum_ok(pkt, UDP):
                continue
            family = 4
        elif pkt.type == 0x86DD and IPv6 in pkt and pkt[IPv6].dst == mine6:
            if not _l4_csum_ok(pkt, UDP) or pkt[UDP].chksum == 0:
                continue
            family = 6
        else:
            continue
        payload = bytes(pkt[UDP].payload)[: pkt[UDP].len - 8]
        out.append((pkt[UDP].dport, family, len(payload), fnv1a64(payload)))
    return out


def expected_guest_counters(frames: list[bytes], config: GuestConfig) -> dict[str, int]:
    """What the guest kernel counts for ``frames`` (delivered to it, FCS excluded): every
    frame in rx_packets / rx_bytes, none dropped; UDP datagrams to the guest's address (IPv4:
    or its subnet's broadcast) and one of the receiver's ports, whole (not fragments),
    untagged, with good checksums, in Udp InDatagrams (IPv6: Udp6InDatagrams), with a bad
    UDP checksum (and a good IPv4 header) in InCsumErrors; IPv4 TCP to the guest with a bad
    checksum in Tcp InCsumErrors. VLAN-tagged frames do not reach IP (the guest has no VLAN
    device)."""
    iface = ipaddress.ip_interface(config.ip)
    mine = {str(iface.ip), str(iface.network.broadcast_address), "255.255.255.255"}
    mine6 = str(ipaddress.ip_interface(config.ip6).ip)
    udp_bad = udp6_bad = tcp_bad = 0
    for f in frames:
        pkt = Ether(f)
        if pkt.type == 0x86DD and IPv6 in pkt and pkt[IPv6].dst == mine6:
            if UDP in pkt and pkt[UDP].dport in config.udp_ports:
                udp6_bad += not _l4_csum_ok(pkt, UDP) or pkt[UDP].chksum == 0
            continue
        if pkt.type != 0x0800 or IP not in pkt or pkt[IP].dst not in mine:
            continue
        ip = pkt[IP]
        if ip.flags.MF or ip.frag or not _ipv4_csum_ok(pkt):
            continue
        if UDP in pkt and ip.proto == 17 and pkt[UDP].dport in config.udp_ports:
            udp_bad += not _l4_csum_ok(pkt, UDP)
        elif TCP in pkt and ip.proto == 6 and str(iface.ip) == ip.dst:
            tcp_bad += not _l4_csum_ok(pkt, TCP)
    dgrams = expected_datagrams(frames, config)
    return {
        "rx_packets": len(frames),
        "rx_bytes": sum(len(f) for f in frames),
        "rx_dropped": 0,
        "udp_in_datagrams": sum(1 for d in dgrams if d[1] == 4),
        "udp_in_csum_errors": udp_bad,
        "udp6_in_datagrams": sum(1 for d in dgrams if d[1] == 6),
        "udp6_in_csum_errors": udp6_bad,
        "tcp_in_csum_errors": tcp_bad,
    }


def guest_checks(
    dev: Device, stats: dict[str, int], baseline: dict[str, int], workdir: Path
) -> tuple[dict[str, object], list[str]]:
    """The guest's view against the wire: its receiver's frames (length and hash, in order,
    and whether its kernel held each checksum as verified), the UDP datagrams its sockets
    read, and its kernel's counters (less ``baseline``, read before the traffic). Returns the
    report section and the problems."""
    q, spec = dev.qemu, dev.spec
    assert q is not None and spec is not None
    config = spec.guest
    want = dev.delivered
    got = [(x.length, x.hash) for x in q.frames]
    expect = [(len(f), fnv1a64(f)) for f in want]
    problems = []
    first_bad = next((i for i, (a, b) in enumerate(zip(got, expect, strict=False)) if a != b), None)
    match = got == expect
    with open(workdir / "frames.txt", "w") as fh:  # both views, side by side
        fh.write("# frame: guest read (length hash csum) | delivered (length hash) kind\n")
        for i in range(max(len(got), len(expect))):
            g = (
                f"{got[i][0]} {got[i][1]:016x} {int(q.frames[i].csum_valid)}"
                if i < len(got)
                else "-"
            )
            w = (
                f"{expect[i][0]} {expect[i][1]:016x} {Ether(want[i]).summary()}"
                if i < len(expect)
                else "-"
            )
            same = i < len(got) and i < len(expect) and got[i] == expect[i]
            fh.write(f"{i} {'  ' if same else '!='} {g} | {w}\n")
    if not match:
        where = first_bad if first_bad is not None else min(len(got), len(expect))
        detail = ""
        if first_bad is not None:
            (gl, gh), (wl, wh) = got[where], expect[where]
            kind = Ether(want[where]).summary()
            detail = (
                f": the guest read {gl} B (hash {gh:016x}), the wire had {wl} B "
                f"(hash {wh:016x}): {kind}"
            )
        problems.append(
            f"{dev.owner}: guest receiver read {len(got)} frames, {len(expect)} delivered; "
            f"first difference at frame {where}{detail}"
        )
    # checksums as the guest kernel holds them (TP_STATUS_CSUM_VALID <- DATA_VALID)
    classes = [csum_class(f) for f in want]
    flags = [x.csum_valid for x in q.frames[: len(want)]]
    valid_bad = [i for i, (c, v) in enumerate(zip(classes, flags, strict=False)) if v and c.bad]
    unverified = [
        i for i, (c, v) in enumerate(zip(classes, flags, strict=False)) if c.plain and not v
    ]
    valid_any = [i for i, v in enumerate(flags) if v]
    if spec.csum:
        for what, idx in (
            ("holds as verified, though a checksum is wrong", valid_bad),
            ("did not get DATA_VALID for, checksums right", unverified),
        ):
            if idx:
                i = idx[0]
                problems.append(
                    f"{dev.owner}: the guest kernel {what}: {len(idx)} frames, the "
                    f"first frame {i}: {Ether(want[i]).summary()}"
                )
    elif valid_any:
        problems.append(
            f"{dev.owner}: {len(valid_any)} frames held as verified without "
            "VIRTIO_NET_F_GUEST_CSUM negotiated"
        )
    # the datagrams the guest's sockets read: exactly the good ones, in order
    dgrams = [(d.port, d.family, d.length, d.hash) for d in q.datagrams]
    want_dgrams = expected_datagrams(want, config)
    if sorted(dgrams) != sorted(want_dgrams):
        extra = len(set(dgrams) - set(want_dgrams))
        missing = len(set(want_dgrams) - set(dgrams))
        problems.append(
            f"{dev.owner}: the guest's UDP sockets read {len(dgrams)} datagrams, "
            f"{len(want_dgrams)} expected ({missing} missing, {extra} not "
            "expected)"
        )
    exp = expected_guest_counters(want, config)
    counters = {k: stats.get(k, -1) - baseline.get(k, 0) for k in exp}
    for k, v in exp.items():
        if counters[k] != v:
            problems.append(f"{dev.owner}: guest {k} {counters[k]}, expected {v}")
    if stats.get("packet_socket_drops", 0):
        problems.append(
            f"{dev.owner}: guest packet socket dropped {stats['packet_socket_drops']} frames"
        )
    for line in q.errors:
        problems.append(f"{dev.owner}: guest receiver: {line}")
    buffers = [c.group_count for c in dev.cpls]
    section: dict[str, object] = {
        "counters": counters,
        "expected": exp,
        "receiver_frames": len(got),
        "receiver_matches_wire": match,
        "datagrams_read": len(dgrams),
        "datagrams_match": sorted(dgrams) == sorted(want_dgrams),
        "csum_valid_frames": len(valid_any),
        "csum_plain_frames": sum(c.plain for c in classes),
        "csum_bad_frames": sum(c.bad for c in classes),
        "split_frames": sum(1 for c in dev.cpls if c.flags & CplFlags.SPLIT),
        "num_buffers_max": max(buffers, default=0),
        "multi_buffer_frames": sum(1 for n in buffers if n > 1),
        "largest_frame": max((len(f) for f in want), default=0),
        "udp_rcvbuf_errors": stats.get("udp_rcvbuf_errors", 0),
        "virtio_irqs": stats.get("virtio_irqs", 0) - baseline.get("virtio_irqs", 0),
        "tx_packets": stats.get("tx_packets", 0) - baseline.get("tx_packets", 0),
    }
    return section, problems


def teardown_checks(rig: LinuxGuestRig, rec: StopRecord) -> tuple[dict[str, object], list[str]]:
    """After a device went away: its RAM no longer mapped into host memory, not one page of it
    pinned or mapped in the NIC's IOMMU domain, the owner gone from the page constructor, and
    not one DMA write into it since (the host's write log, the tracker and the IOMMU's
    faults agree)."""
    problems = []
    dom = rig.h.host.domain
    assert dom is not None
    off = rig.pool.iova_offset
    pinned = mapped = 0
    for base, size in rec.spans:
        for a in range(base, base + size, 4096):
            pinned += rig.pool.is_pinned(a)
            mapped += dom.lookup(a + off) is not None
    backed = [
        (b, n)
        for b, n in rig.h.mem.backed
        if any(b < base + size and base < b + n for base, size in rec.spans)
    ]
    writes = sum(
        1
        for w in rig.h.host.writes[rec.writes_index :]
        if any(base + off <= w.addr < base + size + off for base, size in rec.spans)
    )
    owner_left = rec.owner in rig.pool.owners
    for bad, what in (
        (pinned, "pages still pinned"),
        (mapped, "pages still mapped in the IOMMU"),
        (len(backed), "ranges of its RAM still mapped into host memory"),
        (writes, "DMA writes into its RAM after it stopped"),
        (owner_left, "owner still registered with the page constructor"),
    ):
        if bad:
            problems.append(f"{rec.owner} after teardown: {int(bad)} {what}")
    section: dict[str, object] = {
        "owner": rec.owner,
        "reason": rec.reason,
        "lost_pending": rec.lost_pending,
        "lost_completed": rec.lost_completed,
        "pages_checked": sum(size // 4096 for _, size in rec.spans),
        "pinned_after": pinned,
        "iommu_mapped_after": mapped,
        "ram_still_mapped": len(backed),
        "writes_after": writes,
        "tracker_violations": len(rig.tracker.violations),
        "iommu_faults": len(rig.h.host.faults),
    }
    return section, problems


def workdir_for(base: Path) -> Path:
    """A short folder for the guests' sockets (a unix socket path is at most 107 bytes)."""
    path = base
    if len(str(path / "linux0" / "2" / "vhost-user.sock")) > 100:
        path = Path("/tmp") / f"splitrx-guest-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path

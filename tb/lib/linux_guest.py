# SPDX-License-Identifier: MIT
"""A real Linux guest in the system: QEMU (sw.qemu_guest) with its virtio-net device behind
our vhost-user back-end (sw.vhost_user_net), on one RX queue of splitrx_top.

``LinuxGuestRig`` is ``SystemRig`` (wire, PCIe root complex, IOMMU, host memory, NIC driver,
page constructor, tracker, scoreboard) with one owner more: the Linux guest, steered by its
MAC (the same ``--guest-mac`` QEMU's ``mac=`` gets). Its RX virtqueue is served by the same
``VhostNetRx`` as every model guest; the guest's RAM is QEMU's memfd mapped into host
memory, so the RTL's DMA writes land in the guest's RAM with no copy. The scoreboard checks
every frame as the backend hands it to the guest (``on_frame``); the guest's own receiver
then reports what Linux read (length and FNV-1a hash per frame) and the guest kernel's
counters, which ``guest_checks`` compares with the wire.

The vhost-user socket, the kicks and the guest's control channel are pumped from the
simulation loop (``pumper``); while only the guest has work (booting, reading frames), the
loop waits in ``select`` instead of simulating idle cycles.
"""

from __future__ import annotations

import ipaddress
import os
import select
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import Timer
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether

from model.records import PlacementMode, RxCompletion
from sw.nic_driver import RxQueue
from sw.qemu_guest import GuestConfig, GuestImage, QemuGuest, fnv1a64
from sw.vhost import VhostQueueSettings
from sw.vhost_user_net import DEFAULT_NET_FEATURES, VhostUserNet
from tb.lib.system import SystemRig

PUMP_NS = 500  # simulated time between two pumps of the vhost-user socket
IDLE_WAIT_S = 0.005  # wall time to wait in select when only the guest has work


@dataclass
class LinuxGuestSpec:
    name: str = "linux0"
    mac: str = "02:00:00:00:00:01"
    queue: int = 1  # the NIC RX queue (0 stays the host's: broadcast and RSS land there)
    nic_entries: int = 64
    quota_pages: int = 1024
    features: int = DEFAULT_NET_FEATURES
    mode: PlacementMode = PlacementMode.FULL
    guest: GuestConfig = field(default_factory=GuestConfig)
    boot_timeout_s: float = 120.0


class LinuxGuestRig(SystemRig):
    """``SystemRig`` with one real Linux guest (and whatever else ``kw`` asks for)."""

    def __init__(self, dut: Any, linux: LinuxGuestSpec, image: GuestImage, workdir: Path,
                 **kw: Any) -> None:  # fmt: skip
        kw.setdefault("guests", [])
        super().__init__(dut, **kw)
        self.linux = linux
        self.image = image
        self.workdir = workdir
        self.delivered_frames: list[bytes] = []  # as the backend handed them to the guest
        self.vu: VhostUserNet | None = None
        self.qemu: QemuGuest | None = None
        self.errors: list[str] = []  # vhost-user error lines
        self._pumper: Any = None
        self.traffic_s = 0.0

    async def start(self) -> LinuxGuestRig:
        await super().start()
        spec = self.linux
        self.sb.add_owner(spec.name, spec.queue)
        slot = next(i for i, e in enumerate(self.steer_table) if not e.valid)
        await self.set_steer_entry(slot, spec.mac, spec.queue)
        await self.set_promisc(False)
        await self.h.barrier()

        async def open_queue(settings: VhostQueueSettings) -> RxQueue:
            return await self._queue(spec.queue, desc_entries=spec.nic_entries, **settings)

        self.workdir.mkdir(parents=True, exist_ok=True)
        sock = str(self.workdir / "vhost-user.sock")
        self.vu = VhostUserNet(
            sock, mem=self.h.mem, pool=self.pool, open_queue=open_queue, owner=spec.name,
            features=spec.features, quota_pages=spec.quota_pages, mode=spec.mode,
            tracker=self.tracker, on_frame=self._on_frame, log=self._vu_log,
        )  # fmt: skip
        self.qemu = QemuGuest(self.image, self.workdir, sock, config=spec.guest)
        return self

    def _on_frame(self, frame: bytes, c: RxCompletion) -> None:
        self.sb.delivered(self.linux.name, frame)
        self.delivered_frames.append(frame)

    def _vu_log(self, line: str) -> None:
        self.errors.append(line)
        self.log.error("%s", line)

    # -- the loop ---------------------------------------------------------------------------

    async def pump(self) -> bool:
        """One round of the vhost-user socket, kicks and the guest's channels."""
        assert self.vu is not None and self.qemu is not None
        async with self.lock:
            busy = await self.vu.pump()
        return self.qemu.poll() or busy

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
        """Wait (wall time, simulation paused) until the guest or QEMU has something."""
        assert self.vu is not None and self.qemu is not None
        select.select(self.vu.wait_fds() + self.qemu.wait_fds(), [], [], timeout_s)

    async def until(self, done: Any, timeout_s: float, what: str) -> float:
        """Pump (waiting in select between rounds) until ``done()``; returns the wall time
        it took, or fails naming ``what`` with the tail of the guest's console."""
        assert self.qemu is not None
        t0 = time.monotonic()
        while not done():
            if not self.qemu.alive:
                raise AssertionError(
                    f"QEMU exited ({self.qemu.proc.returncode if self.qemu.proc else '?'}) "
                    f"waiting for {what}; guest console:\n{self.qemu.console_tail()}"
                )
            if time.monotonic() - t0 > timeout_s:
                raise AssertionError(
                    f"watchdog: no {what} within {timeout_s:.0f} s (wall); guest console:\n"
                    f"{self.qemu.console_tail()}"
                )
            if not await self.pump():
                self.idle_wait()
            await Timer(50, "ns")
        return time.monotonic() - t0

    # -- phases ---------------------------------------------------------------------------------

    async def boot(self) -> float:
        """Start QEMU and wait until the guest is ready (receiver listening) with RX buffers
        at the NIC; returns the boot time (wall)."""
        assert self.vu is not None and self.qemu is not None
        self.qemu.start()
        vu = self.vu

        def ready() -> bool:
            b = vu.backend
            return bool(self.qemu and self.qemu.ready and vu.rx_running and b and b.in_flight)

        await self.until(ready, self.linux.boot_timeout_s, "guest ready with RX buffers posted")
        assert self.qemu.boot_s is not None
        return self.qemu.boot_s

    async def wait_buffers(self, n: int, timeout_s: float = 30.0) -> None:
        """Until the NIC holds at least ``n`` of the guest's buffers (the guest reposts in its
        own time; a test that wants no no_buffer drops paces the wire to it)."""
        vu = self.vu
        assert vu is not None
        want = min(n, self.linux.nic_entries)
        await self.until(
            lambda: vu.backend is not None and vu.backend.in_flight >= want,
            timeout_s,
            f"{want} guest buffers at the NIC",
        )

    async def guest_read(self, n: int, timeout_s: float = 60.0) -> None:
        """Until the guest's receiver reported ``n`` frames."""
        q = self.qemu
        assert q is not None
        await self.until(lambda: len(q.frames) >= n, timeout_s, f"{n} frames read in the guest")

    async def guest_stats(self, timeout_s: float = 30.0) -> dict[str, int]:
        """The guest kernel's counters, as the receiver reads them now."""
        q = self.qemu
        assert q is not None
        before = len(q.stats)
        q.send("stats")
        await self.until(lambda: len(q.stats) > before, timeout_s, "the guest's counters")
        return q.stats[-1]

    async def shutdown(self, timeout_s: float = 30.0) -> int | None:
        """The receiver quits, the guest powers off (QEMU stops the rings: GET_VRING_BASE,
        the backend quiesces its NIC queue and unpins), QEMU exits; the socket is closed. A
        guest whose receiver never came up is simply stopped."""
        q, vu = self.qemu, self.vu
        assert q is not None and vu is not None
        if q.alive and q.rx_ready:
            try:
                q.send("quit")
            except (RuntimeError, OSError):
                pass
            else:
                t0 = time.monotonic()
                while q.alive and time.monotonic() - t0 < timeout_s:
                    if not await self.pump():
                        self.idle_wait()
                    await Timer(50, "ns")
        rc = q.stop()
        for _ in range(20):  # the socket's close, seen by the back-end
            if not await self.pump():
                break
        async with self.lock:
            await vu.close()
        return rc

    async def _service(self) -> list[Any]:
        first = await super()._service()
        if self.vu is not None:
            await self.vu.service()
        return first


# -- what the guest kernel should count ---------------------------------------------------------


def _ipv4_csum_ok(pkt: Any) -> bool:
    raw = bytes(pkt[IP])[: pkt[IP].ihl * 4]
    s = sum(int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def _l4_csum_ok(pkt: Any, layer: Any) -> bool:
    """The frame's UDP/TCP checksum is what scapy computes for it (UDP 0: not used)."""
    got = pkt[layer].chksum
    if layer is UDP and got == 0:
        return True
    clone = pkt.copy()
    del clone[layer].chksum
    return bool(Ether(bytes(clone))[layer].chksum == got)


def expected_guest_counters(frames: list[bytes], config: GuestConfig) -> dict[str, int]:
    """What the guest kernel counts for ``frames`` (delivered to it, FCS excluded): every
    frame in rx_packets / rx_bytes, none dropped; IPv4 UDP datagrams to the guest's address
    (or its subnet's broadcast) and one of the receiver's ports, whole (not fragments) with
    good checksums, in Udp InDatagrams; the same TCP ones with a bad TCP checksum in Tcp
    InCsumErrors. VLAN-tagged frames do not reach IP (the guest has no VLAN device)."""
    iface = ipaddress.ip_interface(config.ip)
    mine = {str(iface.ip), str(iface.network.broadcast_address), "255.255.255.255"}
    udp_in = udp_bad = tcp_bad = 0
    for f in frames:
        pkt = Ether(f)
        if pkt.type != 0x0800 or IP not in pkt or pkt[IP].dst not in mine:
            continue
        ip = pkt[IP]
        if ip.flags.MF or ip.frag or not _ipv4_csum_ok(pkt):
            continue
        if UDP in pkt and ip.proto == 17 and pkt[UDP].dport in config.udp_ports:
            if _l4_csum_ok(pkt, UDP):
                udp_in += 1
            else:
                udp_bad += 1
        elif TCP in pkt and ip.proto == 6 and str(iface.ip) == ip.dst:
            tcp_bad += not _l4_csum_ok(pkt, TCP)
    return {
        "rx_packets": len(frames),
        "rx_bytes": sum(len(f) for f in frames),
        "rx_dropped": 0,
        "udp_in_datagrams": udp_in,
        "udp_in_csum_errors": udp_bad,
        "tcp_in_csum_errors": tcp_bad,
    }


def guest_checks(
    rig: LinuxGuestRig, stats: dict[str, int], config: GuestConfig, baseline: dict[str, int]
) -> tuple[dict[str, object], list[str]]:
    """The guest's view against the wire: its receiver's frames (length and hash, in order)
    and its kernel's counters (less ``baseline``, read before the traffic). Returns the
    report section and the problems."""
    q = rig.qemu
    assert q is not None
    want = rig.delivered_frames
    got = [(x.length, x.hash) for x in q.frames]
    expect = [(len(f), fnv1a64(f)) for f in want]
    problems = []
    first_bad = next((i for i, (a, b) in enumerate(zip(got, expect, strict=False)) if a != b),
                     None)  # fmt: skip
    match = got == expect
    with open(rig.workdir / "frames.txt", "w") as fh:  # both views, side by side
        fh.write("# frame: guest read (length hash) | delivered (length hash) kind\n")
        for i in range(max(len(got), len(expect))):
            g = f"{got[i][0]} {got[i][1]:016x}" if i < len(got) else "-"
            w = f"{expect[i][0]} {expect[i][1]:016x} {Ether(want[i]).summary()}" if i < len(
                expect) else "-"  # fmt: skip
            fh.write(f"{i} {'  ' if g == w[: len(g)] else '!='} {g} | {w}\n")
    if not match:
        where = first_bad if first_bad is not None else min(len(got), len(expect))
        detail = ""
        if first_bad is not None:
            (gl, gh), (wl, wh) = got[where], expect[where]
            kind = Ether(want[where]).summary()
            detail = (f": the guest read {gl} B (hash {gh:016x}), the wire had {wl} B "
                      f"(hash {wh:016x}): {kind}")  # fmt: skip
        problems.append(
            f"guest receiver read {len(got)} frames, {len(expect)} delivered; first "
            f"difference at frame {where}{detail}"
        )
    exp = expected_guest_counters(want, config)
    counters = {k: stats.get(k, -1) - baseline.get(k, 0) for k in exp}
    for k, v in exp.items():
        if counters[k] != v:
            problems.append(f"guest {k} {counters[k]}, expected {v}")
    if stats.get("packet_socket_drops", 0):
        problems.append(f"guest packet socket dropped {stats['packet_socket_drops']} frames")
    for line in q.errors:
        problems.append(f"guest receiver: {line}")
    section: dict[str, object] = {
        "counters": counters,
        "expected": exp,
        "receiver_frames": len(got),
        "receiver_matches_wire": match,
        "udp_rcvbuf_errors": stats.get("udp_rcvbuf_errors", 0),
        "tx_packets": stats.get("tx_packets", 0) - baseline.get("tx_packets", 0),
    }
    return section, problems


def workdir_for(base: Path) -> Path:
    """A short folder for the guest's sockets (a unix socket path is at most 107 bytes)."""
    path = base
    if len(str(path / "vhost-user.sock")) > 100:
        path = Path("/tmp") / f"splitrx-guest-{os.getpid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path

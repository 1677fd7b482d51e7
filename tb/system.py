# SPDX-License-Identifier: MIT
"""The whole system around splitrx_top: the wire (cocotbext-eth XGMII source), the PCIe root
complex with host memory and IOMMU (tb.pcie), the host NIC driver, the page constructor,
a vhost-net backend and the guest's virtio-net driver (sw/), and a DMA write tracker that
sees every device write.

The host is interrupt-driven: the queue's MSI-X vector is a write into the host's MSI
window (tb.pcie.MSI_BASE); each one runs ``service()`` -- the host's NAPI poll and the vhost
worker -- which reads completions from host memory and writes doorbells over BAR0. A lost
interrupt shows as frames never received.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cocotb.triggers import Event, Timer
from cocotbext.eth import XgmiiFrame, XgmiiSource

from model.hostmem import GuestRam
from model.records import DropReason, RxCompletion
from model.tracker import DmaWriteTracker
from model.virtio import VIRTIO_NET_HDR_V1_SIZE
from sw.guest_virtio import GuestVirtioNetRx, RxFrame
from sw.nic_driver import NicDriver, RxDone, RxQueue
from sw.page_pool import PagePool
from sw.vhost import DEFAULT_FEATURES, VhostNetRx
from tb.common import deadline
from tb.pcie import MSI_BASE, PcieHarness

HDR = VIRTIO_NET_HDR_V1_SIZE
DRIVER = "host-driver"  # owner of the completion ring in the tracker
RXQ0_VECTOR = 0
RXQ0_MSI_DATA = 0x41  # an interrupt controller's vector number for RX queue 0


@dataclass
class WireStats:
    sent: int = 0
    sent_bad: dict[DropReason, int] = field(default_factory=dict)


class SystemRig:
    """One guest on RX queue 0 of splitrx_top, from the XGMII wire to the guest's used ring."""

    def __init__(
        self,
        dut: Any,
        *,
        guest_num: int = 16,
        nic_entries: int = 16,
        buf_size: int = 2048,
        quota_pages: int = 1024,
        read_latency_ns: float = 0.0,
        ram_size: int = 1 << 20,
        reuse: bool = True,
        features: int = DEFAULT_FEATURES,
    ) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb.system")
        self.h = PcieHarness(dut, read_latency_ns=read_latency_ns)
        self.wire = XgmiiSource(dut.xgmii_rxd, dut.xgmii_rxc, dut.mac_clk, dut.mac_rst)
        self.wire.log.setLevel(logging.WARNING)
        self.stats = WireStats()
        self.tracker = DmaWriteTracker(raise_on_violation=False)
        self.owner = "guest0"
        self.guest_num, self.nic_entries = guest_num, nic_entries
        self.buf_size, self.quota_pages = buf_size, quota_pages
        self.ram_size, self.reuse, self.features = ram_size, reuse, features
        self.received: list[RxFrame] = []
        self.completions: list[RxCompletion] = []  # every completion the host polled
        self.irq = Event()
        self.interrupts = 0

    async def start(self) -> SystemRig:
        h = self.h
        await deadline(h.enumerate(), 50_000, "end of reset and enumeration")
        assert h.host.domain is not None
        h.host.on_write = self._track
        self.drv = NicDriver(h, h.mem, h.host.domain)
        self.caps = await self.drv.probe()
        self.queue: RxQueue = await self.drv.open_queue(
            0, desc_entries=self.nic_entries, data_offset=HDR
        )
        poll = self.queue.poll

        async def tapped_poll(budget: int = 64) -> list[RxDone]:
            got = await poll(budget)
            self.completions += [d.cpl for d in got]
            return got

        self.queue.poll = tapped_poll  # type: ignore[method-assign]
        h.host.on_msi = self._on_msi
        await h.enable_msix()
        await self.drv.set_msix_vector(RXQ0_VECTOR, MSI_BASE, RXQ0_MSI_DATA)
        await self.queue.enable_irq(RXQ0_VECTOR)
        self.tracker.add_owner_region(DRIVER, self.queue.cpl_base, self.queue.cpl_entries * 32)
        self.tracker.post_buffer(DRIVER, 0, [(self.queue.cpl_base, self.queue.cpl_entries * 32)])
        self.pool = PagePool(h.iommu, h.host.domain.rid, tracker=self.tracker)
        self.ram = GuestRam(h.mem, self.ram_size, name=self.owner)
        h.mem.poison(self.ram.host_base, self.ram_size)
        self.tracker.add_owner_region(
            self.owner, self.ram.host_base + self.pool.iova_offset, self.ram_size
        )
        self.pool.register(self.owner, self.ram, self.quota_pages)
        self.guest = GuestVirtioNetRx(
            self.ram, self.guest_num, buf_size=self.buf_size, reuse=self.reuse,
            features=self.features,
        )  # fmt: skip
        self.backend = VhostNetRx(
            self.queue, self.pool, self.owner, self.ram, self.guest.layout,
            notify=self.guest.interrupt, features=self.features,
        )  # fmt: skip
        self.guest.kick = self.backend.kick
        self.guest.fill()
        await self.backend.service()
        await h.barrier()  # enable and doorbells are posted writes: let them land
        return self

    def _on_msi(self, address: int, data: int) -> None:
        if (address, data) != (MSI_BASE, RXQ0_MSI_DATA):
            self.log.error("unexpected MSI: address 0x%x data 0x%x", address, data)
            return
        self.interrupts += 1
        self.irq.set()

    def _track(self, iova: int, data: bytes, time_ns: float) -> None:
        v = self.tracker.record_write(iova, data, time_ns)
        if v is not None:
            self.log.error("DMA write tracker: %s", v)

    async def send(self, frame: bytes, bad_fcs: bool = False) -> None:
        """Queue a frame (FCS appended) for the wire; bad_fcs flips one FCS bit."""
        if bad_fcs:
            good = XgmiiFrame.from_payload(frame)
            raw = bytearray(good.data)
            raw[-1] ^= 0x01
            xf = XgmiiFrame.from_raw_payload(bytes(raw[8:]))
            self.stats.sent_bad[DropReason.BAD_FCS] = (
                self.stats.sent_bad.get(DropReason.BAD_FCS, 0) + 1
            )
        else:
            xf = XgmiiFrame.from_payload(frame)
        self.stats.sent += 1
        await self.wire.send(xf)

    async def service(self) -> list[RxFrame]:
        """One round of host work: backend takes completions and refills, guest polls."""
        await self.backend.service()
        got = self.guest.poll()
        if not self.reuse:
            self.guest.fill()  # fresh buffers: each is posted once and never reused
        await self.backend.service()
        self.received += got
        return got

    async def receive(self, n: int, timeout_ns: float = 200_000) -> list[RxFrame]:
        """Serve the host at each interrupt until the guest has ``n`` more frames."""
        want = len(self.received) + n

        async def loop() -> None:
            while len(self.received) < want:
                await self.irq.wait()
                self.irq.clear()  # before serving: an interrupt during it sets it again
                await self.service()

        await deadline(loop(), timeout_ns, f"{n} frames in the guest's used ring")
        return self.received[want - n : want]

    async def settle(self, ns: float = 2000) -> None:
        """Wait for the wire to drain and the NIC to finish, then serve the host once."""
        await self.wire.wait()
        await Timer(ns, "ns")
        await self.service()

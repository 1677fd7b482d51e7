# SPDX-License-Identifier: MIT
"""The host side of the PCIe link: cocotbext-pcie root complex + UltraScale+ hard-IP model
wired to a splitrx top, with host memory behind an IOMMU.

The stock root complex drops a device write that matches no memory region with only a log
line, and answers reads inline, holding the whole root complex for the read's latency
(../shared/TOOLCHAIN.md). Here both are replaced (``HostPort``): every device access goes
through the IOMMU domain of the device into ``model.hostmem.HostMemory``; every write is
recorded; a write or read the IOMMU refuses, or one that crosses a 4 KiB page, is a recorded
fault (and a refused read gets an Unsupported Request completion), so a test fails instead
of losing the access. Each read is answered from its own coroutine after ``read_latency_ns``
plus a random ``read_jitter_ns`` (so completions of different tags come back out of order),
split at MPS or at every RCB; ``read_fault`` can answer chosen reads UR or CA, or never.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.triggers import FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamBus
from cocotbext.pcie.core import RootComplex
from cocotbext.pcie.core.tlp import Tlp, TlpType
from cocotbext.pcie.core.utils import PcieId
from cocotbext.pcie.xilinx.us import UltraScalePlusPcieDevice

from model import regmap
from model.hostmem import HostMemory
from model.iommu import Domain, Iommu, IommuFault, Perm

PAGE = 0x1000
RCB = 64  # read completion boundary, bytes
# Writes here are interrupt messages for the host's interrupt controller, as the x86 MSI
# window 0xFEEx_xxxx: they do not go through the IOMMU's DMA translation into memory.
MSI_BASE = 0xFEE0_0000
MSI_SIZE = 0x10_0000
MAC_CLK_NS = 6.4  # 156.25 MHz


@dataclass(frozen=True)
class DmaWrite:
    addr: int
    data: bytes
    time_ns: float


@dataclass(frozen=True)
class DmaFault:
    addr: int
    length: int
    reason: str


def byte_runs(tlp: Tlp) -> list[tuple[int, bytes]]:
    """(address, bytes) of each contiguous byte-enabled run of a write TLP."""
    data = tlp.get_data()
    n = tlp.length
    enables: list[bool] = []
    for i in range(n):
        if i == 0:
            be = tlp.first_be
        elif i == n - 1:
            be = tlp.last_be
        else:
            be = 0xF
        enables += [bool(be >> k & 1) for k in range(4)]
    runs: list[tuple[int, bytes]] = []
    start = None
    for i, en in enumerate([*enables, False]):
        if en and start is None:
            start = i
        elif not en and start is not None:
            runs.append((tlp.address + start, bytes(data[start:i])))
            start = None
    return runs


@dataclass
class HostPort:
    """Host memory as the device sees it: root-complex memory TLP handling through an IOMMU."""

    rc: RootComplex
    mem: HostMemory
    iommu: Iommu
    read_latency_ns: float = 0.0
    split_on_rcb: bool = False
    # extra latency per read, uniform in [0, read_jitter_ns): completions of different tags
    # come back out of order (one request's completions stay in address order)
    read_jitter_ns: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    # per read (address, bytes): None to answer, or "UR", "CA", "withhold" (never answered)
    read_fault: Callable[[int, int], str | None] | None = None
    # every read request: (sim time in ns, tag, address, bytes)
    read_log: list[tuple[float, int, int, int]] = field(default_factory=list)
    writes: list[DmaWrite] = field(default_factory=list)
    faults: list[DmaFault] = field(default_factory=list)
    reads: int = 0
    domain: Domain | None = None
    # called with (iova, bytes, sim time in ns) for every byte-enabled run the device writes
    on_write: Callable[[int, bytes, float], None] | None = None
    # interrupt messages (writes into the MSI window): (address, data, sim time in ns)
    msis: list[tuple[int, int, float]] = field(default_factory=list)
    on_msi: Callable[[int, int], None] | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("cocotb.tb.host"))

    def install(self) -> None:
        for t in (TlpType.MEM_WRITE, TlpType.MEM_WRITE_64):
            self.rc.register_rx_tlp_handler(t, self.handle_write)
        for t in (TlpType.MEM_READ, TlpType.MEM_READ_64):
            self.rc.register_rx_tlp_handler(t, self.handle_read)

    def attach(self, rid: int) -> None:
        self.domain = self.iommu.attach(rid)

    def alloc_dma(self, size: int, align: int = PAGE, perm: Perm = Perm.RW, name: str = "") -> int:
        """Allocate host memory and map it for the device at IOVA == host address."""
        assert self.domain is not None, "enumerate first"
        base = self.mem.alloc(size, align, name)
        first = base & ~(PAGE - 1)
        last = (base + size + PAGE - 1) & ~(PAGE - 1)
        for page in range(first, last, PAGE):
            if self.domain.lookup(page) is None:
                self.domain.map(page, page, PAGE, perm)
        return base

    def _fault(self, addr: int, length: int, reason: str) -> None:
        self.faults.append(DmaFault(addr, length, reason))
        self.log.error("DMA fault: %d B at 0x%x: %s", length, addr, reason)

    async def handle_write(self, tlp: Tlp) -> None:
        now = get_sim_time("ns")
        if MSI_BASE <= tlp.address < MSI_BASE + MSI_SIZE:
            data = int.from_bytes(tlp.get_data()[:4], "little")
            self.msis.append((tlp.address, data, now))
            if tlp.length != 1 or tlp.first_be != 0xF:
                self._fault(tlp.address, tlp.length * 4, "MSI message is not one full DWORD")
            elif self.on_msi is not None:
                self.on_msi(tlp.address, data)
            return
        if (tlp.address & (PAGE - 1)) + tlp.length * 4 > PAGE:
            self._fault(tlp.address, tlp.length * 4, "write crosses a 4 KiB boundary")
            return
        assert self.domain is not None
        for addr, data in byte_runs(tlp):
            self.writes.append(DmaWrite(addr, data, now))
            if self.on_write is not None:
                self.on_write(addr, data, now)
            try:
                chunks = self.domain.translate(addr, len(data), write=True)
            except IommuFault as exc:
                self._fault(addr, len(data), f"IOMMU: {exc.fault.reason.name.lower()}")
                continue
            pos = 0
            for host, n in chunks:
                self.mem.write(host, data[pos : pos + n])
                pos += n

    async def handle_read(self, tlp: Tlp) -> None:
        # Answer from a coroutine of its own, so the root complex is not held for the latency.
        cocotb.start_soon(self._serve_read(tlp))

    async def _serve_read(self, tlp: Tlp) -> None:
        self.reads += 1
        length = tlp.length * 4
        self.read_log.append((get_sim_time("ns"), tlp.tag, tlp.address, length))
        latency = self.read_latency_ns + self.rng.random() * self.read_jitter_ns
        if latency:
            await Timer(round(latency), "ns")
        fault = self.read_fault(tlp.address, length) if self.read_fault else None
        if fault == "withhold":
            return
        if fault in ("UR", "CA"):
            make = (
                Tlp.create_ur_completion_for_tlp
                if fault == "UR"
                else Tlp.create_ca_completion_for_tlp
            )
            await self.rc.send(make(tlp, PcieId(0, 0, 0)))
            return
        assert fault is None, f"read_fault returned {fault!r}"
        if (tlp.address & (PAGE - 1)) + length > PAGE:
            self._fault(tlp.address, length, "read crosses a 4 KiB boundary")
            await self.rc.send(Tlp.create_ur_completion_for_tlp(tlp, PcieId(0, 0, 0)))
            return
        assert self.domain is not None
        try:
            chunks = self.domain.translate(tlp.address, length, write=False)
        except IommuFault as exc:
            self._fault(tlp.address, length, f"IOMMU: {exc.fault.reason.name.lower()}")
            await self.rc.send(Tlp.create_ur_completion_for_tlp(tlp, PcieId(0, 0, 0)))
            return
        data = b"".join(self.mem.read(host, n) for host, n in chunks)
        # completions: largest allowed (MPS) or one per RCB, split only at RCB boundaries
        addr = tlp.address + tlp.get_first_be_offset()
        byte_count = tlp.get_be_byte_count()
        mps = 128 << self.rc.max_payload_size
        m = 0
        while m < tlp.length:
            cpl = Tlp.create_completion_data_for_tlp(tlp, PcieId(0, 0, 0))
            limit = RCB if self.split_on_rcb else mps
            dw = min(tlp.length - m, (limit - (addr & (limit - 1) & ~3)) >> 2)
            cpl.byte_count = byte_count
            cpl.lower_address = addr & 0x7F
            cpl.set_data(data[m * 4 : (m + dw) * 4])
            await self.rc.send(cpl)
            sent = dw * 4 - (addr & 3)
            byte_count -= sent
            addr += sent
            m += dw


class PcieHarness:
    """Root complex + UltraScale+ device model around splitrx_top or splitrx_core."""

    def __init__(self, dut: Any, read_latency_ns: float = 0.0, max_payload: int = 128) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.rc = RootComplex()
        msix_vectors = regmap.CAP_QUEUES.fields["msix_vectors"].reset
        self.dev = UltraScalePlusPcieDevice(
            pcie_generation=3,
            pcie_link_width=8,
            user_clk_frequency=250e6,
            alignment="dword",
            max_payload_size=max_payload,
            enable_client_tag=True,
            enable_extended_tag=True,
            pf0_msix_enable=True,
            pf0_msix_table_size=msix_vectors - 1,
            pf0_msix_table_bir=regmap.MSIX_BIR,
            pf0_msix_table_offset=regmap.MSIX_TABLE_OFFSET,
            pf0_msix_pba_bir=regmap.MSIX_BIR,
            pf0_msix_pba_offset=regmap.MSIX_PBA_OFFSET,
            user_clk=dut.clk,
            user_reset=dut.rst,
            rq_bus=AxiStreamBus.from_prefix(dut, "m_axis_rq"),
            rc_bus=AxiStreamBus.from_prefix(dut, "s_axis_rc"),
            cq_bus=AxiStreamBus.from_prefix(dut, "s_axis_cq"),
            cc_bus=AxiStreamBus.from_prefix(dut, "m_axis_cc"),
            cfg_max_payload=dut.cfg_max_payload,
            cfg_max_read_req=dut.cfg_max_read_req,
            # MSI-X capability state for the core's MSI-X block (4 bits: one per PF). The
            # model's own MSI-X path (cfg_interrupt_msix_int) is not used: it bypasses RQ
            # and so is not ordered after the completions it would announce.
            cfg_interrupt_msix_enable=getattr(dut, "cfg_interrupt_msix_enable", None),
            cfg_interrupt_msix_mask=getattr(dut, "cfg_interrupt_msix_mask", None),
        )
        self.dev.log.setLevel(logging.WARNING)
        self.rc.log.setLevel(logging.WARNING)
        # the root complex programs each function's MPS to at most its own
        self.rc.max_payload_size = (max_payload // 128).bit_length() - 1
        self.dev.functions[0].configure_bar(0, regmap.BAR0_SIZE)
        self.rc.make_port().connect(self.dev)
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.host = HostPort(self.rc, self.mem, self.iommu, read_latency_ns=read_latency_ns)
        self.host.install()
        self.bar0: Any = None
        if hasattr(dut, "mac_clk"):
            from tb.common import start_clock

            start_clock(dut.mac_clk, MAC_CLK_NS)
            dut.mac_rst.value = 1

    async def enumerate(self) -> None:
        """Wait out the model's user_reset, enumerate, enable bus mastering, map BAR0,
        attach the device's IOMMU domain."""
        await FallingEdge(self.dut.rst)
        if hasattr(self.dut, "mac_clk"):
            await RisingEdge(self.dut.mac_clk)
            self.dut.mac_rst.value = 0
        await Timer(100, "ns")
        # enumeration probes empty device numbers; the root complex warns about each
        self.rc.log.setLevel(logging.ERROR)
        await self.rc.enumerate()
        self.rc.log.setLevel(logging.WARNING)
        fn = self.rc.find_device(self.dev.functions[0].pcie_id)
        await fn.enable_device()
        await fn.set_master()
        self.bar0 = fn.bar_window[0]
        self.host.attach(int(self.dev.functions[0].pcie_id))
        await RisingEdge(self.dut.clk)

    async def read_reg(self, offset: int) -> int:
        return int(await self.bar0.read_dword(offset, timeout=2000, timeout_unit="ns"))

    async def write_reg(self, offset: int, value: int) -> None:
        await self.bar0.write_dword(offset, value)

    # sw.nic_driver.RegisterIO: the host driver talks to BAR0 through the harness directly
    read32 = read_reg
    write32 = write_reg

    async def enable_msix(self, enable: bool = True, fn_mask: bool = False) -> None:
        """Set the MSI-X capability's enable and function-mask bits, as system software
        does, and wait until the hard-IP model shows them to the core."""
        from cocotbext.pcie.core.caps import PciCapId

        fn = self.rc.find_device(self.dev.functions[0].pcie_id)
        ctrl = await fn.capability_read_word(PciCapId.MSIX, 2)
        ctrl = (ctrl & ~0xC000) | (int(enable) << 15) | (int(fn_mask) << 14)
        await fn.capability_write_word(PciCapId.MSIX, 2, ctrl)
        for _ in range(100):
            await RisingEdge(self.dut.clk)
            if (
                int(self.dut.cfg_interrupt_msix_enable.value) & 1,
                int(self.dut.cfg_interrupt_msix_mask.value) & 1,
            ) == (int(enable), int(fn_mask)):
                return
        raise AssertionError("MSI-X message control never reached cfg_interrupt_msix_*")

    async def barrier(self) -> None:
        """Posted writes are done once a read behind them has completed."""
        await self.read_reg(regmap.ID.offset)

# SPDX-License-Identifier: MIT
"""The host side of the PCIe link: cocotbext-pcie root complex + UltraScale+ hard-IP model
wired to splitrx_top, with every device memory write recorded and checked.

The stock root complex drops a device write that matches no memory region with only a log
line (../shared/TOOLCHAIN.md). Here the root complex's memory-write handling is replaced
(``DmaWriteHook``): each write TLP is split into its byte-enabled runs, recorded, and
written to a region if one covers it; anything else -- no region, a 4 KiB crossing -- is a
recorded fault, so a test fails instead of losing the write.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cocotb.triggers import FallingEdge, RisingEdge, Timer
from cocotbext.axi import AxiStreamBus
from cocotbext.pcie.core import RootComplex
from cocotbext.pcie.core.tlp import Tlp, TlpType
from cocotbext.pcie.xilinx.us import UltraScalePlusPcieDevice

from model import regmap

PAGE = 0x1000


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


@dataclass
class DmaWriteHook:
    """Replaces the root complex's memory-write handler; records writes and faults."""

    rc: RootComplex
    writes: list[DmaWrite] = field(default_factory=list)
    faults: list[DmaFault] = field(default_factory=list)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("cocotb.tb.dma"))

    def install(self) -> None:
        self.rc.register_rx_tlp_handler(TlpType.MEM_WRITE, self.handle)
        self.rc.register_rx_tlp_handler(TlpType.MEM_WRITE_64, self.handle)

    @staticmethod
    def byte_runs(tlp: Tlp) -> list[tuple[int, bytes]]:
        """(address, bytes) of each contiguous byte-enabled run of a write TLP."""
        data = tlp.get_data()
        n = tlp.length
        enables = []
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
        for i, en in enumerate(enables + [False]):
            if en and start is None:
                start = i
            elif not en and start is not None:
                runs.append((tlp.address + start, bytes(data[start:i])))
                start = None
        return runs

    async def handle(self, tlp: Tlp) -> None:
        from cocotb.utils import get_sim_time

        now = get_sim_time("ns")
        if (tlp.address & (PAGE - 1)) + tlp.length * 4 > PAGE:
            self.faults.append(DmaFault(tlp.address, tlp.length * 4, "crosses a 4 KiB boundary"))
            self.log.error("DMA fault: write at 0x%x, %d DW crosses 4 KiB", tlp.address, tlp.length)
            return
        for addr, data in self.byte_runs(tlp):
            self.writes.append(DmaWrite(addr, data, now))
            if not self.rc.mem_address_space.find_regions(addr, len(data)):
                self.faults.append(DmaFault(addr, len(data), "unmapped"))
                self.log.error("DMA fault: write of %d B to unmapped 0x%x", len(data), addr)
                continue
            await self.rc.mem_address_space.write(addr, data)


class PcieHarness:
    """Root complex + UltraScale+ device model around a splitrx_top instance."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.rc = RootComplex()
        msix_vectors = regmap.CAP_QUEUES.fields["msix_vectors"].reset
        self.dev = UltraScalePlusPcieDevice(
            pcie_generation=3,
            pcie_link_width=8,
            user_clk_frequency=250e6,
            alignment="dword",
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
        )
        self.dev.log.setLevel(logging.WARNING)
        self.rc.log.setLevel(logging.WARNING)
        self.dev.functions[0].configure_bar(0, regmap.BAR0_SIZE)
        self.rc.make_port().connect(self.dev)
        self.dma = DmaWriteHook(self.rc)
        self.dma.install()
        self.bar0: Any = None

    async def enumerate(self) -> None:
        """Wait out the model's user_reset, enumerate, enable bus mastering, map BAR0."""
        await FallingEdge(self.dut.rst)
        await Timer(100, "ns")
        # enumeration probes empty device numbers; the root complex warns about each
        self.rc.log.setLevel(logging.ERROR)
        await self.rc.enumerate()
        self.rc.log.setLevel(logging.WARNING)
        fn = self.rc.find_device(self.dev.functions[0].pcie_id)
        await fn.enable_device()
        await fn.set_master()
        self.bar0 = fn.bar_window[0]
        await RisingEdge(self.dut.clk)

    async def read_reg(self, offset: int) -> int:
        return int(await self.bar0.read_dword(offset, timeout=2000, timeout_unit="ns"))

    async def write_reg(self, offset: int, value: int) -> None:
        await self.bar0.write_dword(offset, value)

    async def barrier(self) -> None:
        """Posted writes are done once a read behind them has completed."""
        await self.read_reg(regmap.ID.offset)

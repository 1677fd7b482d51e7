# SPDX-License-Identifier: MIT
"""cocotb tests of the first PCIe round trip: enumeration, BAR0 registers over CQ/CC, and
the DMA self-test write over RQ into host memory. Run through tests/test_pcie.py."""

from __future__ import annotations

import cocotb
from cocotb.triggers import Timer
from cocotbext.pcie.core.caps import PciCapId

from model import regmap
from model.hostmem import POISON_BYTE
from tb.lib.common import deadline, seeded_rng
from tb.lib.pcie import DmaFault, PcieHarness

MSIX_CAP_ID = PciCapId.MSIX


async def setup(dut: object) -> PcieHarness:
    h = PcieHarness(dut)
    await deadline(h.enumerate(), 50_000, "end of reset and enumeration")
    return h


async def dma_test_write(h: PcieHarness, addr: int, data: bytes, length: int | None = None) -> int:
    """Program and start one self-test write; returns done_count before the start."""
    before = regmap.DMA_TEST_STATUS.fields["done_count"].get(
        await h.read_reg(regmap.DMA_TEST_STATUS.offset)
    )
    padded = data.ljust(32, b"\0")
    for i in range(regmap.DMA_TEST_DATA_COUNT):
        word = int.from_bytes(padded[4 * i : 4 * i + 4], "little")
        await h.write_reg(regmap.DMA_TEST_DATA_OFFSET + i * regmap.DMA_TEST_DATA_STRIDE, word)
    await h.write_reg(regmap.DMA_TEST_ADDR_LO.offset, addr & 0xFFFF_FFFF)
    await h.write_reg(regmap.DMA_TEST_ADDR_HI.offset, addr >> 32)
    await h.write_reg(regmap.DMA_TEST_LEN.offset, len(data) if length is None else length)
    await h.write_reg(regmap.DMA_TEST_CTRL.offset, regmap.DMA_TEST_CTRL.fields["start"].put(1))
    return before


async def wait_done(h: PcieHarness, before: int) -> None:
    field = regmap.DMA_TEST_STATUS.fields["done_count"]

    async def poll() -> None:
        while field.get(await h.read_reg(regmap.DMA_TEST_STATUS.offset)) == before:
            await Timer(20, "ns")

    await deadline(poll(), 10_000, "DMA self-test completion (DMA_TEST_STATUS.done_count)")
    await h.barrier()


@cocotb.test()
async def enumeration_exposes_bar0_and_msix(dut: object) -> None:
    """The root complex finds the function, sizes BAR0 from the register map, and reads an
    MSI-X capability that points at the table and PBA the register map defines."""
    h = await setup(dut)
    fn = h.rc.find_device(h.dev.functions[0].pcie_id)
    assert fn is not None, "device not found after enumeration"
    assert h.bar0.size == regmap.BAR0_SIZE, (h.bar0.size, regmap.BAR0_SIZE)
    # MSI-X capability: table size (N-1), table offset/BIR, PBA offset/BIR
    ctrl = await fn.capability_read_word(MSIX_CAP_ID, 2)
    table = await fn.capability_read_dword(MSIX_CAP_ID, 4)
    pba = await fn.capability_read_dword(MSIX_CAP_ID, 8)
    assert ctrl & 0x7FF == regmap.CAP_QUEUES.fields["msix_vectors"].reset - 1
    assert table & 0x7 == regmap.MSIX_BIR and table & ~0x7 == regmap.MSIX_TABLE_OFFSET
    assert pba & 0x7 == regmap.MSIX_BIR and pba & ~0x7 == regmap.MSIX_PBA_OFFSET
    # bus mastering on: the command register's bit 2
    cmd = await fn.config_read_word(0x04)
    assert cmd & 0x4, f"bus master enable not set (command 0x{cmd:04x})"


@cocotb.test()
async def driver_reads_generated_id_and_capabilities(dut: object) -> None:
    """Every read-only identity/capability register returns the value the RDL defines,
    and ID spells 'SPRX'."""
    h = await setup(dut)
    for name in ("ID", "VERSION", "CAP_QUEUES", "CAP_TABLES", "CAP_DATAPATH"):
        reg = regmap.REGISTERS[name]
        got = await h.read_reg(reg.offset)
        assert got == reg.reset, f"{name}: read 0x{got:08x}, register map says 0x{reg.reset:08x}"
    ident = await h.read_reg(regmap.ID.offset)
    assert ident.to_bytes(4, "big") == b"SPRX"
    # PCIe configuration the root complex programmed, as the core sees it
    cfg = await h.read_reg(regmap.PCIE_CFG.offset)
    cap = h.dev.functions[0].pcie_cap
    assert regmap.PCIE_CFG.fields["max_payload"].get(cfg) == cap.max_payload_size & 3
    assert regmap.PCIE_CFG.fields["max_read_req"].get(cfg) == cap.max_read_request_size


@cocotb.test()
async def scratch_honours_byte_enables(dut: object) -> None:
    """A full-DWORD write is read back; a one-byte write changes only that byte."""
    h = await setup(dut)
    rng = seeded_rng("scratch_honours_byte_enables")
    off = regmap.SCRATCH.offset
    for _ in range(4):
        v = rng.getrandbits(32)
        await h.write_reg(off, v)
        assert await h.read_reg(off) == v
    base = rng.getrandbits(32)
    await h.write_reg(off, base)
    for lane in range(4):
        b = rng.getrandbits(8)
        await h.bar0.write(off + lane, bytes([b]))
        expect = (base & ~(0xFF << 8 * lane)) | (b << 8 * lane)
        got = await h.read_reg(off)
        assert got == expect, f"byte {lane}: got 0x{got:08x}, expected 0x{expect:08x}"
        base = expect


@cocotb.test()
async def bad_mmio_is_refused_and_flagged(dut: object) -> None:
    """Reads of no register or of more than one DWORD fail with an error completion (no
    hang), writes to no register change nothing, and ERR_STATUS records it (W1C)."""
    h = await setup(dut)
    flag = regmap.ERR_STATUS.fields["mmio_bad_access"]
    assert flag.get(await h.read_reg(regmap.ERR_STATUS.offset)) == 0
    for what, coro in (
        ("read of an unmapped offset", h.bar0.read_dword(0x0800, timeout=2000, timeout_unit="ns")),
        ("two-DWORD read", h.bar0.read(regmap.ID.offset, 8, timeout=2000, timeout_unit="ns")),
        ("read beyond the registers", h.bar0.read_dword(0xA000, timeout=2000, timeout_unit="ns")),
    ):
        try:
            await coro
        except Exception as exc:  # the root complex raises on a CA/UR completion
            dut._log.info("%s refused as expected: %s", what, exc)
        else:
            raise AssertionError(f"{what} returned data instead of an error completion")
        assert flag.get(await h.read_reg(regmap.ERR_STATUS.offset)) == 1, what
        await h.write_reg(regmap.ERR_STATUS.offset, flag.put(1))
        assert flag.get(await h.read_reg(regmap.ERR_STATUS.offset)) == 0, f"W1C after {what}"
    # a write to a read-only register is refused and flagged; the value stays
    await h.write_reg(regmap.ID.offset, 0)
    assert await h.read_reg(regmap.ID.offset) == regmap.ID.reset
    assert flag.get(await h.read_reg(regmap.ERR_STATUS.offset)) == 1
    await h.write_reg(regmap.ERR_STATUS.offset, flag.put(1))
    # scratch survives a write to an unmapped offset
    await h.write_reg(regmap.SCRATCH.offset, 0x1234_5678)
    await h.write_reg(0x0800, 0xFFFF_FFFF)
    await h.write_reg(0xA000, 0xFFFF_FFFF)
    assert await h.read_reg(regmap.SCRATCH.offset) == 0x1234_5678
    assert flag.get(await h.read_reg(regmap.ERR_STATUS.offset)) == 1


@cocotb.test()
async def dma_write_lands_byte_exact(dut: object) -> None:
    """Self-test writes of 1..32 bytes at aligned and unaligned addresses land byte-exact;
    every other byte of the poison-filled region is unchanged; no fault is recorded."""
    h = await setup(dut)
    rng = seeded_rng("dma_write_lands_byte_exact")
    size = 0x4000
    base = h.host.alloc_dma(size)
    poison = bytes(rng.getrandbits(8) for _ in range(size))
    h.mem.write(base, poison)
    expect = bytearray(poison)
    cases = [(0x000, 32), (0x101, 1), (0x202, 3), (0x303, 5), (0x0FE0, 32), (0x1FFF, 1)]
    for _ in range(10):
        # the self-test refuses a write that crosses 4 KiB (dma_self_test_refuses_bad_requests)
        off = rng.randrange(0, 0x3FE0)
        cases.append((off, rng.randint(1, min(32, 0x1000 - off % 0x1000))))
    for off, n in cases:
        data = bytes(rng.getrandbits(8) for _ in range(n))
        nwrites = len(h.host.writes)
        before = await dma_test_write(h, base + off, data)
        await wait_done(h, before)
        expect[off : off + n] = data
        new = h.host.writes[nwrites:]
        assert [(w.addr, w.data) for w in new] == [(base + off, data)], (
            f"write of {n} B at +0x{off:x}: recorded {[(hex(w.addr), w.data.hex()) for w in new]}"
        )
    got = h.mem.read(base, size)
    if got != bytes(expect):
        first = next(i for i in range(size) if got[i] != expect[i])
        raise AssertionError(
            f"host memory differs first at +0x{first:x}: got {got[first : first + 16].hex()} "
            f"expected {bytes(expect[first : first + 16]).hex()}"
        )
    assert h.host.faults == []


@cocotb.test()
async def dma_write_to_unmapped_address_is_a_fault(dut: object) -> None:
    """A device write the IOMMU has no mapping for is a recorded fault; memory there is
    untouched."""
    h = await setup(dut)
    addr = h.mem.alloc(0x1000)  # host memory, but never mapped for the device
    h.mem.poison(addr, 0x1000)
    before = await dma_test_write(h, addr + 4, b"\xde\xad\xbe\xef")
    await wait_done(h, before)
    assert h.host.faults == [DmaFault(addr + 4, 4, "IOMMU: unmapped")], h.host.faults
    assert h.mem.read(addr, 0x1000) == bytes([POISON_BYTE]) * 0x1000
    assert [(f.address, f.length, f.write) for f in h.iommu.faults] == [(addr + 4, 4, True)]


@cocotb.test()
async def dma_self_test_refuses_bad_requests(dut: object) -> None:
    """Length 0, length above 32 and a 4 KiB crossing are refused: error flag set, nothing
    written, done_count unchanged."""
    h = await setup(dut)
    base = h.host.alloc_dma(0x2000)
    flag = regmap.ERR_STATUS.fields["dma_test_bad_req"]
    count = regmap.DMA_TEST_STATUS.fields["done_count"]
    for off, length in ((0x10, 0), (0x10, 33), (0xFF0, 17)):
        before = await dma_test_write(h, base + off, bytes(range(32)), length=length)
        await Timer(200, "ns")
        status = await h.read_reg(regmap.DMA_TEST_STATUS.offset)
        assert count.get(status) == before, f"len {length} at +0x{off:x} was issued"
        assert flag.get(await h.read_reg(regmap.ERR_STATUS.offset)) == 1
        await h.write_reg(regmap.ERR_STATUS.offset, flag.put(1))
    assert h.host.writes == [] and h.host.faults == []

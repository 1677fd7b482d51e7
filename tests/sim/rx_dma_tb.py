# SPDX-License-Identifier: MIT
"""cocotb tests of the one-queue RX DMA path in splitrx_core: frames in on the MAC-side
stream, descriptors read from host memory, frames and completions written back.
Run through tests/test_rx_dma.py. Expected bytes come from scapy and the test's own
bookkeeping, never from the RTL."""

from __future__ import annotations

import random
from dataclasses import dataclass

import cocotb
from cocotb.triggers import RisingEdge, Timer
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from model import regmap
from model.hostmem import POISON_BYTE
from model.records import CplStatus, DescFlags, DropReason, RxCompletion, RxDescriptor
from sw.nic_driver import NicCounters, NicDriver
from tb.common import deadline, seeded_rng
from tb.pcie import PcieHarness

REC = 32
Q = 0


@dataclass
class Queue:
    """Test-side view of RX queue 0: rings and buffers in host memory, mapped for the NIC."""

    h: PcieHarness
    desc_base: int
    cpl_base: int
    size: int
    data_offset: int
    tail: int = 0
    head: int = 0  # completions consumed

    @classmethod
    async def create(cls, h: PcieHarness, size: int = 8, data_offset: int = 12) -> Queue:
        desc = h.host.alloc_dma(size * REC, name="desc ring")
        cpl = h.host.alloc_dma(size * REC, name="cpl ring")
        h.mem.fill(cpl, size * REC, 0)
        q = cls(h, desc, cpl, size, data_offset)
        rxq = regmap.RXQ
        for reg, value in (
            ("DESC_BASE_LO", desc & 0xFFFF_FFFF),
            ("DESC_BASE_HI", desc >> 32),
            ("DESC_SIZE", size.bit_length() - 1),
            ("CPL_BASE_LO", cpl & 0xFFFF_FFFF),
            ("CPL_BASE_HI", cpl >> 32),
            ("CPL_SIZE", size.bit_length() - 1),
            ("DATA_OFFSET", data_offset),
            ("CTRL", rxq.regs["CTRL"].fields["enable"].put(1)),
        ):
            await h.write_reg(rxq.addr(Q, reg), value)
        await h.barrier()  # register writes are posted: make sure they landed
        return q

    async def post(self, descs: list[RxDescriptor]) -> None:
        for d in descs:
            self.h.mem.write(self.desc_base + (self.tail % self.size) * REC, d.pack())
            self.tail = (self.tail + 1) & 0xFFFF
        await self.h.write_reg(regmap.RXQ.addr(Q, "DESC_TAIL"), self.tail)
        await self.h.barrier()

    def peek(self) -> RxCompletion | None:
        raw = self.h.mem.read(self.cpl_base + (self.head % self.size) * REC, REC)
        c = RxCompletion.unpack(raw)
        phase = 1 ^ ((self.head // self.size) & 1)
        return c if c.phase & 1 == phase else None

    async def next_completion(self, timeout_ns: float = 50_000) -> RxCompletion:
        async def wait() -> RxCompletion:
            while (c := self.peek()) is None:
                await Timer(50, "ns")
            return c

        c = await deadline(wait(), timeout_ns, f"completion {self.head} in the completion ring")
        self.head = (self.head + 1) & 0xFFFF
        await self.h.write_reg(regmap.RXQ.addr(Q, "CPL_HEAD"), self.head)
        return c


async def counters(h: PcieHarness) -> NicCounters:
    """DROP[r], RX_FRAMES and RX_BYTES, read the way the host driver reads them."""
    assert h.host.domain is not None
    return await NicDriver(h, h.mem, h.host.domain).counters()


async def setup(dut: object, **kw: object) -> PcieHarness:
    h = PcieHarness(dut, **kw)  # type: ignore[arg-type]
    await deadline(h.enumerate(), 50_000, "end of reset and enumeration")
    return h


def frame_source(dut: object) -> AxiStreamSource:
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_rx"), dut.clk, dut.rst)  # type: ignore[attr-defined]
    src.log.setLevel("WARNING")
    return src


def make_frame(rng: random.Random, size: int) -> bytes:
    """A UDP/IPv4 frame of ``size`` bytes without FCS (the MAC strips it)."""
    hdr = (
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / UDP(sport=rng.randrange(1024, 65535), dport=4791)
    )
    pad = size - len(hdr)
    return bytes(hdr / bytes(rng.getrandbits(8) for _ in range(max(pad, 0))))[:size]


async def send(src: AxiStreamSource, frame: bytes, bad_reason: DropReason | None = None) -> None:
    beats = (len(frame) + 7) // 8
    last = 0 if bad_reason is None else (int(bad_reason) << 1) | 1
    await src.send(AxiStreamFrame(frame, tuser=[0] * (beats - 1) + [last]))


def buffers(h: PcieHarness, rng: random.Random, n: int, size: int) -> list[RxDescriptor]:
    """n poison-filled data buffers at unaligned addresses, one descriptor each (EOG)."""
    out = []
    for i in range(n):
        base = h.host.alloc_dma(size + 64, align=64) + rng.randrange(0, 8)
        h.mem.poison(base - (base % 64), size + 64)
        out.append(RxDescriptor(base, 0, 0xC0DE_0000 + i, size, 0, DescFlags.EOG))
    return out


def check_landed(h: PcieHarness, d: RxDescriptor, offset: int, frame: bytes) -> None:
    got = h.mem.read(d.data_addr, d.data_len)
    want = bytes([POISON_BYTE]) * offset + frame
    want += bytes([POISON_BYTE]) * (d.data_len - len(want))
    if got != want:
        i = next(k for k in range(len(want)) if got[k] != want[k])
        raise AssertionError(
            f"buffer 0x{d.data_addr:x}: first difference at +{i}: "
            f"got {got[i : i + 16].hex()} expected {want[i : i + 16].hex()}"
        )


async def run_frames(h: PcieHarness, rng: random.Random, sizes: list[int], ring: int = 8) -> None:
    """Send frames through a queue of ``ring`` descriptors, refilling as completions come."""
    src = frame_source(h.dut)
    q = await Queue.create(h, size=ring)
    pool = buffers(h, rng, len(sizes), 2048)
    await q.post(pool[:ring])
    posted = ring
    for i, size in enumerate(sizes):
        frame = make_frame(rng, size)
        await send(src, frame)
        c = await q.next_completion()
        d = pool[i]
        assert c.cookie == d.cookie, f"frame {i}: cookie 0x{c.cookie:x}, expected 0x{d.cookie:x}"
        assert c.status == CplStatus.OK and c.frame_len == size == c.payload_len, c
        assert (c.desc_count, c.group_count, c.hdr_len) == (1, 1, 0), c
        check_landed(h, d, q.data_offset, frame)
        if posted < len(pool):
            await q.post([pool[posted]])
            posted += 1
    c = await counters(h)
    assert (c.rx_frames, c.rx_bytes) == (len(sizes), sum(sizes))
    assert h.host.faults == []


@cocotb.test()
async def frames_land_at_data_offset_and_complete_in_order(dut: object) -> None:
    """Random-size frames, unaligned buffers, a ring of 8 wrapped several times: every frame
    lands byte-exact at data_offset, every other buffer byte keeps its poison, completions
    carry the right cookie, length and phase."""
    h = await setup(dut)
    rng = seeded_rng("frames_land_at_data_offset_and_complete_in_order")
    sizes = [60, 61, 62, 63, 64, 65, 127, 128, 129, 1514] + [
        rng.randint(60, 1514) for _ in range(20)
    ]
    await run_frames(h, rng, sizes)


@cocotb.test()
async def writes_split_at_max_payload_size(dut: object) -> None:
    """With MPS 256, every data write TLP is at most 256 bytes, none crosses an MPS or 4 KiB
    boundary, and the frames still land byte-exact."""
    h = await setup(dut, max_payload=256)
    rng = seeded_rng("writes_split_at_max_payload_size")
    mps_field = regmap.PCIE_CFG.fields["max_payload"]
    assert 128 << mps_field.get(await h.read_reg(regmap.PCIE_CFG.offset)) == 256
    await run_frames(h, rng, [1514, 1000, 600, 257, 255])
    for w in h.host.writes:
        assert len(w.data) <= 256, f"write of {len(w.data)} B at 0x{w.addr:x}"
        assert w.addr // 256 == (w.addr + len(w.data) - 1) // 256, f"crosses MPS at 0x{w.addr:x}"


@cocotb.test()
async def descriptor_reads_wait_out_one_microsecond(dut: object) -> None:
    """With 1 us host-memory read latency every frame still arrives intact."""
    h = await setup(dut, read_latency_ns=1000)
    rng = seeded_rng("descriptor_reads_wait_out_one_microsecond")
    await run_frames(h, rng, [64, 1514, 300], ring=4)


@cocotb.test()
async def frame_longer_than_its_buffer_is_returned_unwritten(dut: object) -> None:
    """A frame that does not fit its buffer: nothing written, a TOO_LONG_FOR_GROUP completion
    returns the buffer, the drop is counted, and the next frame uses the next buffer."""
    h = await setup(dut)
    rng = seeded_rng("frame_longer_than_its_buffer_is_returned_unwritten")
    src = frame_source(dut)
    q = await Queue.create(h, size=4)
    small, big = buffers(h, rng, 1, 256)[0], buffers(h, rng, 1, 2048)[0]
    await q.post([small, big])
    await send(src, make_frame(rng, 300))  # 12 + 300 > 256
    c = await q.next_completion()
    assert c.status == CplStatus.TOO_LONG_FOR_GROUP and c.cookie == small.cookie, c
    assert c.frame_len == 300 and c.payload_len == 0, c
    assert h.mem.read(small.data_addr, 256) == bytes([POISON_BYTE]) * 256
    frame = make_frame(rng, 200)
    await send(src, frame)
    c = await q.next_completion()
    assert c.status == CplStatus.OK and c.cookie == big.cookie
    check_landed(h, big, q.data_offset, frame)
    c = await counters(h)
    assert c.drops[DropReason.TOO_LONG_FOR_GROUP] == 1 and c.rx_frames == 1


@cocotb.test()
async def drops_are_counted_by_reason(dut: object) -> None:
    """Queue disabled, no posted descriptor, and frames the MAC marked bad: each dropped,
    nothing written, each counted under its own reason and nowhere else."""
    h = await setup(dut)
    rng = seeded_rng("drops_are_counted_by_reason")
    src = frame_source(dut)
    writes0 = len(h.host.writes)
    await send(src, make_frame(rng, 100))  # queue not enabled yet
    for reason in (DropReason.BAD_FCS, DropReason.RUNT, DropReason.XGMII_ERROR):
        await send(src, make_frame(rng, 80), bad_reason=reason)
    await src.wait()  # send() only queues: let them all go out before enabling the queue
    await Timer(200, "ns")
    q = await Queue.create(h, size=4)
    for _ in range(3):
        await send(src, make_frame(rng, 100))  # enabled, nothing posted
    await Timer(2000, "ns")
    expected = {r: 0 for r in DropReason}
    expected[DropReason.QUEUE_DISABLED] = 1
    expected[DropReason.BAD_FCS] = expected[DropReason.RUNT] = 1
    expected[DropReason.XGMII_ERROR] = 1
    expected[DropReason.NO_BUFFER] = 3
    got = (await counters(h)).drops
    assert got == expected, {
        r.name: (got[r], expected[r]) for r in DropReason if got[r] != expected[r]
    }
    assert len(h.host.writes) == writes0 and q.peek() is None


@cocotb.test()
async def descriptor_read_error_stops_only_until_reset(dut: object) -> None:
    """A descriptor ring the IOMMU does not map: the read gets UR, the queue goes to error
    (code 1), frames are dropped as queue_error, and a queue reset with a good ring recovers."""
    h = await setup(dut)
    rng = seeded_rng("descriptor_read_error_stops_only_until_reset")
    src = frame_source(dut)
    q = await Queue.create(h, size=4)
    unmapped = h.mem.alloc(0x1000)
    rxq = regmap.RXQ
    await h.write_reg(rxq.addr(Q, "DESC_BASE_LO"), unmapped & 0xFFFF_FFFF)
    await h.write_reg(rxq.addr(Q, "DESC_BASE_HI"), unmapped >> 32)
    await q.post(buffers(h, rng, 1, 2048))
    await send(src, make_frame(rng, 100))
    await send(src, make_frame(rng, 100))
    status = rxq.regs["STATUS"]

    async def wait_error(want: int) -> None:
        while status.fields["error"].get(await h.read_reg(rxq.addr(Q, "STATUS"))) != want:
            await Timer(100, "ns")

    await deadline(wait_error(1), 20_000, "queue error after a refused descriptor read")
    await Timer(1000, "ns")
    st = await h.read_reg(rxq.addr(Q, "STATUS"))
    assert status.fields["error_code"].get(st) == 1, hex(st)
    assert (await counters(h)).drops[DropReason.QUEUE_ERROR] == 2
    assert len(h.host.faults) == 1 and h.host.faults[0].addr == unmapped
    # recover: reset the queue, point it at its real ring, post again
    await h.write_reg(rxq.addr(Q, "DESC_BASE_LO"), q.desc_base & 0xFFFF_FFFF)
    await h.write_reg(rxq.addr(Q, "DESC_BASE_HI"), q.desc_base >> 32)
    await h.write_reg(rxq.addr(Q, "CTRL"), rxq.regs["CTRL"].fields["reset"].put(1) | 1)
    await deadline(wait_error(0), 1_000, "STATUS.error to clear after a queue reset")
    q.tail, q.head = 0, 0
    d = buffers(h, rng, 1, 2048)[0]
    await q.post([d])
    frame = make_frame(rng, 500)
    await send(src, frame)
    c = await q.next_completion()
    assert c.status == CplStatus.OK and c.cookie == d.cookie
    check_landed(h, d, q.data_offset, frame)
    await RisingEdge(dut.clk)  # type: ignore[attr-defined]

# SPDX-License-Identifier: MIT
"""cocotb tests of the host port's request checks (tb.lib.pcie.HostPort, docs/verification.md
"Host-port checks") on splitrx_core. Run through tests/test_host_port.py.

``every_tlp_keeps_the_limits_in_force`` runs once per Max Payload Size x Max Read Request
Size pair Device Control can set (MPS 128-1024, the function's limit; MRRS 128-4096): frames
through one queue with the checks armed (a breach fails the test), every completion checked
against the reference model, and the limits shown reached -- data writes of exactly MPS,
completion writes of exactly min(MAX_RECS, MPS / 32) records, descriptor reads of
min(MRRS, burst), so cut at MRRS below the burst.

The other tests plant one bad request on RQ, as if the RTL had sent it (the hard-IP model's
RQ sink takes the frame), and show each check naming it: with ``expect_violations`` set the
breach is recorded instead of raised, and the record is compared; a request the rules allow
passes unrecorded. ``a_breach_fails_the_test`` shows the armed path ending the test."""

from __future__ import annotations

import cocotb
from cocotb.triggers import Timer
from cocotbext.pcie.core.caps import PciCapId
from cocotbext.pcie.core.tlp import Tlp, TlpType
from cocotbext.pcie.xilinx.us.tlp import Tlp_us

from model import regmap
from model.records import CPL_BYTES, DESC_BYTES, DescFlags, RxDescriptor
from tb.lib.common import deadline, seeded_rng
from tb.lib.coredma import (
    Owner,
    check_delivery,
    drive_at_line_rate,
    host_loop,
    make_frame,
    setup,
    until,
)
from tb.lib.pcie import MAX_RECS, PAGE, PcieHarness, TlpViolation, sv_parameter_default
from tb.runner.build import RTL

MPS_VALUES = (128, 256, 512, 1024)  # the UltraScale+ function supports up to 1024 B
MRRS_VALUES = (128, 256, 512, 1024, 2048, 4096)
# descriptors per read, at most (rx_desc_cache's BURST: rx_dma takes the default)
BURST = sv_parameter_default(RTL / "rx_desc_cache.sv", "BURST")
MAC = "02:00:00:00:00:02"
BIG, SMALL = 1514, 60  # frame sizes (FCS excluded)


def pool(h: PcieHarness, n: int) -> list[RxDescriptor]:
    """n page-aligned 2 KiB buffers, so a frame's first write starts on an MPS boundary."""
    return [
        RxDescriptor(h.host.alloc_dma(2048, align=PAGE), 0, 0xB0 << 24 | i, 2048, 0, DescFlags.EOG)
        for i in range(n)
    ]


@cocotb.test()
@cocotb.parametrize(mps=MPS_VALUES, mrrs=MRRS_VALUES)
async def every_tlp_keeps_the_limits_in_force(dut: object, mps: int, mrrs: int) -> None:
    """2 frames of 1514 B and 22 of 60 B at line rate through one queue under Device
    Control's MPS and MRRS: no request breaks a rule, every completion is the model's, PCIE_CFG
    mirrors the pair, and each limit is reached: a data write of MPS bytes, a completion write
    of min(MAX_RECS, MPS / 32) records, descriptor reads of min(MRRS, BURST descriptors)."""
    rng = seeded_rng(f"host_port mps={mps} mrrs={mrrs}")
    h, drv = await setup(dut, read_latency_ns=300.0, max_payload=1024)
    await h.set_device_control(mps, mrrs)
    cfg = await h.read_reg(regmap.PCIE_CFG.offset)
    fields = regmap.PCIE_CFG.fields
    got = (128 << fields["max_payload"].get(cfg), 128 << fields["max_read_req"].get(cfg))
    assert got == (mps, mrrs), f"PCIE_CFG shows MPS/MRRS {got}, Device Control {mps}/{mrrs}"
    await drv.set_dma_params(cpl_flush=1000)  # records of a burst coalesce up to the limit
    q = await drv.open_queue(0, desc_entries=32)
    await drv.set_steer_entry(0, MAC, 0)
    o = Owner(q, MAC, pool(h, 24), every=1, slot=0)
    await q.post(o.pool)
    await h.barrier()
    await Timer(2000, "ns")
    o.frames = [make_frame(rng, BIG, MAC, v4udp=True) for _ in range(2)]
    o.frames += [make_frame(rng, SMALL, MAC, v4udp=True) for _ in range(22)]
    stop = [False]

    def check(r: object) -> None:
        check_delivery(h, o, r, exact=True)  # type: ignore[arg-type]

    poller = cocotb.start_soon(host_loop(q, o.got, stop, check))
    await drive_at_line_rate(dut, o.frames)
    await deadline(until(lambda: len(o.got) == len(o.frames)), 200_000, "every completion")
    stop[0] = True
    await poller
    assert h.host.violations == [] and h.host.faults == []

    ring = (q.cpl_base, q.cpl_base + q.cpl_entries * CPL_BYTES)
    cpl = [len(w.data) for w in h.host.writes if ring[0] <= w.addr < ring[1]]
    data = [len(w.data) for w in h.host.writes if not ring[0] <= w.addr < ring[1]]
    reads = [n for _, _, addr, n in h.host.read_log if q.desc_base <= addr < q.desc_base + 4096]
    limit = min(MAX_RECS, mps // CPL_BYTES)
    assert max(data) == mps, f"largest data write {max(data)} B, MPS {mps}"
    assert max(cpl) == limit * CPL_BYTES, (
        f"largest completion write {max(cpl) // CPL_BYTES} records, limit {limit}"
    )
    assert sum(cpl) == len(o.frames) * CPL_BYTES
    want = min(mrrs, BURST * DESC_BYTES)
    assert max(reads) == want, f"largest descriptor read {max(reads)} B, expected {want}"


# ------------------------------------------------------------------ planted requests


def request(
    kind: TlpType, addr: int, length: int, first_be: int, last_be: int, tag: int = 0
) -> Tlp:
    tlp = Tlp_us()
    tlp.fmt_type = kind
    tlp.address = addr
    tlp.length = length
    tlp.first_be, tlp.last_be, tlp.tag = first_be, last_be, tag
    if kind == TlpType.MEM_WRITE:
        tlp.data = bytearray(4 * length)
    return tlp


def write(addr: int, length: int, first_be: int = 0xF, last_be: int = 0xF) -> Tlp:
    return request(TlpType.MEM_WRITE, addr, length, first_be, last_be if length > 1 else 0)


def read(addr: int, length: int, tag: int, first_be: int = 0xF, last_be: int = 0xF) -> Tlp:
    return request(TlpType.MEM_READ, addr, length, first_be, last_be if length > 1 else 0, tag)


async def planted(h: PcieHarness, tlp: Tlp) -> list[TlpViolation]:
    """Hand ``tlp`` to the hard-IP model's RQ sink as the RTL would, wait until it reached
    the host (or was refused), and return the breaches it was recorded with."""
    host = h.host
    host.expect_violations = True
    before = (len(host.violations), len(host.writes), len(host.read_log), len(host.faults))
    h.dev.rq_sink._sink_frame(tlp.pack_us_rq())

    def arrived() -> bool:
        now = (len(host.violations), len(host.writes), len(host.read_log), len(host.faults))
        return now[0] > before[0] or now[1:] != before[1:]

    await deadline(until(arrived), 20_000, f"planted {tlp.fmt_type} at 0x{tlp.address:x}")
    await Timer(500, "ns")  # every check of it has run
    return host.violations[before[0] :]


def only(vs: list[TlpViolation], rule: str, *words: str) -> None:
    assert len(vs) == 1 and vs[0].rule == rule, [str(v) for v in vs]
    text = str(vs[0])
    for w in words:
        assert w in text, f"{w!r} not in {text!r}"


async def planted_setup(dut: object, mps: int = 256, mrrs: int = 512) -> tuple[PcieHarness, int]:
    h, _ = await setup(dut, max_payload=1024)
    await h.set_device_control(mps, mrrs)
    return h, h.host.alloc_dma(4 * PAGE, align=PAGE)


@cocotb.test()
async def write_over_mps_is_named(dut: object) -> None:
    """A 512-byte write under MPS 256 is a breach naming MPS and the write; 256 B is not."""
    h, buf = await planted_setup(dut, mps=256)
    assert await planted(h, write(buf, 64)) == []
    only(await planted(h, write(buf + 0x400, 128)), "MPS", f"addr 0x{buf + 0x400:x}",
         "len 128 DW", "512 B of payload over MPS 256")  # fmt: skip


@cocotb.test()
async def write_longer_than_its_length_is_named(dut: object) -> None:
    """A write whose payload is not the length in its header (8 DW of payload under a length
    of 4) is a breach naming both."""
    h, buf = await planted_setup(dut)
    tlp = write(buf, 4)
    tlp.data = bytearray(32)
    only(await planted(h, tlp), "length", "32 B of payload under a length of 4 DW")


@cocotb.test()
async def read_over_mrrs_is_named(dut: object) -> None:
    """A 256-byte read under MRRS 128 is a breach naming MRRS and the read; 128 B is not."""
    h, buf = await planted_setup(dut, mrrs=128)
    assert await planted(h, read(buf, 32, tag=20)) == []
    only(await planted(h, read(buf + 0x200, 64, tag=21)), "MRRS", "MRd", "tag 21",
         "256 B read over MRRS 128")  # fmt: skip


@cocotb.test()
async def byte_enable_rules_are_held(dut: object) -> None:
    """PCIe's First/Last DW BE rules: a 1-DW request with a last BE, a 0000b BE in a longer
    one, and non-contiguous enables in a 3-DW or a non-QW-aligned 2-DW request are breaches;
    non-contiguous enables in a 1-DW request and a QW-aligned 2-DW one are allowed."""
    h, buf = await planted_setup(dut)
    bad = [
        (write(buf, 1, 0xF, 0x0), None),
        (request(TlpType.MEM_WRITE, buf + 0x40, 1, 0xF, 0x1), "a 1-DW request has last BE 0000b"),
        (write(buf + 0x80, 4, 0x0, 0xF), "no BE field of 0000b"),
        (write(buf + 0xC0, 4, 0xF, 0x0), "no BE field of 0000b"),
        (write(buf + 0x100, 3, 0b0111, 0xF), "first BE 0111 is not contiguous"),
        (write(buf + 0x140, 3, 0xF, 0b1110), "last BE 1110 is not contiguous"),
        (write(buf + 0x184, 2, 0b0101, 0xF), "first BE 0101 is not contiguous"),
        (write(buf + 0x1C0, 2, 0b0101, 0b1010), None),  # QW-aligned 2 DW
        (write(buf + 0x200, 1, 0b1001), None),  # 1 DW: any first BE
        (read(buf + 0x240, 3, 22, 0b1100, 0b0011), None),
        (read(buf + 0x280, 5, 23, 0b1010, 0xF), "first BE 1010 is not contiguous"),
    ]
    for tlp, breach in bad:
        vs = await planted(h, tlp)
        if breach is None:
            assert vs == [], [str(v) for v in vs]
        else:
            only(vs, "byte enables", breach, f"addr 0x{tlp.address:x}")


@cocotb.test()
async def page_crossing_is_named_and_not_sent(dut: object) -> None:
    """A write or read that crosses 4 KiB is a breach naming it, a recorded fault, and never
    reaches memory; one that ends on the boundary is fine."""
    h, buf = await planted_setup(dut, mps=1024, mrrs=1024)
    assert await planted(h, write(buf + PAGE - 64, 16)) == []
    writes = len(h.host.writes)
    only(await planted(h, write(buf + PAGE - 64, 32)), "4 KiB", "write crosses",
         f"addr 0x{buf + PAGE - 64:x}")  # fmt: skip
    only(await planted(h, read(buf + 2 * PAGE - 4, 2, tag=24)), "4 KiB", "read crosses")
    assert len(h.host.writes) == writes
    assert [f.reason for f in h.host.faults] == [
        "write crosses a 4 KiB boundary",
        "read crosses a 4 KiB boundary",
    ]


@cocotb.test()
async def completion_writes_keep_the_coalescing_limit(dut: object) -> None:
    """Into an enabled queue's completion ring (16 records): a write of min(MAX_RECS,
    MPS / 32) records is fine; one more record, a write past the ring's end and a write that
    is not whole records are breaches naming the limit and the write. Under MPS 128 the
    limit is 4 records (and a fifth is over MPS as well)."""
    h, drv = await setup(dut, max_payload=1024)
    await h.set_device_control(512, 512)
    q = await drv.open_queue(0, desc_entries=16)
    base, rec = q.cpl_base, CPL_BYTES // 4  # one record in DW
    limit = min(MAX_RECS, 512 // CPL_BYTES)
    assert await planted(h, write(base, limit * rec)) == []
    only(await planted(h, write(base, (limit + 1) * rec)), "coalescing",
         f"{limit + 1} records in one write", f"min(MAX_RECS {MAX_RECS}, MPS 512 / 32)",
         f"addr 0x{base:x}")  # fmt: skip
    only(await planted(h, write(base + 12 * CPL_BYTES, 8 * rec)), "coalescing",
         "past the end of the ring")  # fmt: skip
    only(await planted(h, write(base + 16, rec)), "coalescing", "not whole records")
    only(await planted(h, write(base, rec, last_be=0x7)), "coalescing", "not whole records")
    await h.set_device_control(128, 512)
    assert await planted(h, write(base, 4 * rec)) == []
    vs = await planted(h, write(base, 5 * rec))  # 160 B: over MPS too
    assert [v.rule for v in vs] == ["MPS", "coalescing"], [str(v) for v in vs]
    assert "MPS 128 / 32) = 4" in vs[1].detail


@cocotb.test()
async def read_tag_reused_while_outstanding_is_named(dut: object) -> None:
    """A read whose tag is held by an unanswered read is a breach naming both; once the
    first read's last completion is sent its tag may be used again. A tag over 31 is a breach
    while Device Control's Extended Tag Field Enable is clear."""
    h, buf = await planted_setup(dut)
    held = buf + 0x800
    h.host.read_fault = lambda addr, n: "withhold" if addr == held else None
    assert await planted(h, read(held, 8, tag=25)) == []
    only(await planted(h, read(buf, 8, tag=25)), "tag", "tag 25 on RQ",
         f"reused while [MRd addr 0x{held:x}")  # fmt: skip
    assert await planted(h, read(buf, 8, tag=26)) == []
    await Timer(2000, "ns")  # answered: tag 26 is free again
    assert await planted(h, read(buf + 0x40, 8, tag=26)) == []
    assert await planted(h, read(buf, 8, tag=200)) == []  # extended tags are on
    fn = h.rc.find_device(h.dev.functions[0].pcie_id)
    devctl = await fn.capability_read_dword(PciCapId.EXP, 0x8)  # Device Control
    await fn.capability_write_dword(PciCapId.EXP, 0x8, devctl & ~(1 << 8))
    only(await planted(h, read(buf, 8, tag=201)), "tag", "over 31", "tag 201")


@cocotb.test(expect_error=AssertionError)
async def a_breach_fails_the_test(dut: object) -> None:
    """Armed (the default), the first breach ends the test with its message: this test
    passes only by failing."""
    h, buf = await planted_setup(dut, mps=128)
    h.dev.rq_sink._sink_frame(write(buf, 64).pack_us_rq())
    await Timer(5000, "ns")  # not reached: the model's RQ task raised the breach

# SPDX-License-Identifier: MIT
"""The host side of the PCIe link: cocotbext-pcie root complex + UltraScale+ hard-IP model
wired to a splitrx top, with host memory behind an IOMMU.

The stock root complex drops a device write that matches no memory region with only a log
line, and answers reads inline, holding the whole root complex for the read's latency
(cocotbext-pcie 0.2.16). Here both are replaced (``HostPort``): every device access goes
through the IOMMU domain of the device into ``model.hostmem.HostMemory``; every write is
recorded; a write or read the IOMMU refuses is a recorded fault (and a refused read gets an
Unsupported Request completion), so a test fails instead of losing the access. Each read is
answered from its own coroutine after ``read_latency_ns`` plus a random ``read_jitter_ns``
(so completions of different tags come back out of order), split at MPS or at every RCB;
``read_fault`` can answer chosen reads UR or CA, or never; ``read_delay`` holds chosen
answers back (memory read on time, completions late).

Every memory request the device sends is checked, as it leaves the device model, against the
PCIe rules a root port would hold it to (``HostPort.check_request``, ``rq_request``;
docs/verification.md "Host-port checks"): the Max Payload Size and Max Read Request Size in
force in the function's Device Control, the byte-enable rules, 4 KiB, the completion-record
coalescing limit of ``rx_cpl_wr`` for writes into a completion ring the host programmed, and
tags (none reused while outstanding). A breach fails the test at once with the TLP named
(``TlpViolation``); a request that crosses 4 KiB is also a recorded fault and is not sent.
"""

from __future__ import annotations

import logging
import random
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
from cocotb.triggers import Event, FallingEdge, RisingEdge, Timer
from cocotb.utils import get_sim_steps, get_sim_time
from cocotbext.axi import AxiStreamBus
from cocotbext.pcie.core import RootComplex
from cocotbext.pcie.core import port as cocotb_pcie_port
from cocotbext.pcie.core.tlp import Tlp, TlpType
from cocotbext.pcie.core.utils import PcieId
from cocotbext.pcie.xilinx.us import UltraScalePlusPcieDevice, usp_model
from cocotbext.pcie.xilinx.us.interface import RqSink, UsPcieFrame

from model import regmap
from model.hostmem import HostMemory
from model.iommu import Domain, Iommu, IommuFault, Perm
from model.records import CPL_BYTES

PAGE = 0x1000
RCB = 64  # read completion boundary, bytes
# Writes here are interrupt messages for the host's interrupt controller, as the x86 MSI
# window 0xFEEx_xxxx: they do not go through the IOMMU's DMA translation into memory.
MSI_BASE = 0xFEE0_0000
MSI_SIZE = 0x10_0000
MAC_CLK_NS = 6.4  # 156.25 MHz
RX_CPL_WR_SV = Path(__file__).resolve().parents[2] / "rtl" / "rx_cpl_wr.sv"


def sv_parameter_default(path: Path, name: str) -> int:
    """The whole-number default of parameter ``name`` in the module header of ``path``."""
    m = re.search(
        rf"\bparameter\s+int(?:\s+unsigned)?\s+{name}\s*=\s*(\d+)\s*[,)]", path.read_text()
    )
    if m is None:
        raise ValueError(f"{path}: no whole-number default for parameter {name}")
    return int(m[1])


# Records per completion write, at most (rx_cpl_wr's MAX_RECS: rx_dma takes the default)
MAX_RECS = sv_parameter_default(RX_CPL_WR_SV, "MAX_RECS")


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


@dataclass(frozen=True)
class TlpViolation:
    """A device request that breaks a rule of the host port: ``rule`` names the check (MPS,
    MRRS, byte enables, 4 KiB, coalescing, tag), ``tlp`` the request."""

    rule: str
    detail: str
    tlp: str
    time_ns: float

    def __str__(self) -> str:
        return f"host port: {self.rule}: {self.detail}: {self.tlp} at {self.time_ns:.0f} ns"


# UltraScale+ RQ descriptor request types (PG213)
US_REQ_MEM_RD, US_REQ_MEM_WR = 0b0000, 0b0001
_WRITES = (TlpType.MEM_WRITE, TlpType.MEM_WRITE_64)
_READS = (TlpType.MEM_READ, TlpType.MEM_READ_64)
_KIND = {TlpType.MEM_WRITE: "MWr32", TlpType.MEM_WRITE_64: "MWr64",
         TlpType.MEM_READ: "MRd32", TlpType.MEM_READ_64: "MRd64"}  # fmt: skip
# byte enables contiguous with the rest of a request: the first DW's run up to its last byte,
# the last DW's run from its first byte
_FIRST_BE_TO_END = (0b1111, 0b1110, 0b1100, 0b1000)
_LAST_BE_FROM_START = (0b0001, 0b0011, 0b0111, 0b1111)


def describe(tlp: Tlp) -> str:
    """One line naming a memory request: kind, address, length, byte enables, tag, requester."""
    kind = _KIND.get(tlp.fmt_type, str(tlp.fmt_type))
    return (
        f"{kind} addr 0x{tlp.address:x} len {tlp.length} DW ({4 * tlp.length} B) "
        f"first BE {tlp.first_be:04b} last BE {tlp.last_be:04b} tag {tlp.tag} "
        f"from {tlp.requester_id}"
    )


def describe_rq(frame: UsPcieFrame) -> str:
    """``describe`` for a request as it leaves RQ (descriptor dwords, byte enables in tuser)."""
    kind = {US_REQ_MEM_RD: "MRd", US_REQ_MEM_WR: "MWr"}.get((frame.data[2] >> 11) & 0xF, "req")
    addr = (frame.data[0] & ~3) | frame.data[1] << 32
    return (
        f"{kind} addr 0x{addr:x} len {frame.data[2] & 0x7FF} DW first BE {frame.first_be:04b} "
        f"last BE {frame.last_be:04b} tag {frame.data[3] & 0xFF} on RQ"
    )


def byte_enable_breach(length: int, address: int, first_be: int, last_be: int) -> str | None:
    """What breaks PCIe's First/Last DW byte-enable rules in a memory request of ``length``
    DW at DW address ``address`` (None: nothing). A 1-DW request has last BE 0000b and any
    first BE; a longer one has neither 0000b; non-contiguous enables are allowed only in a
    QW-aligned 2-DW request; otherwise the first DW's enables run to its end and the last
    DW's from its start."""
    if length == 1:
        return None if last_be == 0 else f"a 1-DW request has last BE 0000b, not {last_be:04b}"
    if first_be == 0 or last_be == 0:
        return "a request longer than 1 DW has no BE field of 0000b"
    if length == 2 and address & 7 == 0:
        return None
    if first_be not in _FIRST_BE_TO_END:
        return f"first BE {first_be:04b} is not contiguous with the rest of the request"
    if last_be not in _LAST_BE_FROM_START:
        return f"last BE {last_be:04b} is not contiguous with the rest of the request"
    return None


def byte_runs(tlp: Tlp) -> list[tuple[int, bytes]]:
    """(address, bytes) of each contiguous byte-enabled run of a write TLP. Only the first
    and the last DWORD have byte enables; the DWORDs between are whole."""
    data = tlp.get_data()
    n = tlp.length
    # (offset, enabled) where each piece starts, in address order: the first DWORD's bytes,
    # the middle DWORDs as one piece, the last DWORD's bytes; a run ends where a piece
    # that is not enabled starts
    pieces = [(k, bool(tlp.first_be >> k & 1)) for k in range(4)]
    if n > 2:
        pieces.append((4, True))
    if n > 1:
        pieces += [(4 * (n - 1) + k, bool(tlp.last_be >> k & 1)) for k in range(4)]
    runs: list[tuple[int, bytes]] = []
    start = None
    for off, en in [*pieces, (4 * n, False)]:
        if en and start is None:
            start = off
        elif not en and start is not None:
            runs.append((tlp.address + start, bytes(data[start:off])))
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
    # per read (address, bytes), asked when it is served: extra ns its answer is held back
    # (0: none). Memory is read when the read is served and the completions leave that much
    # later, as if held up in the fabric: a late answer carries the data of its time.
    read_delay: Callable[[int, int], float] | None = None
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
    # the device's function (cocotbext-pcie): its Device Control holds the MPS, MRRS and
    # Extended Tag Field Enable in force (None: the root complex's MPS and MRRS, 8-bit tags)
    function: Any = None
    # (base, bytes) of every completion ring the host has programmed into an enabled queue
    cpl_rings: Callable[[], list[tuple[int, int]]] | None = None
    max_recs: int = MAX_RECS
    # breaches of the request rules, in order; each one fails the test unless expected
    violations: list[TlpViolation] = field(default_factory=list)
    expect_violations: bool = False
    # (function, tag) -> the read holding it, until its last completion is sent (a
    # withheld read holds its tag for ever)
    outstanding: dict[tuple[int, int], str] = field(default_factory=dict)

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

    def limits(self) -> tuple[int, int, bool]:
        """(MPS bytes, MRRS bytes, extended tags enabled) in force now."""
        if self.function is None:
            return 128 << self.rc.max_payload_size, 128 << self.rc.max_read_request_size, True
        cap = self.function.pcie_cap
        return (
            128 << cap.max_payload_size,
            128 << cap.max_read_request_size,
            bool(cap.extended_tag_field_enable),
        )

    def _violate(self, rule: str, detail: str, what: str, now: float) -> None:
        v = TlpViolation(rule, detail, what, now)
        self.violations.append(v)
        self.log.error("%s", v)
        if not self.expect_violations:
            raise AssertionError(str(v))

    def watch(self, dev: Any) -> None:
        """Check every memory request ``dev`` sends towards the host: its ``upstream_send``
        (which the hard-IP model's RQ logic and everything else it sends go through) runs
        ``check_request`` first. A request that crosses 4 KiB (a recorded fault) or a write
        whose payload is not its length is then not sent: the link model would refuse it with
        a bare assertion. Tags are checked earlier, as RQ hands each request to the model
        (``rq_request``)."""
        send = dev.upstream_send

        async def checked(tlp: Tlp) -> None:
            if tlp.fmt_type in _WRITES or tlp.fmt_type in _READS:
                if not self.check_request(tlp, get_sim_time("ns")):
                    return
            await send(tlp)

        dev.upstream_send = checked

    def check_request(self, tlp: Tlp, now: float) -> bool:
        """Check one memory request against the rules in force; False if it must not be sent
        (it crosses 4 KiB, or its payload is not its length: the link model would refuse it
        with a bare assertion). Each breach is recorded and, unless ``expect_violations``,
        raised: the sending task fails the test with it."""
        mps, mrrs, _ = self.limits()
        size = 4 * tlp.length
        write = tlp.fmt_type in _WRITES
        if write and size > mps:
            self._violate("MPS", f"{size} B of payload over MPS {mps}", describe(tlp), now)
        if not write and size > mrrs:
            self._violate("MRRS", f"{size} B read over MRRS {mrrs}", describe(tlp), now)
        malformed = write and len(tlp.get_data()) != size
        if malformed:
            detail = f"{len(tlp.get_data())} B of payload under a length of {tlp.length} DW"
            self._violate("length", detail, describe(tlp), now)
        breach = byte_enable_breach(tlp.length, tlp.address, tlp.first_be, tlp.last_be)
        if breach is not None:
            self._violate("byte enables", breach, describe(tlp), now)
        if write:
            self._check_cpl_write(tlp, now, mps)
        if (tlp.address & (PAGE - 1)) + size <= PAGE:
            return not malformed
        kind = "write" if write else "read"
        self._violate("4 KiB", f"{kind} crosses a page boundary", describe(tlp), now)
        self._fault(tlp.address, size, f"{kind} crosses a 4 KiB boundary")
        return False

    def _check_cpl_write(self, tlp: Tlp, now: float, mps: int) -> None:
        """A write into a completion ring: whole records, at most min(MAX_RECS, MPS / 32) of
        them, starting at a record inside the ring and ending by its end."""
        if self.cpl_rings is None:
            return
        lo, size = tlp.address, 4 * tlp.length
        for base, ring in self.cpl_rings():
            if lo + size <= base or lo >= base + ring:
                continue
            recs, limit = size // CPL_BYTES, min(self.max_recs, mps // CPL_BYTES)
            whole = (tlp.first_be, tlp.last_be) == (0xF, 0xF) and size % CPL_BYTES == 0
            if lo < base or (lo - base) % CPL_BYTES or not whole:
                detail = f"not whole records of the ring at 0x{base:x}"
                self._violate("coalescing", detail, describe(tlp), now)
            elif recs > limit:
                detail = (
                    f"{recs} records in one write; at most min(MAX_RECS {self.max_recs}, "
                    f"MPS {mps} / {CPL_BYTES}) = {limit}"
                )
                self._violate("coalescing", detail, describe(tlp), now)
            if lo + size > base + ring:
                detail = f"past the end of the ring at 0x{base:x} ({ring} B)"
                self._violate("coalescing", detail, describe(tlp), now)
            return

    def rq_request(self, frame: UsPcieFrame) -> bool:
        """Tag rules for a request as RQ hands it to the hard-IP model, before the model's
        own bookkeeping: a read's tag fits the tag field enabled in Device Control and is not
        held by an outstanding read. False (the request is not sent) after a breach, which
        is raised unless ``expect_violations``."""
        if (frame.data[2] >> 11) & 0xF != US_REQ_MEM_RD:
            return True
        now = get_sim_time("ns")
        tag, function = frame.data[3] & 0xFF, (frame.data[2] >> 16) & 0x7
        what = describe_rq(frame)
        seen = len(self.violations)
        if tag >= 32 and not self.limits()[2]:
            self._violate("tag", "tag over 31 with Extended Tag Field Enable clear", what, now)
        held = self.outstanding.get((function, tag))
        if held is not None:
            self._violate("tag", f"reused while [{held}] is outstanding", what, now)
        if len(self.violations) > seen:
            return False
        self.outstanding[(function, tag)] = what
        return True

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
            return  # its tag stays outstanding: the device may never use it again
        answer = self._answer(tlp, fault, length)
        delay = self.read_delay(tlp.address, length) if self.read_delay else 0.0
        if delay:
            await Timer(round(delay), "ns")
        for k, cpl in enumerate(answer):
            if k == len(answer) - 1:  # the device may reuse the tag once this arrives
                self.outstanding.pop((tlp.requester_id.function, tlp.tag), None)
            await self.rc.send(cpl)

    def _answer(self, tlp: Tlp, fault: str | None, length: int) -> list[Tlp]:
        """The completions of a read, with memory as it is now."""
        if fault in ("UR", "CA"):
            make = (
                Tlp.create_ur_completion_for_tlp
                if fault == "UR"
                else Tlp.create_ca_completion_for_tlp
            )
            return [make(tlp, PcieId(0, 0, 0))]
        assert fault is None, f"read_fault returned {fault!r}"
        assert self.domain is not None
        try:
            chunks = self.domain.translate(tlp.address, length, write=False)
        except IommuFault as exc:
            self._fault(tlp.address, length, f"IOMMU: {exc.fault.reason.name.lower()}")
            return [Tlp.create_ur_completion_for_tlp(tlp, PcieId(0, 0, 0))]
        data = b"".join(self.mem.read(host, n) for host, n in chunks)
        # completions: largest allowed (MPS) or one per RCB, split only at RCB boundaries
        addr = tlp.address + tlp.get_first_be_offset()
        byte_count = tlp.get_be_byte_count()
        mps = 128 << self.rc.max_payload_size
        out = []
        m = 0
        while m < tlp.length:
            cpl = Tlp.create_completion_data_for_tlp(tlp, PcieId(0, 0, 0))
            limit = RCB if self.split_on_rcb else mps
            dw = min(tlp.length - m, (limit - (addr & (limit - 1) & ~3)) >> 2)
            cpl.byte_count = byte_count
            cpl.lower_address = addr & 0x7F
            cpl.set_data(data[m * 4 : (m + dw) * 4])
            out.append(cpl)
            sent = dw * 4 - (addr & 3)
            byte_count -= sent
            addr += sent
            m += dw
        return out


class _Discard:
    """Stands in for a queue that nothing reads."""

    def put_nowait(self, item: object) -> None:
        pass

    def empty(self) -> bool:
        return True


def int_sampler(bus: Any) -> Callable[..., None]:
    """A ``sample`` for a cocotb-bus Bus that stores each signal as a plain int: the model's
    sinks convert every sampled field with int() once per 32-bit lane (about 20 conversions
    of a 256-bit value per beat), and cocotb-bus's own sample tries ``set_binstr`` on an int
    and catches the AttributeError for every signal. Same values (Verilator is two-state)."""
    signals = list(bus._signals.items())

    def sample(obj: Any, strict: bool = False) -> None:
        for name, handle in signals:
            if hasattr(obj, name):
                setattr(obj, name, int(handle.value))
            elif strict:
                raise AttributeError(f"{type(obj).__qualname__} has no attribute {name}")

    return sample


class FusedRqSink(RqSink):
    """The model's RQ sink with its two per-beat coroutines made one.

    The stock sink (cocotbext-pcie 0.2.16, ``interface.py``) samples a beat in
    ``_run_sink`` at the clock edge, hands it to ``_run`` through an Event (a second
    coroutine wake per beat), and writes ``tready`` on every clock it is awake. Here, for
    one segment (any width up to 256 bits), the beat is turned into frame dwords where it
    is sampled, and ``tready`` is written only when it changes. Same frames, same clock
    edges, same ``tready``: the stock tvalid monitor still wakes the sink, and pause and
    the queue limits are honoured as before. Two segments (512 bits) use the stock code.
    """

    def _init(self) -> None:
        super()._init()
        self._fused = self.seg_count == 1
        # called with each request as the model's RQ logic takes it (HostPort.rq_request);
        # a request it refuses is not handed to the model
        self.on_request: Callable[[UsPcieFrame], bool] | None = None
        self._cur: UsPcieFrame | None = None
        self._tuser_62 = len(self.bus.tuser) == 62

    async def _run(self) -> None:
        if not self._fused:
            await super()._run()

    async def recv(self) -> UsPcieFrame:
        while True:
            frame: UsPcieFrame = await super().recv()
            if self.on_request is None or self.on_request(frame):
                return frame

    async def _run_sink(self) -> None:
        if not self._fused:
            return await super()._run_sink()
        bus = self.bus
        edge = RisingEdge(self.clock)
        wake = self.wake_event.wait()
        ready_q: bool | None = None  # the tready last written
        while True:
            pause_sample = bool(self.pause)
            await edge
            try:
                tvalid = int(bus.tvalid.value)
            except ValueError:
                tvalid = 0
            if self.reset is not None:
                try:
                    in_reset = int(self.reset.value)
                except ValueError:
                    in_reset = 0
                if in_reset:
                    if ready_q is not False:
                        bus.tready.value = 0
                        ready_q = False
                    continue
            if tvalid and ready_q:
                self._take()
            ready = not (self.full() or pause_sample)
            if ready is not ready_q:
                bus.tready.value = ready
                ready_q = ready
            if (not tvalid or not ready) and pause_sample == bool(self.pause):
                self.wake_event.clear()
                await wake

    def _take(self) -> None:
        """One accepted beat, as the stock ``RqSink._run`` does for one segment."""
        bus = self.bus
        tdata, tkeep, tuser = int(bus.tdata.value), int(bus.tkeep.value), int(bus.tuser.value)
        frame = self._cur
        self.active = True
        if frame is None:
            frame = UsPcieFrame()
            frame.first_be = tuser & 0xF
            frame.last_be = (tuser >> 4) & 0xF
            frame.seq_num = (tuser >> 24) & 0xF
            if self._tuser_62:
                frame.seq_num |= ((tuser >> 60) & 0x3) << 4
        if tuser & (1 << self.discontinue_offset):
            frame.discontinue = True
        par = tuser >> self.parity_offset
        for k in range(self.byte_lanes):
            if tkeep >> k & 1:
                frame.data.append((tdata >> k * 32) & 0xFFFFFFFF)
                frame.parity.append((par >> k * 4) & 0xF)
        if int(bus.tlast.value):
            self.log.info("RX RQ frame: %r", frame)
            self._sink_frame(frame)
            self.active = False
            frame = None
        self._cur = frame


class _AlsoSets(Event):
    """An Event whose ``set`` also sets another Event."""

    def __init__(self, also: Event) -> None:
        super().__init__()
        self._also = also

    def set(self, data: object | None = None) -> None:
        super().set()
        self._also.set()


# tx_queue_sync trigger of a linked port -> its (send_ack, send_fc) triggers
_LINKED_PORTS: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()
_STOCK_FIRST = cocotb_pcie_port.First


def _port_first(*triggers: Any) -> Any:
    """``First`` as the link ports' transmit loop sees it (cocotbext-pcie 0.2.16,
    ``port.py``): that loop sleeps on ``First(tx_queue_sync.wait(), send_ack.wait(),
    send_fc.wait())``, and cocotb 2.x runs a First as one waiter task per trigger -- three
    tasks made, one woken and two cancelled on every sleep. For a port made by
    ``link_port_events`` a set of any of the three sets ``tx_queue_sync``, so waiting on it
    alone wakes the loop on the same events; any other call is the stock First."""
    if len(triggers) == 3 and _LINKED_PORTS.get(triggers[0]) == (triggers[1], triggers[2]):
        return triggers[0]
    return _STOCK_FIRST(*triggers)


cocotb_pcie_port.First = _port_first


def link_port_events(port: Any) -> None:
    """Make ``port``'s ACK and flow-control requests also set its ``tx_queue_sync`` (see
    ``_port_first``). Call right after the port is made, before its transmit loop first
    runs."""
    if port.send_ack.is_set() or port.send_fc.is_set():
        raise RuntimeError("link_port_events: the port has already requested a DLLP")
    port.send_ack = _AlsoSets(port.tx_queue_sync)
    port.send_fc = _AlsoSets(port.tx_queue_sync)
    _LINKED_PORTS[port.tx_queue_sync.wait()] = (port.send_ack.wait(), port.send_fc.wait())


class QuietUltraScalePlusPcieDevice(UltraScalePlusPcieDevice):
    """The UltraScale+ hard-IP model without the per-clock polling that does no work here.

    The stock model (cocotbext-pcie 0.2.16, ``usp_model.py``) runs five coroutines that wake
    on every user-clock edge whatever happens. With the signals splitrx connects (no
    ``sys_reset``, no ``cfg_mgmt_*``, no ``cfg_interrupt_*_int`` requests, no
    ``pcie_rq_seq_num*``, no ``pcie_cq_np_req*``) they reduce to:

    - ``_run_cfg_status_logic``: drives ``cfg_max_payload`` / ``cfg_max_read_req`` from the
      PCIe capability -- which changes only by a configuration write;
    - ``_run_cfg_int_logic``: drives ``cfg_interrupt_msix_enable`` / ``_mask`` (and MSI
      enable) from the capabilities -- likewise; the interrupt requests it polls are
      unconnected;
    - ``_run_cfg_ctrl_logic``: sets ``config_space_enable`` to True, as the constructor did;
    - ``_run_rq_seq_num_logic``: drops one RQ sequence number per clock (nobody reads them);
    - ``_run_cq_logic``: adds one CQ non-posted credit per clock (up to 32) and forwards
      queued completer requests to the CQ interface at the next clock edge.

    Here the first two drive their outputs at the first clock edge and then again at the
    first edge after each configuration write (by TLP or cfg_mgmt: the only way their inputs
    change) -- the edge on which the polling loop would show it; the third and fourth do
    nothing; the CQ loop wakes only when a request is queued, forwards it at the next edge and
    counts the credits of the clocks it slept through. Where a signal these loops would
    otherwise read or drive is connected, the stock loop runs instead, so the model behaves
    as before in every configuration. The RQ sink is a ``FusedRqSink``; the CC sink samples
    plain ints (``int_sampler``).
    """

    # status outputs other than cfg_max_payload/_read_req: any connected -> stock loop
    _STATUS_OTHER = (
        "sys_reset", "user_lnk_up", "cfg_phy_link_down", "cfg_negotiated_width",
        "cfg_current_speed", "cfg_function_status", "cfg_local_error_out", "cfg_rcb_status",
    )  # fmt: skip
    # interrupt-interface inputs the stock loop polls every clock; any connected -> stock loop
    _INT_IN = (
        "cfg_interrupt_msi_int", "cfg_interrupt_msi_function_number", "cfg_interrupt_msi_attr",
        "cfg_interrupt_msi_select", "cfg_interrupt_msi_pending_status_data_enable",
        "cfg_interrupt_msi_pending_status_function_num", "cfg_interrupt_msi_pending_status",
        "cfg_interrupt_msix_int", "cfg_interrupt_msix_address", "cfg_interrupt_msix_data",
        "cfg_interrupt_msi_data",
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._cfg_written: list[Event] = []  # one per loop that follows configuration writes
        stock, usp_model.RqSink = usp_model.RqSink, FusedRqSink  # the model's constructor
        try:  # makes its RQ sink from the name in its module
            super().__init__(*args, **kwargs)  # forks the loops (they first run after this)
        finally:
            usp_model.RqSink = stock
        for f in self.functions:
            self._watch_config_writes(f)
        for sink in (self.rq_sink, self.cc_sink):
            if sink is not None:
                sink.bus.sample = int_sampler(sink.bus)

    def _watch_config_writes(self, f: Any) -> None:
        write = f.write_config_register

        async def write_config_register(reg: int, data: int, mask: int) -> None:
            await write(reg, data, mask)
            for ev in self._cfg_written:
                ev.set()

        f.write_config_register = write_config_register

    def _connected(self, names: tuple[str, ...]) -> bool:
        return any(getattr(self, n, None) is not None for n in names)

    async def _on_config_change(self, drive: Callable[[], None]) -> None:
        """``drive()`` at the first user-clock edge, then at the first edge after each
        configuration write."""
        written = Event()
        self._cfg_written.append(written)
        edge = RisingEdge(self.user_clk)
        while True:
            await edge
            written.clear()
            drive()
            await written.wait()

    async def _run_cfg_status_logic(self) -> None:
        if self._connected(self._STATUS_OTHER):
            return await super()._run_cfg_status_logic()

        def drive() -> None:
            cap = self.functions[0].pcie_cap
            if self.cfg_max_payload is not None:
                self.cfg_max_payload.value = cap.max_payload_size & 3
            if self.cfg_max_read_req is not None:
                self.cfg_max_read_req.value = cap.max_read_request_size

        await self._on_config_change(drive)

    async def _run_cfg_int_logic(self) -> None:
        if self._connected(self._INT_IN):
            return await super()._run_cfg_int_logic()

        def drive() -> None:
            fns = self.functions
            if self.cfg_interrupt_msi_enable is not None:
                self.cfg_interrupt_msi_enable.value = sum(
                    1 << k for k in range(min(len(fns), 2)) if fns[k].msi_cap.msi_enable
                )
            for sig in (self.cfg_interrupt_msi_sent, self.cfg_interrupt_msi_fail,
                        self.cfg_interrupt_msix_sent, self.cfg_interrupt_msix_fail):  # fmt: skip
                if sig is not None:
                    sig.value = 0
            if self.cfg_interrupt_msi_mmenable is not None:
                self.cfg_interrupt_msi_mmenable.value = sum(
                    (fns[k].msi_cap.msi_multiple_message_enable & 0x7) << k * 3
                    for k in range(min(len(fns), 2))
                )
            if self.cfg_interrupt_msix_enable is not None:
                self.cfg_interrupt_msix_enable.value = sum(
                    1 << k for k in range(min(len(fns), 4)) if fns[k].msix_cap.msix_enable
                )
            if self.cfg_interrupt_msix_mask is not None:
                self.cfg_interrupt_msix_mask.value = sum(
                    1 << k for k in range(min(len(fns), 4)) if fns[k].msix_cap.msix_function_mask
                )

        await self._on_config_change(drive)

    async def _run_cfg_ctrl_logic(self) -> None:
        if self._connected(("sys_reset", "cfg_config_space_enable", "cfg_bus_number")):
            return await super()._run_cfg_ctrl_logic()
        self.config_space_enable = True  # what the loop would set on every clock

    async def _run_rq_seq_num_logic(self) -> None:
        if self.pcie_rq_seq_num0 is not None or (
            self.dw == 512 and self.pcie_rq_seq_num1 is not None
        ):
            return await super()._run_rq_seq_num_logic()
        self.rq_seq_num = _Discard()  # type: ignore[assignment]

    async def _run_cq_logic(self) -> None:
        if self.pcie_cq_np_req is not None or self.pcie_cq_np_req_count is not None:
            return await super()._run_cq_logic()
        edge = RisingEdge(self.user_clk)
        period = get_sim_steps(int(1e9 / self.user_clk_frequency), "ns")  # as its Clock
        await edge
        self.cq_np_req_count = min(self.cq_np_req_count + 1, 32)
        last = get_sim_time()  # the last edge whose credit is counted
        while True:
            first = None
            if self.cq_queue.empty() and self.cq_np_queue.empty():
                first = await self.cq_queue.get()  # asleep until the host sends a request
            await edge
            now = get_sim_time()
            # one credit per clock edge since the last one counted, as the polling loop
            self.cq_np_req_count = min(self.cq_np_req_count + (now - last) // period, 32)
            # the stock loop's body: queued non-posted requests first, then new ones
            while not self.cq_np_queue.empty() and self.cq_np_req_count > 0:
                tlp = self.cq_np_queue.get_nowait()
                self.cq_np_req_count -= 1
                await self.cq_source.send(tlp.pack_us_cq())
            while True:
                if first is not None:
                    tlp, first = first, None
                elif not self.cq_queue.empty():
                    tlp = self.cq_queue.get_nowait()
                else:
                    break
                if tlp.fmt_type in {TlpType.IO_READ, TlpType.IO_WRITE, TlpType.MEM_READ,
                                    TlpType.MEM_READ_64}:  # fmt: skip
                    if self.cq_np_req_count > 0:
                        self.cq_np_req_count -= 1
                        await self.cq_source.send(tlp.pack_us_cq())
                    else:
                        self.cq_np_queue.put_nowait(tlp)
                else:
                    await self.cq_source.send(tlp.pack_us_cq())
            # a send that waited for room let clock edges pass uncounted, as in the stock
            # loop: count again from the last edge at or before now
            t = get_sim_time()
            last = t - (t - now) % period


class PcieHarness:
    """Root complex + UltraScale+ device model around splitrx_top or splitrx_core."""

    def __init__(self, dut: Any, read_latency_ns: float = 0.0, max_payload: int = 128) -> None:
        self.dut = dut
        self.log = logging.getLogger("cocotb.tb")
        self.rc = RootComplex()
        msix_vectors = regmap.CAP_QUEUES.fields["msix_vectors"].reset
        self.dev = QuietUltraScalePlusPcieDevice(
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
        # the model's AXI-stream interfaces and functions log every TLP and config access at
        # INFO: formatting those lines costs more simulator time than the rest of the model
        for x in (self.dev.rq_sink, self.dev.rc_source, self.dev.cq_source, self.dev.cc_sink):
            if x is not None:
                x.log.setLevel(logging.WARNING)
        for f in self.dev.functions:
            f.log.setLevel(logging.WARNING)
        # the root complex programs each function's MPS to at most its own
        self.rc.max_payload_size = (max_payload // 128).bit_length() - 1
        self.dev.functions[0].configure_bar(0, regmap.BAR0_SIZE)
        root_port = self.rc.make_port()  # the bridge, with its link port
        root_port.connect(self.dev)
        for port in (root_port.downstream_port, self.dev.upstream_port):
            link_port_events(port)
        self.mem = HostMemory()
        self.iommu = Iommu()
        self.host = HostPort(self.rc, self.mem, self.iommu, read_latency_ns=read_latency_ns)
        self.host.function = self.dev.functions[0]
        self.host.cpl_rings = self.cpl_rings
        self.host.install()
        self.host.watch(self.dev)
        self.dev.rq_sink.on_request = self.host.rq_request
        self.bar0: Any = None
        # what the host has written to BAR0's registers (enumerate wraps the BAR window)
        self.shadow = bytearray(regmap.MSIX_TABLE_OFFSET)
        if hasattr(dut, "mac_clk"):
            from tb.lib.common import start_clock

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
        self._snoop(self.bar0)
        self.host.attach(int(self.dev.functions[0].pcie_id))
        await RisingEdge(self.dut.clk)

    def _snoop(self, bar: Any) -> None:
        """Keep ``shadow`` up to date with every write through the BAR0 window (all register
        writes pass its ``write``); a core reset (DEV_CTRL.reset) clears it, as it returns
        every ring register to 0."""
        write = bar.write

        async def snooped(address: int, data: Any, **kw: Any) -> None:
            data = bytes(data)
            if address < len(self.shadow):
                self.shadow[address : address + len(data)] = data[: len(self.shadow) - address]
            if address <= regmap.DEV_CTRL.offset < address + len(data):
                if data[regmap.DEV_CTRL.offset - address] & 1:
                    self.shadow[:] = bytes(len(self.shadow))
            await write(address, data, **kw)

        bar.write = snooped

    def _shadow_reg(self, offset: int) -> int:
        return int.from_bytes(self.shadow[offset : offset + 4], "little")

    def cpl_rings(self) -> list[tuple[int, int]]:
        """(base, bytes) of the completion ring of every queue the host has enabled, as it
        programmed them."""
        rings = []
        regs = regmap.RXQ.regs
        for q in range(regmap.RXQ.entries):
            ctrl = self._shadow_reg(regmap.RXQ.addr(q, "CTRL"))
            if not regs["CTRL"].fields["enable"].get(ctrl):
                continue
            base = self._shadow_reg(regmap.RXQ.addr(q, "CPL_BASE_LO"))
            base |= self._shadow_reg(regmap.RXQ.addr(q, "CPL_BASE_HI")) << 32
            size = self._shadow_reg(regmap.RXQ.addr(q, "CPL_SIZE"))
            if base:
                rings.append((base, CPL_BYTES << regs["CPL_SIZE"].fields["log2"].get(size)))
        return rings

    async def set_device_control(self, mps: int, mrrs: int) -> None:
        """Set Max Payload Size and Max Read Request Size (bytes) as system software does: in
        the function's Device Control and, for MPS, the root port's; then wait until the
        hard-IP model shows them to the core (cfg_max_payload, cfg_max_read_req)."""
        mps_code, mrrs_code = (mps // 128).bit_length() - 1, (mrrs // 128).bit_length() - 1
        if 128 << mps_code != mps or 128 << mrrs_code != mrrs:
            raise ValueError(f"MPS {mps} / MRRS {mrrs}: not 128 B times a power of two")
        fn = self.rc.find_device(self.dev.functions[0].pcie_id)
        await fn.set_mps(mps_code)  # refuses more than the function supports
        await fn.set_readrq(mrrs_code)
        self.rc.max_payload_size = mps_code  # the root port's own: completions it sends
        for _ in range(100):
            await RisingEdge(self.dut.clk)
            got = (int(self.dut.cfg_max_payload.value), int(self.dut.cfg_max_read_req.value))
            if got == (mps_code, mrrs_code):
                return
        raise AssertionError(f"Device Control MPS {mps} / MRRS {mrrs} never reached cfg_max_*")

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

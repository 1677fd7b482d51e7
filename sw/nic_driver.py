# SPDX-License-Identifier: MIT
"""Host NIC driver for splitrx: probe, RX queue set-up, posting, NAPI-style polling,
counters.

The driver reaches the device through two things only:

- ``RegisterIO``: ``await read32(offset)`` / ``await write32(offset, value)`` on BAR0
  (offsets from ``model.regmap``; in cocotb an adapter over the root complex's BAR window,
  in unit tests ``model.nic_model.FakeNic``);
- host memory (``model.hostmem.HostMemory``) plus the device's IOMMU ``Domain``: the driver
  allocates its rings there and maps them for the device at IOVA == host address (descriptor
  ring read-only, completion ring write-only for the device).

Ring protocol (docs/registers.md, DESIGN.md): the host writes ``RxDescriptor`` records at
``tail % entries`` and then the free-running 16-bit ``DESC_TAIL``; the NIC writes one
``RxCompletion`` per consumed descriptor (this version: one descriptor per group), valid
when its phase bit equals the host's expected phase (1 on the first lap, flipping each lap);
the host then writes ``CPL_HEAD``. The driver never has more descriptors outstanding (posted
and not yet acknowledged through ``CPL_HEAD``) than the descriptor ring holds, and the
completion ring is at least as large, so the NIC can never find the completion ring full.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from model import regmap
from model.hostmem import PAGE_SIZE, HostMemory, align_up
from model.iommu import Domain, Perm
from model.records import DropReason, RxCompletion, RxDescriptor

DESC_BYTES = RxDescriptor.size()
CPL_BYTES = RxCompletion.size()
INDEX_MASK = 0xFFFF
MAX_RING_ENTRIES = 1 << 15  # DESC_SIZE / CPL_SIZE log2 is at most 15
SUPPORTED_MAJOR = 0  # register-map major version this driver speaks


MSIX_ENTRY_BYTES = 16  # PCI spec: address low, address high, data, vector control


class RegisterIO(Protocol):
    """BAR0 access: one 32-bit register per call."""

    async def read32(self, offset: int) -> int: ...

    async def write32(self, offset: int, value: int) -> None: ...


class DriverError(Exception):
    """Base of the driver's errors."""


class ProbeError(DriverError):
    """The device is not a splitrx this driver can drive."""


class QueueFull(DriverError):
    """More descriptors posted than there are free slots."""


class NicProtocolError(DriverError):
    """The device broke the ring protocol (a completion that matches nothing posted)."""


class QuiesceTimeout(DriverError):
    """The queue did not go idle after being disabled."""


@dataclass(frozen=True)
class Capabilities:
    """What ``probe`` read from ID, VERSION and CAP_*."""

    id: int
    version: tuple[int, int, int]  # major, minor, patch
    rx_queues: int
    msix_vectors: int
    desc_cache: int
    mac_entries: int
    rss_entries: int
    rss_key_bytes: int
    pcie_bytes: int
    mac_bytes: int
    desc_bytes: int
    cpl_bytes: int


@dataclass(frozen=True)
class QueueStatus:
    error: bool
    error_code: int  # docs/registers.md RXQ STATUS; model.nic_model.QueueErrorCode


@dataclass(frozen=True)
class NicCounters:
    drops: dict[DropReason, int]
    rx_frames: int
    rx_bytes: int

    @property
    def total_drops(self) -> int:
        return sum(self.drops.values())


def _fields(reg: regmap.Reg, value: int) -> dict[str, int]:
    return {name: f.get(value) for name, f in reg.fields.items()}


def _log2_entries(n: int, what: str) -> int:
    if not 1 <= n <= MAX_RING_ENTRIES or n & (n - 1):
        raise ValueError(f"{what} of {n} entries: not a power of two in 1..{MAX_RING_ENTRIES}")
    return n.bit_length() - 1


class NicDriver:
    """One splitrx function: ``probe`` first, then ``open_queue``."""

    def __init__(self, regs: RegisterIO, mem: HostMemory, domain: Domain) -> None:
        self.regs = regs
        self.mem = mem
        self.domain = domain
        self.caps: Capabilities | None = None
        self.queues: dict[int, RxQueue] = {}

    async def probe(self) -> Capabilities:
        """Read ID, VERSION and CAP_*; refuse a device that is not a splitrx this driver
        speaks (wrong ID, unknown major version, record sizes not ours)."""
        ident = regmap.ID.fields["id"].get(await self.regs.read32(regmap.ID.offset))
        if ident != regmap.ID.reset:
            raise ProbeError(
                f"not a splitrx NIC: ID register reads {ident:#010x}, expected "
                f"{regmap.ID.reset:#010x} ('SPRX')"
            )
        ver = _fields(regmap.VERSION, await self.regs.read32(regmap.VERSION.offset))
        version = (ver["major"], ver["minor"], ver["patch"])
        if version[0] != SUPPORTED_MAJOR:
            raise ProbeError(
                f"splitrx register map version {version[0]}.{version[1]}.{version[2]}: "
                f"this driver speaks major version {SUPPORTED_MAJOR}"
            )
        q = _fields(regmap.CAP_QUEUES, await self.regs.read32(regmap.CAP_QUEUES.offset))
        t = _fields(regmap.CAP_TABLES, await self.regs.read32(regmap.CAP_TABLES.offset))
        d = _fields(regmap.CAP_DATAPATH, await self.regs.read32(regmap.CAP_DATAPATH.offset))
        if (d["desc_bytes"], d["cpl_bytes"]) != (DESC_BYTES, CPL_BYTES):
            raise ProbeError(
                f"record sizes differ: device has {d['desc_bytes']} B descriptors and "
                f"{d['cpl_bytes']} B completions, driver {DESC_BYTES} B and {CPL_BYTES} B"
            )
        if q["rx_queues"] == 0:
            raise ProbeError("device reports no RX queues")
        self.caps = Capabilities(
            id=ident,
            version=version,
            rx_queues=q["rx_queues"],
            msix_vectors=q["msix_vectors"],
            desc_cache=q["desc_cache"],
            mac_entries=t["mac_entries"],
            rss_entries=t["rss_entries"],
            rss_key_bytes=t["rss_key_bytes"],
            pcie_bytes=d["pcie_bytes"],
            mac_bytes=d["mac_bytes"],
            desc_bytes=d["desc_bytes"],
            cpl_bytes=d["cpl_bytes"],
        )
        return self.caps

    async def open_queue(
        self,
        index: int = 0,
        *,
        desc_entries: int = 256,
        cpl_entries: int | None = None,
        data_offset: int = 0,
        enable: bool = True,
    ) -> RxQueue:
        """Allocate, map and program RX queue ``index`` (completion ring defaults to the
        descriptor ring's size); enable it unless ``enable`` is False."""
        if self.caps is None:
            raise DriverError("probe() the device before opening queues")
        if not 0 <= index < min(self.caps.rx_queues, regmap.RXQ.entries):
            raise ValueError(f"RX queue {index}: the device has {self.caps.rx_queues}")
        if index in self.queues:
            raise DriverError(f"RX queue {index} is already open")
        q = RxQueue(self, index, desc_entries, cpl_entries or desc_entries, data_offset)
        await q.setup()
        if enable:
            await q.enable()
        self.queues[index] = q
        return q

    def _caps(self) -> Capabilities:
        if self.caps is None:
            raise DriverError("probe() first")
        return self.caps

    async def set_msix_vector(
        self, vector: int, address: int, data: int, *, masked: bool = False
    ) -> None:
        """Program MSI-X table entry ``vector`` (message address and data) and set its mask
        bit. The table lives in BAR0 at regmap.MSIX_TABLE_OFFSET, 16 bytes per entry."""
        caps = self._caps()
        if not 0 <= vector < caps.msix_vectors:
            raise ValueError(f"MSI-X vector {vector} not in 0..{caps.msix_vectors - 1}")
        if address & 3:
            raise ValueError(f"MSI-X message address {address:#x} not DWORD aligned")
        entry = regmap.MSIX_TABLE_OFFSET + MSIX_ENTRY_BYTES * vector
        await self.regs.write32(entry + 0, address & 0xFFFF_FFFC)
        await self.regs.write32(entry + 4, address >> 32)
        await self.regs.write32(entry + 8, data & 0xFFFF_FFFF)
        await self.regs.write32(entry + 12, int(masked))

    async def set_promisc(self, on: bool) -> None:
        """Promiscuous: unmatched unicast goes to the RSS queue instead of being filtered."""
        await self.regs.write32(
            regmap.STEER_CTRL.offset, regmap.STEER_CTRL.fields["promisc"].put(int(on))
        )

    async def set_steer_entry(
        self,
        index: int,
        mac: str,
        queue: int,
        *,
        vlan_id: int | None = None,
        valid: bool = True,
    ) -> None:
        """Steering table entry ``index``: frames to ``mac`` ('aa:bb:cc:dd:ee:ff'), and to
        ``vlan_id`` if given, go to ``queue``."""
        entries = self._caps().mac_entries
        if not 0 <= index < entries:
            raise ValueError(f"steering entry {index} not in 0..{entries - 1}")
        raw = bytes.fromhex(mac.replace(":", ""))
        if len(raw) != 6:
            raise ValueError(f"not a MAC address: {mac!r}")
        value = int.from_bytes(raw, "big")
        e = regmap.STEER_ENTRY.fields
        await self.regs.write32(regmap.STEER_MAC_LO.offset, value & 0xFFFF_FFFF)
        await self.regs.write32(regmap.STEER_MAC_HI.offset, value >> 32)
        await self.regs.write32(
            regmap.STEER_ENTRY.offset,
            e["queue"].put(queue)
            | e["valid"].put(int(valid))
            | e["vlan_match"].put(int(vlan_id is not None))
            | e["vlan_id"].put(vlan_id or 0)
            | e["index"].put(index),
        )
        await self.regs.write32(
            regmap.STEER_COMMIT.offset, regmap.STEER_COMMIT.fields["commit"].put(1)
        )

    async def read_counter64(self, regfile: regmap.RegFile, index: int = 0) -> int:
        """A 64-bit counter: LO first (reading it latches HI), then HI."""
        lo = await self.regs.read32(regfile.addr(index, "LO"))
        hi = await self.regs.read32(regfile.addr(index, "HI"))
        return (hi << 32) | lo

    async def counters(self) -> NicCounters:
        """Every drop counter, RX_FRAMES and RX_BYTES."""
        if regmap.DROP.entries != len(DropReason):
            raise DriverError(
                f"register map has {regmap.DROP.entries} drop counters, "
                f"model.records.DropReason {len(DropReason)} reasons"
            )
        drops = {r: await self.read_counter64(regmap.DROP, r) for r in DropReason}
        return NicCounters(
            drops,
            await self.read_counter64(regmap.RX_FRAMES),
            await self.read_counter64(regmap.RX_BYTES),
        )


class RxQueue:
    """One RX queue: its rings in host memory and its registers. Create with
    ``NicDriver.open_queue``."""

    def __init__(
        self, drv: NicDriver, index: int, desc_entries: int, cpl_entries: int, data_offset: int
    ) -> None:
        self.drv = drv
        self.regs = drv.regs
        self.index = index
        self.desc_log2 = _log2_entries(desc_entries, "descriptor ring")
        self.cpl_log2 = _log2_entries(cpl_entries, "completion ring")
        if cpl_entries < desc_entries:
            raise ValueError(
                f"completion ring ({cpl_entries}) smaller than descriptor ring ({desc_entries})"
            )
        field = regmap.RXQ.regs["DATA_OFFSET"].fields["bytes"]
        if not 0 <= data_offset < 1 << field.width:
            raise ValueError(f"data offset {data_offset} does not fit {field.width} bits")
        self.desc_entries = desc_entries
        self.cpl_entries = cpl_entries
        self.data_offset = data_offset
        self.desc_base = 0
        self.cpl_base = 0
        self._desc_bytes = align_up(desc_entries * DESC_BYTES, PAGE_SIZE)
        self._cpl_bytes = align_up(cpl_entries * CPL_BYTES, PAGE_SIZE)
        self.enabled = False
        self.closed = False
        self._reset_indices()

    def _reset_indices(self) -> None:
        self.tail = 0  # descriptors posted (free-running, 16 bits)
        self.cpl_head = 0  # completions consumed (free-running, 16 bits)
        self._cpl_head_written = 0  # last value written to CPL_HEAD
        self._posted: deque[RxDescriptor] = deque()  # outstanding, oldest first

    def _addr(self, reg: str) -> int:
        return regmap.RXQ.addr(self.index, reg)

    async def _write(self, reg: str, **values: int) -> None:
        r = regmap.RXQ.regs[reg]
        await self.regs.write32(self._addr(reg), sum(r.fields[k].put(v) for k, v in values.items()))

    async def _read(self, reg: str, field: str) -> int:
        return regmap.RXQ.regs[reg].fields[field].get(await self.regs.read32(self._addr(reg)))

    # -- set-up and teardown ----------------------------------------------------------------

    async def setup(self) -> None:
        """Allocate and map both rings (zero-filled), program the queue's registers."""
        mem, dom = self.drv.mem, self.drv.domain
        name = f"rxq{self.index}"
        self.desc_base = mem.alloc(self._desc_bytes, PAGE_SIZE, f"{name} descriptors")
        self.cpl_base = mem.alloc(self._cpl_bytes, PAGE_SIZE, f"{name} completions")
        mem.fill(self.desc_base, self._desc_bytes)
        mem.fill(self.cpl_base, self._cpl_bytes)
        dom.map(self.desc_base, self.desc_base, self._desc_bytes, Perm.READ)
        dom.map(self.cpl_base, self.cpl_base, self._cpl_bytes, Perm.WRITE)
        await self._write("CTRL", enable=0, reset=1)
        await self._write("DESC_BASE_LO", addr=self.desc_base & 0xFFFF_FFFF)
        await self._write("DESC_BASE_HI", addr=self.desc_base >> 32)
        await self._write("DESC_SIZE", log2=self.desc_log2)
        await self._write("CPL_BASE_LO", addr=self.cpl_base & 0xFFFF_FFFF)
        await self._write("CPL_BASE_HI", addr=self.cpl_base >> 32)
        await self._write("CPL_SIZE", log2=self.cpl_log2)
        await self._write("DATA_OFFSET", bytes=self.data_offset)
        await self._write("DESC_TAIL", index=0)
        await self._write("CPL_HEAD", index=0)

    async def enable(self) -> None:
        await self._write("CTRL", enable=1)
        self.enabled = True

    async def enable_irq(self, vector: int) -> None:
        """Ask for MSI-X ``vector`` after every completion this queue writes (program the
        table entry with ``NicDriver.set_msix_vector``)."""
        vectors = self.drv._caps().msix_vectors
        if not 0 <= vector < vectors:
            raise ValueError(f"MSI-X vector {vector} not in 0..{vectors - 1}")
        await self._write("IRQ", vector=vector, enable=1)

    async def disable_irq(self) -> None:
        await self._write("IRQ", vector=0, enable=0)

    async def disable(self) -> None:
        """Stop placing frames (they are dropped as queue_disabled); see ``quiesce``."""
        await self._write("CTRL", enable=0)
        self.enabled = False

    async def quiesce(self, max_reads: int = 1000) -> None:
        """Disable the queue and wait until the NIC is not in the middle of a frame: every
        descriptor it consumed has its completion written (DESC_HEAD == CPL_TAIL), or it is
        stopped by an error. The register reads also flush the NIC's earlier DMA writes."""
        await self.disable()
        for _ in range(max_reads):
            if (await self.status()).error:
                return
            if await self._read("DESC_HEAD", "index") == await self._read("CPL_TAIL", "index"):
                return
        raise QuiesceTimeout(f"RX queue {self.index} still busy after {max_reads} reads")

    async def reset(self, enable: bool | None = None) -> list[RxDescriptor]:
        """Quiesce, pulse CTRL.reset (head, completion tail, error), zero the completion
        ring and both doorbells; re-enable if ``enable`` (default: if it was enabled).
        Returns the descriptors that were outstanding: their buffers come back unused and
        are the caller's to recycle or free."""
        was_enabled = self.enabled
        await self.quiesce()
        await self._write("CTRL", enable=0, reset=1)
        lost = list(self._posted)
        self.drv.mem.fill(self.cpl_base, self._cpl_bytes)
        self._reset_indices()
        await self._write("DESC_TAIL", index=0)
        await self._write("CPL_HEAD", index=0)
        if was_enabled if enable is None else enable:
            await self.enable()
        return lost

    async def close(self) -> list[RxDescriptor]:
        """Quiesce and reset the queue, unmap its rings; returns the outstanding
        descriptors (``poll`` first to collect completions already written)."""
        if self.closed:
            return []
        lost = await self.reset(enable=False)
        self.drv.domain.unmap(self.desc_base, self._desc_bytes)
        self.drv.domain.unmap(self.cpl_base, self._cpl_bytes)
        self.closed = True
        self.drv.queues.pop(self.index, None)
        return lost

    async def status(self) -> QueueStatus:
        v = await self.regs.read32(self._addr("STATUS"))
        f = regmap.RXQ.regs["STATUS"].fields
        return QueueStatus(bool(f["error"].get(v)), f["error_code"].get(v))

    # -- data path --------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Descriptors posted whose completions have not been acknowledged (CPL_HEAD)."""
        return (self.tail - self._cpl_head_written) & INDEX_MASK

    @property
    def free_slots(self) -> int:
        """Descriptors ``post`` accepts now."""
        return self.desc_entries - self.outstanding

    @property
    def posted_descriptors(self) -> list[RxDescriptor]:
        """Outstanding descriptors, oldest first."""
        return list(self._posted)

    @property
    def expected_phase(self) -> int:
        return ((self.cpl_head >> self.cpl_log2) & 1) ^ 1

    async def post(self, descs: Sequence[RxDescriptor]) -> None:
        """Write ``descs`` at the tail and ring the doorbell once. Refuses (``QueueFull``,
        nothing written) more than ``free_slots``."""
        if self.closed:
            raise DriverError(f"RX queue {self.index} is closed")
        if not descs:
            return
        if len(descs) > self.free_slots:
            raise QueueFull(
                f"RX queue {self.index}: {len(descs)} descriptors posted, {self.free_slots} free"
            )
        for d in descs:
            d.check_ranges()
        mask = self.desc_entries - 1
        i = 0
        while i < len(descs):  # one memory write per contiguous run of slots
            slot = (self.tail + i) & mask
            run = min(len(descs) - i, self.desc_entries - slot)
            raw = b"".join(d.pack() for d in descs[i : i + run])
            self.drv.mem.write(self.desc_base + slot * DESC_BYTES, raw)
            i += run
        self._posted.extend(descs)
        self.tail = (self.tail + len(descs)) & INDEX_MASK
        await self._write("DESC_TAIL", index=self.tail)

    async def poll(self, budget: int = 64) -> list[RxCompletion]:
        """Collect up to ``budget`` completions whose phase is the expected one, then
        acknowledge them with one CPL_HEAD write."""
        out: list[RxCompletion] = []
        mask = self.cpl_entries - 1
        while len(out) < budget:
            slot = self.cpl_head & mask
            run = min(budget - len(out), self.cpl_entries - slot)
            raw = self.drv.mem.read(self.cpl_base + slot * CPL_BYTES, run * CPL_BYTES)
            phase = self.expected_phase
            taken = 0
            for k in range(run):
                rec = raw[k * CPL_BYTES : (k + 1) * CPL_BYTES]
                if rec[-1] & 1 != phase:
                    break
                out.append(self._consume(RxCompletion.unpack(rec)))
                taken += 1
            if taken < run:
                break
        if out:
            await self._write("CPL_HEAD", index=self.cpl_head)
            self._cpl_head_written = self.cpl_head
        return out

    def _consume(self, cpl: RxCompletion) -> RxCompletion:
        if cpl.desc_count < 1 or cpl.desc_count > len(self._posted):
            raise NicProtocolError(
                f"RX queue {self.index}: completion at {self.cpl_head} uses {cpl.desc_count} "
                f"descriptors, {len(self._posted)} outstanding"
            )
        first = self._posted[0]
        if cpl.cookie != first.cookie:
            raise NicProtocolError(
                f"RX queue {self.index}: completion at {self.cpl_head} has cookie "
                f"{cpl.cookie:#x}, the oldest outstanding descriptor {first.cookie:#x}"
            )
        for _ in range(cpl.desc_count):
            self._posted.popleft()
        self.cpl_head = (self.cpl_head + 1) & INDEX_MASK
        return cpl

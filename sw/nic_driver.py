# SPDX-License-Identifier: MIT
"""Host NIC driver for splitrx: probe, RX queue set-up, posting, NAPI-style polling,
counters.

The driver reaches the device through two things only:

- ``RegisterIO``: ``await read32(offset)`` / ``await write32(offset, value)`` on BAR0
  (offsets from ``model.regmap``; in cocotb the PCIe harness, in unit tests
  ``model.fake_nic.FakeNic``);
- host memory (``model.hostmem.HostMemory``) plus the device's IOMMU ``Domain``: the driver
  allocates its rings there and maps them for the device at IOVA == host address (descriptor
  ring read-only, completion ring write-only for the device).

Ring protocol (docs/dma.md, docs/registers.md): the host writes ``RxDescriptor`` records at
``tail % entries`` and then the free-running 16-bit ``DESC_TAIL``. The NIC consumes whole
groups (runs of descriptors ending with EOG) and writes one ``RxCompletion`` per frame (or
per skipped group); ``desc_count`` says how many descriptors it consumed, and the
completion is valid when its phase bit equals the host's expected phase (1 on the first
lap, flipping each lap). ``poll`` hands each completion back with the descriptors it
consumed (``RxDone``) and then writes ``CPL_HEAD``.

A descriptor is *outstanding* from ``post`` until a completion that consumed it is
acknowledged through ``CPL_HEAD``. The driver never has more outstanding descriptors than
the descriptor ring holds; every completion in the ring consumed at least one of them and
the completion ring is at least as large, so the NIC can never find the completion ring
full.

The queue's settings (``CTRL``: mode, split level, mergeable, drop_when_empty) live in the
``RxQueue`` object and every ``CTRL`` write carries all of them, so enabling, disabling
and resetting never change them; they are changed only while the queue is disabled
(``configure``), as the NIC requires (a change while enabled stops the queue with
``CONFIG_CHANGED``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from model import regmap
from model.hostmem import PAGE_SIZE, HostMemory, align_up
from model.iommu import Domain, Perm
from model.records import (
    CPL_BYTES,
    DESC_BYTES,
    INDEX_MASK,
    MAX_RING_LOG2,
    DescFlags,
    DropReason,
    PlacementMode,
    QueueError,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
    ring_phase,
)

MAX_RING_ENTRIES = 1 << MAX_RING_LOG2
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
    """RXQ STATUS: ``error_code`` is a ``QueueError`` (a plain int for a code this driver
    does not know)."""

    error: bool
    quiescent: bool
    error_code: int


@dataclass(frozen=True)
class QueueCounters:
    """One queue's RXQ PACKETS, BYTES and DROPS."""

    packets: int  # frames delivered
    bytes: int  # their lengths (FCS excluded)
    drops: int  # frames steered here and dropped


@dataclass(frozen=True)
class RxDone:
    """One completion ``poll`` collected, with the descriptors it consumed (oldest first;
    ``descs[0].cookie == cpl.cookie``, ``len(descs) == cpl.desc_count``). Their buffers
    are the caller's again."""

    cpl: RxCompletion
    descs: tuple[RxDescriptor, ...]


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


def _check_fits(field: regmap.Field, value: int, what: str) -> None:
    if not 0 <= value < 1 << field.width:
        raise ValueError(f"{what} {value} does not fit {field.width} bits")


class NicDriver:
    """One splitrx function: ``probe`` first, then ``open_queue``."""

    def __init__(self, regs: RegisterIO, mem: HostMemory, domain: Domain) -> None:
        self.regs = regs
        self.mem = mem
        self.domain = domain
        self.caps: Capabilities | None = None
        self.queues: dict[int, RxQueue] = {}

    async def probe(self, *, promisc: bool = False) -> Capabilities:
        """Read ID, VERSION and CAP_*; refuse a device that is not a splitrx this driver
        speaks (wrong ID, unknown major version, record sizes not ours). Then set the
        receive filter the caller wants: promiscuous (``promisc``: unmatched unicast goes to
        the RSS queue, so with an empty steering table every frame reaches queue 0) or
        filtering, as the device comes up (unmatched unicast dropped as filtered)."""
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
        await self.set_promisc(promisc)
        return self.caps

    async def open_queue(
        self,
        index: int,
        *,
        desc_entries: int = 256,
        cpl_entries: int | None = None,
        data_offset: int = 0,
        mode: PlacementMode = PlacementMode.FULL,
        split_level: SplitLevel = SplitLevel.L4,
        mergeable: bool = False,
        drop_when_empty: bool = True,
        enable: bool = True,
    ) -> RxQueue:
        """Allocate, map and program RX queue ``index`` (completion ring defaults to the
        descriptor ring's size) with its placement settings; enable it unless ``enable``
        is False."""
        caps = self._caps()
        if not 0 <= index < min(caps.rx_queues, regmap.RXQ.entries):
            raise ValueError(f"RX queue {index}: the device has {caps.rx_queues}")
        if index in self.queues:
            raise DriverError(f"RX queue {index} is already open")
        q = RxQueue(
            self,
            index,
            desc_entries,
            cpl_entries or desc_entries,
            data_offset,
            mode=mode,
            split_level=split_level,
            mergeable=mergeable,
            drop_when_empty=drop_when_empty,
        )
        await q.setup()
        if enable:
            await q.enable()
        self.queues[index] = q
        return q

    async def reset_core(self, max_reads: int = 1000) -> list[RxQueue]:
        """Core reset (DEV_CTRL.reset): every queue stops at once and forgets its rings and
        settings; steering, RSS and DMA settings return to their reset values (counters and
        the MSI-X table stay). Waits until DEV_STATUS.reset_busy clears. Returns the queues
        that were open: ``retire`` each (it keeps its rings mapped until the NIC holds
        nothing of it), then open queues again. The device filters again (promiscuous off,
        its reset value): ``set_promisc`` if wanted."""
        busy = regmap.DEV_STATUS.fields["reset_busy"]
        await self.regs.write32(regmap.DEV_CTRL.offset, regmap.DEV_CTRL.fields["reset"].put(1))
        for q in self.queues.values():
            q.enabled = False
        for _ in range(max_reads):
            if not busy.get(await self.regs.read32(regmap.DEV_STATUS.offset)):
                return list(self.queues.values())
        raise QuiesceTimeout(f"DEV_STATUS.reset_busy still set after {max_reads} reads")

    def _caps(self) -> Capabilities:
        if self.caps is None:
            raise DriverError("probe() the device first")
        return self.caps

    async def set_dma_params(
        self,
        *,
        desc_wait: int | None = None,
        cpl_flush: int | None = None,
        rd_timeout_x256: int | None = None,
    ) -> None:
        """Program the engine settings shared by all queues; only those given are written.
        ``desc_wait``: user clocks a frame may wait for a posted, unfetched descriptor
        (DMA_DESC_WAIT); ``cpl_flush``: user clocks a completion waits to be coalesced
        (DMA_CPL_FLUSH); ``rd_timeout_x256``: descriptor read timeout in units of 256 user
        clocks (DMA_RD_TIMEOUT)."""
        settings = (
            (regmap.DMA_DESC_WAIT, "cycles", desc_wait, "DMA_DESC_WAIT"),
            (regmap.DMA_CPL_FLUSH, "cycles", cpl_flush, "DMA_CPL_FLUSH"),
            (regmap.DMA_RD_TIMEOUT, "cycles_x256", rd_timeout_x256, "DMA_RD_TIMEOUT"),
        )
        for reg, name, value, what in settings:  # check all before writing any
            if value is not None:
                _check_fits(reg.fields[name], value, what)
        for reg, name, value, _ in settings:
            if value is not None:
                await self.regs.write32(reg.offset, reg.fields[name].put(value))

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

    async def set_rss(
        self, key: bytes, indirection: Sequence[int], udp_4tuple: bool = False
    ) -> None:
        """Program receive-side scaling: the Toeplitz ``key`` (``CAP_TABLES.rss_key_bytes``
        bytes, in the order RSS lists them, e.g. ``model.rss.MS_VERIFICATION_KEY``), the
        ``indirection`` table (``CAP_TABLES.rss_entries`` queues: entry ``hash % entries`` is
        the queue of broadcast, multicast and promiscuous unicast frames) and whether UDP is
        hashed over its ports too (``udp_4tuple``; TCP always is, fragments never). Every
        completion then carries the frame's hash and its type. Everything is checked before
        anything is written."""
        caps = self._caps()
        if len(key) != caps.rss_key_bytes:
            raise ValueError(f"RSS key of {len(key)} bytes: the device takes {caps.rss_key_bytes}")
        if len(key) != regmap.RSS_KEY_COUNT * regmap.RSS_KEY_STRIDE:
            raise DriverError(f"register map holds {regmap.RSS_KEY_COUNT} RSS_KEY words")
        table = [int(q) for q in indirection]
        if len(table) != caps.rss_entries:
            raise ValueError(
                f"indirection table of {len(table)} entries: the device has {caps.rss_entries}"
            )
        bad = [q for q in table if not 0 <= q < caps.rx_queues]
        if bad:
            raise ValueError(f"indirection names queue {bad[0]}: the device has {caps.rx_queues}")
        f = regmap.RSS_INDIR.fields
        for i in range(regmap.RSS_KEY_COUNT):
            word = int.from_bytes(key[4 * i : 4 * i + 4], "big")  # byte 4i in bits 31:24
            await self.regs.write32(regmap.RSS_KEY_OFFSET + i * regmap.RSS_KEY_STRIDE, word)
        await self.regs.write32(
            regmap.RSS_CTRL.offset, regmap.RSS_CTRL.fields["udp_4tuple"].put(int(udp_4tuple))
        )
        for index, queue in enumerate(table):
            await self.regs.write32(
                regmap.RSS_INDIR.offset,
                f["queue"].put(queue) | f["index"].put(index) | f["write"].put(1),
            )

    async def read_counter64(
        self, regfile: regmap.RegFile, index: int = 0, counter: str | None = None
    ) -> int:
        """A 64-bit counter: LO first (reading it latches HI), then HI. ``regfile`` is the
        counter itself (``regmap.DROP``, ``regmap.RX_FRAMES``), or with ``counter`` the
        regfile that holds it (``read_counter64(regmap.RXQ, q, "PACKETS")``)."""
        prefix = "" if counter is None else f"{counter}."
        lo = await self.regs.read32(regfile.addr(index, prefix + "LO"))
        hi = await self.regs.read32(regfile.addr(index, prefix + "HI"))
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
    """One RX queue: its rings in host memory, its settings and its registers. Create with
    ``NicDriver.open_queue``."""

    def __init__(
        self,
        drv: NicDriver,
        index: int,
        desc_entries: int,
        cpl_entries: int,
        data_offset: int,
        *,
        mode: PlacementMode = PlacementMode.FULL,
        split_level: SplitLevel = SplitLevel.L4,
        mergeable: bool = False,
        drop_when_empty: bool = True,
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
        _check_fits(regmap.RXQ.regs["DATA_OFFSET"].fields["bytes"], data_offset, "data offset")
        self.desc_entries = desc_entries
        self.cpl_entries = cpl_entries
        self.data_offset = data_offset
        self.mode = PlacementMode(mode)
        self.split_level = SplitLevel(split_level)
        self.mergeable = bool(mergeable)
        self.drop_when_empty = bool(drop_when_empty)
        self.moderation = (
            regmap.RXQ.regs["MODERATION"].fields["packets"].reset,
            regmap.RXQ.regs["MODERATION"].fields["cycles"].reset,
        )
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
        self._posted: deque[RxDescriptor] = deque()  # not yet consumed by a completion
        self._unacked = 0  # descriptors of completions polled, CPL_HEAD not yet written

    def _addr(self, reg: str) -> int:
        return regmap.RXQ.addr(self.index, reg)

    async def _write(self, reg: str, **values: int) -> None:
        r = regmap.RXQ.regs[reg]
        await self.regs.write32(self._addr(reg), sum(r.fields[k].put(v) for k, v in values.items()))

    async def _read(self, reg: str, field: str) -> int:
        return regmap.RXQ.regs[reg].fields[field].get(await self.regs.read32(self._addr(reg)))

    async def _write_ctrl(self, *, enable: bool, reset: bool = False) -> None:
        """CTRL with every setting of this queue, so no write changes what it did not
        mean to change."""
        await self._write(
            "CTRL",
            enable=int(enable),
            reset=int(reset),
            mode=self.mode,
            split_level=self.split_level,
            mergeable=int(self.mergeable),
            drop_when_empty=int(self.drop_when_empty),
        )

    # -- set-up and teardown ----------------------------------------------------------------

    async def setup(self) -> None:
        """Allocate and map both rings (zero-filled), program the queue's registers (the
        queue is left disabled)."""
        mem, dom = self.drv.mem, self.drv.domain
        name = f"rxq{self.index}"
        self.desc_base = mem.alloc(self._desc_bytes, PAGE_SIZE, f"{name} descriptors")
        self.cpl_base = mem.alloc(self._cpl_bytes, PAGE_SIZE, f"{name} completions")
        mem.fill(self.desc_base, self._desc_bytes)
        mem.fill(self.cpl_base, self._cpl_bytes)
        dom.map(self.desc_base, self.desc_base, self._desc_bytes, Perm.READ)
        dom.map(self.cpl_base, self.cpl_base, self._cpl_bytes, Perm.WRITE)
        await self._write_ctrl(enable=False, reset=True)
        await self._write("DESC_BASE_LO", addr=self.desc_base & 0xFFFF_FFFF)
        await self._write("DESC_BASE_HI", addr=self.desc_base >> 32)
        await self._write("DESC_SIZE", log2=self.desc_log2)
        await self._write("CPL_BASE_LO", addr=self.cpl_base & 0xFFFF_FFFF)
        await self._write("CPL_BASE_HI", addr=self.cpl_base >> 32)
        await self._write("CPL_SIZE", log2=self.cpl_log2)
        await self._write("DATA_OFFSET", bytes=self.data_offset)
        await self._write("MODERATION", packets=self.moderation[0], cycles=self.moderation[1])
        await self._write("DESC_TAIL", index=0)
        await self._write("CPL_HEAD", index=0)

    async def enable(self) -> None:
        await self._write_ctrl(enable=True)
        self.enabled = True

    async def disable(self) -> None:
        """Stop placing frames (they are dropped as queue_disabled); see ``quiesce``."""
        await self._write_ctrl(enable=False)
        self.enabled = False

    async def configure(
        self,
        *,
        mode: PlacementMode | None = None,
        split_level: SplitLevel | None = None,
        mergeable: bool | None = None,
        drop_when_empty: bool | None = None,
    ) -> None:
        """Change placement settings (those given). Only while the queue is disabled: the
        NIC stops an enabled queue whose settings change (``CONFIG_CHANGED``)."""
        if self.enabled:
            raise DriverError(f"RX queue {self.index}: disable it before changing its settings")
        if mode is not None:
            self.mode = PlacementMode(mode)
        if split_level is not None:
            self.split_level = SplitLevel(split_level)
        if mergeable is not None:
            self.mergeable = bool(mergeable)
        if drop_when_empty is not None:
            self.drop_when_empty = bool(drop_when_empty)
        await self._write_ctrl(enable=False)

    async def enable_irq(self, vector: int) -> None:
        """Ask for MSI-X ``vector`` after this queue's completions, as ``set_moderation``
        allows (program the table entry with ``NicDriver.set_msix_vector``)."""
        vectors = self.drv._caps().msix_vectors
        if not 0 <= vector < vectors:
            raise ValueError(f"MSI-X vector {vector} not in 0..{vectors - 1}")
        await self._write("IRQ", vector=vector, enable=1)

    async def disable_irq(self) -> None:
        await self._write("IRQ", vector=0, enable=0)

    async def set_moderation(self, packets: int, cycles: int) -> None:
        """Interrupt moderation: an interrupt is due after ``packets`` completions (0 counts
        as 1), or ``cycles`` user clocks after the first unannounced one (0: no timer)."""
        f = regmap.RXQ.regs["MODERATION"].fields
        _check_fits(f["packets"], packets, "moderation packets")
        _check_fits(f["cycles"], cycles, "moderation cycles")
        await self._write("MODERATION", packets=packets, cycles=cycles)
        self.moderation = (packets, cycles)

    async def quiesce(self, max_reads: int = 1000) -> None:
        """Disable the queue and wait until STATUS.quiescent says nothing of it is in
        flight (no frame being placed, no completion buffered, no descriptor read
        outstanding), or the queue is stopped by an error (``reset`` discards what is
        left). The register reads also flush the NIC's earlier DMA writes."""
        await self.disable()
        await self._wait_quiescent(max_reads)

    async def _wait_quiescent(self, max_reads: int) -> None:
        for _ in range(max_reads):
            st = await self.status()
            if st.quiescent or st.error:
                return
        raise QuiesceTimeout(f"RX queue {self.index} not quiescent after {max_reads} reads")

    async def reset(self, enable: bool | None = None) -> list[RxDescriptor]:
        """Quiesce, pulse CTRL.reset (head, completion tail, descriptor cache, error), zero
        the completion ring and both doorbells; re-enable if ``enable`` (default: if it was
        enabled). Returns the descriptors that were outstanding: their buffers come back
        unused and are the caller's to recycle or free."""
        was_enabled = self.enabled
        await self.quiesce()
        await self._write_ctrl(enable=False, reset=True)
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
        self._release()
        return lost

    async def retire(self, max_reads: int = 1000) -> list[RxDescriptor]:
        """After ``NicDriver.reset_core``: wait until STATUS.quiescent (a descriptor read
        still in flight keeps its tag until answered; its data is then ignored), unmap the
        rings and forget the queue. Returns the outstanding descriptors (``poll`` first to
        collect completions already written)."""
        await self._wait_quiescent(max_reads)  # the reset disabled it: no CTRL write
        lost = list(self._posted)
        self._release()
        return lost

    def _release(self) -> None:
        """Unmap both rings and forget the queue (the NIC holds nothing of it)."""
        self.drv.domain.unmap(self.desc_base, self._desc_bytes)
        self.drv.domain.unmap(self.cpl_base, self._cpl_bytes)
        self.enabled = False
        self.closed = True
        self.drv.queues.pop(self.index, None)

    async def status(self) -> QueueStatus:
        v = await self.regs.read32(self._addr("STATUS"))
        f = regmap.RXQ.regs["STATUS"].fields
        code: int = f["error_code"].get(v)
        try:
            code = QueueError(code)
        except ValueError:  # a code newer than this driver: reported as a number
            pass
        return QueueStatus(bool(f["error"].get(v)), bool(f["quiescent"].get(v)), code)

    async def counters(self) -> QueueCounters:
        """This queue's PACKETS, BYTES and DROPS (64-bit, LO then HI)."""
        read = self.drv.read_counter64
        return QueueCounters(
            await read(regmap.RXQ, self.index, "PACKETS"),
            await read(regmap.RXQ, self.index, "BYTES"),
            await read(regmap.RXQ, self.index, "DROPS"),
        )

    # -- data path --------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Descriptors posted and not yet returned by a completion acknowledged through
        CPL_HEAD (one completion may return several)."""
        return len(self._posted) + self._unacked

    @property
    def free_slots(self) -> int:
        """Descriptors ``post`` accepts now."""
        return self.desc_entries - self.outstanding

    @property
    def posted_descriptors(self) -> list[RxDescriptor]:
        """Descriptors posted and not yet consumed by a completion, oldest first."""
        return list(self._posted)

    @property
    def expected_phase(self) -> int:
        return ring_phase(self.cpl_head, self.cpl_log2)

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

    async def poll(self, budget: int = 64) -> list[RxDone]:
        """Collect up to ``budget`` completions whose phase is the expected one, each with
        the descriptors it consumed, then acknowledge them with one CPL_HEAD write (their
        descriptors' slots are free once it is written)."""
        out: list[RxDone] = []
        mask = self.cpl_entries - 1
        while len(out) < budget:
            slot = self.cpl_head & mask
            run = min(budget - len(out), self.cpl_entries - slot)
            raw = self.drv.mem.read(self.cpl_base + slot * CPL_BYTES, run * CPL_BYTES)
            phase = self.expected_phase
            taken = 0
            for k in range(run):
                rec = raw[k * CPL_BYTES : (k + 1) * CPL_BYTES]
                if RxCompletion.phase_of(rec) != phase:
                    break
                out.append(self._consume(RxCompletion.unpack(rec)))
                taken += 1
            if taken < run:
                break
        if out:
            returned = sum(len(d.descs) for d in out)
            await self._write("CPL_HEAD", index=self.cpl_head)
            self._unacked -= returned
        return out

    def _consume(self, cpl: RxCompletion) -> RxDone:
        where = f"RX queue {self.index}: completion at {self.cpl_head}"
        if cpl.desc_count < 1 or cpl.desc_count > len(self._posted):
            raise NicProtocolError(
                f"{where} uses {cpl.desc_count} descriptors, {len(self._posted)} outstanding"
            )
        first = self._posted[0]
        if cpl.cookie != first.cookie:
            raise NicProtocolError(
                f"{where} has cookie {cpl.cookie:#x}, the oldest outstanding descriptor "
                f"{first.cookie:#x}"
            )
        last = self._posted[cpl.desc_count - 1]
        if not last.flags & DescFlags.EOG:
            raise NicProtocolError(
                f"{where} uses {cpl.desc_count} descriptors, ending inside a group (the NIC "
                "consumes whole groups)"
            )
        descs = tuple(self._posted.popleft() for _ in range(cpl.desc_count))
        self._unacked += len(descs)
        self.cpl_head = (self.cpl_head + 1) & INDEX_MASK
        return RxDone(cpl, descs)

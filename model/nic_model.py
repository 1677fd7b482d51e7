# SPDX-License-Identifier: MIT
"""Transaction-level reference model of the NIC's receive queue (the scoreboard's predictor),
and ``FakeNic``, which applies it to host memory so drivers run without a simulator.

Behaviour modelled (the thin path of issue 4, from DESIGN.md -- not from the RTL): one
descriptor per group, FULL placement, no interrupts. For each frame (FCS already stripped)
steered to queue ``q``, in this order:

1. queue disabled -> dropped ``QUEUE_DISABLED``;
2. queue in error -> dropped ``QUEUE_ERROR``;
3. ring configuration bad (a ring base not 32-byte aligned, a size above 2**15 entries,
   completion ring smaller than the descriptor ring) -> error ``BAD_CONFIG``, ``QUEUE_ERROR``;
4. no posted descriptor (``head == tail``) -> dropped ``NO_BUFFER``; nothing consumed;
5. completion ring full (``cpl_tail - cpl_head == entries``, a host bug) -> error
   ``CPL_FULL``, ``QUEUE_ERROR``;
6. the descriptor at ``head`` is read (``head`` advances); a failed read -> error
   ``DESC_READ``, ``QUEUE_ERROR``; no EOG -> error ``NO_EOG``, ``QUEUE_ERROR``;
7. ``data_offset + len > data_len`` -> nothing is written; a completion with status
   ``TOO_LONG_FOR_GROUP`` and ``payload_len`` 0 is; counted as a ``TOO_LONG_FOR_GROUP`` drop;
8. otherwise the frame is written at ``data_addr + data_offset``, then the completion
   (``payload_len == frame_len``, desc/group count 1, every parse field 0); the frame counts
   in ``RX_FRAMES`` and its length (FCS excluded) in ``RX_BYTES``.

The completion for ``cpl_tail`` goes to slot ``cpl_tail % entries`` with phase 1 on the first
lap, flipping each lap. Indices are free-running 16-bit counts. A queue in error stays so
until ``CTRL.reset`` (which zeroes head, completion tail and error).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from model import regmap
from model.hostmem import Buffer, HostMemory
from model.iommu import Domain, IommuFault
from model.records import CplStatus, DescFlags, DropReason, RxCompletion, RxDescriptor
from model.tracker import DmaWriteTracker

DESC_BYTES = RxDescriptor.size()
CPL_BYTES = RxCompletion.size()
INDEX_MASK = 0xFFFF  # descriptor/completion indices are free-running 16-bit counts
MAX_RING_LOG2 = 15
RING_ALIGN = 32


class QueueErrorCode(enum.IntEnum):
    """``RXQ.STATUS.error_code`` values (docs/registers.md)."""

    NONE = 0
    DESC_READ = 1  # descriptor read answered with an error
    DESC_TIMEOUT = 2  # descriptor read never answered
    CPL_FULL = 3  # completion ring full (host bug)
    NO_EOG = 4  # descriptor without EOG (chains not supported yet)
    BAD_CONFIG = 5  # unaligned ring base or bad ring size


def ring_phase(index: int, size_log2: int) -> int:
    """Phase bit of the completion written at free-running index ``index``: 1 on the first
    lap of the ring, flipping each lap."""
    return ((index & INDEX_MASK) >> size_log2 & 1) ^ 1


@dataclass(frozen=True)
class QueueConfig:
    """What the host programmed into one RXQ (addresses are bus addresses, i.e. IOVAs)."""

    desc_base: int
    desc_size_log2: int
    cpl_base: int
    cpl_size_log2: int
    data_offset: int
    enabled: bool = True

    @property
    def desc_entries(self) -> int:
        return 1 << self.desc_size_log2

    @property
    def cpl_entries(self) -> int:
        return 1 << self.cpl_size_log2

    def desc_addr(self, index: int) -> int:
        """Address of the descriptor at free-running index ``index``."""
        return self.desc_base + (index & (self.desc_entries - 1)) * DESC_BYTES

    def cpl_addr(self, index: int) -> int:
        return self.cpl_base + (index & (self.cpl_entries - 1)) * CPL_BYTES

    def problem(self) -> str | None:
        """Why the NIC refuses this configuration (``BAD_CONFIG``), or None."""
        if self.desc_base % RING_ALIGN or self.cpl_base % RING_ALIGN:
            return f"ring base not {RING_ALIGN}-byte aligned"
        if not 0 <= self.desc_size_log2 <= MAX_RING_LOG2:
            return f"descriptor ring log2 size {self.desc_size_log2} > {MAX_RING_LOG2}"
        if not 0 <= self.cpl_size_log2 <= MAX_RING_LOG2:
            return f"completion ring log2 size {self.cpl_size_log2} > {MAX_RING_LOG2}"
        if self.cpl_size_log2 < self.desc_size_log2:
            return "completion ring smaller than the descriptor ring"
        return None


@dataclass(frozen=True)
class QueueState:
    """The queue's pointers: ``desc_tail`` and ``cpl_head`` are written by the host, the
    others by the NIC."""

    desc_tail: int = 0
    desc_head: int = 0
    cpl_tail: int = 0
    cpl_head: int = 0
    error_code: QueueErrorCode = QueueErrorCode.NONE

    @property
    def error(self) -> bool:
        return self.error_code != QueueErrorCode.NONE

    @property
    def posted(self) -> int:
        """Descriptors posted and not yet consumed by the NIC."""
        return (self.desc_tail - self.desc_head) & INDEX_MASK


class DescriptorReadError(Exception):
    """Raised by a descriptor source when the read fails (error completion)."""


#: Where the predictor gets the descriptor at a ring slot: the ring's contents (a sequence
#: indexed by slot), or a function of the slot that may raise ``DescriptorReadError`` /
#: ``IommuFault`` for a failed read.
DescriptorSource = Sequence[RxDescriptor] | Callable[[int], RxDescriptor]


@dataclass(frozen=True)
class Prediction:
    """What one frame does: the bytes that land (IOVA, data) in order, the completion, the
    drop reason if it is not delivered, the queue error it raises, and the state after."""

    drop: DropReason | None
    data_writes: tuple[tuple[int, bytes], ...]
    completion: RxCompletion | None
    cpl_addr: int | None
    descriptor: RxDescriptor | None  # the descriptor consumed, if any
    error_raised: QueueErrorCode
    state: QueueState  # after the frame

    @property
    def delivered(self) -> bool:
        return self.drop is None

    @property
    def writes(self) -> list[tuple[int, bytes]]:
        """Every DMA write in order: frame data first, then the completion record."""
        out = list(self.data_writes)
        if self.completion is not None and self.cpl_addr is not None:
            out.append((self.cpl_addr, self.completion.pack()))
        return out


def _read_desc(ring: DescriptorSource, slot: int) -> RxDescriptor:
    if isinstance(ring, Sequence):
        return ring[slot]
    return ring(slot)


def make_completion(
    desc: RxDescriptor, frame_len: int, status: CplStatus, phase: int
) -> RxCompletion:
    """The completion record of the thin path (no parse results yet)."""
    return RxCompletion(
        cookie=desc.cookie,
        rss_hash=0,
        frame_len=frame_len,
        hdr_len=0,
        payload_len=frame_len if status == CplStatus.OK else 0,
        csum=0,
        flags=0,
        vlan_tci=0,
        desc_count=1,
        group_count=1,
        status=status,
        l3_type=0,
        l4_type=0,
        csum_status=0,
        rss_type=0,
        phase=phase,
    )


def predict_frame(
    cfg: QueueConfig, state: QueueState, ring: DescriptorSource, frame: Buffer
) -> Prediction:
    """Predict what ``frame`` (FCS stripped) does to a queue in ``state``. Pure: ``ring`` is
    only read, at most once, at the slot of ``state.desc_head``."""
    n = len(frame)
    if not 0 < n <= INDEX_MASK:
        raise ValueError(f"frame of {n} bytes")

    def dropped(
        reason: DropReason,
        st: QueueState = state,
        err: QueueErrorCode = QueueErrorCode.NONE,
    ) -> Prediction:  # a frame that leaves no trace in memory
        return Prediction(reason, (), None, None, None, err, st)

    def fail(err: QueueErrorCode, st: QueueState = state) -> Prediction:
        return dropped(DropReason.QUEUE_ERROR, replace(st, error_code=err), err)

    if not cfg.enabled:
        return dropped(DropReason.QUEUE_DISABLED)
    if state.error:
        return dropped(DropReason.QUEUE_ERROR)
    if cfg.problem() is not None:
        return fail(QueueErrorCode.BAD_CONFIG)
    if state.desc_head == state.desc_tail:
        return dropped(DropReason.NO_BUFFER)
    if (state.cpl_tail - state.cpl_head) & INDEX_MASK >= cfg.cpl_entries:
        return fail(QueueErrorCode.CPL_FULL)
    consumed = replace(state, desc_head=(state.desc_head + 1) & INDEX_MASK)
    try:
        desc = _read_desc(ring, state.desc_head & (cfg.desc_entries - 1))
    except (DescriptorReadError, IommuFault):
        return fail(QueueErrorCode.DESC_READ, consumed)
    if not desc.flags & DescFlags.EOG:
        return fail(QueueErrorCode.NO_EOG, consumed)
    fits = cfg.data_offset + n <= desc.data_len
    status = CplStatus.OK if fits else CplStatus.TOO_LONG_FOR_GROUP
    cpl = make_completion(desc, n, status, ring_phase(state.cpl_tail, cfg.cpl_size_log2))
    writes = ((desc.data_addr + cfg.data_offset, bytes(frame)),) if fits else ()
    after = replace(consumed, cpl_tail=(state.cpl_tail + 1) & INDEX_MASK)
    return Prediction(
        None if fits else DropReason.TOO_LONG_FOR_GROUP,
        writes,
        cpl,
        cfg.cpl_addr(state.cpl_tail),
        desc,
        QueueErrorCode.NONE,
        after,
    )


# --------------------------------------------------------------------------------------------
# FakeNic: the model applied to memory, behind BAR0 register semantics
# --------------------------------------------------------------------------------------------


class MmioError(Exception):
    """A BAR0 access the device refuses (``ERR_STATUS.mmio_bad_access``)."""


@dataclass(frozen=True)
class DeviceWrite:
    """One DMA write the fake NIC issued (before IOMMU translation)."""

    seq: int
    iova: int
    data: bytes
    kind: str  # "data" or "completion"
    faulted: bool  # the IOMMU refused it (nothing was written)


@dataclass
class _Queue:
    ctrl_enable: bool = False
    desc_base: int = 0
    desc_size_log2: int = 0
    cpl_base: int = 0
    cpl_size_log2: int = 0
    data_offset: int = 0
    state: QueueState = field(default_factory=QueueState)

    def config(self) -> QueueConfig:
        return QueueConfig(
            self.desc_base,
            self.desc_size_log2,
            self.cpl_base,
            self.cpl_size_log2,
            self.data_offset,
            self.ctrl_enable,
        )


class FakeNic:
    """The NIC as a driver sees it, without a simulator: BAR0 registers through the
    ``RegisterIO`` methods ``read32``/``write32`` (ID/VERSION/CAP_*, SCRATCH, ERR_STATUS,
    counters, every RXQ), and ``receive(frame)`` applying ``predict_frame`` to host memory
    through the device's IOMMU ``domain``. A DMA write the IOMMU refuses is recorded there
    and lost (posted writes get no answer), as on a real link. Frame data writes are also
    reported to ``tracker``; every write is logged in ``writes``.

    Registers it does not model (DMA self-test, MSI-X) and any other bad access set
    ``ERR_STATUS.mmio_bad_access`` and, with ``strict``, raise ``MmioError``.
    """

    def __init__(
        self,
        mem: HostMemory,
        domain: Domain,
        *,
        tracker: DmaWriteTracker | None = None,
        id_value: int = regmap.ID.reset,
        strict: bool = True,
    ) -> None:
        self.mem = mem
        self.domain = domain
        self.tracker = tracker
        self.id_value = id_value
        self.strict = strict
        self.queues = [_Queue() for _ in range(regmap.RXQ.entries)]
        self.drops: dict[DropReason, int] = {r: 0 for r in DropReason}
        self.rx_frames = 0
        self.rx_bytes = 0
        self.scratch = 0
        self.err_status = 0
        self.writes: list[DeviceWrite] = []
        self.mmio_reads = 0
        self.mmio_writes = 0
        self._latched: dict[int, int] = {}  # HI offset -> value latched by reading LO
        self._counter_lo: dict[int, DropReason | str] = {
            regmap.DROP.addr(r, "LO"): r for r in DropReason
        }
        self._counter_lo[regmap.RX_FRAMES.addr(0, "LO")] = "rx_frames"
        self._counter_lo[regmap.RX_BYTES.addr(0, "LO")] = "rx_bytes"
        self._queue_regs: dict[int, tuple[int, str]] = {
            regmap.RXQ.addr(i, name): (i, name)
            for i in range(regmap.RXQ.entries)
            for name in regmap.RXQ.regs
        }

    # -- frames -----------------------------------------------------------------------------

    def receive(self, frame: Buffer, queue: int = 0) -> Prediction:
        """A frame (FCS stripped) steered to ``queue`` arrives; returns what it did."""
        q = self.queues[queue]
        p = predict_frame(q.config(), q.state, self._fetch_descriptor(q), frame)
        for iova, data in p.data_writes:
            self._dma_write(iova, data, "data")
        if p.completion is not None and p.cpl_addr is not None:
            self._dma_write(p.cpl_addr, p.completion.pack(), "completion")
        q.state = p.state
        if p.drop is None:
            self.rx_frames += 1
            self.rx_bytes += len(frame)
        else:
            self.drops[p.drop] += 1
        return p

    def _fetch_descriptor(self, q: _Queue) -> Callable[[int], RxDescriptor]:
        def fetch(slot: int) -> RxDescriptor:
            iova = q.desc_base + slot * DESC_BYTES
            chunks = self.domain.translate(iova, DESC_BYTES, write=False)
            return RxDescriptor.unpack(b"".join(self.mem.read(a, n) for a, n in chunks))

        return fetch

    def _dma_write(self, iova: int, data: bytes, kind: str) -> None:
        try:
            chunks = self.domain.translate(iova, len(data), write=True)
        except IommuFault:  # recorded in iommu.faults; a posted write is simply lost
            self.writes.append(DeviceWrite(len(self.writes), iova, data, kind, True))
            return
        self.writes.append(DeviceWrite(len(self.writes), iova, data, kind, False))
        if kind == "data" and self.tracker is not None:
            self.tracker.record_write(iova, data)
        pos = 0
        for addr, n in chunks:
            self.mem.write(addr, data[pos : pos + n])
            pos += n

    def state(self, queue: int = 0) -> QueueState:
        return self.queues[queue].state

    def config(self, queue: int = 0) -> QueueConfig:
        return self.queues[queue].config()

    # -- BAR0 -------------------------------------------------------------------------------

    def _bad(self, what: str) -> int:
        self.err_status |= regmap.ERR_STATUS.fields["mmio_bad_access"].put(1)
        if self.strict:
            raise MmioError(what)
        return 0xFFFF_FFFF

    async def read32(self, offset: int) -> int:
        self.mmio_reads += 1
        return self.read_now(offset)

    async def write32(self, offset: int, value: int) -> None:
        self.mmio_writes += 1
        self.write_now(offset, value)

    def read_now(self, offset: int) -> int:
        """``read32`` without awaiting (for tests and the scoreboard)."""
        fixed = {
            regmap.ID.offset: self.id_value,
            regmap.VERSION.offset: regmap.VERSION.reset,
            regmap.CAP_QUEUES.offset: regmap.CAP_QUEUES.reset,
            regmap.CAP_TABLES.offset: regmap.CAP_TABLES.reset,
            regmap.CAP_DATAPATH.offset: regmap.CAP_DATAPATH.reset,
            regmap.PCIE_CFG.offset: 0,
            regmap.SCRATCH.offset: self.scratch,
            regmap.ERR_STATUS.offset: self.err_status,
        }
        if offset in fixed:
            return fixed[offset]
        if offset in self._counter_lo:
            value = self.counter(self._counter_lo[offset]) & ((1 << 64) - 1)
            self._latched[offset + 4] = value >> 32
            return value & 0xFFFF_FFFF
        if offset - 4 in self._counter_lo:
            return self._latched.get(offset, 0)
        if offset in self._queue_regs:
            index, name = self._queue_regs[offset]
            return self._read_queue(self.queues[index], name)
        return self._bad(f"read of {offset:#x}: no register modelled there")

    def _read_queue(self, q: _Queue, name: str) -> int:
        f = regmap.RXQ.regs[name].fields
        st = q.state
        match name:
            case "CTRL":
                return f["enable"].put(int(q.ctrl_enable))
            case "STATUS":
                return f["error"].put(int(st.error)) | f["error_code"].put(int(st.error_code))
            case "DESC_BASE_LO":
                return q.desc_base & 0xFFFF_FFFF
            case "DESC_BASE_HI":
                return q.desc_base >> 32
            case "DESC_SIZE":
                return f["log2"].put(q.desc_size_log2)
            case "DESC_TAIL":
                return f["index"].put(st.desc_tail)
            case "DESC_HEAD":
                return f["index"].put(st.desc_head)
            case "DATA_OFFSET":
                return f["bytes"].put(q.data_offset)
            case "CPL_BASE_LO":
                return q.cpl_base & 0xFFFF_FFFF
            case "CPL_BASE_HI":
                return q.cpl_base >> 32
            case "CPL_SIZE":
                return f["log2"].put(q.cpl_size_log2)
            case "CPL_HEAD":
                return f["index"].put(st.cpl_head)
            case "CPL_TAIL":
                return f["index"].put(st.cpl_tail)
        raise AssertionError(name)

    def write_now(self, offset: int, value: int) -> None:
        """``write32`` without awaiting."""
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"{value:#x} is not a 32-bit value")
        if offset == regmap.SCRATCH.offset:
            self.scratch = value
            return
        if offset == regmap.ERR_STATUS.offset:  # RW1C
            self.err_status &= ~value
            return
        if offset in self._queue_regs:
            index, name = self._queue_regs[offset]
            if self._write_queue(self.queues[index], name, value):
                return
        self._bad(f"write of {value:#x} to {offset:#x}: read-only or not modelled")

    def _write_queue(self, q: _Queue, name: str, value: int) -> bool:
        f = regmap.RXQ.regs[name].fields
        match name:
            case "CTRL":
                q.ctrl_enable = bool(f["enable"].get(value))
                if f["reset"].get(value):
                    q.state = replace(
                        q.state,
                        desc_head=0,
                        cpl_tail=0,
                        error_code=QueueErrorCode.NONE,
                    )
            case "DESC_BASE_LO":
                q.desc_base = (q.desc_base & ~0xFFFF_FFFF) | value
            case "DESC_BASE_HI":
                q.desc_base = (q.desc_base & 0xFFFF_FFFF) | value << 32
            case "DESC_SIZE":
                q.desc_size_log2 = f["log2"].get(value)
            case "DESC_TAIL":
                q.state = replace(q.state, desc_tail=f["index"].get(value))
            case "DATA_OFFSET":
                q.data_offset = f["bytes"].get(value)
            case "CPL_BASE_LO":
                q.cpl_base = (q.cpl_base & ~0xFFFF_FFFF) | value
            case "CPL_BASE_HI":
                q.cpl_base = (q.cpl_base & 0xFFFF_FFFF) | value << 32
            case "CPL_SIZE":
                q.cpl_size_log2 = f["log2"].get(value)
            case "CPL_HEAD":
                q.state = replace(q.state, cpl_head=f["index"].get(value))
            case _:  # STATUS, DESC_HEAD, CPL_TAIL are read-only
                return False
        return True

    def counter(self, name: DropReason | str) -> int:
        """A counter's value: a DropReason, ``"rx_frames"`` or ``"rx_bytes"``."""
        if isinstance(name, DropReason):
            return self.drops[name]
        if name == "rx_frames":
            return self.rx_frames
        if name == "rx_bytes":
            return self.rx_bytes
        raise KeyError(name)

    def set_counter(self, reason: DropReason | str, value: int) -> None:
        """Test hook: preset a counter (a DropReason, ``"rx_frames"`` or ``"rx_bytes"``)."""
        if isinstance(reason, DropReason):
            self.drops[reason] = value
        elif reason == "rx_frames":
            self.rx_frames = value
        elif reason == "rx_bytes":
            self.rx_bytes = value
        else:
            raise KeyError(reason)


__all__ = [
    "CPL_BYTES",
    "DESC_BYTES",
    "DescriptorReadError",
    "DescriptorSource",
    "DeviceWrite",
    "FakeNic",
    "MmioError",
    "Prediction",
    "QueueConfig",
    "QueueErrorCode",
    "QueueState",
    "make_completion",
    "predict_frame",
    "ring_phase",
]

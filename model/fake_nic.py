# SPDX-License-Identifier: MIT
"""``FakeNic``: the reference model (``model.nic_model``) applied to host memory behind BAR0
register semantics, so drivers run without a simulator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from model import regmap
from model.hostmem import Buffer, HostMemory
from model.iommu import Domain, IommuFault
from model.nic_model import (
    Prediction,
    QueueConfig,
    QueueState,
    predict_frame,
)
from model.parse_meta import Meta
from model.records import (
    DESC_BYTES,
    CplFlags,
    DropReason,
    PlacementMode,
    QueueError,
    RxDescriptor,
    SplitLevel,
)
from model.rss import INDIRECTION_ENTRIES, RssConfig
from model.tracker import DmaWriteTracker

_MASK64 = (1 << 64) - 1
_CTRL = regmap.RXQ.regs["CTRL"].fields
#: CTRL fields that may change only while the queue is disabled (else CONFIG_CHANGED).
_SETTINGS = ("mode", "split_level", "mergeable", "drop_when_empty")
_MODES = frozenset(int(m) for m in PlacementMode)
#: Per-queue 64-bit counters: the name ``counter`` takes (a ``_Queue`` attribute) -> the
#: counter in RXQ[i], whose registers are ``regmap.RXQ.regs["PACKETS.LO"]`` and ``".HI"``.
_QUEUE_COUNTERS: dict[str, str] = {"packets": "PACKETS", "bytes": "BYTES", "drops": "DROPS"}
#: Global settings registers: reset value and the mask of their fields.
_SETTINGS_REGS = (regmap.DMA_DESC_WAIT, regmap.DMA_CPL_FLUSH, regmap.DMA_RD_TIMEOUT)
_INDIR = regmap.RSS_INDIR.fields
#: RSS_KEY[i] offset -> i
_RSS_KEY_REGS = {
    regmap.RSS_KEY_OFFSET + i * regmap.RSS_KEY_STRIDE: i for i in range(regmap.RSS_KEY_COUNT)
}


def _reg_mask(reg: regmap.Reg) -> int:
    return sum(f.mask for f in reg.fields.values())


class MmioError(Exception):
    """A BAR0 access the device refuses (``ERR_STATUS.mmio_bad_access``)."""


@dataclass(frozen=True)
class DeviceWrite:
    """One DMA write the fake NIC issued (before IOMMU translation)."""

    seq: int
    iova: int
    data: bytes
    kind: str  # "header" (split header buffer), "data" or "completion"
    faulted: bool  # the IOMMU refused it (nothing was written)


@dataclass
class _Queue:
    ctrl_enable: bool = False
    mode: PlacementMode = PlacementMode(_CTRL["mode"].reset)
    split_level: SplitLevel = SplitLevel(_CTRL["split_level"].reset)
    mergeable: bool = bool(_CTRL["mergeable"].reset)
    drop_when_empty: bool = bool(_CTRL["drop_when_empty"].reset)
    desc_base: int = 0
    desc_size_log2: int = 0
    cpl_base: int = 0
    cpl_size_log2: int = 0
    data_offset: int = 0
    irq: int = regmap.RXQ.regs["IRQ"].reset  # stored; the fake sends no interrupts
    moderation: int = regmap.RXQ.regs["MODERATION"].reset  # stored, no effect
    packets: int = 0  # frames delivered
    bytes: int = 0  # their lengths
    drops: int = 0  # frames steered here and dropped
    state: QueueState = field(default_factory=QueueState)

    def config(self) -> QueueConfig:
        return QueueConfig(
            desc_base=self.desc_base,
            desc_size_log2=self.desc_size_log2,
            cpl_base=self.cpl_base,
            cpl_size_log2=self.cpl_size_log2,
            data_offset=self.data_offset,
            enabled=self.ctrl_enable,
            mode=self.mode,
            split_level=self.split_level,
            mergeable=self.mergeable,
            drop_when_empty=self.drop_when_empty,
        )

    def settings(self) -> tuple[int, ...]:
        return tuple(int(getattr(self, name)) for name in _SETTINGS)

    def fail(self, code: QueueError) -> None:
        """Stop the queue with ``code`` unless it is stopped already (the first error
        stays until reset)."""
        if not self.state.error:
            self.state = replace(self.state, error_code=code)


class FakeNic:
    """The NIC as a driver sees it, without a simulator: BAR0 registers through the
    ``RegisterIO`` methods ``read32``/``write32`` (ID/VERSION/CAP_*, SCRATCH, ERR_STATUS,
    the global counters and DMA_* settings, every register of every RXQ), and
    ``receive(frame, queue, meta)`` applying ``predict_frame`` to host memory through the
    device's IOMMU ``domain``. A DMA write the IOMMU refuses is recorded there and lost
    (posted writes get no answer), as on a real link. Header and data writes are also
    reported to ``tracker``; every write is logged in ``writes``.

    RXQ semantics (docs/dma.md, docs/registers.md): CTRL keeps every field written;
    ``reset`` is a pulse (reads 0) zeroing DESC_HEAD, CPL_TAIL and the error; enabling a
    queue (enable 0 -> 1) whose rings ``QueueConfig.problem`` refuses stops it with
    ``BAD_CONFIG``; changing mode, split_level, mergeable or drop_when_empty in a write to
    a queue that was enabled stops it with ``CONFIG_CHANGED``. Nothing is ever in flight, so
    STATUS.quiescent is simply "disabled". IRQ and MODERATION are stored (no interrupts).
    Per-queue PACKETS/BYTES/DROPS and the global counters are 64-bit; reading LO latches HI.

    RSS (docs/registers.md): RSS_CTRL and RSS_KEY[0..9] are read/write; an RSS_INDIR write
    stores ``index`` and ``queue`` (read back, ``write`` reads 0) and, with ``write`` set,
    sets indirection entry ``index`` to ``queue``. ``rss_config()`` is what they program, and
    every completion carries the hash and type it gives (``model.rss``) for the frame's
    ``meta``. Out of reset: key all zero, udp_4tuple 0, every entry 0. The queue a frame is
    steered to stays the caller's ``receive(queue=...)``; ``model.steer.steer_frame`` gives the
    one the NIC would pick.

    DEV_CTRL.reset (a pulse) is the core reset: every register back to its reset value and
    the RSS table cleared, counters kept; DEV_STATUS counts resets and is never busy.

    Registers it does not model (DMA self-test, steering, MSI-X) and any other bad access
    set ``ERR_STATUS.mmio_bad_access`` and, with ``strict``, raise ``MmioError``.
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
        self.core_resets = 0
        self._reset_registers()
        self.writes: list[DeviceWrite] = []
        self.mmio_reads = 0
        self.mmio_writes = 0
        self._latched: dict[int, int] = {}  # HI offset -> value latched by reading LO
        # Every 64-bit counter: regfile, element, register-name prefix, and (queue or None
        # for a global counter, name as for ``counter``)
        counters: list[tuple[regmap.RegFile, int, str, int | None, DropReason | str]] = [
            (regmap.DROP, r, "", None, r) for r in DropReason
        ]
        counters += [(regmap.RX_FRAMES, 0, "", None, "rx_frames")]
        counters += [(regmap.RX_BYTES, 0, "", None, "rx_bytes")]
        counters += [
            (regmap.RXQ, i, f"{reg}.", i, name)
            for i in range(len(self.queues))
            for name, reg in _QUEUE_COUNTERS.items()
        ]
        # LO offset -> (queue, name); LO offset -> its HI offset
        self._counter_lo: dict[int, tuple[int | None, DropReason | str]] = {
            rf.addr(i, pfx + "LO"): (q, name) for rf, i, pfx, q, name in counters
        }
        self._counter_hi_of: dict[int, int] = {
            rf.addr(i, pfx + "LO"): rf.addr(i, pfx + "HI") for rf, i, pfx, _, _ in counters
        }
        self._counter_hi = set(self._counter_hi_of.values())
        self._queue_regs: dict[int, tuple[int, str]] = {
            addr: (i, name)
            for i in range(regmap.RXQ.entries)
            for name in regmap.RXQ.regs
            if (addr := regmap.RXQ.addr(i, name)) not in self._counter_lo
            and addr not in self._counter_hi
        }

    # -- frames -----------------------------------------------------------------------------

    def _reset_registers(self) -> None:
        """Every register field to its reset value and the RSS table cleared: power-on, and
        DEV_CTRL.reset (which keeps the counters)."""
        old: list[_Queue] = getattr(self, "queues", [])
        self.queues = [_Queue() for _ in range(regmap.RXQ.entries)]
        for q, prev in zip(self.queues, old, strict=False):
            q.packets, q.bytes, q.drops = prev.packets, prev.bytes, prev.drops
        self.scratch = 0
        self.err_status = 0
        self.dma_settings: dict[int, int] = {r.offset: r.reset for r in _SETTINGS_REGS}
        self.rss_ctrl = regmap.RSS_CTRL.reset
        # held, not acted on: the caller of ``receive`` steers (names the queue)
        self.steer_ctrl = regmap.STEER_CTRL.reset
        self.rss_indir = regmap.RSS_INDIR.reset  # the staging fields as last written
        self.rss_key_words = [regmap.RSS_KEY.reset] * regmap.RSS_KEY_COUNT
        self.rss_table = [0] * INDIRECTION_ENTRIES

    def receive(self, frame: Buffer, queue: int = 0, meta: Meta | None = None) -> Prediction:
        """A frame (FCS stripped) steered to ``queue``, parsed as ``meta`` (None: the parser
        found nothing), arrives; returns what it did. A queue this NIC does not have drops
        it as ``queue_disabled`` (no per-queue counter). Raises ``model.nic_model.FrameWaits``
        (and changes nothing) when the engine would wait for the host: ``drop_when_empty``
        off and nothing posted -- post, then call again."""
        if not 0 <= queue < len(self.queues):
            self.drops[DropReason.QUEUE_DISABLED] += 1
            return Prediction(
                DropReason.QUEUE_DISABLED, (), None, None, (), QueueError.NONE, QueueState()
            )
        q = self.queues[queue]
        p = predict_frame(
            q.config(), q.state, self._fetch_descriptor(q), frame, meta, self.rss_config()
        )
        split = p.completion is not None and bool(p.completion.flags & CplFlags.SPLIT)
        for k, (iova, data) in enumerate(p.data_writes):
            self._dma_write(iova, data, "header" if split and k == 0 else "data")
        if p.completion is not None and p.cpl_addr is not None:
            self._dma_write(p.cpl_addr, p.completion.pack(), "completion")
        q.state = p.state
        if p.drop is None:
            self.rx_frames += 1
            self.rx_bytes += len(frame)
            q.packets += 1
            q.bytes += len(frame)
        else:
            self.drops[p.drop] += 1
            q.drops += 1
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
        if kind != "completion" and self.tracker is not None:
            self.tracker.record_write(iova, data)
        pos = 0
        for addr, n in chunks:
            self.mem.write(addr, data[pos : pos + n])
            pos += n

    def state(self, queue: int = 0) -> QueueState:
        return self.queues[queue].state

    def rss_config(self) -> RssConfig:
        """The RSS settings the registers hold now."""
        return RssConfig(
            key=b"".join(w.to_bytes(4, "big") for w in self.rss_key_words),
            udp_4tuple=bool(regmap.RSS_CTRL.fields["udp_4tuple"].get(self.rss_ctrl)),
            indirection=tuple(self.rss_table),
        )

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
            regmap.RSS_CTRL.offset: self.rss_ctrl,
            regmap.STEER_CTRL.offset: self.steer_ctrl,
            regmap.RSS_INDIR.offset: self.rss_indir,
            regmap.DEV_CTRL.offset: 0,  # reset is a pulse
            # nothing is in flight and the table clears at once: never busy
            regmap.DEV_STATUS.offset: regmap.DEV_STATUS.fields["core_resets"].put(
                self.core_resets & 0xFF
            ),
        }
        if offset in fixed:
            return fixed[offset]
        if offset in _RSS_KEY_REGS:
            return self.rss_key_words[_RSS_KEY_REGS[offset]]
        if offset in self.dma_settings:
            return self.dma_settings[offset]
        if offset in self._counter_lo:
            queue, name = self._counter_lo[offset]
            value = self.counter(name, queue) & _MASK64
            self._latched[self._counter_hi_of[offset]] = value >> 32
            return value & 0xFFFF_FFFF
        if offset in self._counter_hi:
            return self._latched.get(offset, 0)
        if offset in self._queue_regs:
            index, name = self._queue_regs[offset]
            return self._read_queue(self.queues[index], name)
        return self._bad(f"read of {offset:#x}: no register modelled there")

    def _read_queue(self, q: _Queue, name: str) -> int:
        f = regmap.RXQ.regs[name].fields
        st = q.state
        match name:
            case "CTRL":  # reset is a pulse: reads 0
                return (
                    f["enable"].put(int(q.ctrl_enable))
                    | f["mode"].put(q.mode)
                    | f["split_level"].put(q.split_level)
                    | f["mergeable"].put(int(q.mergeable))
                    | f["drop_when_empty"].put(int(q.drop_when_empty))
                )
            case "STATUS":  # nothing is ever in flight: quiescent once disabled
                return (
                    f["error"].put(int(st.error))
                    | f["quiescent"].put(int(not q.ctrl_enable))
                    | f["error_code"].put(int(st.error_code))
                )
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
            case "IRQ":
                return q.irq
            case "MODERATION":
                return q.moderation
        raise AssertionError(name)

    def write_now(self, offset: int, value: int) -> None:
        """``write32`` without awaiting."""
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"{value:#x} is not a 32-bit value")
        if offset == regmap.SCRATCH.offset:
            self.scratch = value
            return
        if offset == regmap.DEV_CTRL.offset:
            if regmap.DEV_CTRL.fields["reset"].get(value):
                self._reset_registers()
                self.core_resets += 1
            return
        if offset == regmap.ERR_STATUS.offset:  # RW1C
            self.err_status &= ~value
            return
        for reg in _SETTINGS_REGS:
            if offset == reg.offset:
                self.dma_settings[offset] = value & _reg_mask(reg)
                return
        if offset == regmap.RSS_CTRL.offset:
            self.rss_ctrl = value & _reg_mask(regmap.RSS_CTRL)
            return
        if offset == regmap.STEER_CTRL.offset:
            self.steer_ctrl = value & _reg_mask(regmap.STEER_CTRL)
            return
        if offset == regmap.RSS_INDIR.offset:
            self.rss_indir = value & _reg_mask(regmap.RSS_INDIR) & ~_INDIR["write"].mask
            if _INDIR["write"].get(value):
                self.rss_table[_INDIR["index"].get(value)] = _INDIR["queue"].get(value)
            return
        if offset in _RSS_KEY_REGS:
            self.rss_key_words[_RSS_KEY_REGS[offset]] = value & _reg_mask(regmap.RSS_KEY)
            return
        if offset in self._queue_regs:
            index, name = self._queue_regs[offset]
            if self._write_queue(self.queues[index], name, value):
                return
        self._bad(f"write of {value:#x} to {offset:#x}: read-only or not modelled")

    def _write_ctrl(self, q: _Queue, value: int) -> bool:
        if _CTRL["mode"].get(value) not in _MODES:
            return False  # mode 3 is reserved: the fake refuses it so a driver bug shows
        was_enabled, before = q.ctrl_enable, q.settings()
        q.ctrl_enable = bool(_CTRL["enable"].get(value))
        q.mode = PlacementMode(_CTRL["mode"].get(value))
        q.split_level = SplitLevel(_CTRL["split_level"].get(value))
        q.mergeable = bool(_CTRL["mergeable"].get(value))
        q.drop_when_empty = bool(_CTRL["drop_when_empty"].get(value))
        if _CTRL["reset"].get(value):
            q.state = replace(q.state, desc_head=0, cpl_tail=0, error_code=QueueError.NONE)
        if was_enabled and q.settings() != before:
            q.fail(QueueError.CONFIG_CHANGED)
        if q.ctrl_enable and not was_enabled and q.config().problem() is not None:
            q.fail(QueueError.BAD_CONFIG)
        return True

    def _write_queue(self, q: _Queue, name: str, value: int) -> bool:
        f = regmap.RXQ.regs[name].fields
        match name:
            case "CTRL":
                return self._write_ctrl(q, value)
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
            case "IRQ":
                q.irq = value & _reg_mask(regmap.RXQ.regs["IRQ"])
            case "MODERATION":
                q.moderation = value & _reg_mask(regmap.RXQ.regs["MODERATION"])
            case _:  # STATUS, DESC_HEAD, CPL_TAIL are read-only
                return False
        return True

    def counter(self, name: DropReason | str, queue: int | None = None) -> int:
        """A counter's value: a DropReason, ``"rx_frames"`` or ``"rx_bytes"``; with
        ``queue``, that queue's ``"packets"``, ``"bytes"`` or ``"drops"``."""
        if queue is not None:
            if name not in _QUEUE_COUNTERS:
                raise KeyError(name)
            return int(getattr(self.queues[queue], str(name)))
        if isinstance(name, DropReason):
            return self.drops[name]
        if name == "rx_frames":
            return self.rx_frames
        if name == "rx_bytes":
            return self.rx_bytes
        raise KeyError(name)

    def set_counter(self, name: DropReason | str, value: int, queue: int | None = None) -> None:
        """Test hook: preset a counter (names as for ``counter``)."""
        if queue is not None:
            if name not in _QUEUE_COUNTERS:
                raise KeyError(name)
            setattr(self.queues[queue], str(name), value)
        elif isinstance(name, DropReason):
            self.drops[name] = value
        elif name == "rx_frames":
            self.rx_frames = value
        elif name == "rx_bytes":
            self.rx_bytes = value
        else:
            raise KeyError(name)


__all__ = ["DeviceWrite", "FakeNic", "MmioError"]

# SPDX-License-Identifier: MIT
"""Transaction-level reference model of one RX queue of the DMA engine: the scoreboard's
predictor. Written from ``docs/dma.md`` (the placement rules) and ``docs/design.md``, not from
the RTL; ``model/fake_nic.py`` applies it to host memory behind BAR0.

``predict_frame(cfg, state, ring, frame, meta, rss)`` says what one frame (FCS stripped) steered
to the queue does, given what the parser reported (``meta``; None: it found nothing) and the
NIC's RSS settings (``rss``, default: as out of reset), which give the completion's RSS hash
and type (``model.rss``, from the parser's tuple). Which queue a frame is steered to is
``model.steer.steer_frame``'s answer, not this module's.
The checks, in order (docs/dma.md, "Per frame"):

1. queue disabled -> dropped ``QUEUE_DISABLED``;
2. queue stopped -> dropped ``QUEUE_ERROR``; a bad ring configuration (``QueueConfig.problem``:
   the NIC refuses it when the queue is enabled) stops it with ``BAD_CONFIG``;
3. nothing posted (``DESC_HEAD == DESC_TAIL``) -> dropped ``NO_BUFFER`` (``drop_when_empty``;
   without it the engine waits for the host, which the model cannot predict: ``FrameWaits``);
4. completion ring full (a host bug) -> the queue stops with ``CPL_FULL``, ``QUEUE_ERROR``;
5. the descriptors the frame needs are not all posted -> ``NO_BUFFER``, nothing consumed (the
   bounded wait before it is timing, not modelled).

Then the header split (SPLIT_HOLE / SPLIT at the queue's split level; not done -> placed FULL
with ``HDR_OVERFLOW``), the byte stream over the data buffers of the frame's descriptors, and
the groups: not mergeable, the frame must fit in the first group (else a
``TOO_LONG_FOR_GROUP`` completion consumes the group and nothing is written); mergeable, it
takes whole groups until they hold the stream end, within ``DESC_CACHE`` descriptors (else
too long, consuming the first group only). A first group without EOG within ``DESC_CACHE``
descriptors stops the queue with ``BAD_GROUP``; a failed descriptor read with
``DESC_READ``; both drop the frame ``QUEUE_ERROR`` and consume nothing.

Descriptors are read from ``ring`` at slots ``(head + k) & (entries - 1)``, only for ``k``
below the posted count and only as far as the frame's walk goes. Writes are predicted per
buffer (one contiguous run per buffer); the RTL may cut them further at Max Payload Size and
4 KiB boundaries, which does not change the bytes. Indices are free-running 16-bit counts;
the completion for ``cpl_tail`` goes to slot ``cpl_tail % entries`` with phase 1 on the first
lap, flipping each lap. A stopped queue stays so until ``CTRL.reset``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from model import regmap
from model.hostmem import Buffer
from model.iommu import IommuFault
from model.parse_meta import Meta
from model.records import (
    CPL_BYTES,
    DESC_BYTES,
    INDEX_MASK,
    MAX_RING_LOG2,
    CplFlags,
    CplStatus,
    DescFlags,
    DropReason,
    PlacementMode,
    QueueError,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
    ring_phase,
)
from model.rss import RSS_RESET, RssConfig

RING_ALIGN = 32
#: Descriptors a frame may use at most (the per-queue descriptor cache).
DESC_CACHE: int = regmap.CAP_QUEUES.fields["desc_cache"].reset

#: Old name of ``model.records.QueueError``, for modules that still import it from here.
QueueErrorCode = QueueError


@dataclass(frozen=True, kw_only=True)
class QueueConfig:
    """What the host programmed into one RXQ (addresses are bus addresses, i.e. IOVAs).
    Built by keyword only, from the registers (``model.fake_nic``) or from the driver's
    queue (``tb.lib.coredma.cfg_of``)."""

    desc_base: int
    desc_size_log2: int
    cpl_base: int
    cpl_size_log2: int
    data_offset: int
    enabled: bool = True
    mode: PlacementMode = PlacementMode.FULL
    split_level: SplitLevel = SplitLevel.L4
    mergeable: bool = False
    drop_when_empty: bool = True

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
        """Why the NIC refuses this configuration when the queue is enabled (``BAD_CONFIG``),
        or None."""
        if self.desc_base == 0 or self.cpl_base == 0:
            return "ring base is zero"
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
    error_code: QueueError = QueueError.NONE

    @property
    def error(self) -> bool:
        return self.error_code != QueueError.NONE

    @property
    def posted(self) -> int:
        """Descriptors posted and not yet consumed by the NIC."""
        return (self.desc_tail - self.desc_head) & INDEX_MASK


class DescriptorReadError(Exception):
    """Raised by a descriptor source when the read fails (error completion)."""


class FrameWaits(Exception):
    """The frame waits for the host to post descriptors (``drop_when_empty`` off and nothing
    posted): what it does depends on what the host posts next, so there is no prediction.
    Predict again once the host has posted."""


#: Where the predictor gets the descriptor at a ring slot: the ring's contents (a sequence
#: indexed by slot), or a function of the slot that may raise ``DescriptorReadError`` /
#: ``IommuFault`` for a failed read.
DescriptorSource = Sequence[RxDescriptor] | Callable[[int], RxDescriptor]


@dataclass(frozen=True)
class BufferWrite:
    """Stream bytes predicted for one consumed data buffer: ``data`` lands at ``offset``
    bytes into the buffer of ``Prediction.descriptors[desc_index]``, and is stream
    positions ``[stream_pos, stream_pos + len(data))``."""

    desc_index: int
    offset: int
    stream_pos: int
    data: bytes


@dataclass(frozen=True)
class Prediction:
    """What one frame does: the bytes that land (IOVA, data) in order -- the header write
    first if the split is done, then one run per data buffer in stream order --, the
    completion, the drop reason if it is not delivered, the descriptors it consumes (in
    ring order), the queue error it raises, and the state after. ``buffer_writes`` are the
    stream runs of ``data_writes`` per consumed buffer."""

    drop: DropReason | None
    data_writes: tuple[tuple[int, bytes], ...]
    completion: RxCompletion | None
    cpl_addr: int | None
    descriptors: tuple[RxDescriptor, ...]
    error_raised: QueueError
    state: QueueState  # after the frame
    buffer_writes: tuple[BufferWrite, ...] = ()

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

    def buffer_bytes(self) -> list[tuple[RxDescriptor, int, bytes]]:
        """For the scoreboard: (descriptor, offset in its data buffer, bytes) for each
        consumed buffer the frame writes, in stream order. Buffers not listed (and the
        bytes of listed ones outside the run) are not written."""
        return [(self.descriptors[w.desc_index], w.offset, w.data) for w in self.buffer_writes]


def _read_desc(ring: DescriptorSource, slot: int) -> RxDescriptor:
    if isinstance(ring, Sequence):
        return ring[slot]
    return ring(slot)


def header_end(meta: Meta, level: SplitLevel) -> int | None:
    """End offset of the header at ``level`` if the parser found it, else None."""
    ok, end = {
        SplitLevel.L2: (meta.l2_ok, meta.l2_end),
        SplitLevel.L3: (meta.l3_ok, meta.l3_end),
        SplitLevel.L4: (meta.l4_ok, meta.l4_end),
    }[SplitLevel(level)]
    return end if ok else None


def split_point(cfg: QueueConfig, meta: Meta, first: RxDescriptor, n: int) -> int | None:
    """The split point ``h`` when a split is wanted and done for a frame of ``n`` bytes whose
    first descriptor is ``first``; None when not wanted (FULL) or not done."""
    if cfg.mode == PlacementMode.FULL:
        return None
    h = header_end(meta, cfg.split_level)
    if h is None or meta.hdr_overflow:
        return None
    if not 0 < h <= n:
        raise ValueError(f"parser reports a {cfg.split_level.name} header end {h} in {n} bytes")
    if first.hdr_addr == 0 or h > first.hdr_len:
        return None
    return h


def stream_span(cfg: QueueConfig, n: int, h: int | None) -> tuple[int, int, int]:
    """(first frame byte in the stream, its stream position, stream end ``E``) for a frame
    of ``n`` bytes, split at ``h`` (None: placed FULL)."""
    if h is None:
        return 0, cfg.data_offset, cfg.data_offset + n
    if cfg.mode == PlacementMode.SPLIT_HOLE:
        return h, cfg.data_offset + h, cfg.data_offset + n
    return h, cfg.data_offset, cfg.data_offset + n - h


def scatter(descs: Sequence[RxDescriptor], first_pos: int, data: bytes) -> list[BufferWrite]:
    """Cut ``data``, starting at stream position ``first_pos``, over the data buffers of
    ``descs`` (in order; a zero-length buffer holds nothing). Bytes beyond the buffers are
    a caller error."""
    out: list[BufferWrite] = []
    end = first_pos + len(data)
    start = 0  # stream position of the current buffer's first byte
    for i, d in enumerate(descs):
        lo, hi = max(first_pos, start), min(end, start + d.data_len)
        if lo < hi:
            out.append(BufferWrite(i, lo - start, lo, data[lo - first_pos : hi - first_pos]))
        start += d.data_len
    if start < end:
        raise ValueError(f"stream end {end} beyond the buffers ({start} bytes)")
    return out


@dataclass(frozen=True)
class _Walk:
    descs: tuple[RxDescriptor, ...]  # consumed, in ring order
    groups: int
    fits: bool


def _walk(
    cfg: QueueConfig, posted: int, read: Callable[[int], RxDescriptor], end: int
) -> _Walk | DropReason | QueueError:
    """The descriptors the frame uses, for a stream ending at ``end``: whole groups from the
    head, at most ``DESC_CACHE`` descriptors, only posted ones. NO_BUFFER when it needs one
    not posted; BAD_GROUP when the first group has no EOG within the cache."""
    descs: list[RxDescriptor] = []
    capacity, groups, first_group = 0, 0, 0
    for k in range(DESC_CACHE):
        if k >= posted:
            return DropReason.NO_BUFFER
        d = read(k)
        descs.append(d)
        capacity += d.data_len
        if d.flags & DescFlags.EOG:
            groups += 1
            first_group = first_group or k + 1
            if not cfg.mergeable:
                return _Walk(tuple(descs), 1, capacity >= end)
            if capacity >= end:
                return _Walk(tuple(descs), groups, True)
    if not first_group:
        return QueueError.BAD_GROUP
    return _Walk(tuple(descs[:first_group]), 1, False)  # mergeable, too long for the cache


def _completion(
    first: RxDescriptor,
    n: int,
    meta: Meta,
    walk: _Walk,
    flags: CplFlags,
    hdr_len: int,
    payload_len: int,
    phase: int,
    rss: RssConfig,
) -> RxCompletion:
    hashed = rss.result(meta.flow())
    if meta.vlan:
        flags |= CplFlags.VLAN
    if meta.malformed:
        flags |= CplFlags.MALFORMED
    return RxCompletion(
        cookie=first.cookie,
        rss_hash=hashed.hash,
        frame_len=n,
        hdr_len=hdr_len,
        payload_len=payload_len,
        csum=meta.csum,
        flags=int(flags),
        vlan_tci=meta.vlan_tci if meta.vlan else 0,
        desc_count=len(walk.descs),
        group_count=walk.groups,
        status=CplStatus.OK if walk.fits else CplStatus.TOO_LONG_FOR_GROUP,
        l3_type=meta.l3_type,
        l4_type=meta.l4_type,
        csum_status=int(meta.ip4_csum) | int(meta.l4_csum) << 2,
        rss_type=hashed.rss_type,
        phase=phase,
    )


def predict_frame(
    cfg: QueueConfig,
    state: QueueState,
    ring: DescriptorSource,
    frame: Buffer,
    meta: Meta | None = None,
    rss: RssConfig = RSS_RESET,
) -> Prediction:
    """Predict what ``frame`` (FCS stripped), parsed as ``meta`` (None: nothing found), does
    to a queue in ``state`` (docs/dma.md) on a NIC with RSS settings ``rss``. Pure: ``ring``
    is only read, at the slots of the posted descriptors the frame walks. Raises
    ``FrameWaits`` when the engine would wait for the host (``drop_when_empty`` off, nothing
    posted)."""
    data = bytes(frame)
    n = len(data)
    if not 0 < n <= INDEX_MASK:
        raise ValueError(f"frame of {n} bytes")
    meta = Meta() if meta is None else meta

    def dropped(reason: DropReason, err: QueueError = QueueError.NONE) -> Prediction:
        after = state if err == QueueError.NONE else replace(state, error_code=err)
        return Prediction(reason, (), None, None, (), err, after)

    if not cfg.enabled:
        return dropped(DropReason.QUEUE_DISABLED)
    if state.error:
        return dropped(DropReason.QUEUE_ERROR)
    if cfg.problem() is not None:
        return dropped(DropReason.QUEUE_ERROR, QueueError.BAD_CONFIG)
    posted = state.posted
    if posted == 0:
        if not cfg.drop_when_empty:
            raise FrameWaits(f"nothing posted at head {state.desc_head}")
        return dropped(DropReason.NO_BUFFER)
    if (state.cpl_tail - state.cpl_head) & INDEX_MASK >= cfg.cpl_entries:
        return dropped(DropReason.QUEUE_ERROR, QueueError.CPL_FULL)

    cache: dict[int, RxDescriptor] = {}

    def read(k: int) -> RxDescriptor:
        if k not in cache:
            cache[k] = _read_desc(ring, (state.desc_head + k) & (cfg.desc_entries - 1))
        return cache[k]

    try:
        h = split_point(cfg, meta, read(0), n)
        frame_start, first_pos, end = stream_span(cfg, n, h)
        walk = _walk(cfg, posted, read, end)
    except (DescriptorReadError, IommuFault):
        return dropped(DropReason.QUEUE_ERROR, QueueError.DESC_READ)
    if isinstance(walk, DropReason):
        return dropped(walk)
    if isinstance(walk, QueueError):
        return dropped(DropReason.QUEUE_ERROR, walk)

    first = walk.descs[0]
    flags = CplFlags.NONE
    writes: list[tuple[int, bytes]] = []
    runs: list[BufferWrite] = []
    if walk.fits:
        if h is not None:
            flags |= CplFlags.SPLIT
            writes.append((first.hdr_addr, data[:h]))
        elif cfg.mode != PlacementMode.FULL:
            flags |= CplFlags.HDR_OVERFLOW
        runs = scatter(walk.descs, first_pos, data[frame_start:])
        writes += [(walk.descs[r.desc_index].data_addr + r.offset, r.data) for r in runs]
    hdr_len = h if walk.fits and h is not None else 0
    payload_len = n - hdr_len if walk.fits else 0
    phase = ring_phase(state.cpl_tail, cfg.cpl_size_log2)
    cpl = _completion(first, n, meta, walk, flags, hdr_len, payload_len, phase, rss)
    after = replace(
        state,
        desc_head=(state.desc_head + len(walk.descs)) & INDEX_MASK,
        cpl_tail=(state.cpl_tail + 1) & INDEX_MASK,
    )
    return Prediction(
        None if walk.fits else DropReason.TOO_LONG_FOR_GROUP,
        tuple(writes),
        cpl,
        cfg.cpl_addr(state.cpl_tail),
        walk.descs,
        QueueError.NONE,
        after,
        tuple(runs),
    )

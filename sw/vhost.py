# SPDX-License-Identifier: MIT
"""vhost-net-style backend for one guest RX virtqueue on a splitrx RX queue.

Guest avail ring -> validation -> page constructor (``sw.page_pool``) -> NIC descriptors;
NIC completions -> header copy (SPLIT_HOLE) -> virtio_net_hdr -> used ring -> guest
notification (event index).

Layout: virtio 1.x (VIRTIO_F_VERSION_1), 12-byte ``virtio_net_hdr``. Each avail chain is
one virtio buffer of one or more device-writable segments; it becomes one NIC group: one
descriptor per segment, in chain order, EOG on the last, and one page-constructor buffer
pinning every segment's pages. The queue's DATA_OFFSET (12) reserves the net header in
front of the frame. The NIC writes *stream positions* over the frame's groups
(docs/dma.md), segment after segment: the stream ends at ``E = 12 + frame_len`` in every
placement mode.

- Big packets (VIRTIO_NET_F_MRG_RXBUF not negotiated, queue not mergeable): a frame fits in
  one chain -- one buffer, or several as Linux ``add_recvbuf_big`` posts them (virtio
  5.1.6.3.1) -- and the rest of the chain is skipped; the backend writes the net header
  with num_buffers 1 at the start of the first segment and publishes used
  ``{id: head, len: E}``.
- Mergeable buffers (VIRTIO_NET_F_MRG_RXBUF negotiated, queue opened with ``mergeable``): a
  frame takes as many chains as it needs (the completion's ``group_count``). The net
  header in the first says ``num_buffers = group_count``, and each chain gets one used
  entry, published together in stream order, whose len is the stream bytes that landed in
  it (net header and hole included in the first): every chain but the last is full, the
  last holds ``E`` minus the bytes before it.

Placement follows the queue's mode (``vhost_queue_settings`` gives ``open_queue`` the right
arguments):

- FULL: the NIC writes the whole frame at stream 12.
- SPLIT_HOLE: the first descriptor of every chain carries a header buffer of
  ``hdr_buf_size`` bytes (the NIC uses a frame's first descriptor's only) that the
  backend allocated from host memory -- never guest memory -- and mapped write-only for the
  device (IOVA == host address, like the driver's rings). With ``CplFlags.SPLIT`` the NIC
  put ``frame[0:hdr_len]`` there and the rest at stream ``12 + hdr_len``; the backend hands
  the header to ``inspect_header`` (a hook: the host sees headers without touching the
  payload), copies it into the hole at stream 12 and writes the net header, so the guest
  sees exactly the bytes and used lengths of FULL. With ``HDR_OVERFLOW`` the NIC placed the
  frame FULL and nothing is copied. ``VhostStats.hdr_copy_bytes`` counts the bytes copied.
- SPLIT is refused: a virtio buffer is one byte stream.

A ``too_long_for_group`` completion reposts the chain it consumed, every segment, to the
NIC (still pinned, same header buffer; no used entry). A chain the page constructor refuses
for quota (its pages are pinned all or none) stays unconsumed in the avail ring, is
counted, and is retried after completions free pages; so is a chain with more segments than
the NIC ring has free slots.

A malformed chain puts the device into needs-reset with a reason: a segment outside guest
RAM, device-readable or below ``min_buffer``; a loop or bad index; more than
``max_chain_bytes`` in all; more segments than the NIC's descriptor cache
(``CAP_QUEUES.desc_cache``: a frame's group must fit it) or its descriptor ring; segments
overlapping each other or a buffer the NIC holds; more pages than the owner's whole quota.
Nothing of that batch reaches the NIC, and from then on the backend neither consumes avail
entries nor publishes used ones.

The guest's kick arrives through ``kick()`` (synchronous, like an ioeventfd); the work is
done by ``await service()``, which the owner of the event loop calls after kicks and after
the NIC reports completions.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from model.hostmem import PAGE_SIZE, GuestMemory, HostMemory, align_up
from model.iommu import Domain, Perm
from model.records import (
    CplFlags,
    CplStatus,
    CsumStatus,
    DescFlags,
    L3Type,
    PlacementMode,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
)
from model.tracker import DmaWriteTracker
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_GUEST_CSUM,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_F_DATA_VALID,
    VIRTIO_NET_HDR_V1_SIZE,
    VIRTIO_RING_F_EVENT_IDX,
    VIRTIO_RING_F_INDIRECT_DESC,
    Chain,
    ChainError,
    SplitRing,
    SplitRingLayout,
    VirtioNetHdr,
    has_feature,
)
from sw.nic_driver import DriverError, NicProtocolError, RxQueue
from sw.page_pool import PagePool, PoolBuffer, PoolError, QuotaExceeded

DEFAULT_FEATURES = (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_RING_F_EVENT_IDX)
DEFAULT_MIN_BUFFER = 256
DEFAULT_MAX_CHAIN_BYTES = 1 << 16
#: Header buffer per NIC descriptor in SPLIT_HOLE (the parser looks at most 256 bytes deep).
DEFAULT_HDR_BUF_SIZE = 256
HDR_BUF_ALIGN = 64  # header buffers start on a cache line
MAX_HDR_BUF_SIZE = 0xFFFF  # RxDescriptor.hdr_len is 16 bits
_COOKIE_HEAD_BITS = 16
#: Placement modes a virtio guest can be served with (SPLIT hands the header over apart).
VIRTIO_MODES = (PlacementMode.FULL, PlacementMode.SPLIT_HOLE)


class VhostQueueSettings(TypedDict):
    """``NicDriver.open_queue`` keyword arguments for a queue served by ``VhostNetRx``."""

    data_offset: int
    mode: PlacementMode
    split_level: SplitLevel
    mergeable: bool


def vhost_queue_settings(
    features: int = DEFAULT_FEATURES,
    mode: PlacementMode = PlacementMode.FULL,
    split_level: SplitLevel = SplitLevel.L4,
) -> VhostQueueSettings:
    """What to pass to ``NicDriver.open_queue`` for a guest that negotiated ``features``:
    DATA_OFFSET 12 (the net header), ``mode`` (FULL or SPLIT_HOLE), ``split_level``, and
    mergeable exactly when VIRTIO_NET_F_MRG_RXBUF is negotiated."""
    mode = PlacementMode(mode)
    if mode not in VIRTIO_MODES:
        raise ValueError(f"placement {mode.name} cannot serve a virtio guest")
    return VhostQueueSettings(
        data_offset=VIRTIO_NET_HDR_V1_SIZE,
        mode=mode,
        split_level=SplitLevel(split_level),
        mergeable=has_feature(features, VIRTIO_NET_F_MRG_RXBUF),
    )


class _Stop(enum.Enum):
    EMPTY = "avail ring empty"
    NIC_FULL = "NIC ring full"
    QUOTA = "page constructor refused (quota)"
    VIOLATION = "invalid chain"


@dataclass
class VhostStats:
    kicks: int = 0  # guest notifications received
    notifications: int = 0  # guest interrupts sent
    chains_taken: int = 0  # avail entries consumed and handed to the NIC
    descriptors_posted: int = 0  # NIC descriptors written (recycled ones included)
    frames: int = 0  # frames delivered to the guest
    used_entries: int = 0  # used entries published (num_buffers per frame)
    bytes: int = 0  # their used lengths (net header and frame)
    split_frames: int = 0  # frames placed with the header split done (CplFlags.SPLIT)
    hdr_overflows: int = 0  # frames whose split was wanted and not done (placed FULL)
    hdr_copy_bytes: int = 0  # header bytes the host copied into guest holes
    recycled: int = 0  # too_long_for_group completions reposted
    quota_refusals: int = 0  # hand-overs refused for quota (entry left in the avail ring)
    invalid_chains: int = 0
    dropped_after_reset: int = 0  # completions discarded while in needs-reset


@dataclass(frozen=True)
class _InFlight:
    """One avail chain the NIC holds: one group of descriptors, one per segment."""

    head: int
    segments: tuple[tuple[int, int], ...]  # (gpa, length) of each, in chain order
    buffer: PoolBuffer  # every segment, pinned together
    descs: tuple[RxDescriptor, ...]
    hdr_slot: int | None  # its header buffer (SPLIT_HOLE), on its first descriptor

    @property
    def length(self) -> int:
        return sum(n for _, n in self.segments)


class HeaderBuffers:
    """Host-owned header buffers for SPLIT_HOLE: ``count`` slots of ``size`` bytes in one
    page-aligned region of host memory, mapped write-only for the device at IOVA == host
    address (like the driver's rings), one per NIC descriptor. With a tracker, the region
    is ``owner``'s memory and each slot the NIC holds is a posted buffer (id = slot)."""

    def __init__(
        self,
        mem: HostMemory,
        domain: Domain,
        count: int,
        size: int,
        owner: str,
        tracker: DmaWriteTracker | None = None,
    ) -> None:
        if not 0 < size <= MAX_HDR_BUF_SIZE:
            raise ValueError(f"header buffer of {size} bytes: not in 1..{MAX_HDR_BUF_SIZE}")
        self.mem = mem
        self.domain = domain
        self.size = size
        self.owner = owner
        self.tracker = tracker
        self.stride = align_up(size, HDR_BUF_ALIGN)
        self.region_bytes = align_up(count * self.stride, PAGE_SIZE)
        self.base = mem.alloc(self.region_bytes, PAGE_SIZE, f"{owner} header buffers")
        domain.map(self.base, self.base, self.region_bytes, Perm.WRITE)
        if tracker is not None:
            tracker.add_owner_region(owner, self.base, self.region_bytes)
        self._free = list(reversed(range(count)))
        self.closed = False

    def addr(self, slot: int) -> int:
        """IOVA (== host address) of ``slot``."""
        return self.base + slot * self.stride

    def take(self) -> int:
        """A free slot, handed to the NIC."""
        if not self._free:
            raise DriverError(f"{self.owner}: no free header buffer")
        slot = self._free.pop()
        if self.tracker is not None:
            self.tracker.post_buffer(self.owner, slot, [(self.addr(slot), self.size)])
        return slot

    @staticmethod
    def take_for(bufs: HeaderBuffers | None) -> tuple[int | None, int, int]:
        """For one NIC descriptor: (slot, its IOVA, its size) of a free slot of ``bufs``, or
        (None, 0, 0) -- no header buffer -- without any."""
        if bufs is None:
            return None, 0, 0
        slot = bufs.take()
        return slot, bufs.addr(slot), bufs.size

    def give_back(self, slot: int) -> None:
        if self.tracker is not None:
            self.tracker.return_buffer(self.owner, slot)
        self._free.append(slot)

    def read(self, slot: int, n: int) -> bytes:
        return self.mem.read(self.addr(slot), n)

    def close(self) -> None:
        """Unmap the region (every slot given back first)."""
        if not self.closed:
            self.domain.unmap(self.base, self.region_bytes)
            self.closed = True


def net_hdr_flags(c: RxCompletion, features: int) -> int:
    """virtio_net_hdr flags for a completion: DATA_VALID only when the guest negotiated
    VIRTIO_NET_F_GUEST_CSUM, the NIC verified the TCP/UDP checksum good and, for IPv4, the
    header checksum good too (docs/design.md, "What a completion says")."""
    if not has_feature(features, VIRTIO_NET_F_GUEST_CSUM):
        return 0
    if c.l4_csum is not CsumStatus.GOOD:
        return 0
    if c.l3_type == L3Type.IPV4 and c.ipv4_csum is not CsumStatus.GOOD:
        return 0
    return VIRTIO_NET_HDR_F_DATA_VALID


class VhostNetRx:
    """The backend of one guest RX virtqueue (``layout`` in ``ram``, guest-physical),
    feeding ``queue`` with buffers handed over by ``pool`` on behalf of ``owner`` (already
    registered with its quota). ``notify`` is the guest's interrupt; ``vring_base`` the
    avail index to start from (0 for a new ring). ``ram`` is the model guest's ``GuestRam``
    or, for a real guest behind vhost-user (``sw.vhost_user``), the ``GuestRamMap`` of its
    memory table: this class is the same for both. ``on_frame(frame, completion)`` sees
    each delivered frame as the guest will read it (the stream after the net header), before
    its used entries are published.

    The queue's placement settings must suit ``features`` (``vhost_queue_settings``):
    DATA_OFFSET 12, mode FULL or SPLIT_HOLE, mergeable iff VIRTIO_NET_F_MRG_RXBUF. A chain
    may have up to ``max_chain_descs`` segments: the NIC's descriptor cache as the driver
    read it from CAP_QUEUES, or the descriptor ring if smaller. In SPLIT_HOLE the backend
    allocates one ``hdr_buf_size``-byte header buffer per descriptor ring entry from the
    driver's host memory, mapped in the NIC's domain, and calls
    ``inspect_header(header bytes, completion)`` for each split header before copying it
    into the guest."""

    def __init__(
        self,
        queue: RxQueue,
        pool: PagePool,
        owner: str,
        ram: GuestMemory,
        layout: SplitRingLayout,
        *,
        features: int = DEFAULT_FEATURES,
        notify: Callable[[], None] | None = None,
        min_buffer: int = DEFAULT_MIN_BUFFER,
        max_chain_bytes: int = DEFAULT_MAX_CHAIN_BYTES,
        on_needs_reset: Callable[[str], None] | None = None,
        vring_base: int = 0,
        hdr_buf_size: int = DEFAULT_HDR_BUF_SIZE,
        inspect_header: Callable[[bytes, RxCompletion], None] | None = None,
        on_frame: Callable[[bytes, RxCompletion], None] | None = None,
    ) -> None:
        if not has_feature(features, VIRTIO_F_VERSION_1):
            raise ValueError("VIRTIO_F_VERSION_1 must be negotiated (12-byte net header)")
        self.mergeable = has_feature(features, VIRTIO_NET_F_MRG_RXBUF)
        if queue.mergeable != self.mergeable:
            raise ValueError(
                f"RX queue {'is' if queue.mergeable else 'is not'} mergeable but "
                f"VIRTIO_NET_F_MRG_RXBUF {'is' if self.mergeable else 'is not'} negotiated"
            )
        if queue.mode not in VIRTIO_MODES:
            raise ValueError(f"RX queue placement {queue.mode.name} cannot serve a virtio guest")
        if queue.data_offset != VIRTIO_NET_HDR_V1_SIZE:
            raise ValueError(
                f"RX queue data offset {queue.data_offset}, need {VIRTIO_NET_HDR_V1_SIZE} "
                "to reserve the virtio_net_hdr"
            )
        if not VIRTIO_NET_HDR_V1_SIZE < min_buffer <= max_chain_bytes:
            raise ValueError(f"min_buffer {min_buffer} / max_chain_bytes {max_chain_bytes}")
        caps = queue.drv.caps
        if caps is None:
            raise ValueError("the NIC driver has not probed the device (CAP_QUEUES unknown)")
        self.desc_cache = caps.desc_cache  # a frame's descriptors, hence a chain's segments
        self.max_chain_descs = min(self.desc_cache, queue.desc_entries)
        self.queue = queue
        self.pool = pool
        self.owner = owner
        self.ram = ram
        self.features = features
        self.ring = SplitRing(
            ram,
            layout,
            event_idx=has_feature(features, VIRTIO_RING_F_EVENT_IDX),
            indirect=has_feature(features, VIRTIO_RING_F_INDIRECT_DESC),
        )
        self.ring.init_device(vring_base)
        self.notify = notify
        self.min_buffer = min_buffer
        self.max_chain_bytes = max_chain_bytes
        self.on_needs_reset = on_needs_reset
        self.stats = VhostStats()
        self.needs_reset = False
        self.needs_reset_reason: str | None = None
        self._in_flight: dict[int, _InFlight] = {}  # first descriptor's cookie -> chain
        self._spans: list[tuple[int, int]] = []  # sorted (gpa, end) of their segments
        self._seq = 0
        self._kicked = False
        self._backlog = False  # last refill stopped with avail entries left
        self.inspect_header = inspect_header
        self.on_frame = on_frame
        self.hdr_owner = f"vhost-hdr:{owner}"  # the host's header buffers, for the tracker
        self.hdr_bufs: HeaderBuffers | None = None
        if queue.mode == PlacementMode.SPLIT_HOLE:
            self.hdr_bufs = HeaderBuffers(
                queue.drv.mem,
                queue.drv.domain,
                queue.desc_entries,
                hdr_buf_size,
                self.hdr_owner,
                pool.tracker,
            )

    # -- guest side -------------------------------------------------------------------------

    def kick(self) -> None:
        """The guest's notification that avail entries were added."""
        self.stats.kicks += 1
        self._kicked = True

    @property
    def avail_unconsumed(self) -> int:
        """Avail entries published by the guest and not taken by the backend."""
        return (self.ring.avail_idx - self.ring.last_avail_idx) & 0xFFFF

    @property
    def in_flight(self) -> int:
        """Guest buffers (avail chains) the NIC holds."""
        return len(self._in_flight)

    async def service(self, budget: int = 64) -> int:
        """Process up to ``budget`` completions, then refill if kicked, if completions freed
        room, or if an earlier refill was held back. Returns the used entries published."""
        done = await self.process_completions(budget)
        if self._kicked or done or self._backlog:
            self._kicked = False
            await self.refill()
        return done

    # -- avail -> NIC -----------------------------------------------------------------------

    async def refill(self) -> int:
        """Take avail chains while the NIC has room for all of a chain's segments; returns
        descriptors posted."""
        if self.needs_reset:
            return 0
        posted = 0
        self.ring.disable_notify()
        while True:
            n, stop = await self._refill_batch()
            posted += n
            if stop is _Stop.VIOLATION:
                return posted
            if stop is not _Stop.EMPTY:
                break
            if not self.ring.enable_notify():  # nothing slipped in: kicks are on again
                self._backlog = False
                return posted
            self.ring.disable_notify()
        self._backlog = True
        self.ring.enable_notify()  # a kick meanwhile is harmless
        return posted

    async def _refill_batch(self) -> tuple[int, _Stop]:
        descs: list[RxDescriptor] = []
        taken: list[int] = []  # first cookies of this batch's chains
        room = self.queue.free_slots
        stop = _Stop.NIC_FULL
        while len(descs) < room:
            try:
                chain = self.ring.pop_avail()
            except ChainError as e:
                self._violation(str(e), taken)
                return 0, _Stop.VIOLATION
            if chain is None:
                stop = _Stop.EMPTY
                break
            problem = self._check(chain)
            if problem is not None:
                self._violation(f"chain at head {chain.head}: {problem}", taken)
                return 0, _Stop.VIOLATION
            segs = tuple((seg.addr, seg.len) for seg in chain.segments)
            if len(segs) > room - len(descs):
                self.ring.discard(1)  # stays in the avail ring until the NIC has room
                break
            try:
                buf = self.pool.hand_over(self.owner, segs)
            except QuotaExceeded as e:
                if e.requested > e.quota:
                    # larger than the owner's whole quota: it can never be accepted, so
                    # retrying would stall this guest for good
                    self._violation(f"chain at head {chain.head}: {e}", taken)
                    return 0, _Stop.VIOLATION
                self.ring.discard(1)  # stays in the avail ring, retried later
                self.stats.quota_refusals += 1
                stop = _Stop.QUOTA
                break
            except PoolError as e:
                self._violation(f"chain at head {chain.head}: {e}", taken)
                return 0, _Stop.VIOLATION
            hdr_slot, hdr_addr, hdr_len = HeaderBuffers.take_for(self.hdr_bufs)
            group = []
            for k, seg in enumerate(buf.segments):
                last = k == len(buf.segments) - 1
                group.append(
                    RxDescriptor(
                        data_addr=seg.iova,
                        hdr_addr=hdr_addr if k == 0 else 0,
                        cookie=self._next_cookie(chain.head),
                        data_len=seg.length,
                        hdr_len=hdr_len if k == 0 else 0,
                        flags=DescFlags.EOG if last else DescFlags.NONE,
                    )
                )
            inf = _InFlight(chain.head, segs, buf, tuple(group), hdr_slot)
            self._in_flight[group[0].cookie] = inf
            for gpa, n in segs:
                bisect.insort(self._spans, (gpa, gpa + n))
            taken.append(group[0].cookie)
            descs += group
        await self.queue.post(descs)
        self.stats.chains_taken += len(taken)
        self.stats.descriptors_posted += len(descs)
        return len(descs), stop

    def _next_cookie(self, head: int) -> int:
        """A cookie for one descriptor: a sequence number and the chain's head index."""
        cookie = (self._seq << _COOKIE_HEAD_BITS) | head
        self._seq = (self._seq + 1) & ((1 << (64 - _COOKIE_HEAD_BITS)) - 1)
        return cookie

    def _check(self, chain: Chain) -> str | None:
        """Why the backend refuses ``chain``, or None."""
        total = 0
        for seg in chain.segments:
            where = f"buffer [{seg.addr:#x}, +{seg.len:#x})"
            if not seg.write:
                return f"{where} is device-readable (an RX buffer must be writable)"
            if not self.ram.contains(seg.addr, seg.len):
                return f"{where} is outside guest RAM"
            if seg.len < self.min_buffer:
                return f"{where} is below the minimum of {self.min_buffer} bytes"
            total += seg.len
        if total > self.max_chain_bytes:
            return f"{total} bytes in all, above the bound of {self.max_chain_bytes}"
        n = len(chain.segments)
        if n > self.desc_cache:
            return (
                f"{n} buffers, more than the NIC's descriptor cache of {self.desc_cache} per frame"
            )
        if n > self.max_chain_descs:
            return f"{n} buffers, more than the NIC ring's {self.max_chain_descs} descriptors"
        mine = sorted((seg.addr, seg.addr + seg.len) for seg in chain.segments)
        for (a, a_end), (b, b_end) in zip(mine, mine[1:], strict=False):
            if b < a_end:
                return (
                    f"buffer [{a:#x}, {a_end:#x}) overlaps [{b:#x}, {b_end:#x}) of the same chain"
                )
        for lo, hi in mine:
            i = bisect.bisect_left(self._spans, (lo, lo))
            for start, end in self._spans[max(i - 1, 0) : i + 1]:
                if start < hi and lo < end:
                    return (
                        f"buffer [{lo:#x}, +{hi - lo:#x}) overlaps [{start:#x}, {end:#x}) "
                        "which the device still holds"
                    )
        return None

    def _violation(self, reason: str, taken: list[int]) -> None:
        for cookie in taken:  # nothing of this batch reaches the NIC
            self._release(cookie)
        self.stats.invalid_chains += 1
        self.needs_reset = True
        self.needs_reset_reason = reason
        if self.on_needs_reset is not None:
            self.on_needs_reset(reason)

    def _release(self, cookie: int) -> _InFlight:
        """The NIC gave the chain back: unpin every segment, free its header buffer."""
        inf = self._in_flight.pop(cookie)
        for gpa, n in inf.segments:
            self._spans.remove((gpa, gpa + n))
        self.pool.return_buffer(self.owner, inf.buffer.buffer_id)
        if inf.hdr_slot is not None and self.hdr_bufs is not None:
            self.hdr_bufs.give_back(inf.hdr_slot)
        return inf

    # -- NIC -> used ------------------------------------------------------------------------

    async def process_completions(self, budget: int = 64) -> int:
        """Poll the NIC queue; publish used entries, recycle skipped buffers, notify the
        guest if its event index asks. Returns the used entries published (several per
        frame with mergeable buffers)."""
        done = await self.queue.poll(budget)
        used: list[tuple[int, int]] = []
        recycle: list[RxDescriptor] = []
        frames = 0
        for d in done:
            c = d.cpl
            chains = self._chains_of(d.descs)
            if self.needs_reset:
                for inf in chains:
                    self._release(inf.descs[0].cookie)
                self.stats.dropped_after_reset += 1
            elif c.status == CplStatus.TOO_LONG_FOR_GROUP:
                recycle.extend(d.descs)
                self.stats.recycled += 1
            elif c.status == CplStatus.OK:
                used += self._deliver(c, chains)
                frames += 1
                if self.on_frame is not None:
                    self.on_frame(self._read_stream(chains, VIRTIO_NET_HDR_V1_SIZE, c.frame_len), c)
                for inf in chains:
                    self._release(inf.descs[0].cookie)
            else:
                raise NicProtocolError(f"completion status {c.status} unknown")
        if recycle:  # the completions just acknowledged left room for these
            await self.queue.post(recycle)
            self.stats.descriptors_posted += len(recycle)
        if used:
            self.ring.push_used_n(used)
            self.stats.frames += frames
            self.stats.used_entries += len(used)
            self.stats.bytes += sum(n for _, n in used)
            if self.ring.need_notify():
                self.stats.notifications += 1
                if self.notify is not None:
                    self.notify()
        return len(used)

    def _chains_of(self, descs: Sequence[RxDescriptor]) -> list[_InFlight]:
        """The chains whose descriptors a completion consumed: whole chains, in order."""
        chains: list[_InFlight] = []
        k = 0
        while k < len(descs):
            inf = self._in_flight.get(descs[k].cookie)
            if inf is None:
                raise NicProtocolError(
                    f"completion for cookie {descs[k].cookie:#x}, not the first descriptor "
                    "of a chain the NIC holds"
                )
            got = descs[k : k + len(inf.descs)]
            if tuple(x.cookie for x in got) != tuple(x.cookie for x in inf.descs):
                raise NicProtocolError(
                    f"completion consumed {len(got)} of the {len(inf.descs)} descriptors of "
                    f"the chain at head {inf.head}"
                )
            chains.append(inf)
            k += len(inf.descs)
        return chains

    def _deliver(self, c: RxCompletion, bufs: Sequence[_InFlight]) -> list[tuple[int, int]]:
        """Copy the split header into the hole, write the net header; returns the used
        entries (head, len) of the frame's chains, in stream order."""
        n = c.frame_len
        end = VIRTIO_NET_HDR_V1_SIZE + n  # stream end, in FULL and SPLIT_HOLE alike
        groups = len(bufs)  # one group per chain
        descs = sum(len(b.descs) for b in bufs)
        capacity = sum(b.length for b in bufs)
        split = bool(c.flags & CplFlags.SPLIT)
        hdr = c.hdr_len if split else 0
        problem = None
        if c.desc_count != descs or c.group_count != groups:
            problem = (
                f"{c.desc_count} descriptors in {c.group_count} groups for {groups} "
                f"chains of {descs} descriptors"
            )
        elif groups > 1 and not self.mergeable:
            problem = f"{groups} buffers without VIRTIO_NET_F_MRG_RXBUF"
        elif not capacity - bufs[-1].length < end <= capacity:
            problem = f"stream end {end} not in the last buffer ({capacity} bytes in all)"
        elif split and (self.hdr_bufs is None or not 0 < hdr <= self.hdr_bufs.size):
            problem = f"split header of {hdr} bytes without a header buffer that holds it"
        elif c.hdr_len != hdr or c.payload_len != n - hdr:
            problem = f"hdr_len {c.hdr_len} and payload_len {c.payload_len} of {n} bytes"
        if problem is not None:
            lens = [[n for _, n in b.segments] for b in bufs]
            raise NicProtocolError(f"completion {c} for guest buffers {lens}: {problem}")
        if split:
            assert self.hdr_bufs is not None and bufs[0].hdr_slot is not None
            header = self.hdr_bufs.read(bufs[0].hdr_slot, hdr)
            if self.inspect_header is not None:
                self.inspect_header(header, c)
            self._write_stream(bufs, VIRTIO_NET_HDR_V1_SIZE, header)
            self.stats.split_frames += 1
            self.stats.hdr_copy_bytes += hdr
        elif c.flags & CplFlags.HDR_OVERFLOW:
            self.stats.hdr_overflows += 1
        flags = net_hdr_flags(c, self.features)
        self._write_stream(bufs, 0, VirtioNetHdr(flags=flags, num_buffers=groups).pack())
        used: list[tuple[int, int]] = []
        start = 0  # stream position of the buffer's first byte
        for b in bufs:
            used.append((b.head, min(b.length, end - start)))
            start += b.length
        return used

    def _write_stream(self, bufs: Sequence[_InFlight], pos: int, data: bytes) -> None:
        """Write ``data`` at stream position ``pos`` of the chains ``bufs`` (segment after
        segment)."""
        end = pos + len(data)
        start = 0
        for b in bufs:
            for gpa, n in b.segments:
                lo, hi = max(pos, start), min(end, start + n)
                if lo < hi:
                    self.ram.write(gpa + lo - start, data[lo - pos : hi - pos])
                start += n

    def _read_stream(self, bufs: Sequence[_InFlight], pos: int, n: int) -> bytes:
        """``n`` bytes at stream position ``pos`` of the chains ``bufs``."""
        end = pos + n
        parts = []
        start = 0
        for b in bufs:
            for gpa, length in b.segments:
                lo, hi = max(pos, start), min(end, start + length)
                if lo < hi:
                    parts.append(self.ram.read(gpa + lo - start, hi - lo))
                start += length
        return b"".join(parts)

    def stop(self, reason: str) -> None:
        """Stopped from outside (the guest's front-end went away or broke its protocol):
        from now on nothing is published to the guest, as in needs-reset; ``teardown``
        still quiesces the NIC queue and unpins everything."""
        self.needs_reset = True
        self.needs_reset_reason = reason

    # -- teardown ---------------------------------------------------------------------------

    async def teardown(self, *, unregister: bool = True) -> None:
        """Quiesce the NIC queue, deliver completions already written, close the queue,
        return (unpin) every buffer the NIC held, unmap the header buffers, and unregister
        the owner from the pool when ``unregister``."""
        await self.queue.quiesce()
        await self.process_completions(self.queue.cpl_entries)
        await self.queue.close()
        for cookie in list(self._in_flight):
            self._release(cookie)
        if self.hdr_bufs is not None:
            self.hdr_bufs.close()
        if unregister:
            self.pool.teardown(self.owner)

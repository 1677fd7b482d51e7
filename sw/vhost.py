# SPDX-License-Identifier: MIT
"""vhost-net-style backend for one guest RX virtqueue on a splitrx RX queue.

Guest avail ring -> validation -> page constructor (``sw.page_pool``) -> NIC descriptors;
NIC completions -> virtio_net_hdr -> used ring -> guest notification (event index).

Layout (issue 4, big packets): virtio 1.x (VIRTIO_F_VERSION_1), 12-byte ``virtio_net_hdr``,
no mergeable buffers. Each avail chain must be one device-writable buffer; it becomes one
NIC descriptor with EOG whose data buffer is the whole guest buffer, and the queue's
DATA_OFFSET (12) reserves the net header in front of the frame. On an OK completion the
backend writes the header (num_buffers 1, flags 0, GSO NONE) at the start of the buffer
and publishes used ``{id: head, len: 12 + frame_len}``. A ``too_long_for_group`` completion
reposts the same buffer to the NIC (still pinned; no used entry). A chain the page
constructor refuses for quota stays unconsumed in the avail ring, is counted, and is
retried after completions free pages.

A malformed chain (outside guest RAM, device-readable, looped, too long, a buffer below
``min_buffer``, overlapping a buffer the NIC holds, more than one buffer) puts the device
into needs-reset with a reason; nothing of that batch reaches the NIC, and from then on the
backend neither consumes avail entries nor publishes used ones.

The guest's kick arrives through ``kick()`` (synchronous, like an ioeventfd); the work is
done by ``await service()``, which the owner of the event loop calls after kicks and after
the NIC reports completions.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable
from dataclasses import dataclass

from model.hostmem import GuestRam
from model.records import CplStatus, CsumStatus, DescFlags, L3Type, RxCompletion, RxDescriptor
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
from sw.nic_driver import NicProtocolError, RxQueue
from sw.page_pool import PagePool, PoolBuffer, PoolError, QuotaExceeded

DEFAULT_FEATURES = (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_RING_F_EVENT_IDX)
DEFAULT_MIN_BUFFER = 256
DEFAULT_MAX_CHAIN_BYTES = 1 << 16
_COOKIE_HEAD_BITS = 16


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
    frames: int = 0  # used entries published
    bytes: int = 0  # their used lengths
    recycled: int = 0  # too_long_for_group completions reposted
    quota_refusals: int = 0  # hand-overs refused for quota (entry left in the avail ring)
    invalid_chains: int = 0
    dropped_after_reset: int = 0  # completions discarded while in needs-reset


@dataclass(frozen=True)
class _InFlight:
    head: int
    gpa: int
    length: int
    buffer: PoolBuffer
    desc: RxDescriptor


def net_hdr_flags(c: RxCompletion, features: int) -> int:
    """virtio_net_hdr flags for a completion: DATA_VALID only when the guest negotiated
    VIRTIO_NET_F_GUEST_CSUM, the NIC verified the TCP/UDP checksum good and, for IPv4, the
    header checksum good too (DESIGN.md)."""
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
    avail index to start from (0 for a new ring)."""

    def __init__(
        self,
        queue: RxQueue,
        pool: PagePool,
        owner: str,
        ram: GuestRam,
        layout: SplitRingLayout,
        *,
        features: int = DEFAULT_FEATURES,
        notify: Callable[[], None] | None = None,
        min_buffer: int = DEFAULT_MIN_BUFFER,
        max_chain_bytes: int = DEFAULT_MAX_CHAIN_BYTES,
        on_needs_reset: Callable[[str], None] | None = None,
        vring_base: int = 0,
    ) -> None:
        if not has_feature(features, VIRTIO_F_VERSION_1):
            raise ValueError("VIRTIO_F_VERSION_1 must be negotiated (12-byte net header)")
        if has_feature(features, VIRTIO_NET_F_MRG_RXBUF):
            raise ValueError("VIRTIO_NET_F_MRG_RXBUF is not supported yet")
        if queue.data_offset != VIRTIO_NET_HDR_V1_SIZE:
            raise ValueError(
                f"RX queue data offset {queue.data_offset}, need {VIRTIO_NET_HDR_V1_SIZE} "
                "to reserve the virtio_net_hdr"
            )
        if not VIRTIO_NET_HDR_V1_SIZE < min_buffer <= max_chain_bytes:
            raise ValueError(f"min_buffer {min_buffer} / max_chain_bytes {max_chain_bytes}")
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
        self._in_flight: dict[int, _InFlight] = {}  # cookie -> buffer the NIC holds
        self._spans: list[tuple[int, int]] = []  # sorted (gpa, end) of those buffers
        self._seq = 0
        self._kicked = False
        self._backlog = False  # last refill stopped with avail entries left

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
        """Guest buffers the NIC holds."""
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
        """Take avail chains while the NIC has room; returns descriptors posted."""
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
        taken: list[int] = []  # cookies of this batch
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
            seg = chain.segments[0]
            try:
                buf = self.pool.hand_over(self.owner, [(seg.addr, seg.len)])
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
            cookie = (self._seq << _COOKIE_HEAD_BITS) | chain.head
            self._seq = (self._seq + 1) & ((1 << (64 - _COOKIE_HEAD_BITS)) - 1)
            desc = RxDescriptor(
                data_addr=buf.segments[0].iova,
                hdr_addr=0,
                cookie=cookie,
                data_len=seg.len,
                hdr_len=0,
                flags=DescFlags.EOG,
            )
            self._in_flight[cookie] = _InFlight(chain.head, seg.addr, seg.len, buf, desc)
            bisect.insort(self._spans, (seg.addr, seg.addr + seg.len))
            taken.append(cookie)
            descs.append(desc)
        await self.queue.post(descs)
        self.stats.chains_taken += len(descs)
        self.stats.descriptors_posted += len(descs)
        return len(descs), stop

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
        if len(chain.segments) != 1:
            return f"{len(chain.segments)} buffers: one buffer per chain is supported for now"
        seg = chain.segments[0]
        i = bisect.bisect_left(self._spans, (seg.addr, seg.addr))
        for start, end in self._spans[max(i - 1, 0) : i + 1]:
            if start < seg.addr + seg.len and seg.addr < end:
                return (
                    f"buffer [{seg.addr:#x}, +{seg.len:#x}) overlaps [{start:#x}, {end:#x}) "
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
        inf = self._in_flight.pop(cookie)
        self._spans.remove((inf.gpa, inf.gpa + inf.length))
        self.pool.return_buffer(self.owner, inf.buffer.buffer_id)
        return inf

    # -- NIC -> used ------------------------------------------------------------------------

    async def process_completions(self, budget: int = 64) -> int:
        """Poll the NIC queue; publish used entries, recycle skipped buffers, notify the
        guest if its event index asks. Returns the used entries published."""
        done = await self.queue.poll(budget)
        used: list[tuple[int, int]] = []
        recycle: list[RxDescriptor] = []
        for d in done:
            c = d.cpl
            for desc in d.descs:
                if desc.cookie not in self._in_flight:
                    raise NicProtocolError(f"completion for unknown cookie {desc.cookie:#x}")
            inf = self._in_flight[c.cookie]
            if self.needs_reset:
                for desc in d.descs:
                    self._release(desc.cookie)
                self.stats.dropped_after_reset += 1
            elif c.status == CplStatus.TOO_LONG_FOR_GROUP:
                recycle.extend(d.descs)
                self.stats.recycled += 1
            elif c.status == CplStatus.OK:
                used.append((inf.head, self._deliver(inf, c)))
                self._release(c.cookie)
            else:
                raise NicProtocolError(f"completion status {c.status} unknown")
        if recycle:  # the completions just acknowledged left room for these
            await self.queue.post(recycle)
            self.stats.descriptors_posted += len(recycle)
        if used:
            self.ring.push_used_n(used)
            self.stats.frames += len(used)
            self.stats.bytes += sum(n for _, n in used)
            if self.ring.need_notify():
                self.stats.notifications += 1
                if self.notify is not None:
                    self.notify()
        return len(used)

    def _deliver(self, inf: _InFlight, c: RxCompletion) -> int:
        """Write the net header; returns the used length."""
        length = VIRTIO_NET_HDR_V1_SIZE + c.frame_len
        if (
            c.desc_count != 1
            or c.group_count != 1
            or c.payload_len != c.frame_len
            or length > inf.length
        ):
            raise NicProtocolError(
                f"completion {c} does not fit guest buffer of {inf.length} bytes "
                "(one descriptor, one group)"
            )
        flags = net_hdr_flags(c, self.features)
        self.ram.write(inf.gpa, VirtioNetHdr(flags=flags, num_buffers=1).pack())
        return length

    # -- teardown ---------------------------------------------------------------------------

    async def teardown(self, *, unregister: bool = True) -> None:
        """Quiesce the NIC queue, deliver completions already written, close the queue,
        return (unpin) every buffer the NIC held, and unregister the owner from the pool
        when ``unregister``."""
        await self.queue.quiesce()
        await self.process_completions(self.queue.cpl_entries)
        for d in await self.queue.close():
            if d.cookie in self._in_flight:
                self._release(d.cookie)
        for cookie in list(self._in_flight):
            self._release(cookie)
        if unregister:
            self.pool.teardown(self.owner)

# SPDX-License-Identifier: MIT
"""The page constructor: owners' pages handed to the NIC in place of host pages.

Owners (a guest behind vhost-net, or a user-space ring owner) register with a quota of
pinned pages, like RLIMIT_MEMLOCK. They post receive buffers, each one or more ranges of
their own memory (guest-physical addresses, or addresses in a user region), which cost
nothing yet. When the NIC driver asks for a buffer for an owner's queue, the pool pins the
buffer's pages (maps them in the NIC's IOMMU domain, write-only, at ``host address +
iova_offset``) and hands it over. Pinning is per page with a reference count, so two
buffers in one page pin it once and charge the owner once.

A buffer whose new pages would take the owner past its quota is refused with
``QuotaExceeded`` and nothing is pinned for it; it stays first in the owner's posted queue.
Returning a buffer (its completion was processed) unpins its pages; returning it twice is
an error. ``teardown`` unpins everything the owner has and forgets it.

If a ``DmaWriteTracker`` is given, every hand-over and return is reported to it, so a
device write into a buffer the NIC does not hold is caught even though the IOMMU allows it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from model.hostmem import PAGE_SHIFT, PAGE_SIZE, MemoryAccessError, pages_spanned
from model.iommu import Iommu, Perm
from model.tracker import DmaWriteTracker

#: Default distance between a pinned page's host address and its IOVA: a device that uses
#: host-physical addresses directly faults instead of silently working.
DEFAULT_IOVA_OFFSET = 1 << 44


class OwnerMemory(Protocol):
    """An owner's address space: ``model.hostmem.GuestRam`` (also usable for a user
    region) or anything that translates a range to a contiguous host-physical range."""

    def to_host(self, gpa: int, length: int = 1) -> int: ...


class PoolError(Exception):
    """Base of the page constructor's refusals and misuse errors."""


class QuotaExceeded(PoolError):
    """Handing over the buffer would pin more pages than the owner's quota."""

    def __init__(self, owner: str, pinned: int, quota: int, requested: int) -> None:
        super().__init__(
            f"owner {owner!r}: pinned-page quota exceeded: {pinned} of {quota} pages pinned, "
            f"buffer needs {requested} more"
        )
        self.owner = owner
        self.pinned = pinned
        self.quota = quota
        self.requested = requested


class UnknownOwner(PoolError):
    pass


class BufferOutOfRange(PoolError):
    """A posted range that is empty or not inside the owner's memory."""


class PostQueueFull(PoolError):
    """The owner already has ``max_posted`` buffers waiting."""


class BufferStateError(PoolError):
    """Returning a buffer the NIC does not hold (twice, never handed over, unknown), or
    reusing the id of a buffer still posted or in flight."""


@dataclass(frozen=True)
class Segment:
    addr: int  # in the owner's address space (guest-physical, or user region address)
    length: int
    host_addr: int
    iova: int  # what the NIC is given


@dataclass(frozen=True)
class PoolBuffer:
    owner: str
    buffer_id: int
    segments: tuple[Segment, ...]
    pages: frozenset[int]  # host page numbers (host address >> 12) the buffer touches

    @property
    def length(self) -> int:
        return sum(s.length for s in self.segments)


@dataclass
class OwnerStats:
    quota_pages: int
    pinned_pages: int = 0  # distinct pages pinned for this owner now
    peak_pinned_pages: int = 0
    refusals: int = 0  # buffers refused for quota
    rejected_posts: int = 0  # posts refused: out of range, queue full, larger than the quota
    posted: int = 0  # waiting to be handed over
    in_flight: int = 0  # held by the NIC
    handed_over: int = 0  # total
    returned: int = 0  # total


@dataclass
class _Owner:
    name: str
    memory: OwnerMemory
    stats: OwnerStats
    max_posted: int | None
    posted: deque[PoolBuffer] = field(default_factory=deque)
    in_flight: dict[int, PoolBuffer] = field(default_factory=dict)
    page_refs: dict[int, int] = field(default_factory=dict)  # host page -> buffers in flight
    next_id: int = 0


class PagePool:
    """The page constructor for one NIC (IOMMU requester ``rid``)."""

    def __init__(
        self,
        iommu: Iommu,
        rid: int,
        *,
        iova_offset: int = DEFAULT_IOVA_OFFSET,
        tracker: DmaWriteTracker | None = None,
    ) -> None:
        if iova_offset < 0 or iova_offset % PAGE_SIZE:
            raise ValueError(f"iova_offset {iova_offset:#x} must be page aligned")
        self.iommu = iommu
        self.rid = rid
        self.domain = iommu.attach(rid)
        self.iova_offset = iova_offset
        self.tracker = tracker
        self._owners: dict[str, _Owner] = {}
        self._page_refs: dict[int, int] = {}  # host page -> owners' references (IOMMU map)

    # -- owners -----------------------------------------------------------------------------

    def register(
        self, owner: str, memory: OwnerMemory, quota_pages: int, max_posted: int | None = None
    ) -> None:
        """Add an owner with a pinned-page quota and, optionally, a bound on buffers posted
        and not yet handed over."""
        if owner in self._owners:
            raise PoolError(f"owner {owner!r} is already registered")
        if quota_pages < 0:
            raise ValueError(f"quota {quota_pages} is negative")
        self._owners[owner] = _Owner(owner, memory, OwnerStats(quota_pages), max_posted)

    def _owner(self, owner: str) -> _Owner:
        try:
            return self._owners[owner]
        except KeyError:
            raise UnknownOwner(f"owner {owner!r} is not registered") from None

    @property
    def owners(self) -> list[str]:
        return list(self._owners)

    def stats(self, owner: str) -> OwnerStats:
        """A copy of the owner's counters."""
        o = self._owner(owner)
        return OwnerStats(**vars(o.stats))

    @property
    def pinned_pages(self) -> int:
        """Distinct host pages pinned (mapped for the NIC) now, over all owners."""
        return len(self._page_refs)

    def is_pinned(self, host_addr: int) -> bool:
        return host_addr >> PAGE_SHIFT in self._page_refs

    # -- owners' side -----------------------------------------------------------------------

    def post(
        self, owner: str, ranges: Sequence[tuple[int, int]], buffer_id: int | None = None
    ) -> int:
        """Post a receive buffer of one or more (addr, length) ranges of the owner's memory.
        Pins nothing. Returns the buffer id (given, or the next free number)."""
        o = self._owner(owner)
        buf = self._make_buffer(o, ranges, buffer_id)
        if o.max_posted is not None and len(o.posted) >= o.max_posted:
            o.stats.rejected_posts += 1
            raise PostQueueFull(f"owner {owner!r}: {len(o.posted)} buffers already posted")
        o.posted.append(buf)
        o.stats.posted = len(o.posted)
        return buf.buffer_id

    def _make_buffer(
        self, o: _Owner, ranges: Sequence[tuple[int, int]], buffer_id: int | None
    ) -> PoolBuffer:
        if buffer_id is None:
            buffer_id = o.next_id
        elif buffer_id in o.in_flight or any(b.buffer_id == buffer_id for b in o.posted):
            raise BufferStateError(f"owner {o.name!r} buffer {buffer_id} is still in use")
        if not ranges:
            o.stats.rejected_posts += 1
            raise BufferOutOfRange(f"owner {o.name!r}: a buffer needs at least one range")
        segments = []
        pages: set[int] = set()
        for addr, length in ranges:
            try:
                if length <= 0:
                    raise MemoryAccessError(f"length {length}")
                host = o.memory.to_host(addr, length)
            except MemoryAccessError as e:
                o.stats.rejected_posts += 1
                raise BufferOutOfRange(
                    f"owner {o.name!r}: buffer [{addr:#x}, +{length:#x}) refused: {e}"
                ) from None
            segments.append(Segment(addr, length, host, host + self.iova_offset))
            pages.update(pages_spanned(host, length))
        if len(pages) > o.stats.quota_pages:  # could never be handed over
            o.stats.rejected_posts += 1
            o.stats.refusals += 1
            raise QuotaExceeded(o.name, o.stats.pinned_pages, o.stats.quota_pages, len(pages))
        o.next_id = max(o.next_id, buffer_id + 1)
        return PoolBuffer(o.name, buffer_id, tuple(segments), frozenset(pages))

    # -- NIC driver's side ------------------------------------------------------------------

    def take(self, owner: str) -> PoolBuffer | None:
        """The owner's next posted buffer, pinned and mapped for the NIC; None if it has
        none posted. Raises ``QuotaExceeded`` (counted; nothing pinned; the buffer stays
        posted) when its new pages would exceed the owner's quota."""
        o = self._owner(owner)
        if not o.posted:
            return None
        buf = o.posted[0]
        self._pin(o, buf)
        o.posted.popleft()
        o.stats.posted = len(o.posted)
        return buf

    def hand_over(
        self, owner: str, ranges: Sequence[tuple[int, int]], buffer_id: int | None = None
    ) -> PoolBuffer:
        """Post and take in one step, ahead of anything already posted (for a backend that
        keeps refused entries in its own ring). On ``QuotaExceeded`` nothing stays posted."""
        o = self._owner(owner)
        buf = self._make_buffer(o, ranges, buffer_id)
        self._pin(o, buf)
        return buf

    def _pin(self, o: _Owner, buf: PoolBuffer) -> None:
        new = [p for p in buf.pages if p not in o.page_refs]
        st = o.stats
        if st.pinned_pages + len(new) > st.quota_pages:
            st.refusals += 1
            raise QuotaExceeded(o.name, st.pinned_pages, st.quota_pages, len(new))
        for p in buf.pages:
            o.page_refs[p] = o.page_refs.get(p, 0) + 1
            refs = self._page_refs.get(p, 0)
            if refs == 0:
                host = p << PAGE_SHIFT
                self.domain.map(host + self.iova_offset, host, PAGE_SIZE, Perm.WRITE)
            self._page_refs[p] = refs + 1
        o.in_flight[buf.buffer_id] = buf
        st.pinned_pages = len(o.page_refs)
        st.peak_pinned_pages = max(st.peak_pinned_pages, st.pinned_pages)
        st.in_flight = len(o.in_flight)
        st.handed_over += 1
        if self.tracker is not None:
            self.tracker.post_buffer(
                o.name, buf.buffer_id, [(s.iova, s.length) for s in buf.segments]
            )

    def return_buffer(self, owner: str, buffer_id: int) -> PoolBuffer:
        """The NIC is done with a buffer (its completion was processed): unpin its pages."""
        o = self._owner(owner)
        buf = o.in_flight.pop(buffer_id, None)
        if buf is None:
            waiting = any(b.buffer_id == buffer_id for b in o.posted)
            why = "posted but never handed to the NIC" if waiting else "not held by the NIC"
            raise BufferStateError(
                f"owner {owner!r} buffer {buffer_id} returned but {why} (double return?)"
            )
        self._unpin(o, buf)
        o.stats.returned += 1
        return buf

    def _unpin(self, o: _Owner, buf: PoolBuffer) -> None:
        if self.tracker is not None:
            self.tracker.return_buffer(o.name, buf.buffer_id)
        for p in buf.pages:
            left = o.page_refs[p] - 1
            if left:
                o.page_refs[p] = left
            else:
                del o.page_refs[p]
            refs = self._page_refs[p] - 1
            if refs:
                self._page_refs[p] = refs
            else:
                del self._page_refs[p]
                self.domain.unmap((p << PAGE_SHIFT) + self.iova_offset, PAGE_SIZE)
        o.stats.pinned_pages = len(o.page_refs)
        o.stats.in_flight = len(o.in_flight)

    def teardown(self, owner: str) -> OwnerStats:
        """Forget the owner: drop its posted buffers, return (unpin) every buffer the NIC
        still holds — the caller quiesces the NIC queue first — and unregister it.
        Returns its final counters."""
        o = self._owner(owner)
        o.posted.clear()
        o.stats.posted = 0
        for buf in list(o.in_flight.values()):
            del o.in_flight[buf.buffer_id]
            self._unpin(o, buf)
            o.stats.returned += 1
        assert not o.page_refs, f"owner {owner!r} still has pages pinned after teardown"
        del self._owners[owner]
        return o.stats

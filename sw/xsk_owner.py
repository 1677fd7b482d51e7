# SPDX-License-Identifier: MIT
"""The second owner kind: a user-space application with a ring of its own buffers
(AF_XDP-like), on the same page constructor (``sw.page_pool``) as the virtio guests.

Two sides, like ``sw.guest_virtio`` and ``sw.vhost``:

- ``XskApp`` -- the application. Its address space is a ``GuestRam`` (addresses are its
  user virtual addresses, from ``USER_BASE``). In it: the **UMEM** (a page-aligned region
  cut into ``chunk_size`` chunks, the only memory it offers for receives), a **fill ring**
  (the app produces buffers, the kernel consumes them) and a **completion ring** (the
  kernel produces received frames, the app consumes them). ``binding()`` is what the kernel
  learns from it (as AF_XDP learns it through ``XDP_UMEM_REG`` / ``XDP_*_RING`` / ``bind``).
- ``XskRx`` -- the kernel glue for one NIC RX queue (FULL or SPLIT placement at the
  queue's DATA_OFFSET, default FULL at 0 with ``bind_queue``): fill-ring entries ->
  validation -> page constructor -> NIC descriptors; NIC completions -> completion-ring
  entries.

Ring layout (both rings, in the app's memory, base 64-byte aligned; ``size`` a power of
two; indices free-running u32, little-endian; each index written only by its side)::

    +0    u32 producer      written by the producer only
    +64   u32 consumer      written by the consumer only (own cache line)
    +128  entry[size]       16 bytes each; entry i at +128 + 16 * (i % size)

Fill entry (``FillEntry``): ``u64 addr`` UMEM offset of the buffer, ``u32 len`` its
length, ``u32 reserved`` (0). Completion entry (``CompletionEntry``): ``u64 addr`` the
buffer's UMEM offset as it was posted, ``u32 len`` frame bytes (FCS excluded), ``u16
offset`` where the frame starts inside the buffer (the queue's DATA_OFFSET; in SPLIT see
below), ``u16 flags`` (``model.records.CplFlags`` of the NIC completion). The frame is at
UMEM ``addr + offset``.

SPLIT (docs/design.md's classic split for user-space ring owners): every descriptor also carries
a kernel header buffer (``sw.vhost.HeaderBuffers``: host memory, never the app's, mapped
write-only for the device; ``hdr_buf_size`` bytes, at most DATA_OFFSET, default DATA_OFFSET;
tracker owner ``xsk-hdr:<owner>``). With ``CplFlags.SPLIT`` the NIC put the ``hdr_len``
headers there and the payload at DATA_OFFSET of the chunk, so the payload starts at the same
offset whatever the headers; the glue copies the headers into the chunk's headroom right in
front of the payload, and the entry's ``offset`` is ``DATA_OFFSET - hdr_len``. Without the
split (``HDR_OVERFLOW``: no header at the split level, or longer than the header buffer) the
NIC placed the frame FULL at DATA_OFFSET and ``offset`` is DATA_OFFSET. Either way the app
reads one contiguous frame at ``addr + offset``.

Validation (kernel side; an invalid entry is consumed from the fill ring, counted by kind
in ``XskStats.invalid`` and never reaches the page constructor or the NIC -- the app only
loses that entry, as AF_XDP drops a bad fill address): reserved bits set; shorter than
``min_buffer`` (default 256 B) or longer than ``max_buffer`` (default 64 KiB); the range not
inside the UMEM; needing more pages than the owner's whole quota (it could never be pinned);
overlapping a buffer the NIC holds (earlier entries of the same batch included).

Quota: an entry the page constructor refuses for quota (``QuotaExceeded``) is *not*
consumed: it stays first in the fill ring, the refusal is counted, and it is retried at the
next ``service`` (after completions have unpinned pages). Nothing is pinned for it.

Completion-ring room: the glue takes a fill entry only while ``in flight + entries waiting
in the completion ring < completion ring size`` (and the NIC ring has a free slot), so every
buffer the NIC holds has a completion slot. An app that rewinds its consumer index can still
fill it; a frame then finds no slot, is dropped and counted (``comp_ring_full``), and its
buffer is unpinned. A ``too_long_for_group`` completion reposts the same buffer to the NIC
(still pinned, same cookie; the app sees nothing).

Cookie: ``seq << 48 | umem_offset`` -- bits 47:0 the buffer's UMEM offset (so a
completion names the buffer by itself; UMEM below 2**48 bytes), bits 63:48 a 16-bit
hand-over sequence number (a stale or foreign completion does not match the in-flight
table). A recycled descriptor keeps its cookie.

Teardown (``XskRx.teardown``): quiesce the NIC queue, deliver completions already written,
close the queue, return (unpin) every buffer the NIC held, unregister the owner. It returns
the UMEM ranges the NIC held unused; ``XskApp.reclaim`` takes them back.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from model.hostmem import (
    PAGE_MASK,
    PAGE_SIZE,
    Buffer,
    GuestRam,
    HostMemory,
    Memory,
    MemoryAccessError,
    align_up,
    pages_spanned,
)
from model.records import (
    CplFlags,
    CplStatus,
    DescFlags,
    PlacementMode,
    Record,
    RxCompletion,
    RxDescriptor,
    SplitLevel,
)
from sw.nic_driver import NicDriver, NicProtocolError, RxQueue
from sw.page_pool import PagePool, PoolBuffer, PoolError, QuotaExceeded
from sw.vhost import HeaderBuffers

#: Where the app's address space starts (its "user virtual addresses").
USER_BASE = 0x7F00_0000_0000
DEFAULT_CHUNK_SIZE = 2048
DEFAULT_MIN_BUFFER = 256
DEFAULT_MAX_BUFFER = 1 << 16
RING_PRODUCER_OFFSET = 0
RING_CONSUMER_OFFSET = 64
RING_ENTRIES_OFFSET = 128
RING_ALIGN = 64
RING_INDEX_MASK = 0xFFFF_FFFF
COOKIE_OFFSET_BITS = 48
COOKIE_OFFSET_MASK = (1 << COOKIE_OFFSET_BITS) - 1
COOKIE_SEQ_MASK = 0xFFFF
#: Placement modes the glue serves (SPLIT_HOLE is for virtio guests).
XSK_MODES = (PlacementMode.FULL, PlacementMode.SPLIT)

# --------------------------------------------------------------------------------------------
# Ring entries
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FillEntry(Record):
    """Fill-ring entry: a receive buffer the app offers."""

    SV_NAME: ClassVar[str] = "xsk_fill_entry"
    DOC: ClassVar[str] = "AF_XDP-like fill ring entry (software only)"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("addr", "Q", "UMEM offset of the buffer"),
        ("len", "I", "buffer length in bytes"),
        ("reserved", "I", "0"),
    )

    addr: int
    len: int
    reserved: int = 0


@dataclass(frozen=True)
class CompletionEntry(Record):
    """Completion-ring entry: a received frame."""

    SV_NAME: ClassVar[str] = "xsk_comp_entry"
    DOC: ClassVar[str] = "AF_XDP-like completion ring entry (software only)"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("addr", "Q", "UMEM offset of the buffer, as posted"),
        ("len", "I", "frame bytes (FCS excluded)"),
        ("offset", "H", "frame start inside the buffer (DATA_OFFSET, less hdr_len if split)"),
        ("flags", "H", "CplFlags of the NIC completion"),
    )

    addr: int
    len: int
    offset: int
    flags: int


ENTRY_BYTES = 16
assert FillEntry.size() == ENTRY_BYTES and CompletionEntry.size() == ENTRY_BYTES

E = TypeVar("E", bound=Record)

# --------------------------------------------------------------------------------------------
# Rings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RingLayout:
    """Where one ring lives in the app's memory."""

    base: int
    size: int  # entries, a power of two

    def __post_init__(self) -> None:
        if self.size < 1 or self.size & (self.size - 1) or self.size > 1 << 31:
            raise ValueError(f"ring of {self.size} entries: not a power of two")
        if self.base % RING_ALIGN:
            raise ValueError(f"ring base {self.base:#x} not {RING_ALIGN}-byte aligned")

    @staticmethod
    def total_bytes(size: int) -> int:
        return RING_ENTRIES_OFFSET + size * ENTRY_BYTES

    @property
    def producer_addr(self) -> int:
        return self.base + RING_PRODUCER_OFFSET

    @property
    def consumer_addr(self) -> int:
        return self.base + RING_CONSUMER_OFFSET

    def entry_addr(self, index: int) -> int:
        return self.base + RING_ENTRIES_OFFSET + (index & (self.size - 1)) * ENTRY_BYTES


def _r32(mem: Memory, addr: int) -> int:
    return int.from_bytes(mem.read(addr, 4), "little")


def _w32(mem: Memory, addr: int, value: int) -> None:
    mem.write(addr, (value & RING_INDEX_MASK).to_bytes(4, "little"))


class RingProducer(Generic[E]):
    """The producing side of a ring: keeps its own index, reads the peer's from memory."""

    def __init__(self, mem: Memory, layout: RingLayout) -> None:
        self.mem = mem
        self.layout = layout
        self.prod = _r32(mem, layout.producer_addr)

    def used(self) -> int:
        """Entries produced and not yet consumed, as the consumer's index says (clamped to
        the ring size when the consumer's index is impossible)."""
        n = (self.prod - _r32(self.mem, self.layout.consumer_addr)) & RING_INDEX_MASK
        return min(n, self.layout.size)

    def free(self) -> int:
        return self.layout.size - self.used()

    def write(self, i: int, entry: E) -> None:
        """Write ``entry`` ``i`` slots past the producer index (not yet published)."""
        self.mem.write(self.layout.entry_addr(self.prod + i), entry.pack())

    def submit(self, n: int) -> None:
        """Publish ``n`` written entries."""
        if n:
            self.prod = (self.prod + n) & RING_INDEX_MASK
            _w32(self.mem, self.layout.producer_addr, self.prod)

    def push(self, entries: Sequence[E]) -> int:
        """Write and publish as many of ``entries`` as fit; returns how many."""
        n = min(len(entries), self.free())
        for i in range(n):
            self.write(i, entries[i])
        self.submit(n)
        return n


class RingConsumer(Generic[E]):
    """The consuming side of a ring: keeps its own index, reads the peer's from memory."""

    def __init__(self, mem: Memory, layout: RingLayout, entry: type[E]) -> None:
        self.mem = mem
        self.layout = layout
        self.entry = entry
        self.cons = _r32(mem, layout.consumer_addr)
        self.bad_producer = 0  # times the producer index claimed more than the ring holds

    def available(self) -> int:
        """Entries the producer published and this side has not consumed (at most the ring
        size: a larger claim is an impossible producer index, counted)."""
        n = (_r32(self.mem, self.layout.producer_addr) - self.cons) & RING_INDEX_MASK
        if n > self.layout.size:
            self.bad_producer += 1
            return self.layout.size
        return n

    def peek(self, i: int) -> E:
        """The entry ``i`` slots past the consumer index."""
        return self.entry.unpack(self.mem.read(self.layout.entry_addr(self.cons + i), ENTRY_BYTES))

    def release(self, n: int) -> None:
        """Consume ``n`` entries and publish the new consumer index."""
        if n:
            self.cons = (self.cons + n) & RING_INDEX_MASK
            _w32(self.mem, self.layout.consumer_addr, self.cons)


# --------------------------------------------------------------------------------------------
# UMEM and the app
# --------------------------------------------------------------------------------------------


class UmemRangeError(MemoryAccessError):
    """A UMEM range that is empty, negative or not entirely inside the UMEM."""


class Umem:
    """``size`` bytes of the app's memory from user address ``base`` (page aligned),
    addressed by offset. Satisfies ``sw.page_pool.OwnerMemory``: the pool sees UMEM
    offsets, and ``to_host`` refuses anything outside."""

    def __init__(self, space: GuestRam, base: int, size: int) -> None:
        if base & PAGE_MASK or size <= 0 or size & PAGE_MASK:
            raise ValueError(f"UMEM [{base:#x}, +{size:#x}) must be whole 4 KiB pages")
        if size > COOKIE_OFFSET_MASK:
            raise ValueError(f"UMEM of {size:#x} bytes: offsets must fit 48 bits")
        self.space = space
        self.base = base
        self.size = size
        self.host_base = space.to_host(base, size)

    def contains(self, offset: int, length: int) -> bool:
        return 0 <= offset and 0 < length and offset + length <= self.size

    def to_host(self, gpa: int, length: int = 1) -> int:
        if not self.contains(gpa, length):
            raise UmemRangeError(
                f"UMEM range [{gpa:#x}, +{length:#x}) outside the UMEM of {self.size:#x} bytes"
            )
        return self.host_base + gpa

    def read(self, offset: int, n: int) -> bytes:
        return self.space.read(self.base + offset, n) if n else b""

    def write(self, offset: int, data: Buffer) -> None:
        self.space.write(self.base + offset, data)


@dataclass(frozen=True)
class XskBinding:
    """What the kernel knows of an app: its memory, UMEM and ring addresses."""

    space: GuestRam
    umem: Umem
    fill: RingLayout
    comp: RingLayout


@dataclass(frozen=True)
class XskFrame:
    addr: int  # UMEM offset of the buffer
    offset: int  # frame start inside it
    flags: int
    data: bytes


@dataclass
class XskAppStats:
    filled: int = 0  # entries published in the fill ring
    frames: int = 0
    bytes: int = 0


class XskApp:
    """A user-space receiver: ``frames`` chunks of ``chunk_size`` bytes of UMEM, a fill ring
    and a completion ring (``ring_size`` entries each unless given), in its own memory.
    Both rings' indices start at ``start_index`` (u32, free-running)."""

    def __init__(
        self,
        mem: HostMemory,
        *,
        name: str = "xsk0",
        frames: int = 64,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        ring_size: int = 64,
        fill_size: int | None = None,
        comp_size: int | None = None,
        user_base: int = USER_BASE,
        start_index: int = 0,
    ) -> None:
        if chunk_size <= 0 or frames <= 0:
            raise ValueError(f"{frames} chunks of {chunk_size} bytes")
        fill_size = fill_size or ring_size
        comp_size = comp_size or ring_size
        umem_bytes = align_up(frames * chunk_size, PAGE_SIZE)
        rings = align_up(RingLayout.total_bytes(fill_size), PAGE_SIZE) + align_up(
            RingLayout.total_bytes(comp_size), PAGE_SIZE
        )
        self.name = name
        self.space = GuestRam(mem, umem_bytes + rings, name=name, guest_base=user_base)
        self.umem = Umem(self.space, self.space.alloc(umem_bytes, PAGE_SIZE), umem_bytes)
        fill = RingLayout(self.space.alloc(RingLayout.total_bytes(fill_size), PAGE_SIZE), fill_size)
        comp = RingLayout(self.space.alloc(RingLayout.total_bytes(comp_size), PAGE_SIZE), comp_size)
        for lay in (fill, comp):  # both indices start at ``start_index`` (to exercise wrap)
            self.space.write(lay.base, bytes(RING_ENTRIES_OFFSET))
            _w32(self.space, lay.producer_addr, start_index)
            _w32(self.space, lay.consumer_addr, start_index)
        self.fill_ring: RingProducer[FillEntry] = RingProducer(self.space, fill)
        self.comp_ring: RingConsumer[CompletionEntry] = RingConsumer(
            self.space, comp, CompletionEntry
        )
        self.chunk_size = chunk_size
        self.free_chunks: deque[int] = deque(i * chunk_size for i in range(frames))
        self.stats = XskAppStats()

    def binding(self) -> XskBinding:
        return XskBinding(self.space, self.umem, self.fill_ring.layout, self.comp_ring.layout)

    def fill(self, n: int | None = None) -> int:
        """Offer up to ``n`` free chunks (default: as many as fit); returns how many."""
        k = min(len(self.free_chunks), self.fill_ring.free())
        if n is not None:
            k = min(k, n)
        entries = [FillEntry(self.free_chunks.popleft(), self.chunk_size) for _ in range(k)]
        return self.post(entries)

    def post(self, entries: Sequence[FillEntry]) -> int:
        """Publish raw fill entries (any values: a hostile app is one that lies here)."""
        n = self.fill_ring.push(entries)
        self.stats.filled += n
        return n

    def receive(self, budget: int | None = None, *, recycle: bool = True) -> list[XskFrame]:
        """Read up to ``budget`` completion entries; each buffer goes back to the free
        chunks when ``recycle`` (``fill`` offers it again)."""
        n = self.comp_ring.available()
        if budget is not None:
            n = min(n, budget)
        out = []
        for i in range(n):
            e = self.comp_ring.peek(i)
            data = self.umem.read(e.addr + e.offset, e.len)
            out.append(XskFrame(e.addr, e.offset, e.flags, data))
            if recycle:
                self.free_chunks.append(e.addr)
        self.comp_ring.release(n)
        self.stats.frames += n
        self.stats.bytes += sum(len(f.data) for f in out)
        return out

    def reclaim(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Take back buffers returned unused (``XskRx.teardown``)."""
        self.free_chunks.extend(addr for addr, _ in ranges)


# --------------------------------------------------------------------------------------------
# The kernel glue
# --------------------------------------------------------------------------------------------


def register_umem(pool: PagePool, owner: str, umem: Umem, quota_pages: int) -> None:
    """Register the UMEM with the page constructor under ``owner`` with its pinned-page
    quota, and name it in the pool's DMA write tracker (if any)."""
    pool.register(owner, umem, quota_pages)
    if pool.tracker is not None:
        pool.tracker.add_owner_region(owner, umem.host_base + pool.iova_offset, umem.size)


@dataclass
class XskStats:
    fill_taken: int = 0  # fill entries handed to the NIC
    descriptors_posted: int = 0  # NIC descriptors written (recycled ones included)
    frames: int = 0  # completion entries written
    bytes: int = 0  # their frame bytes
    recycled: int = 0  # too_long_for_group completions reposted
    quota_refusals: int = 0  # hand-overs refused for quota (entry left in the fill ring)
    invalid: dict[str, int] = field(default_factory=dict)  # refused fill entries, by kind
    comp_ring_full: int = 0  # frames dropped: no completion slot (app rewound its index)
    last_invalid: str | None = None

    @property
    def invalid_total(self) -> int:
        return sum(self.invalid.values())


@dataclass(frozen=True)
class _InFlight:
    addr: int  # UMEM offset
    length: int
    buffer: PoolBuffer
    desc: RxDescriptor
    hdr_slot: int | None = None  # its kernel header buffer (SPLIT)


def _hdr_buf_size(mode: PlacementMode, data_offset: int, hdr_buf_size: int | None) -> int:
    """The header buffer size for a queue in ``mode`` (default: ``data_offset``); raises
    ValueError for a mode the glue cannot serve or, in SPLIT, a size outside
    1..``data_offset`` (the headers are copied in front of the payload)."""
    if mode not in XSK_MODES:
        raise ValueError(f"placement {PlacementMode(mode).name} cannot serve an xsk app")
    size = data_offset if hdr_buf_size is None else hdr_buf_size
    if mode == PlacementMode.SPLIT and not 0 < size <= data_offset:
        raise ValueError(
            f"SPLIT needs header buffers of 1..DATA_OFFSET ({data_offset}) bytes, got {size}: "
            "the headers are copied in front of the payload"
        )
    return size


class XskRx:
    """Kernel side of one app on one NIC RX queue (``queue``, FULL or SPLIT placement at
    its DATA_OFFSET), with buffers handed over by ``pool`` for ``owner`` (registered with the
    UMEM, see ``register_umem``). In SPLIT each descriptor carries a ``hdr_buf_size``-byte
    kernel header buffer (default and at most DATA_OFFSET). ``service`` is the NAPI poll."""

    def __init__(
        self,
        queue: RxQueue,
        pool: PagePool,
        owner: str,
        binding: XskBinding,
        *,
        min_buffer: int = DEFAULT_MIN_BUFFER,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        hdr_buf_size: int | None = None,
    ) -> None:
        if not queue.data_offset < min_buffer <= max_buffer:
            raise ValueError(
                f"need data offset {queue.data_offset} < min_buffer {min_buffer} "
                f"<= max_buffer {max_buffer}"
            )
        hdr_size = _hdr_buf_size(queue.mode, queue.data_offset, hdr_buf_size)
        self.quota_pages = pool.stats(owner).quota_pages  # UnknownOwner if not registered
        self.queue = queue
        self.pool = pool
        self.owner = owner
        self.umem = binding.umem
        self.fill: RingConsumer[FillEntry] = RingConsumer(binding.space, binding.fill, FillEntry)
        self.comp: RingProducer[CompletionEntry] = RingProducer(binding.space, binding.comp)
        self.min_buffer = min_buffer
        self.max_buffer = max_buffer
        self.stats = XskStats()
        self.closed = False
        self._in_flight: dict[int, _InFlight] = {}  # cookie -> buffer the NIC holds
        self._spans: list[tuple[int, int]] = []  # sorted (offset, end) of those buffers
        self._seq = 0
        self.hdr_owner = f"xsk-hdr:{owner}"  # the kernel's header buffers, for the tracker
        self.hdr_bufs: HeaderBuffers | None = None
        if queue.mode == PlacementMode.SPLIT:
            self.hdr_bufs = HeaderBuffers(
                queue.drv.mem, queue.drv.domain, queue.desc_entries, hdr_size, self.hdr_owner,
                pool.tracker,
            )  # fmt: skip

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def fill_pending(self) -> int:
        """Fill entries the app published and the glue has not consumed."""
        return self.fill.available()

    async def service(self, budget: int = 64) -> int:
        """Process up to ``budget`` completions, then refill from the fill ring. Returns
        the completion entries written."""
        if self.closed:
            return 0
        done = await self.process_completions(budget)
        await self.refill()
        return done

    # -- fill ring -> NIC -------------------------------------------------------------------

    async def refill(self) -> int:
        """Hand fill entries to the NIC while it and the completion ring have room;
        returns descriptors posted."""
        if self.closed:
            return 0
        room = min(self.queue.free_slots, self.comp.free() - len(self._in_flight))
        descs: list[RxDescriptor] = []
        consumed = 0
        avail = self.fill.available()
        while consumed < avail and len(descs) < room:
            entry = self.fill.peek(consumed)
            problem = self._check(entry)
            if problem is not None:
                kind, why = problem
                self.stats.invalid[kind] = self.stats.invalid.get(kind, 0) + 1
                self.stats.last_invalid = f"fill entry {entry.addr:#x}+{entry.len:#x}: {why}"
                consumed += 1
                continue
            try:
                buf = self.pool.hand_over(self.owner, [(entry.addr, entry.len)])
            except QuotaExceeded:  # stays first in the fill ring, retried later
                self.stats.quota_refusals += 1
                break
            except PoolError as e:  # validation should have caught it
                self.stats.invalid["pool"] = self.stats.invalid.get("pool", 0) + 1
                self.stats.last_invalid = str(e)
                consumed += 1
                continue
            consumed += 1
            cookie = (self._seq << COOKIE_OFFSET_BITS) | entry.addr
            self._seq = (self._seq + 1) & COOKIE_SEQ_MASK
            hdr_slot, hdr_addr, hdr_len = HeaderBuffers.take_for(self.hdr_bufs)
            desc = RxDescriptor(
                data_addr=buf.segments[0].iova,
                hdr_addr=hdr_addr,
                cookie=cookie,
                data_len=entry.len,
                hdr_len=hdr_len,
                flags=DescFlags.EOG,
            )
            self._in_flight[cookie] = _InFlight(entry.addr, entry.len, buf, desc, hdr_slot)
            bisect.insort(self._spans, (entry.addr, entry.addr + entry.len))
            descs.append(desc)
        self.fill.release(consumed)
        await self.queue.post(descs)
        self.stats.fill_taken += len(descs)
        self.stats.descriptors_posted += len(descs)
        return len(descs)

    def _check(self, e: FillEntry) -> tuple[str, str] | None:
        """(kind, reason) why a fill entry is refused, or None."""
        if e.reserved:
            return "reserved", f"reserved field {e.reserved:#x} is not 0"
        if e.len < self.min_buffer:
            return "too_small", f"below the minimum of {self.min_buffer} bytes"
        if e.len > self.max_buffer:
            return "too_large", f"above the maximum of {self.max_buffer} bytes"
        if not self.umem.contains(e.addr, e.len):
            return "outside_umem", f"outside the UMEM of {self.umem.size:#x} bytes"
        pages = len(pages_spanned(self.umem.to_host(e.addr, e.len), e.len))
        if pages > self.quota_pages:
            return "too_large", f"needs {pages} pages, the quota is {self.quota_pages}"
        end = e.addr + e.len
        i = bisect.bisect_left(self._spans, (e.addr, e.addr))
        for start, stop in self._spans[max(i - 1, 0) : i + 1]:
            if start < end and e.addr < stop:
                return "overlap", f"overlaps [{start:#x}, {stop:#x}) which the NIC holds"
        return None

    def _release(self, cookie: int) -> _InFlight:
        inf = self._in_flight.pop(cookie)
        self._spans.remove((inf.addr, inf.addr + inf.length))
        self.pool.return_buffer(self.owner, inf.buffer.buffer_id)
        if inf.hdr_slot is not None and self.hdr_bufs is not None:
            self.hdr_bufs.give_back(inf.hdr_slot)
        return inf

    # -- NIC -> completion ring -------------------------------------------------------------

    async def process_completions(self, budget: int = 64) -> int:
        """Poll the NIC queue; write completion entries, recycle skipped buffers. Returns
        the completion entries written."""
        done = await self.queue.poll(budget)
        recycle: list[RxDescriptor] = []
        written = 0
        free = self.comp.free()
        for d in done:
            c = d.cpl
            for desc in d.descs:
                if desc.cookie not in self._in_flight:
                    raise NicProtocolError(f"completion for unknown cookie {desc.cookie:#x}")
            inf = self._in_flight[c.cookie]
            if c.status == CplStatus.TOO_LONG_FOR_GROUP:
                recycle.extend(d.descs)
                self.stats.recycled += 1
                continue
            if c.status != CplStatus.OK:
                raise NicProtocolError(f"completion status {c.status} unknown")
            offset = self._check_completion(inf, c)
            if written < free:
                if c.flags & CplFlags.SPLIT:  # the headers go in front of the payload
                    assert self.hdr_bufs is not None and inf.hdr_slot is not None
                    header = self.hdr_bufs.read(inf.hdr_slot, c.hdr_len)
                    self.umem.write(inf.addr + offset, header)
                entry = CompletionEntry(inf.addr, c.frame_len, offset, c.flags)
                self.comp.write(written, entry)
                written += 1
                self.stats.frames += 1
                self.stats.bytes += c.frame_len
            else:
                self.stats.comp_ring_full += 1
            self._release(c.cookie)
        self.comp.submit(written)
        if recycle:  # the completions just acknowledged left room for these
            await self.queue.post(recycle)
            self.stats.descriptors_posted += len(recycle)
        return written

    def _check_completion(self, inf: _InFlight, c: RxCompletion) -> int:
        """Where the frame starts in its chunk once the glue is done (DATA_OFFSET, or
        DATA_OFFSET - hdr_len with the split done); raises if the completion does not fit
        the buffer and the queue's placement."""
        d = self.queue.data_offset
        split = bool(c.flags & CplFlags.SPLIT)
        hdr = c.hdr_len if split else 0
        if (
            c.desc_count != 1
            or c.group_count != 1
            or c.hdr_len != hdr
            or c.payload_len != c.frame_len - hdr
            or d + c.payload_len > inf.length
            or (split and (self.hdr_bufs is None or not 0 < hdr <= self.hdr_bufs.size))
        ):
            raise NicProtocolError(
                f"completion {c} does not fit buffer of {inf.length} bytes "
                f"(one descriptor, one group, {self.queue.mode.name} placement)"
            )
        return d - hdr

    # -- teardown ---------------------------------------------------------------------------

    async def teardown(self, *, unregister: bool = True) -> list[tuple[int, int]]:
        """Quiesce the NIC queue, deliver completions already written, close the queue,
        unpin every buffer the NIC held, unregister the owner (``unregister``). Returns the
        (UMEM offset, length) of the buffers returned unused."""
        await self.queue.quiesce()
        await self.process_completions(self.queue.cpl_entries)
        unused: list[tuple[int, int]] = []
        for d in await self.queue.close():
            if d.cookie in self._in_flight:
                inf = self._release(d.cookie)
                unused.append((inf.addr, inf.length))
        for cookie in list(self._in_flight):
            inf = self._release(cookie)
            unused.append((inf.addr, inf.length))
        if self.hdr_bufs is not None:
            self.hdr_bufs.close()
        self.closed = True
        if unregister:
            self.pool.teardown(self.owner)
        return unused


async def bind_queue(
    drv: NicDriver,
    index: int,
    pool: PagePool,
    owner: str,
    binding: XskBinding,
    *,
    data_offset: int = 0,
    desc_entries: int = 64,
    cpl_entries: int | None = None,
    min_buffer: int = DEFAULT_MIN_BUFFER,
    max_buffer: int = DEFAULT_MAX_BUFFER,
    mode: PlacementMode = PlacementMode.FULL,
    split_level: SplitLevel = SplitLevel.L4,
    hdr_buf_size: int | None = None,
) -> XskRx:
    """Open NIC RX queue ``index`` (``mode`` FULL or SPLIT at ``split_level``, at
    ``data_offset``) and bind the app to it (``owner`` already registered, see
    ``register_umem``)."""
    if not data_offset < min_buffer <= max_buffer:
        raise ValueError(f"data offset {data_offset} / min_buffer {min_buffer} / {max_buffer}")
    _hdr_buf_size(mode, data_offset, hdr_buf_size)
    pool.stats(owner)  # UnknownOwner before the queue is opened
    queue = await drv.open_queue(
        index, desc_entries=desc_entries, cpl_entries=cpl_entries, data_offset=data_offset,
        mode=mode, split_level=split_level,
    )  # fmt: skip
    return XskRx(
        queue, pool, owner, binding, min_buffer=min_buffer, max_buffer=max_buffer,
        hdr_buf_size=hdr_buf_size,
    )  # fmt: skip


__all__ = [
    "COOKIE_OFFSET_BITS",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MIN_BUFFER",
    "ENTRY_BYTES",
    "USER_BASE",
    "XSK_MODES",
    "CompletionEntry",
    "FillEntry",
    "RingConsumer",
    "RingLayout",
    "RingProducer",
    "Umem",
    "UmemRangeError",
    "XskApp",
    "XskAppStats",
    "XskBinding",
    "XskFrame",
    "XskRx",
    "XskStats",
    "bind_queue",
    "register_umem",
]

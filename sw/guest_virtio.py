# SPDX-License-Identifier: MIT
"""The guest's virtio-net RX driver over a split ring, as Linux's virtio_net does it: big
packets (one buffer per frame) or, with VIRTIO_NET_F_MRG_RXBUF, mergeable buffers (a frame
spans ``num_buffers`` buffers, one used entry each).

A buffer is one descriptor chain: one segment by default, or ``chain_buffers`` segments
(virtio 5.1.6.3.1, "big packets": Linux ``add_recvbuf_big`` posts a chain of page-sized
buffers). The device fills a chain's segments in order as one byte stream, net header at
the start of the first segment, and its used entry's len is the bytes written into the whole
chain; the driver reads ``used.len`` bytes across the segments in chain order. Like
``add_recvbuf_big``, a fresh chain's segments are allocated last one first, so with this
bump allocator they run backwards in memory: a device that wrote one contiguous run from the
first segment would put bytes in the wrong places. (Linux also gives the 12-byte header a
descriptor of its own, cut from the first page; this driver does not, since the vhost
backend wants every segment at least ``min_buffer`` bytes.)

It posts buffers from its ``GuestRam`` and kicks only when the event index asks
(``kick`` is the device's doorbell, a callable the backend provides). It is interrupt
driven: ``interrupt()`` is the only way it learns of used entries (the backend calls it);
the interrupt disables callbacks and schedules a poll, and ``poll()`` -- NAPI -- drains the
used ring up to a budget of frames, re-enables callbacks (polling once more if entries
slipped in), and reposts the buffers it read. Without an interrupt ``poll()`` returns
nothing, so a lost notification shows as frames not received. ``reuse=False`` posts each
buffer once and never reuses it (the used buffers stay intact for memory dumps); ``fill``
then takes fresh ones.

Mergeable receive follows Linux ``receive_mergeable``: the first used entry's buffer starts
with the net header, whose ``num_buffers`` says how many used entries the frame has; the
frame is the first buffer's bytes after the header followed by the next ``num_buffers - 1``
buffers' used bytes. A used len beyond its buffer drops the frame and the rest of its
buffers (``length_errors``); fewer used entries than ``num_buffers`` drops it
(``missing_buffers``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from model.hostmem import PAGE_SIZE, GuestRam
from model.virtio import (
    VIRTIO_F_VERSION_1,
    VIRTIO_NET_F_MRG_RXBUF,
    VIRTIO_NET_HDR_V1_SIZE,
    VIRTIO_RING_F_EVENT_IDX,
    SplitRing,
    SplitRingLayout,
    UsedBuffer,
    VirtioNetHdr,
    has_feature,
)

DEFAULT_FEATURES = (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_RING_F_EVENT_IDX)


@dataclass(frozen=True)
class RxBuffer:
    """One used buffer (one descriptor chain) of a received frame."""

    head: int  # used id
    addr: int  # guest-physical address of the buffer (its first segment)
    size: int  # the buffer's length as posted (all its segments)
    used_len: int  # the used entry's len (net header included for the first)
    segments: tuple[tuple[int, int], ...] = ()  # (address, length) of each, in chain order


@dataclass(frozen=True)
class RxFrame:
    head: int  # the first buffer's head index (used id)
    addr: int  # guest-physical address of the first buffer
    used_len: int  # sum of the used lens of its buffers: 12 + frame length
    hdr: VirtioNetHdr
    data: bytes  # the frame, net header excluded
    buffers: tuple[RxBuffer, ...] = ()  # every buffer, in stream order (num_buffers of them)


@dataclass
class GuestRxStats:
    posted: int = 0  # buffers added to the avail ring
    kicks: int = 0
    interrupts: int = 0
    spurious_interrupts: int = 0  # interrupt with nothing new in the used ring
    polls: int = 0
    frames: int = 0
    bytes: int = 0  # frame bytes (net header excluded)
    buffers: int = 0  # used entries read
    length_errors: int = 0  # used len shorter than the header or longer than the buffer
    hdr_errors: int = 0  # num_buffers other than 1 (0 with mergeable buffers)
    missing_buffers: int = 0  # mergeable frames with fewer used entries than num_buffers


class GuestVirtioNetRx:
    """One RX virtqueue of ``num`` entries in ``ram``, buffers of ``buf_size`` bytes (net
    header included) aligned to ``buf_align``; a sequence of sizes is cycled through as
    fresh buffers are allocated (a reused buffer keeps its size). With ``chain_buffers`` N
    each buffer is a chain of N segments of those sizes (each allocated apart and aligned
    to ``buf_align``); a sequence of counts is cycled through as fresh chains are made, and
    a chain takes N of the ring's ``num`` descriptors. ``start_idx`` starts both ring
    indices there (the backend must then start at the same vring base), to exercise 16-bit
    wrap. With VIRTIO_NET_F_MRG_RXBUF in ``features`` frames may span buffers."""

    def __init__(
        self,
        ram: GuestRam,
        num: int = 256,
        *,
        buf_size: int | Sequence[int] = 2048,
        buf_align: int = 64,
        features: int = DEFAULT_FEATURES,
        reuse: bool = True,
        kick: Callable[[], None] | None = None,
        start_idx: int = 0,
        chain_buffers: int | Sequence[int] = 1,
    ) -> None:
        if not has_feature(features, VIRTIO_F_VERSION_1):
            raise ValueError("only virtio 1.x (VIRTIO_F_VERSION_1) is supported")
        sizes = (buf_size,) if isinstance(buf_size, int) else tuple(buf_size)
        if not sizes:
            raise ValueError("no buffer size given")
        for size in sizes:
            if size <= VIRTIO_NET_HDR_V1_SIZE:
                raise ValueError(f"buffer of {size} bytes leaves no room for a frame")
        counts = (chain_buffers,) if isinstance(chain_buffers, int) else tuple(chain_buffers)
        if not counts:
            raise ValueError("no chain length given")
        for count in counts:
            if not 1 <= count <= num:
                raise ValueError(f"chain of {count} buffers: not in 1..{num} (the ring size)")
        self.ram = ram
        self.buf_sizes = sizes
        self.buf_size = max(sizes)  # the largest buffer (segment) posted
        self.chain_buffers = counts
        self.buf_align = buf_align
        self.features = features
        self.mergeable = has_feature(features, VIRTIO_NET_F_MRG_RXBUF)
        self.reuse = reuse
        self.kick = kick
        base = ram.alloc(SplitRingLayout.total_size_1x(num), PAGE_SIZE)
        self.layout = SplitRingLayout.packed_1x(num, base)
        self.ring = SplitRing(
            ram, self.layout, event_idx=has_feature(features, VIRTIO_RING_F_EVENT_IDX)
        )
        self.ring.init_driver(start_idx)
        self.start_idx = start_idx & 0xFFFF
        self.stats = GuestRxStats()
        self._sizes: dict[int, int] = {}  # buffer address -> its size (all segments)
        self._segments: dict[int, tuple[tuple[int, int], ...]] = {}  # address -> segments
        self._allocated = 0  # fresh segments allocated (picks the next size)
        self._chains = 0  # fresh buffers (chains) made (picks the next chain length)
        self._spare: list[int] = []  # buffers read and ready to repost (reuse)
        self.retired: list[int] = []  # buffers read and never reposted (no reuse)
        self._scheduled = False  # NAPI scheduled by an interrupt

    def buffer_size(self, addr: int) -> int:
        """The size of the buffer at ``addr`` (one this driver allocated; a chain's first
        segment): all its segments."""
        return self._sizes[addr]

    def buffer_segments(self, addr: int) -> tuple[tuple[int, int], ...]:
        """(address, length) of each segment of the buffer at ``addr``, in chain order."""
        return self._segments[addr]

    def _new_buffer(self) -> tuple[tuple[int, int], ...]:
        """A fresh chain: its segments, the last allocated first (Linux add_recvbuf_big)."""
        count = self.chain_buffers[self._chains % len(self.chain_buffers)]
        self._chains += 1
        sizes = [self.buf_sizes[(self._allocated + k) % len(self.buf_sizes)] for k in range(count)]
        self._allocated += count
        addrs = [self.ram.alloc(size, self.buf_align) for size in reversed(sizes)][::-1]
        segs = tuple(zip(addrs, sizes, strict=True))
        self._segments[addrs[0]] = segs
        self._sizes[addrs[0]] = sum(sizes)
        return segs

    def _next_chain_len(self) -> int:
        if self._spare:
            return len(self._segments[self._spare[-1]])
        return self.chain_buffers[self._chains % len(self.chain_buffers)]

    def fill(self, n: int | None = None) -> int:
        """Post up to ``n`` buffers (default: while the ring has free descriptors for the
        next one); kick if the device's avail event asks. Returns the buffers posted."""
        posted = 0
        while (n is None or posted < n) and self.ring.num_free >= self._next_chain_len():
            segs = self._segments[self._spare.pop()] if self._spare else self._new_buffer()
            self.ring.add_buf([], segs, token=segs[0][0])
            posted += 1
        self.stats.posted += posted
        if posted and self.ring.kick_prepare():
            self.stats.kicks += 1
            if self.kick is not None:
                self.kick()
        return posted

    def interrupt(self) -> None:
        """The device's used-buffer notification (vring_interrupt + skb_recv_done)."""
        self.stats.interrupts += 1
        if not self.ring.more_used():
            self.stats.spurious_interrupts += 1
            return
        if not self._scheduled:
            self._scheduled = True
            self.ring.disable_cb()

    @property
    def poll_scheduled(self) -> bool:
        return self._scheduled

    def poll(self, budget: int = 64) -> list[RxFrame]:
        """NAPI poll: only after an interrupt. Receives up to ``budget`` frames (each
        counts once, whatever its num_buffers, as in Linux ``virtnet_receive``), reposts
        buffers (with ``reuse``), re-enables callbacks when done."""
        if not self._scheduled:
            return []
        self.stats.polls += 1
        frames: list[RxFrame] = []
        done = 0
        while True:
            while done < budget:
                used = self._get_used()
                if used is None:
                    break
                done += 1
                frame = self._receive(used)
                if frame is not None:
                    frames.append(frame)
            if self._spare:
                self.fill(len(self._spare))
            if done >= budget:
                break  # stays scheduled: the next poll continues
            if self.ring.enable_cb():
                self._scheduled = False
                break
            self.ring.disable_cb()  # entries slipped in before callbacks were back
        return frames

    def _get_used(self) -> UsedBuffer | None:
        """The next used entry; its buffer is done with (reposted later, or retired)."""
        used = self.ring.get_used()
        if used is not None:
            assert isinstance(used.token, int)
            (self._spare if self.reuse else self.retired).append(used.token)
            self.stats.buffers += 1
        return used

    def _piece(self, used: UsedBuffer) -> RxBuffer:
        addr = used.token
        assert isinstance(addr, int)
        return RxBuffer(used.head, addr, self._sizes[addr], used.len, self._segments[addr])

    def _read(self, buf: RxBuffer, start: int, n: int) -> bytes:
        """Bytes ``[start, start + n)`` of the byte stream over ``buf``'s segments."""
        out = []
        pos = 0  # stream position of the segment's first byte
        for addr, size in buf.segments:
            lo, hi = max(start, pos), min(start + n, pos + size)
            if lo < hi:
                out.append(self.ram.read(addr + lo - pos, hi - lo))
            pos += size
        return b"".join(out)

    def _receive(self, used: UsedBuffer) -> RxFrame | None:
        first = self._piece(used)
        if not VIRTIO_NET_HDR_V1_SIZE <= first.used_len <= first.size:
            self.stats.length_errors += 1
            return None
        hdr = VirtioNetHdr.unpack(self._read(first, 0, VIRTIO_NET_HDR_V1_SIZE))
        if hdr.num_buffers < 1 or (hdr.num_buffers != 1 and not self.mergeable):
            self.stats.hdr_errors += 1
            return None
        pieces = [first]
        for _ in range(hdr.num_buffers - 1):
            more = self._get_used()
            if more is None:  # "rx error: %d buffers out of %d missing"
                self.stats.missing_buffers += 1
                return None
            pieces.append(self._piece(more))
        if any(p.used_len > p.size for p in pieces[1:]):
            self.stats.length_errors += 1  # the frame's other buffers are consumed too
            return None
        data = self._read(
            first, VIRTIO_NET_HDR_V1_SIZE, first.used_len - VIRTIO_NET_HDR_V1_SIZE
        ) + b"".join(self._read(p, 0, p.used_len) for p in pieces[1:])
        self.stats.frames += 1
        self.stats.bytes += len(data)
        return RxFrame(
            first.head,
            first.addr,
            sum(p.used_len for p in pieces),
            hdr,
            data,
            tuple(pieces),
        )

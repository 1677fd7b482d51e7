# SPDX-License-Identifier: MIT
"""The guest's virtio-net RX driver, big-packet layout (one buffer per chain; mergeable
buffers later), as Linux's virtio_net does it over a split ring.

It posts buffers from its ``GuestRam`` and kicks only when the event index asks
(``kick`` is the device's doorbell, a callable the backend provides). It is interrupt
driven: ``interrupt()`` is the only way it learns of used entries (the backend calls it);
the interrupt disables callbacks and schedules a poll, and ``poll()`` -- NAPI -- drains the
used ring up to a budget, re-enables callbacks (polling once more if entries slipped in),
and reposts the buffers it read. Without an interrupt ``poll()`` returns nothing, so a lost
notification shows as frames not received. ``reuse=False`` posts each buffer once and never
reuses it (the used buffers stay intact for memory dumps); ``fill`` then takes fresh ones.
"""

from __future__ import annotations

from collections.abc import Callable
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
class RxFrame:
    head: int  # the chain's head index (used id)
    addr: int  # guest-physical address of its buffer
    used_len: int
    hdr: VirtioNetHdr
    data: bytes  # the frame, net header excluded


@dataclass
class GuestRxStats:
    posted: int = 0  # buffers added to the avail ring
    kicks: int = 0
    interrupts: int = 0
    spurious_interrupts: int = 0  # interrupt with nothing new in the used ring
    polls: int = 0
    frames: int = 0
    bytes: int = 0  # frame bytes (net header excluded)
    length_errors: int = 0  # used len shorter than the header or longer than the buffer
    hdr_errors: int = 0  # num_buffers other than 1


class GuestVirtioNetRx:
    """One RX virtqueue of ``num`` entries in ``ram``, buffers of ``buf_size`` bytes (net
    header included) aligned to ``buf_align``. ``start_idx`` starts both ring indices there
    (the backend must then start at the same vring base), to exercise 16-bit wrap."""

    def __init__(
        self,
        ram: GuestRam,
        num: int = 256,
        *,
        buf_size: int = 2048,
        buf_align: int = 64,
        features: int = DEFAULT_FEATURES,
        reuse: bool = True,
        kick: Callable[[], None] | None = None,
        start_idx: int = 0,
    ) -> None:
        if not has_feature(features, VIRTIO_F_VERSION_1):
            raise ValueError("only virtio 1.x (VIRTIO_F_VERSION_1) is supported")
        if has_feature(features, VIRTIO_NET_F_MRG_RXBUF):
            raise ValueError("mergeable RX buffers are not supported yet")
        if buf_size <= VIRTIO_NET_HDR_V1_SIZE:
            raise ValueError(f"buffer of {buf_size} bytes leaves no room for a frame")
        self.ram = ram
        self.buf_size = buf_size
        self.buf_align = buf_align
        self.features = features
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
        self._spare: list[int] = []  # buffers read and ready to repost (reuse)
        self.retired: list[int] = []  # buffers read and never reposted (no reuse)
        self._scheduled = False  # NAPI scheduled by an interrupt

    def fill(self, n: int | None = None) -> int:
        """Post up to ``n`` buffers (default: until the ring is full); kick if the device's
        avail event asks. Returns the buffers posted."""
        posted = 0
        while (n is None or posted < n) and self.ring.num_free > 0:
            if self._spare:
                addr = self._spare.pop()
            else:
                addr = self.ram.alloc(self.buf_size, self.buf_align)
            self.ring.add_buf([], [(addr, self.buf_size)], token=addr)
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
        """NAPI poll: only after an interrupt. Reads up to ``budget`` used entries, reposts
        buffers (with ``reuse``), re-enables callbacks when done."""
        if not self._scheduled:
            return []
        self.stats.polls += 1
        frames: list[RxFrame] = []
        done = 0
        while True:
            while done < budget:
                used = self.ring.get_used()
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

    def _receive(self, used: UsedBuffer) -> RxFrame | None:
        addr = used.token
        assert isinstance(addr, int)
        (self._spare if self.reuse else self.retired).append(addr)
        if not VIRTIO_NET_HDR_V1_SIZE <= used.len <= self.buf_size:
            self.stats.length_errors += 1
            return None
        hdr = VirtioNetHdr.unpack(self.ram.read(addr, VIRTIO_NET_HDR_V1_SIZE))
        if hdr.num_buffers != 1:
            self.stats.hdr_errors += 1
            return None
        data = self.ram.read(addr + VIRTIO_NET_HDR_V1_SIZE, used.len - VIRTIO_NET_HDR_V1_SIZE)
        self.stats.frames += 1
        self.stats.bytes += len(data)
        return RxFrame(used.head, addr, used.len, hdr, data)

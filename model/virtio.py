# SPDX-License-Identifier: MIT
"""virtio 1.x split virtqueue and ``virtio_net_hdr``, laid out exactly as the virtio 1.x
spec (2.7 "Split Virtqueues") and Linux's ``include/uapi/linux/virtio_ring.h`` /
``virtio_net.h`` define them.

Memory layout of one split ring of ``num`` entries (all little-endian)::

    descriptor table (align 16)     avail ring (align 2)        used ring (align 4)
    +0  addr   u64                  +0      flags  u16          +0      flags  u16
    +8  len    u32                  +2      idx    u16          +2      idx    u16
    +12 flags  u16                  +4+2*i  ring[i] u16         +4+8*i  ring[i].id  u32
    +14 next   u16                  +4+2*num used_event u16     +8+8*i  ring[i].len u32
    (16 bytes each, num of them)                                +4+8*num avail_event u16

``SplitRing`` drives such a ring in any ``Memory``: the driver side (add a buffer chain,
decide whether to kick, collect used buffers, enable/disable callbacks) as Linux's
``virtio_ring.c`` does it, and the device side (pop an avail chain, validating it; push
used entries; decide whether to notify) as vhost does it. Two ``SplitRing`` objects on the
same memory, one per side, talk only through that memory. Indices are free-running u16.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from model.hostmem import Memory, MemoryAccessError, align_up
from model.records import Record

# --------------------------------------------------------------------------------------------
# Constants (virtio_ring.h, virtio_net.h, virtio_config.h)
# --------------------------------------------------------------------------------------------

VRING_DESC_F_NEXT = 1  # buffer continues via the next field
VRING_DESC_F_WRITE = 2  # buffer is device write-only (else device read-only)
VRING_DESC_F_INDIRECT = 4  # buffer holds a table of descriptors

VRING_USED_F_NO_NOTIFY = 1  # in used->flags: device asks the driver not to kick
VRING_AVAIL_F_NO_INTERRUPT = 1  # in avail->flags: driver asks the device not to interrupt

VRING_DESC_ALIGN_SIZE = 16
VRING_AVAIL_ALIGN_SIZE = 2
VRING_USED_ALIGN_SIZE = 4
VRING_LEGACY_ALIGN = 4096  # the alignment of the used ring in the legacy layout

VIRTQUEUE_MAX_SIZE = 32768  # a split queue's size is a power of two up to this

VIRTIO_NET_F_GUEST_CSUM = 1
VIRTIO_NET_F_MRG_RXBUF = 15
VIRTIO_RING_F_INDIRECT_DESC = 28
VIRTIO_RING_F_EVENT_IDX = 29
VIRTIO_F_VERSION_1 = 32

VIRTIO_NET_HDR_F_NEEDS_CSUM = 1
VIRTIO_NET_HDR_F_DATA_VALID = 2
VIRTIO_NET_HDR_GSO_NONE = 0

#: Feature name -> bit number, for the bits this project uses.
FEATURE_BITS: dict[str, int] = {
    "VIRTIO_NET_F_GUEST_CSUM": VIRTIO_NET_F_GUEST_CSUM,
    "VIRTIO_NET_F_MRG_RXBUF": VIRTIO_NET_F_MRG_RXBUF,
    "VIRTIO_RING_F_INDIRECT_DESC": VIRTIO_RING_F_INDIRECT_DESC,
    "VIRTIO_RING_F_EVENT_IDX": VIRTIO_RING_F_EVENT_IDX,
    "VIRTIO_F_VERSION_1": VIRTIO_F_VERSION_1,
}
_FEATURE_NAMES = {bit: name for name, bit in FEATURE_BITS.items()}


def feature_mask(names: Iterable[str]) -> int:
    """Feature bitmap of ``names`` (names from ``FEATURE_BITS``, or ``"bit<N>"``)."""
    mask = 0
    for name in names:
        if name in FEATURE_BITS:
            mask |= 1 << FEATURE_BITS[name]
        elif name.startswith("bit") and name[3:].isdigit() and int(name[3:]) < 64:
            mask |= 1 << int(name[3:])
        else:
            raise ValueError(f"unknown virtio feature {name!r}")
    return mask


def feature_names(mask: int) -> list[str]:
    """Names of the bits set in ``mask``, lowest first; unknown bits as ``"bit<N>"``."""
    if not 0 <= mask < 1 << 64:
        raise ValueError(f"feature mask {mask:#x} is not 64 bits")
    return [_FEATURE_NAMES.get(b, f"bit{b}") for b in range(64) if mask >> b & 1]


def has_feature(mask: int, bit: int) -> bool:
    return bool(mask >> bit & 1)


def vring_need_event(event_idx: int, new_idx: int, old: int) -> bool:
    """Linux's rule: having moved an index from ``old`` to ``new_idx``, notify iff the
    other side's ``event_idx`` lies in ``[old, new_idx)`` (modulo 2**16)."""
    return (new_idx - event_idx - 1) & 0xFFFF < (new_idx - old) & 0xFFFF


# --------------------------------------------------------------------------------------------
# Wire structures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VringDesc(Record):
    """struct vring_desc: one entry of the descriptor table (or of an indirect table)."""

    SV_NAME: ClassVar[str] = "vring_desc"
    DOC: ClassVar[str] = "virtio split-ring descriptor"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("addr", "Q", "buffer address (guest-physical)"),
        ("len", "I", "buffer length in bytes"),
        ("flags", "H", "VRING_DESC_F_NEXT | _WRITE | _INDIRECT"),
        ("next", "H", "index of the next descriptor when NEXT is set"),
    )

    addr: int
    len: int
    flags: int
    next: int


@dataclass(frozen=True)
class VringAvailHeader(Record):
    """The head of struct vring_avail; ``ring[num]`` (u16) and ``used_event`` follow."""

    SV_NAME: ClassVar[str] = "vring_avail_hdr"
    DOC: ClassVar[str] = "virtio split-ring avail ring header"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("flags", "H", "VRING_AVAIL_F_NO_INTERRUPT"),
        ("idx", "H", "free-running index of the next ring entry the driver will fill"),
    )

    flags: int
    idx: int


@dataclass(frozen=True)
class VringUsedHeader(Record):
    """The head of struct vring_used; ``ring[num]`` (VringUsedElem) and ``avail_event``
    follow."""

    SV_NAME: ClassVar[str] = "vring_used_hdr"
    DOC: ClassVar[str] = "virtio split-ring used ring header"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("flags", "H", "VRING_USED_F_NO_NOTIFY"),
        ("idx", "H", "free-running index of the next ring entry the device will fill"),
    )

    flags: int
    idx: int


@dataclass(frozen=True)
class VringUsedElem(Record):
    """struct vring_used_elem."""

    SV_NAME: ClassVar[str] = "vring_used_elem"
    DOC: ClassVar[str] = "virtio split-ring used element"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("id", "I", "head index of the used descriptor chain"),
        ("len", "I", "bytes written into the chain's buffers"),
    )

    id: int
    len: int


@dataclass(frozen=True)
class VirtioNetHdr(Record):
    """struct virtio_net_hdr_v1 (VIRTIO_F_VERSION_1 or VIRTIO_NET_F_MRG_RXBUF): 12 bytes
    in front of every received frame."""

    SV_NAME: ClassVar[str] = "virtio_net_hdr"
    DOC: ClassVar[str] = "virtio-net header, version 1"
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("flags", "B", "VIRTIO_NET_HDR_F_NEEDS_CSUM | _DATA_VALID"),
        ("gso_type", "B", "VIRTIO_NET_HDR_GSO_*"),
        ("hdr_len", "H", "Ethernet + IP + TCP/UDP header length (GSO)"),
        ("gso_size", "H", "GSO segment size"),
        ("csum_start", "H", "where checksumming starts (NEEDS_CSUM)"),
        ("csum_offset", "H", "where the checksum goes, from csum_start (NEEDS_CSUM)"),
        ("num_buffers", "H", "buffers the frame spans (1 without MRG_RXBUF)"),
    )

    flags: int = 0
    gso_type: int = VIRTIO_NET_HDR_GSO_NONE
    hdr_len: int = 0
    gso_size: int = 0
    csum_start: int = 0
    csum_offset: int = 0
    num_buffers: int = 1


VIRTIO_NET_HDR_V1_SIZE = VirtioNetHdr.size()

# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def _check_num(num: int) -> None:
    if not 1 <= num <= VIRTQUEUE_MAX_SIZE or num & (num - 1):
        raise ValueError(f"split queue size {num} is not a power of two in 1..32768")


def vring_size(num: int, align: int = VRING_LEGACY_ALIGN) -> int:
    """Bytes of the legacy contiguous ring (Linux ``vring_size``)."""
    return (
        align_up(VringDesc.size() * num + 2 * (3 + num), align) + 2 * 3 + VringUsedElem.size() * num
    )


@dataclass(frozen=True)
class SplitRingLayout:
    """Where the three parts of one split ring live (addresses in the ring's memory)."""

    num: int
    desc: int
    avail: int
    used: int

    def __post_init__(self) -> None:
        _check_num(self.num)
        for name, addr, align in (
            ("descriptor table", self.desc, VRING_DESC_ALIGN_SIZE),
            ("avail ring", self.avail, VRING_AVAIL_ALIGN_SIZE),
            ("used ring", self.used, VRING_USED_ALIGN_SIZE),
        ):
            if addr < 0 or addr % align:
                raise ValueError(f"{name} at {addr:#x} is not {align}-byte aligned")

    @staticmethod
    def desc_table_size(num: int) -> int:
        return VringDesc.size() * num

    @staticmethod
    def avail_size(num: int) -> int:
        """flags, idx, ring[num], used_event."""
        return VringAvailHeader.size() + 2 * num + 2

    @staticmethod
    def used_size(num: int) -> int:
        """flags, idx, ring[num], avail_event."""
        return VringUsedHeader.size() + VringUsedElem.size() * num + 2

    @classmethod
    def legacy(cls, num: int, base: int, align: int = VRING_LEGACY_ALIGN) -> SplitRingLayout:
        """The legacy contiguous layout of Linux ``vring_init(vr, num, base, align)``."""
        _check_num(num)
        avail = base + cls.desc_table_size(num)
        used = align_up(avail + VringAvailHeader.size() + 2 * num + 2, align)
        return cls(num, base, avail, used)

    @classmethod
    def packed_1x(cls, num: int, base: int) -> SplitRingLayout:
        """Contiguous with only the virtio 1.x minimum alignments (desc 16, avail 2,
        used 4); ``base`` must be 16-byte aligned."""
        _check_num(num)
        avail = base + cls.desc_table_size(num)
        used = align_up(avail + cls.avail_size(num), VRING_USED_ALIGN_SIZE)
        return cls(num, base, avail, used)

    @classmethod
    def total_size_1x(cls, num: int) -> int:
        """Bytes ``packed_1x`` spans."""
        return align_up(
            cls.desc_table_size(num) + cls.avail_size(num), VRING_USED_ALIGN_SIZE
        ) + cls.used_size(num)

    def desc_addr(self, i: int) -> int:
        return self.desc + VringDesc.size() * i

    @property
    def avail_flags_addr(self) -> int:
        return self.avail

    @property
    def avail_idx_addr(self) -> int:
        return self.avail + 2

    def avail_ring_addr(self, slot: int) -> int:
        return self.avail + VringAvailHeader.size() + 2 * slot

    @property
    def used_event_addr(self) -> int:
        return self.avail_ring_addr(self.num)

    @property
    def used_flags_addr(self) -> int:
        return self.used

    @property
    def used_idx_addr(self) -> int:
        return self.used + 2

    def used_elem_addr(self, slot: int) -> int:
        return self.used + VringUsedHeader.size() + VringUsedElem.size() * slot

    @property
    def avail_event_addr(self) -> int:
        return self.used_elem_addr(self.num)


# --------------------------------------------------------------------------------------------
# Chains and errors
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainSegment:
    addr: int
    len: int
    write: bool  # device-writable


@dataclass(frozen=True)
class Chain:
    """One descriptor chain popped by the device, indirect tables flattened."""

    head: int
    segments: tuple[ChainSegment, ...]
    indirect: bool  # went through an indirect table

    @property
    def readable(self) -> tuple[ChainSegment, ...]:
        return tuple(s for s in self.segments if not s.write)

    @property
    def writable(self) -> tuple[ChainSegment, ...]:
        return tuple(s for s in self.segments if s.write)

    @property
    def readable_len(self) -> int:
        return sum(s.len for s in self.segments if not s.write)

    @property
    def writable_len(self) -> int:
        return sum(s.len for s in self.segments if s.write)


@dataclass(frozen=True)
class UsedBuffer:
    """One used entry as the driver collects it."""

    head: int
    len: int
    token: object


class ChainErrorReason(enum.Enum):
    AVAIL_IDX_JUMP = "avail idx moved more than the queue size"
    BAD_HEAD = "head index out of range"
    BAD_NEXT = "next index out of range"
    LOOP = "descriptor loop"
    TOO_LONG = "chain longer than allowed"
    INDIRECT_NOT_NEGOTIATED = "INDIRECT without VIRTIO_RING_F_INDIRECT_DESC"
    INDIRECT_WITH_NEXT = "INDIRECT and NEXT both set"
    NESTED_INDIRECT = "INDIRECT inside an indirect table"
    BAD_INDIRECT_LEN = "indirect table length not a positive multiple of 16"
    INDIRECT_OUT_OF_RANGE = "indirect table outside the ring's memory"
    READABLE_AFTER_WRITABLE = "device-readable descriptor after a writable one"


class ChainError(Exception):
    """A malformed avail chain; the ring's last_avail_idx is left where it was."""

    def __init__(self, reason: ChainErrorReason, head: int | None, detail: str = "") -> None:
        where = "" if head is None else f" (head {head})"
        super().__init__(f"{reason.value}{where}{': ' + detail if detail else ''}")
        self.reason = reason
        self.head = head


class RingError(Exception):
    """Driver-side misuse or a device that broke the used ring."""


class RingFull(RingError):
    """Not enough free descriptors for the chain."""


# --------------------------------------------------------------------------------------------
# The ring
# --------------------------------------------------------------------------------------------

_U16 = 0xFFFF


class SplitRing:
    """One split virtqueue in ``mem`` at ``layout``. Use one object per side: ``init_driver``
    and the driver methods in the guest, ``init_device`` and the device methods in the
    backend. ``event_idx``/``indirect`` say whether VIRTIO_RING_F_EVENT_IDX /
    VIRTIO_RING_F_INDIRECT_DESC were negotiated."""

    def __init__(
        self,
        mem: Memory,
        layout: SplitRingLayout,
        *,
        event_idx: bool = False,
        indirect: bool = False,
    ) -> None:
        self.mem = mem
        self.layout = layout
        self.num = layout.num
        self.event_idx = event_idx
        self.indirect = indirect
        # driver side
        self._free: list[int] = []
        self._in_flight: dict[int, tuple[list[int], object]] = {}
        self._avail_idx_shadow = 0
        self._avail_flags_shadow = 0
        self._num_added = 0
        self.last_used_idx = 0
        # device side
        self.last_avail_idx = 0
        self.used_idx = 0
        self._seen_avail_idx = 0  # vhost's vq->avail_idx: last avail->idx read
        self._notify_disabled = False  # vhost's used_flags & NO_NOTIFY shadow
        self._signalled_used = 0
        self._signalled_used_valid = False
        # device side: what the notification settings asked of the other side (figures)
        self.used_updates = 0  # used idx updates (push_used_n)
        self.calls_asked = 0  # need_notify() true: the driver's used_event (or flags) asked
        self.kicks_asked = 0  # arms (enable_notify, nothing pending) the driver then passed
        self.kick_races = 0  # arms with entries already past them: a kick may or may not come
        self._armed: int | None = None  # the avail idx of the last such arm not yet passed

    # -- raw field access -------------------------------------------------------------------

    def _r16(self, addr: int) -> int:
        return int.from_bytes(self.mem.read(addr, 2), "little")

    def _w16(self, addr: int, value: int) -> None:
        self.mem.write(addr, (value & _U16).to_bytes(2, "little"))

    def read_desc(self, i: int) -> VringDesc:
        return VringDesc.unpack(self.mem.read(self.layout.desc_addr(i), VringDesc.size()))

    def write_desc(self, i: int, desc: VringDesc) -> None:
        self.mem.write(self.layout.desc_addr(i), desc.pack())

    @property
    def avail_flags(self) -> int:
        return self._r16(self.layout.avail_flags_addr)

    @property
    def avail_idx(self) -> int:
        return self._r16(self.layout.avail_idx_addr)

    @property
    def used_flags(self) -> int:
        return self._r16(self.layout.used_flags_addr)

    @property
    def used_idx_in_ring(self) -> int:
        return self._r16(self.layout.used_idx_addr)

    @property
    def used_event(self) -> int:
        return self._r16(self.layout.used_event_addr)

    @property
    def avail_event(self) -> int:
        return self._r16(self.layout.avail_event_addr)

    def read_avail_entry(self, idx: int) -> int:
        return self._r16(self.layout.avail_ring_addr(idx % self.num))

    def read_used_elem(self, idx: int) -> VringUsedElem:
        addr = self.layout.used_elem_addr(idx % self.num)
        return VringUsedElem.unpack(self.mem.read(addr, VringUsedElem.size()))

    # ======================================================================================
    # Driver side (Linux drivers/virtio/virtio_ring.c, split ring)
    # ======================================================================================

    def init_driver(self, start_idx: int = 0, callbacks: bool = True) -> None:
        """Zero the ring, set both indices to ``start_idx`` (0 on a real device; other
        values exercise wrap) and free every descriptor. ``callbacks=False`` asks the device
        not to interrupt (VRING_AVAIL_F_NO_INTERRUPT)."""
        lay = self.layout
        self.mem.write(lay.desc, bytes(lay.desc_table_size(self.num)))
        self.mem.write(lay.avail, bytes(lay.avail_size(self.num)))
        self.mem.write(lay.used, bytes(lay.used_size(self.num)))
        start_idx &= _U16
        self._avail_idx_shadow = start_idx
        self.last_used_idx = start_idx
        self._num_added = 0
        self._w16(lay.avail_idx_addr, start_idx)
        self._w16(lay.used_idx_addr, start_idx)
        self._w16(lay.used_event_addr, start_idx)
        self._w16(lay.avail_event_addr, start_idx)
        self._free = list(range(self.num - 1, -1, -1))  # pop() yields 0, 1, 2, ...
        self._in_flight = {}
        self._avail_flags_shadow = 0
        if not callbacks:
            self._avail_flags_shadow = VRING_AVAIL_F_NO_INTERRUPT
            if not self.event_idx:
                self._w16(lay.avail_flags_addr, self._avail_flags_shadow)

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def in_flight(self) -> int:
        """Chains added by the driver and not yet collected from the used ring."""
        return len(self._in_flight)

    def add_buf(
        self,
        out: Sequence[tuple[int, int]],
        in_: Sequence[tuple[int, int]],
        token: object = None,
    ) -> int:
        """Add a chain: ``out`` device-readable (addr, len) segments, then ``in_``
        device-writable ones; publish it in the avail ring. Returns the head index."""
        segs = [(a, n, 0) for a, n in out] + [(a, n, VRING_DESC_F_WRITE) for a, n in in_]
        if not segs:
            raise RingError("a chain needs at least one buffer")
        if len(segs) > self.num_free:
            raise RingFull(f"chain of {len(segs)} descriptors, {self.num_free} free")
        idxs = [self._free.pop() for _ in segs]
        for k, (i, (addr, length, flags)) in enumerate(zip(idxs, segs, strict=True)):
            last = k == len(segs) - 1
            nxt = 0 if last else idxs[k + 1]
            self.write_desc(
                i, VringDesc(addr, length, flags | (0 if last else VRING_DESC_F_NEXT), nxt)
            )
        return self._publish(idxs, token)

    def add_indirect(
        self,
        table_addr: int,
        out: Sequence[tuple[int, int]],
        in_: Sequence[tuple[int, int]],
        token: object = None,
    ) -> int:
        """Add a chain through an indirect table the caller placed at ``table_addr``
        (16-byte aligned, ``16 * (len(out) + len(in_))`` bytes). Uses one descriptor."""
        if not self.indirect:
            raise RingError("VIRTIO_RING_F_INDIRECT_DESC not negotiated")
        segs = [(a, n, 0) for a, n in out] + [(a, n, VRING_DESC_F_WRITE) for a, n in in_]
        if not segs:
            raise RingError("a chain needs at least one buffer")
        if not self._free:
            raise RingFull("no free descriptor for the indirect table")
        last = len(segs) - 1
        table = b"".join(
            VringDesc(
                a, n, f if k == last else f | VRING_DESC_F_NEXT, 0 if k == last else k + 1
            ).pack()
            for k, (a, n, f) in enumerate(segs)
        )
        self.mem.write(table_addr, table)
        i = self._free.pop()
        self.write_desc(i, VringDesc(table_addr, len(table), VRING_DESC_F_INDIRECT, 0))
        return self._publish([i], token)

    def _publish(self, idxs: list[int], token: object) -> int:
        head = idxs[0]
        self._in_flight[head] = (idxs, token)
        lay = self.layout
        self._w16(lay.avail_ring_addr(self._avail_idx_shadow % self.num), head)
        self._avail_idx_shadow = (self._avail_idx_shadow + 1) & _U16
        self._w16(lay.avail_idx_addr, self._avail_idx_shadow)
        self._num_added += 1
        return head

    def kick_prepare(self) -> bool:
        """Whether the buffers added since the last call need a kick (Linux
        ``virtqueue_kick_prepare_split``)."""
        new = self._avail_idx_shadow
        old = (new - self._num_added) & _U16
        self._num_added = 0
        if self.event_idx:
            return vring_need_event(self.avail_event, new, old)
        return not self.used_flags & VRING_USED_F_NO_NOTIFY

    def more_used(self) -> bool:
        return self.last_used_idx != self.used_idx_in_ring

    def get_used(self) -> UsedBuffer | None:
        """Collect the next used entry and free its chain, or None."""
        used_idx = self.used_idx_in_ring
        if used_idx == self.last_used_idx:
            return None
        if (used_idx - self.last_used_idx) & _U16 > self.num:
            raise RingError(
                f"device moved used idx from {self.last_used_idx} to {used_idx} (> {self.num})"
            )
        elem = self.read_used_elem(self.last_used_idx)
        entry = self._in_flight.pop(elem.id, None)
        if entry is None:
            raise RingError(f"used id {elem.id} is not the head of a chain in flight")
        idxs, token = entry
        self._free.extend(reversed(idxs))
        self.last_used_idx = (self.last_used_idx + 1) & _U16
        if not self._avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            self._w16(self.layout.used_event_addr, self.last_used_idx)
        return UsedBuffer(elem.id, elem.len, token)

    def disable_cb(self) -> None:
        """Ask the device not to interrupt (Linux ``virtqueue_disable_cb_split``)."""
        if not self._avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            self._avail_flags_shadow |= VRING_AVAIL_F_NO_INTERRUPT
            if self.event_idx:
                self._w16(self.layout.used_event_addr, 0)  # Linux writes 0 here too
            else:
                self._w16(self.layout.avail_flags_addr, self._avail_flags_shadow)

    def enable_cb_prepare(self) -> int:
        """Re-enable interrupts from the next used entry; returns the index to ``poll``."""
        if self._avail_flags_shadow & VRING_AVAIL_F_NO_INTERRUPT:
            self._avail_flags_shadow &= ~VRING_AVAIL_F_NO_INTERRUPT
            if not self.event_idx:
                self._w16(self.layout.avail_flags_addr, self._avail_flags_shadow)
        self._w16(self.layout.used_event_addr, self.last_used_idx)
        return self.last_used_idx

    def poll(self, last_used_idx: int) -> bool:
        """True when used entries arrived after ``last_used_idx``."""
        return (last_used_idx & _U16) != self.used_idx_in_ring

    def enable_cb(self) -> bool:
        """Re-enable interrupts; False when used entries are already pending (the caller
        must poll again: no interrupt will come for them)."""
        return not self.poll(self.enable_cb_prepare())

    # ======================================================================================
    # Device side (vhost: drivers/vhost/vhost.c)
    # ======================================================================================

    def init_device(self, last_avail_idx: int = 0) -> None:
        """Start serving the ring: ``last_avail_idx`` is the vring base (0 for a new ring);
        the used index is read from the ring."""
        self.last_avail_idx = last_avail_idx & _U16
        self._seen_avail_idx = self.last_avail_idx
        self.used_idx = self.used_idx_in_ring
        self._notify_disabled = False
        self._signalled_used_valid = False
        self._armed = None

    def _observe_avail(self, idx: int) -> None:
        """The device read avail idx ``idx``: a clean arm it passed asked for one kick."""
        if self._armed is not None and idx != self._armed:
            self.kicks_asked += 1
            self._armed = None

    def avail_pending(self) -> int:
        """Avail entries the driver published and the device has not popped."""
        self._seen_avail_idx = self.avail_idx
        self._observe_avail(self._seen_avail_idx)
        pending = (self._seen_avail_idx - self.last_avail_idx) & _U16
        if pending > self.num:
            raise ChainError(
                ChainErrorReason.AVAIL_IDX_JUMP,
                None,
                f"from {self.last_avail_idx} to {self._seen_avail_idx}",
            )
        return pending

    def pop_avail(self, max_descs: int | None = None) -> Chain | None:
        """Pop and validate the next avail chain, or None when there is none. A chain of
        more than ``max_descs`` buffers (default: the queue size, as the spec bounds it) is
        ``TOO_LONG``. On ``ChainError`` nothing is consumed."""
        if self.last_avail_idx == self._seen_avail_idx and not self.avail_pending():
            return None
        head = self.read_avail_entry(self.last_avail_idx)
        chain = self.read_chain(head, max_descs)
        self.last_avail_idx = (self.last_avail_idx + 1) & _U16
        return chain

    def discard(self, n: int = 1) -> None:
        """Give back the last ``n`` popped chains (vhost ``vhost_discard_vq_desc``)."""
        self.last_avail_idx = (self.last_avail_idx - n) & _U16

    def read_chain(self, head: int, max_descs: int | None = None) -> Chain:
        """Walk the chain at ``head``: follow NEXT, flatten an indirect table, detect loops
        and over-long chains, enforce readable-before-writable."""
        limit = self.num if max_descs is None else max_descs
        if not 0 <= head < self.num:
            raise ChainError(ChainErrorReason.BAD_HEAD, head, f"{head} >= {self.num}")
        segments: list[ChainSegment] = []
        used_indirect = False
        seen: set[int] = set()
        i = head
        while True:
            if i in seen:
                raise ChainError(ChainErrorReason.LOOP, head, f"descriptor {i} reached twice")
            seen.add(i)
            d = self.read_desc(i)
            if d.flags & VRING_DESC_F_INDIRECT:
                if not self.indirect:
                    raise ChainError(ChainErrorReason.INDIRECT_NOT_NEGOTIATED, head)
                if d.flags & VRING_DESC_F_NEXT:
                    raise ChainError(ChainErrorReason.INDIRECT_WITH_NEXT, head)
                used_indirect = True
                self._read_indirect(head, d, segments, limit)
                break
            self._append(head, segments, d, limit)
            if not d.flags & VRING_DESC_F_NEXT:
                break
            if d.next >= self.num:
                raise ChainError(ChainErrorReason.BAD_NEXT, head, f"{d.next} >= {self.num}")
            i = d.next
        return Chain(head, tuple(segments), used_indirect)

    @staticmethod
    def _append(head: int, segments: list[ChainSegment], d: VringDesc, limit: int) -> None:
        write = bool(d.flags & VRING_DESC_F_WRITE)
        if not write and segments and segments[-1].write:
            raise ChainError(ChainErrorReason.READABLE_AFTER_WRITABLE, head)
        if len(segments) >= limit:
            raise ChainError(ChainErrorReason.TOO_LONG, head, f"more than {limit} buffers")
        segments.append(ChainSegment(d.addr, d.len, write))

    def _read_indirect(
        self, head: int, ind: VringDesc, segments: list[ChainSegment], limit: int
    ) -> None:
        size = VringDesc.size()
        if ind.len == 0 or ind.len % size:
            raise ChainError(ChainErrorReason.BAD_INDIRECT_LEN, head, f"len {ind.len}")
        count = ind.len // size
        try:
            raw = self.mem.read(ind.addr, ind.len)
        except MemoryAccessError as e:
            raise ChainError(ChainErrorReason.INDIRECT_OUT_OF_RANGE, head, str(e)) from None
        table = [VringDesc.unpack(raw[k * size : (k + 1) * size]) for k in range(count)]
        seen: set[int] = set()
        i = 0
        while True:
            if i in seen:
                raise ChainError(ChainErrorReason.LOOP, head, f"indirect entry {i} reached twice")
            seen.add(i)
            d = table[i]
            if d.flags & VRING_DESC_F_INDIRECT:
                raise ChainError(ChainErrorReason.NESTED_INDIRECT, head)
            self._append(head, segments, d, limit)
            if not d.flags & VRING_DESC_F_NEXT:
                return
            if d.next >= count:
                raise ChainError(ChainErrorReason.BAD_NEXT, head, f"indirect {d.next} >= {count}")
            i = d.next

    def push_used(self, head: int, length: int) -> None:
        """Publish one used entry."""
        self.push_used_n([(head, length)])

    def push_used_n(self, entries: Sequence[tuple[int, int]]) -> None:
        """Write used entries, then publish them with one used idx update (vhost
        ``vhost_add_used_n``)."""
        old = self.used_idx
        for k, (head, length) in enumerate(entries):
            addr = self.layout.used_elem_addr((old + k) % self.num)
            self.mem.write(addr, VringUsedElem(head, length).pack())
        new = (old + len(entries)) & _U16
        self.used_idx = new
        self._w16(self.layout.used_idx_addr, new)
        self.used_updates += 1
        # An index that went all the way round makes signalled_used meaningless.
        if (new - self._signalled_used) & _U16 < (new - old) & _U16:
            self._signalled_used_valid = False

    def need_notify(self) -> bool:
        """Whether the used entries published since the last notification need an
        interrupt (vhost ``vhost_notify``, without NOTIFY_ON_EMPTY). Counted in
        ``calls_asked``."""
        if not self.event_idx:
            asked = not self.avail_flags & VRING_AVAIL_F_NO_INTERRUPT
        else:
            old, valid = self._signalled_used, self._signalled_used_valid
            new = self._signalled_used = self.used_idx
            self._signalled_used_valid = True
            asked = not valid or vring_need_event(self.used_event, new, old)
        self.calls_asked += asked
        return asked

    def disable_notify(self) -> None:
        """Ask the driver not to kick (vhost ``vhost_disable_notify``): sets NO_NOTIFY
        without EVENT_IDX; with it, avail_event simply stops moving."""
        if self._notify_disabled:
            return
        self._notify_disabled = True
        if not self.event_idx:
            self._w16(self.layout.used_flags_addr, VRING_USED_F_NO_NOTIFY)

    def enable_notify(self) -> bool:
        """Ask for kicks again (vhost ``vhost_enable_notify``): clears NO_NOTIFY, or with
        EVENT_IDX sets avail_event to the last avail idx seen. Returns True when avail
        entries are already pending (the caller must look again: no kick will come).
        Does nothing and returns False when notifications were not disabled.

        The figures: an arm with the driver's avail idx still at the value armed asks for
        exactly one kick once the driver publishes past it (``kicks_asked``, counted when
        the device sees that); with entries already past it, the driver may or may not have
        seen the arm in time (``kick_races``)."""
        if not self._notify_disabled:
            return False
        self._notify_disabled = False
        self._observe_avail(self.avail_idx)
        armed = self._seen_avail_idx
        if self.event_idx:
            self._w16(self.layout.avail_event_addr, armed)
        else:
            self._w16(self.layout.used_flags_addr, 0)
        now = self.avail_idx
        if now == armed:
            self._armed = armed
        else:
            self.kick_races += 1
        return now != self.last_avail_idx

# SPDX-License-Identifier: MIT
"""The one definition of every record the NIC and host software exchange in memory,
and of the enumerations they carry.

Each record is a frozen dataclass with one little-endian ``struct.Struct`` (``STRUCT``) and
``pack()``/``unpack()``. ``tools/gen.py`` turns the same definitions into the SystemVerilog
package ``rtl/generated/splitrx_records_pkg.sv`` (packed structs whose bit ``8*k`` is byte
``k`` of the record, plus field offsets/widths and enum values), and into
``docs/records.md``. Nothing else spells an offset.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from model import regmap

# --------------------------------------------------------------------------------------------
# Enumerations
# --------------------------------------------------------------------------------------------


class DropReason(enum.IntEnum):
    """Why a frame was not delivered; one list for RTL counters, predictor and reports."""

    BAD_FCS = 0
    RUNT = 1
    OVERSIZE = 2
    XGMII_ERROR = 3
    MAC_CONTROL = 4
    FILTERED = 5
    FIFO_OVERFLOW = 6
    QUEUE_DISABLED = 7
    QUEUE_ERROR = 8
    NO_BUFFER = 9
    TOO_LONG_FOR_GROUP = 10
    # Dropped whole at the clock crossing: it was full (the user clock slower than the wire
    # needs, or the user side held in reset), or the MAC side was reset mid-frame.
    CDC_DROP = 11


class PlacementMode(enum.IntEnum):
    """Per-queue placement (docs/design.md, 'Placement modes')."""

    FULL = 0
    SPLIT_HOLE = 1
    SPLIT = 2


class SplitLevel(enum.IntEnum):
    """Which parsed header end a queue splits at."""

    L2 = 0
    L3 = 1
    L4 = 2


class L3Type(enum.IntEnum):
    NONE = 0
    IPV4 = 1
    IPV6 = 2
    MALFORMED = 3


class L4Type(enum.IntEnum):
    NONE = 0
    TCP = 1
    UDP = 2
    OTHER = 3


class CsumStatus(enum.IntEnum):
    """IPv4 header / L4 checksum verdict."""

    NOT_CHECKED = 0
    GOOD = 1
    BAD = 2


class RssType(enum.IntEnum):
    NONE = 0
    IPV4 = 1
    IPV4_TCP = 2
    IPV4_UDP = 3
    IPV6 = 4
    IPV6_TCP = 5
    IPV6_UDP = 6


class SteerRule(enum.IntEnum):
    """Which rx_steer rule placed (or dropped) a frame."""

    MATCH = 0  # unicast destination MAC (+ VLAN) found in the steering table
    BROADCAST = 1  # ff:ff:ff:ff:ff:ff -> RSS over host queues
    MULTICAST = 2  # other group address -> RSS over host queues
    PROMISC = 3  # unmatched unicast, promiscuous mode -> RSS over host queues
    FILTERED = 4  # unmatched unicast -> dropped as filtered


class CplStatus(enum.IntEnum):
    """Completion status: OK, or the group was skipped and must be recycled by the host."""

    OK = 0
    TOO_LONG_FOR_GROUP = 1


class QueueError(enum.IntEnum):
    """Why a queue stopped (RXQ STATUS.error_code); the queue drops its frames as
    queue_error until it is reset."""

    NONE = 0
    DESC_READ = 1  # descriptor read answered UR/CA
    DESC_TIMEOUT = 2  # descriptor read not answered within DMA_RD_TIMEOUT
    CPL_FULL = 3  # completion ring full when a completion was due (host bug)
    BAD_GROUP = 4  # a first group longer than the descriptor cache (no EOG within it)
    BAD_CONFIG = 5  # enabled with a zero/unaligned ring base, a ring > 2**15, cpl ring < desc ring
    CONFIG_CHANGED = 6  # mode/split level/mergeable/drop_when_empty changed while enabled


class DescFlags(enum.IntFlag):
    NONE = 0
    EOG = 1 << 0  # last descriptor of a group (one virtio buffer)


class CplFlags(enum.IntFlag):
    NONE = 0
    SPLIT = 1 << 0  # header placed in the header buffer
    HDR_OVERFLOW = 1 << 1  # split wanted but placed FULL (too long, or no header at level)
    VLAN = 1 << 2  # at least one VLAN tag present (left in the frame)
    MALFORMED = 1 << 3  # L3 header inconsistent with the frame; no L4 split


# --------------------------------------------------------------------------------------------
# Record machinery
# --------------------------------------------------------------------------------------------

_WIDTHS = {"B": 8, "H": 16, "I": 32, "Q": 64}


@dataclass(frozen=True)
class FieldLayout:
    name: str
    offset: int  # bytes from the start of the record
    width: int  # bits
    doc: str


class Record:
    """Base of the wire records: subclasses list ``LAYOUT`` = ((name, struct code, doc), ...)
    in memory order and declare the same names as dataclass fields."""

    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]]
    STRUCT: ClassVar[struct.Struct]
    SV_NAME: ClassVar[str]
    DOC: ClassVar[str]

    OFFSETS: ClassVar[dict[str, int]]  # byte offset of each field

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.STRUCT = struct.Struct("<" + "".join(code for _, code, _ in cls.LAYOUT))
        cls.OFFSETS = {f.name: f.offset for f in cls.field_layouts()}

    @classmethod
    def size(cls) -> int:
        return cls.STRUCT.size

    @classmethod
    def field_layouts(cls) -> list[FieldLayout]:
        out, off = [], 0
        for name, code, doc in cls.LAYOUT:
            out.append(FieldLayout(name, off, _WIDTHS[code], doc))
            off += _WIDTHS[code] // 8
        return out

    def pack(self) -> bytes:
        return self.STRUCT.pack(*(int(getattr(self, n)) for n, _, _ in self.LAYOUT))

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview) -> Self:
        if len(data) != cls.STRUCT.size:
            raise ValueError(f"{cls.__name__} is {cls.STRUCT.size} bytes, got {len(data)}")
        values = dict(
            zip((n for n, _, _ in cls.LAYOUT), cls.STRUCT.unpack(bytes(data)), strict=True)
        )
        return cls(**values)

    def check_ranges(self) -> None:
        for (name, code, _), f in zip(self.LAYOUT, fields(self), strict=True):  # type: ignore[arg-type]
            assert f.name == name
            v = int(getattr(self, name))
            if not 0 <= v < (1 << _WIDTHS[code]):
                raise ValueError(f"{type(self).__name__}.{name}={v} does not fit {code}")


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RxDescriptor(Record):
    """RX descriptor, written by the host driver into a queue's descriptor ring."""

    SV_NAME: ClassVar[str] = "rx_desc"
    DOC: ClassVar[str] = (
        "One data buffer, an optional header buffer and a host cookie. A group is the run of "
        "descriptors up to and including one with EOG."
    )
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("data_addr", "Q", "bus address of the data buffer"),
        ("hdr_addr", "Q", "bus address of the header buffer (0: none)"),
        ("cookie", "Q", "host value echoed in the completion of a frame starting here"),
        ("data_len", "I", "data buffer length in bytes"),
        ("hdr_len", "H", "header buffer length in bytes (0: none)"),
        ("flags", "H", "DescFlags (bit 0: EOG)"),
    )

    data_addr: int
    hdr_addr: int
    cookie: int
    data_len: int
    hdr_len: int
    flags: int


@dataclass(frozen=True)
class RxCompletion(Record):
    """RX completion record, written by the NIC into a queue's completion ring; the byte
    holding the phase bit is the last one of the record."""

    SV_NAME: ClassVar[str] = "rx_cpl"
    DOC: ClassVar[str] = (
        "One per received frame (or per skipped group). The phase bit flips each time the "
        "NIC wraps the completion ring; the host owns entries whose phase matches its own."
    )
    LAYOUT: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("cookie", "Q", "cookie of the frame's first descriptor"),
        ("rss_hash", "I", "Toeplitz RSS hash (0 when rss_type is NONE)"),
        ("frame_len", "H", "frame length in bytes, FCS excluded"),
        ("hdr_len", "H", "bytes placed in the header buffer (0 when not split)"),
        ("payload_len", "H", "bytes placed in the data stream (net header space excluded)"),
        ("csum", "H", "CHECKSUM_COMPLETE: one's-complement sum of the bytes after the first 14"),
        ("flags", "H", "CplFlags"),
        ("vlan_tci", "H", "outermost VLAN TCI (when CplFlags.VLAN)"),
        ("desc_count", "B", "descriptors consumed"),
        ("group_count", "B", "groups consumed (virtio num_buffers with mergeable buffers)"),
        ("status", "B", "CplStatus"),
        ("l3_type", "B", "L3Type"),
        ("l4_type", "B", "L4Type"),
        ("csum_status", "B", "bits 1:0 IPv4 header CsumStatus, bits 3:2 L4 CsumStatus"),
        ("rss_type", "B", "RssType"),
        ("phase", "B", "bit 0: phase; bits 7:1 reserved (0)"),
    )

    cookie: int
    rss_hash: int
    frame_len: int
    hdr_len: int
    payload_len: int
    csum: int
    flags: int
    vlan_tci: int
    desc_count: int
    group_count: int
    status: int
    l3_type: int
    l4_type: int
    csum_status: int
    rss_type: int
    phase: int

    PHASE_MASK: ClassVar[int] = 0x01  # the phase bit in the byte ``phase``

    @classmethod
    def phase_of(cls, raw: bytes | bytearray | memoryview) -> int:
        """The phase bit of a packed record, read without unpacking the rest (a driver
        polls on it)."""
        return raw[cls.OFFSETS["phase"]] & cls.PHASE_MASK

    @property
    def ipv4_csum(self) -> CsumStatus:
        return CsumStatus(self.csum_status & 0x3)

    @property
    def l4_csum(self) -> CsumStatus:
        return CsumStatus((self.csum_status >> 2) & 0x3)


RECORDS: tuple[type[Record], ...] = (RxDescriptor, RxCompletion)

# -- ring geometry: one definition each -------------------------------------------------------

DESC_BYTES = RxDescriptor.size()
CPL_BYTES = RxCompletion.size()
# Ring indices (DESC_TAIL, DESC_HEAD, CPL_HEAD, CPL_TAIL) are free-running counts as wide as
# their register fields; a ring holds at most half of that, so full and empty differ.
INDEX_BITS = regmap.RXQ.regs["DESC_TAIL"].fields["index"].width
INDEX_MASK = (1 << INDEX_BITS) - 1
MAX_RING_LOG2 = INDEX_BITS - 1


def ring_phase(index: int, size_log2: int) -> int:
    """Phase bit of the completion written at free-running index ``index`` of a ring of
    ``2**size_log2`` entries: 1 on the first lap of the ring, flipping each lap."""
    return ((index & INDEX_MASK) >> size_log2 & 1) ^ 1


ENUMS: tuple[type[enum.IntEnum] | type[enum.IntFlag], ...] = (
    DropReason,
    PlacementMode,
    SplitLevel,
    L3Type,
    L4Type,
    CsumStatus,
    RssType,
    SteerRule,
    CplStatus,
    QueueError,
    DescFlags,
    CplFlags,
)

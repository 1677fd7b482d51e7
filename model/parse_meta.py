# SPDX-License-Identifier: MIT
"""What the parser reports for one frame: the header record, the RSS tuple and the checksum
record of ``rx_parser`` (``m_meta_hdr`` / ``m_meta_tuple`` / ``m_meta_csum``), as the reference
model and the testbench see them. ``tb/lib/parse_ref.py`` computes the expected values from scapy;
the placement predictor (``model/nic_model.py``) consumes them. No scapy or cocotb here.

The three records' bit layouts are defined once, here (``SIDEBANDS``): tools/gen.py writes
``rtl/splitrx_meta_pkg.sv`` and ``docs/parser-meta.md`` from them, and ``Meta.decode`` reads
them."""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

from model.records import CsumStatus, L3Type, L4Type
from model.rss import Flow


@dataclass(frozen=True)
class MetaField:
    name: str  # the Meta field it fills
    width: int  # bits
    doc: str


@dataclass(frozen=True)
class Sideband:
    """One record rx_parser hands the DMA: its SV type, width constant, port, and fields
    from bit 0 up."""

    sv_type: str
    sv_width: str
    port: str
    doc: str
    layout: tuple[MetaField, ...]

    @property
    def width(self) -> int:
        return sum(f.width for f in self.layout)

    def lsbs(self) -> list[tuple[MetaField, int]]:
        out, lsb = [], 0
        for f in self.layout:
            out.append((f, lsb))
            lsb += f.width
        return out


_ENDS = "offset in bytes from the frame's first byte, 0 when the matching *_ok bit is 0"
HDR = Sideband(
    "meta_hdr_t", "META_HDR_W", "m_meta_hdr",
    "Header record: valid with every beat of the frame, the first included.",
    (
        MetaField("l2_end", 16, "end of the Ethernet header incl. VLAN tags = start of L3 "
                  f"({_ENDS})"),
        MetaField("l3_end", 16, "end of the IPv4 header incl. options / of the IPv6 header "
                  "incl. extension headers = start of L4"),
        MetaField("l4_end", 16, "end of the TCP header incl. options / of the UDP header = "
                  "payload start"),
        MetaField("vlan_tci", 16, "TCI of the outermost VLAN tag (when vlan)"),
        MetaField("l3_type", 2, "splitrx_records_pkg::L3_TYPE_* (NONE, IPV4, IPV6, MALFORMED)"),
        MetaField("l4_type", 2, "splitrx_records_pkg::L4_TYPE_* (NONE, TCP, UDP, OTHER)"),
        MetaField("l2_ok", 1, "l2_end valid"),
        MetaField("l3_ok", 1, "l3_end valid"),
        MetaField("l4_ok", 1, "l4_end valid"),
        MetaField("vlan", 1, "at least one VLAN tag (802.1Q 0x8100 or 802.1ad 0x88A8 outer)"),
        MetaField("fragment", 1, "IPv4 MF or fragment offset != 0; IPv6 fragment header with M "
                  "or offset != 0 (an atomic fragment, M = 0 and offset 0, is not one)"),
        MetaField("hdr_overflow", 1, "a header ends beyond MAX_HDR_BYTES, or more than "
                  "MAX_EXT_HDRS IPv6 extension headers: the parse stops there"),
        MetaField("malformed", 1, "a header is inconsistent with the frame: the parse stops "
                  "there; no offset past the last consistent header is reported"),
    ),
)  # fmt: skip
CSUM = Sideband(
    "meta_csum_t", "META_CSUM_W", "m_meta_csum",
    "Checksum record: valid with the frame's last beat.",
    (
        MetaField("csum", 16, "CHECKSUM_COMPLETE: 16-bit one's-complement sum (RFC 1071) of "
                  "the frame bytes from offset 14 to the end, as big-endian words"),
        MetaField("ip4_csum", 2, "splitrx_records_pkg::CSUM_STATUS_*: IPv4 header checksum "
                  "GOOD/BAD when l3_type is IPV4, else NOT_CHECKED"),
        MetaField("l4_csum", 2, "splitrx_records_pkg::CSUM_STATUS_*: TCP/UDP checksum over the "
                  "pseudo-header and the IP payload, checked when l4_ok (rules in rx_parser.sv)"),
    ),
)  # fmt: skip
TUPLE = Sideband(
    "meta_tuple_t", "META_TUPLE_W", "m_meta_tuple",
    "RSS tuple (rss_toeplitz's request): valid with every beat of the frame, like the header "
    "record. All zero unless is_ip; addresses in network order, IPv4 in [31:0].",
    (
        MetaField("dst_port", 16, "TCP/UDP destination port (0 unless is_tcp or is_udp)"),
        MetaField("src_port", 16, "TCP/UDP source port, likewise"),
        MetaField("dst_addr", 128, "IP destination address, network order (first byte most "
                  "significant); IPv4 in bits [31:0] of the field, the rest 0"),
        MetaField("src_addr", 128, "IP source address, likewise"),
        MetaField("is_frag", 1, "IP fragment (the header record's fragment bit)"),
        MetaField("is_udp", 1, "a UDP header was found (l4_ok, l4_type UDP)"),
        MetaField("is_tcp", 1, "a TCP header was found (l4_ok, l4_type TCP)"),
        MetaField("is_ipv6", 1, "l3_type IPV6"),
        MetaField("is_ip", 1, "an IPv4 or IPv6 header was parsed (l3_type IPV4/IPV6)"),
    ),
)  # fmt: skip
SIDEBANDS = (HDR, CSUM, TUPLE)


@dataclass
class Meta:
    """Header record + RSS tuple + checksum record of one frame (the fields of
    m_meta_hdr/m_meta_tuple/m_meta_csum). All defaults: the parser found nothing.

    The tuple fields are all zero/False unless ``is_ip`` (``l3_type`` IPV4 or IPV6): then the
    addresses are the IP header's, as 128-bit numbers in network order (IPv4 in the low 32
    bits), ``is_tcp``/``is_udp`` say the TCP/UDP header was found (``l4_ok``) and the ports are
    its (else 0), and ``is_frag`` is ``fragment``."""

    l2_end: int = 0
    l3_end: int = 0
    l4_end: int = 0
    vlan_tci: int = 0
    l3_type: L3Type = L3Type.NONE
    l4_type: L4Type = L4Type.NONE
    l2_ok: bool = False
    l3_ok: bool = False
    l4_ok: bool = False
    vlan: bool = False
    fragment: bool = False
    hdr_overflow: bool = False
    malformed: bool = False
    csum: int = 0
    ip4_csum: CsumStatus = CsumStatus.NOT_CHECKED
    l4_csum: CsumStatus = CsumStatus.NOT_CHECKED
    is_ip: bool = False
    is_ipv6: bool = False
    is_tcp: bool = False
    is_udp: bool = False
    is_frag: bool = False
    src_addr: int = 0
    dst_addr: int = 0
    src_port: int = 0
    dst_port: int = 0

    @staticmethod
    def decode(hdr: int, csum: int, tup: int) -> Meta:
        """The three records as rx_parser drives them, by the layouts in ``SIDEBANDS``."""
        kw: dict[str, Any] = {}
        for sb, value in ((HDR, hdr), (CSUM, csum), (TUPLE, tup)):
            for f, lsb in sb.lsbs():
                kw[f.name] = _FIELD_TYPES[f.name]((value >> lsb) & ((1 << f.width) - 1))
        return Meta(**kw)

    def set_tuple(self, src: bytes, dst: bytes, ports: tuple[int, int] | None) -> None:
        """Fill the tuple fields from the IP header's addresses (4 or 16 bytes each) and, when
        the TCP/UDP header was found, its ports; the flags follow from the header record, so
        call this once that is final."""
        self.is_ip = self.l3_type in (L3Type.IPV4, L3Type.IPV6)
        if not self.is_ip:
            return
        self.is_ipv6 = self.l3_type == L3Type.IPV6
        self.is_tcp = self.l4_ok and self.l4_type == L4Type.TCP
        self.is_udp = self.l4_ok and self.l4_type == L4Type.UDP
        self.is_frag = self.fragment
        self.src_addr = int.from_bytes(src, "big")
        self.dst_addr = int.from_bytes(dst, "big")
        if ports is not None and (self.is_tcp or self.is_udp):
            self.src_port, self.dst_port = ports

    def flow(self) -> Flow:
        """The RSS tuple as ``model.rss`` takes it."""
        if not self.is_ip:
            return Flow(False, False, False, False, False, b"", b"", 0, 0)
        n = 16 if self.is_ipv6 else 4
        return Flow(
            True,
            self.is_ipv6,
            self.is_tcp,
            self.is_udp,
            self.is_frag,
            self.src_addr.to_bytes(16, "big")[-n:],
            self.dst_addr.to_bytes(16, "big")[-n:],
            self.src_port,
            self.dst_port,
        )

    def diff(self, other: Meta) -> list[str]:
        out = []
        for f in fields(self):
            got, want = getattr(self, f.name), getattr(other, f.name)
            if got != want:
                out.append(f"{f.name}: got {_show(got)}, expected {_show(want)}")
        return out


def _show(v: object) -> str:
    return f"{v:#x}" if isinstance(v, int) and not isinstance(v, bool) and v > 0xFFFF else str(v)


def _field_types() -> dict[str, Any]:
    """How each record field becomes a Meta value: bool, its enum, or int."""
    hints = get_type_hints(Meta)
    out: dict[str, Any] = {}
    for sb in SIDEBANDS:
        for f in sb.layout:
            t = hints[f.name]
            out[f.name] = (
                t if t is bool or (isinstance(t, type) and issubclass(t, enum.Enum)) else int
            )
    assert set(out) == {f.name for f in fields(Meta)}, "a Meta field no record carries"
    return out


_FIELD_TYPES = _field_types()

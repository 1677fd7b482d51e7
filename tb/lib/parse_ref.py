# SPDX-License-Identifier: MIT
"""Reference header parser: what rx_parser must report for a frame (FCS excluded), from
scapy's field decoding, the parse rules documented in rtl/rx_parser.sv, and an independent
one's-complement checksum implementation. Used as the oracle by the parser's own tests and
by the system scoreboard for the fields completions carry. Nothing here is derived from the
RTL's behaviour; only the parser's parameter defaults (its configuration) are read from
rtl/rx_parser.sv, where splitrx_core takes them."""

from __future__ import annotations

import ipaddress
import re
import struct
from pathlib import Path

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import Dot1AD, Dot1Q, Dot3, Ether
from scapy.packet import Packet

from model.parse_meta import Meta
from model.records import CsumStatus, L3Type, L4Type

EXT_CLASSES: dict[int, type[Packet]] = {
    0: IPv6ExtHdrHopByHop,
    43: IPv6ExtHdrRouting,
    44: IPv6ExtHdrFragment,
    60: IPv6ExtHdrDestOpt,
}
RX_PARSER_SV = Path(__file__).resolve().parents[2] / "rtl" / "rx_parser.sv"
PARAMETERS = ("MAX_HDR_BYTES", "MAX_EXT_HDRS", "META_DEPTH_FRAMES")


def parameter_defaults(
    path: Path = RX_PARSER_SV, names: tuple[str, ...] = PARAMETERS
) -> dict[str, int]:
    """The whole-number defaults of a module's parameters ``names`` (rx_parser's
    ``PARAMETERS`` by default) as its header declares them (``parameter int unsigned NAME =
    256,``)."""
    text = path.read_text()
    out = {}
    for name in names:
        m = re.search(rf"\bparameter\s+int(?:\s+unsigned)?\s+{name}\s*=\s*(\d+)\s*[,)]", text)
        if m is None:
            raise ValueError(f"{path}: no whole-number default for parameter {name}")
        out[name] = int(m[1])
    return out


# rx_parser's defaults: splitrx_core instantiates it with them
DEFAULTS = parameter_defaults()
MAX_HDR_BYTES = DEFAULTS["MAX_HDR_BYTES"]
MAX_EXT_HDRS = DEFAULTS["MAX_EXT_HDRS"]


# ------------------------------------------------------------------ checksum oracle


def ones_sum(data: bytes) -> int:
    """RFC 1071: one's-complement sum of big-endian 16-bit words, an odd last byte padded with
    a zero low byte; folded to 16 bits (0 only for all-zero input)."""
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def verdict(ok: bool) -> CsumStatus:
    return CsumStatus.GOOD if ok else CsumStatus.BAD


# ------------------------------------------------------------------ reference parser


def reference(frame: bytes, max_hdr: int, max_ext: int) -> Meta:
    """What rx_parser must report for ``frame`` (FCS excluded), from scapy's field decoding and
    the parse rules of rtl/rx_parser.sv. Each header: its minimum size must lie inside the frame
    (the IP payload for extension and L4 headers), else malformed; inside MAX_HDR_BYTES, else
    overflow; then its fields are checked (malformed) and its end (overflow). The RSS tuple:
    the IP header's addresses and the TCP/UDP header's ports as scapy decodes them."""
    m = _headers(frame, max_hdr, max_ext)
    _tuple(m, frame)
    return m


def type_or_length(frame: bytes) -> int:
    """Bytes 12..13 of an Ethernet frame as scapy decodes them: the EtherType of Ethernet II,
    or the length of an IEEE 802.3 frame (LLC, SNAP, spanning tree, NetBIOS, IPX: scapy
    dissects a value up to 1500 as ``Dot3``, whose field is ``len``). rx_parser reads either
    as a type: anything but IPv4, IPv6 or a VLAN tag ends the parse after L2."""
    eth = Ether(frame[:14])
    return int(eth.len if isinstance(eth, Dot3) else eth.type)


def _headers(frame: bytes, max_hdr: int, max_ext: int) -> Meta:
    m = Meta(csum=ones_sum(frame[14:]))
    n = len(frame)
    if n < 14:
        m.malformed = True
        return m
    et, pos, tags = type_or_length(frame), 12, 0
    while (tags == 0 and et in (0x8100, 0x88A8)) or (tags == 1 and et == 0x8100):
        if pos + 6 > n:
            m.malformed = True
            return m
        tag = Dot1Q(frame[pos + 2 : pos + 6])
        if tags == 0:
            m.vlan, m.vlan_tci = True, (tag.prio << 13) | (tag.dei << 12) | tag.vlan
        et, pos, tags = tag.type, pos + 4, tags + 1
    l3 = pos + 2
    m.l2_ok, m.l2_end = True, l3
    if et == 0x0800:
        _ipv4(m, frame, l3, max_hdr)
    elif et == 0x86DD:
        _ipv6(m, frame, l3, max_hdr, max_ext)
    return m


def _tuple(m: Meta, frame: bytes) -> None:
    """The RSS tuple fields of ``m``, once its header record is final."""
    l3 = m.l2_end
    if m.l3_type == L3Type.IPV4:
        ip = IP(frame[l3 : l3 + 20])
        src, dst = ipaddress.IPv4Address(ip.src).packed, ipaddress.IPv4Address(ip.dst).packed
    elif m.l3_type == L3Type.IPV6:
        ip6 = IPv6(frame[l3 : l3 + 40])
        src, dst = ipaddress.IPv6Address(ip6.src).packed, ipaddress.IPv6Address(ip6.dst).packed
    else:
        return
    ports = None
    if m.l4_ok:
        l4 = m.l3_end
        hdr = TCP(frame[l4 : l4 + 20]) if m.l4_type == L4Type.TCP else UDP(frame[l4 : l4 + 8])
        ports = (hdr.sport, hdr.dport)
    m.set_tuple(src, dst, ports)


def scapy_tuple(frame: bytes) -> tuple[bytes, bytes, tuple[int, int] | None] | None:
    """(source, destination address, (sport, dport) or None) from scapy's own dissection of
    the whole frame (a check of reference() on frames scapy built untouched): the first IP or
    IPv6 layer and the first TCP or UDP layer; None without an IP layer."""
    pkt = Ether(frame)
    if IP in pkt:
        src, dst = (ipaddress.IPv4Address(a).packed for a in (pkt[IP].src, pkt[IP].dst))
    elif IPv6 in pkt:
        src, dst = (ipaddress.IPv6Address(a).packed for a in (pkt[IPv6].src, pkt[IPv6].dst))
    else:
        return None
    l4 = pkt[TCP] if TCP in pkt else pkt[UDP] if UDP in pkt else None
    return src, dst, None if l4 is None else (l4.sport, l4.dport)


def _malformed_l3(m: Meta) -> Meta:
    m.l3_type, m.malformed = L3Type.MALFORMED, True
    return m


def _ipv4(m: Meta, frame: bytes, l3: int, max_hdr: int) -> None:
    n = len(frame)
    if l3 + 20 > n:
        _malformed_l3(m)
        return
    ip = IP(frame[l3 : l3 + 20])  # the fixed part: scapy decodes exact slices robustly
    hl = ip.ihl * 4
    if ip.version != 4 or ip.ihl < 5 or l3 + hl > n or ip.len < hl or l3 + ip.len > n:
        _malformed_l3(m)
        return
    m.l3_type = L3Type.IPV4
    m.fragment = bool(int(ip.flags) & 1) or ip.frag != 0
    m.ip4_csum = verdict(ones_sum(frame[l3 : l3 + hl]) == 0xFFFF)
    if l3 + hl > max_hdr:
        m.hdr_overflow = True
        return
    m.l3_ok, m.l3_end = True, l3 + hl
    if ip.frag != 0:
        return
    pseudo = ipaddress.IPv4Address(ip.src).packed + ipaddress.IPv4Address(ip.dst).packed
    _l4(m, frame, l3 + hl, l3 + ip.len, ip.proto, pseudo, False, max_hdr)


def _ipv6(m: Meta, frame: bytes, l3: int, max_hdr: int, max_ext: int) -> None:
    n = len(frame)
    if l3 + 40 > n:
        _malformed_l3(m)
        return
    ip6 = IPv6(frame[l3 : l3 + 40])
    if ip6.version != 6 or l3 + 40 + ip6.plen > n:
        _malformed_l3(m)
        return
    m.l3_type = L3Type.IPV6
    ip_end, nh, pos, depth, segleft = l3 + 40 + ip6.plen, ip6.nh, l3 + 40, 0, False
    while nh in EXT_CLASSES:
        if depth == max_ext or pos + 8 > ip_end or pos + 8 > max_hdr:
            if depth == max_ext or pos + 8 <= ip_end:
                m.hdr_overflow = True
            else:
                _malformed_l3(m)
            return
        h = EXT_CLASSES[nh](frame[pos : pos + 8])
        hl = 8 if nh == 44 else (h.len + 1) * 8
        if pos + hl > ip_end:
            _malformed_l3(m)
            return
        depth += 1
        if nh == 43 and h.segleft:
            segleft = True
        if nh == 44:
            m.fragment = m.fragment or h.offset != 0 or h.m != 0
            if h.offset != 0:  # no L4 header in a non-first fragment
                if pos + hl > max_hdr:
                    m.hdr_overflow = True
                else:
                    m.l3_ok, m.l3_end = True, pos + hl
                return
        nh, pos = h.nh, pos + hl
    if pos > max_hdr:
        m.hdr_overflow = True
        return
    m.l3_ok, m.l3_end = True, pos
    if nh == 59:  # no next header
        return
    pseudo = ipaddress.IPv6Address(ip6.src).packed + ipaddress.IPv6Address(ip6.dst).packed
    _l4(m, frame, pos, ip_end, nh, pseudo, True, max_hdr, segleft)


def _l4(
    m: Meta,
    frame: bytes,
    l4: int,
    ip_end: int,
    proto: int,
    addrs: bytes,
    v6: bool,
    max_hdr: int,
    segleft: bool = False,
) -> None:
    if proto not in (6, 17):
        m.l4_type = L4Type.OTHER
        return
    m.l4_type = L4Type.TCP if proto == 6 else L4Type.UDP
    fixed = 20 if proto == 6 else 8
    if l4 + fixed > ip_end:
        m.malformed = True
        return
    if l4 + fixed > max_hdr:
        m.hdr_overflow = True
        return
    if proto == 6:
        tcp = TCP(frame[l4 : l4 + 20])
        hl = tcp.dataofs * 4
        if tcp.dataofs < 5 or l4 + hl > ip_end:
            m.malformed = True
            return
        if l4 + hl > max_hdr:
            m.hdr_overflow = True
            return
        zero_udp = False
    else:
        hl, zero_udp = 8, UDP(frame[l4 : l4 + 8]).chksum == 0
    m.l4_ok, m.l4_end = True, l4 + hl
    if m.fragment or segleft:
        return
    if zero_udp:
        m.l4_csum = CsumStatus.BAD if v6 else CsumStatus.NOT_CHECKED
        return
    length = ip_end - l4
    if v6:
        pseudo = addrs + struct.pack(">IxxxB", length, proto)
    else:
        pseudo = addrs + struct.pack(">xBH", proto, length)
    m.l4_csum = verdict(ones_sum(pseudo + frame[l4:ip_end]) == 0xFFFF)


def scapy_offsets(frame: bytes) -> tuple[int, int, int]:
    """(L2 end, L3 end, L4 end) from scapy's own layer lengths (a check of reference() on
    frames scapy built untouched): the run of Ethernet/VLAN layers, then the run of IP/IPv6
    extension layers, then one TCP/UDP layer; 0 where the run is missing."""
    ends = [0, 0, 0]
    groups = [(Ether, Dot3, Dot1Q, Dot1AD), (IP, IPv6, *EXT_CLASSES.values()), (TCP, UDP)]
    layer, off, g = Ether(frame), 0, 0
    while layer and g < 3:
        if not isinstance(layer, groups[g]):
            g += 1
            continue
        off += len(bytes(layer)) - len(bytes(layer.payload))
        ends[g] = off
        if g == 2:
            break
        layer = layer.payload
    return ends[0], ends[1], ends[2]

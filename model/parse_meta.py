# SPDX-License-Identifier: MIT
"""What the parser reports for one frame: the header record, the RSS tuple and the checksum
record of ``rx_parser`` (``m_meta_hdr`` / ``m_meta_tuple`` / ``m_meta_csum``), as the reference
model and the testbench see them. ``tb/lib/parse_ref.py`` computes the expected values from scapy;
the placement predictor (``model/nic_model.py``) consumes them. No scapy or cocotb here."""

from __future__ import annotations

from dataclasses import dataclass, fields

from model.records import CsumStatus, L3Type, L4Type
from model.rss import Flow

_MASK128 = (1 << 128) - 1


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
        """Bit layouts documented in rtl/rx_parser.sv."""

        def bit(v: int, i: int) -> bool:
            return bool((v >> i) & 1)

        return Meta(
            l2_end=hdr & 0xFFFF,
            l3_end=(hdr >> 16) & 0xFFFF,
            l4_end=(hdr >> 32) & 0xFFFF,
            vlan_tci=(hdr >> 48) & 0xFFFF,
            l3_type=L3Type((hdr >> 64) & 3),
            l4_type=L4Type((hdr >> 66) & 3),
            l2_ok=bit(hdr, 68),
            l3_ok=bit(hdr, 69),
            l4_ok=bit(hdr, 70),
            vlan=bit(hdr, 71),
            fragment=bit(hdr, 72),
            hdr_overflow=bit(hdr, 73),
            malformed=bit(hdr, 74),
            csum=csum & 0xFFFF,
            ip4_csum=CsumStatus((csum >> 16) & 3),
            l4_csum=CsumStatus((csum >> 18) & 3),
            dst_port=tup & 0xFFFF,
            src_port=(tup >> 16) & 0xFFFF,
            dst_addr=(tup >> 32) & _MASK128,
            src_addr=(tup >> 160) & _MASK128,
            is_frag=bit(tup, 288),
            is_udp=bit(tup, 289),
            is_tcp=bit(tup, 290),
            is_ipv6=bit(tup, 291),
            is_ip=bit(tup, 292),
        )

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

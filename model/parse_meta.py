# SPDX-License-Identifier: MIT
"""What the parser reports for one frame: the header record and the checksum record of
``rx_parser`` (``m_meta_hdr`` / ``m_meta_csum``), as the reference model and the testbench
see them. ``tb/parse_ref.py`` computes the expected values from scapy; the placement
predictor (``model/nic_model.py``) consumes them. No scapy or cocotb here."""

from __future__ import annotations

from dataclasses import dataclass, fields

from model.records import CsumStatus, L3Type, L4Type


@dataclass
class Meta:
    """Header record + checksum record of one frame (the fields of m_meta_hdr/m_meta_csum).
    All defaults: the parser found nothing."""

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

    @staticmethod
    def decode(hdr: int, csum: int) -> Meta:
        """Bit layout documented in rtl/rx_parser.sv."""

        def bit(i: int) -> bool:
            return bool((hdr >> i) & 1)

        return Meta(
            l2_end=hdr & 0xFFFF,
            l3_end=(hdr >> 16) & 0xFFFF,
            l4_end=(hdr >> 32) & 0xFFFF,
            vlan_tci=(hdr >> 48) & 0xFFFF,
            l3_type=L3Type((hdr >> 64) & 3),
            l4_type=L4Type((hdr >> 66) & 3),
            l2_ok=bit(68),
            l3_ok=bit(69),
            l4_ok=bit(70),
            vlan=bit(71),
            fragment=bit(72),
            hdr_overflow=bit(73),
            malformed=bit(74),
            csum=csum & 0xFFFF,
            ip4_csum=CsumStatus((csum >> 16) & 3),
            l4_csum=CsumStatus((csum >> 18) & 3),
        )

    def diff(self, other: Meta) -> list[str]:
        return [
            f"{f.name}: got {getattr(self, f.name)!s}, expected {getattr(other, f.name)!s}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]

# SPDX-License-Identifier: MIT
"""The record definitions: sizes, layouts, round trips, and the SV package agreeing with them."""

from __future__ import annotations

import re
import struct

from hypothesis import given
from hypothesis import strategies as st

from model.records import RECORDS, CsumStatus, RxCompletion, RxDescriptor
from tools.gen import GEN_RTL

SV_PKG = (GEN_RTL / "splitrx_records_pkg.sv").read_text()


def test_records_are_32_bytes_naturally_aligned() -> None:
    for rec in RECORDS:
        assert rec.size() == 32, rec
        for f in rec.field_layouts():
            assert f.offset % (f.width // 8) == 0, f"{rec.__name__}.{f.name} misaligned"


def test_descriptor_layout_by_hand() -> None:
    """Byte positions written out independently of the struct format."""
    d = RxDescriptor(
        data_addr=0x1122334455667788,
        hdr_addr=0x99AABBCCDDEEFF00,
        cookie=0x0102030405060708,
        data_len=0x0A0B0C0D,
        hdr_len=0x0E0F,
        flags=1,
    )
    raw = d.pack()
    assert raw[0:8] == bytes.fromhex("8877665544332211")
    assert raw[8:16] == bytes.fromhex("00ffeeddccbbaa99")
    assert raw[16:24] == bytes.fromhex("0807060504030201")
    assert raw[24:28] == bytes.fromhex("0d0c0b0a")
    assert raw[28:30] == bytes.fromhex("0f0e")
    assert raw[30:32] == b"\x01\x00"


def test_completion_phase_is_the_last_byte() -> None:
    """The NIC writes the phase with the record's last byte; the host polls that byte."""
    layout = {f.name: f for f in RxCompletion.field_layouts()}
    assert layout["phase"].offset == RxCompletion.size() - 1


@given(st.data())
def test_round_trip(data: st.DataObject) -> None:
    for rec in RECORDS:
        values = {
            f.name: data.draw(st.integers(0, (1 << f.width) - 1)) for f in rec.field_layouts()
        }
        obj = rec(**values)
        raw = obj.pack()
        assert rec.unpack(raw) == obj
        # independent decode with explicit offsets
        for f in rec.field_layouts():
            fmt = {8: "<B", 16: "<H", 32: "<I", 64: "<Q"}[f.width]
            assert struct.unpack_from(fmt, raw, f.offset)[0] == values[f.name]


def test_unpack_rejects_wrong_length() -> None:
    try:
        RxCompletion.unpack(b"\0" * 31)
    except ValueError as exc:
        assert "32 bytes" in str(exc)
    else:
        raise AssertionError("short buffer accepted")


def test_csum_status_fields() -> None:
    c = RxCompletion.unpack(bytes(29) + bytes([CsumStatus.BAD | CsumStatus.GOOD << 2]) + bytes(2))
    assert c.ipv4_csum is CsumStatus.BAD and c.l4_csum is CsumStatus.GOOD


def test_sv_package_offsets_and_struct_order_match() -> None:
    """The packed struct lists fields from the last byte down, so bit 8*k is byte k."""
    for rec in RECORDS:
        pfx = rec.SV_NAME.upper()
        for f in rec.field_layouts():
            m = re.search(rf"localparam int {pfx}_{f.name.upper()}_OFFSET = (\d+);", SV_PKG)
            assert m and int(m.group(1)) == f.offset, (rec.__name__, f.name)
        body = re.search(rf"typedef struct packed \{{([^}}]*)\}} {rec.SV_NAME}_t;", SV_PKG)
        assert body, rec.SV_NAME
        names = re.findall(r"logic \[\d+:0\] (\w+);", body.group(1))
        assert names == [f.name for f in reversed(rec.field_layouts())]

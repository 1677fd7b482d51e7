# SPDX-License-Identifier: MIT
"""The vendor-neutral request and completion headers (``req_hdr_t``, ``cpl_hdr_t``) that
travel in ``tuser`` between the DMA blocks and the PCIe adapters, as Python values.

The field layout is read from the packed structs in rtl/splitrx_pcie_pkg.sv (their one
definition): the first field is the most significant."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import ClassVar

PKG_SV = Path(__file__).resolve().parents[2] / "rtl" / "splitrx_pcie_pkg.sv"
_FIELD = re.compile(r"^\s*(?:logic|req_kind_e)\s*(?:\[(\d+):0\])?\s+(\w+)\s*;", re.M)


def struct_layout(name: str, text: str | None = None) -> dict[str, tuple[int, int]]:
    """{field: (lsb, width)} of packed struct ``name`` in splitrx_pcie_pkg.sv (an enum field
    is the 2-bit req_kind_e)."""
    text = PKG_SV.read_text() if text is None else text
    m = re.search(r"typedef\s+struct\s+packed\s*\{([^{}]*)\}\s*" + name + r"\s*;", text)
    if m is None:
        raise ValueError(f"{PKG_SV}: no packed struct {name}")
    body = re.sub(r"//[^\n]*", "", m[1])
    widths = [(f[2], int(f[1]) + 1 if f[1] else 1) for f in _FIELD.finditer(body)]
    widths = [(n, 2 if n == "kind" else w) for n, w in widths]
    out, lsb = {}, 0
    for n, w in reversed(widths):
        out[n] = (lsb, w)
        lsb += w
    return out


REQ_KIND_WR, REQ_KIND_RD = 0, 1  # splitrx_pcie_pkg::req_kind_e
CPL_SC, CPL_UR, CPL_CA = 0b000, 0b001, 0b100


class _Packed:
    LAYOUT: ClassVar[dict[str, tuple[int, int]]]

    def pack(self) -> int:
        v = 0
        for f in fields(self):  # type: ignore[arg-type]
            lsb, w = self.LAYOUT[f.name]
            x = getattr(self, f.name)
            if not 0 <= x < 1 << w:
                raise ValueError(f"{type(self).__name__}.{f.name} = {x} does not fit {w} bits")
            v |= x << lsb
        return v

    @classmethod
    def width(cls) -> int:
        return sum(w for _, w in cls.LAYOUT.values())


@dataclass(frozen=True)
class ReqHdr(_Packed):
    """splitrx_pcie_pkg::req_hdr_t. ``dw_count`` 0 encodes 1024."""

    kind: int = REQ_KIND_WR
    tag: int = 0
    last_be: int = 0
    first_be: int = 0xF
    dw_count: int = 1
    addr: int = 0

    LAYOUT: ClassVar[dict[str, tuple[int, int]]] = struct_layout("req_hdr_t")

    @classmethod
    def unpack(cls, v: int) -> ReqHdr:
        return cls(**{n: (v >> lsb) & ((1 << w) - 1) for n, (lsb, w) in cls.LAYOUT.items()})

    @property
    def dwords(self) -> int:
        return self.dw_count or 1024


@dataclass(frozen=True)
class CplHdr(_Packed):
    """splitrx_pcie_pkg::cpl_hdr_t."""

    tag: int = 0
    status: int = CPL_SC
    error_code: int = 0
    request_completed: int = 0
    byte_count: int = 0
    lower_addr: int = 0
    dw_count: int = 0

    LAYOUT: ClassVar[dict[str, tuple[int, int]]] = struct_layout("cpl_hdr_t")

    @classmethod
    def unpack(cls, v: int) -> CplHdr:
        return cls(**{n: (v >> lsb) & ((1 << w) - 1) for n, (lsb, w) in cls.LAYOUT.items()})

# SPDX-License-Identifier: MIT
"""The register map's numbers reach the RTL from one place: rtl/generated/splitrx_regs_pkg.sv,
generated from regs/splitrx.rdl (tools/gen.py). splitrx_core takes each from it, and no RTL
file spells one of them again as a literal."""

from __future__ import annotations

import re
from pathlib import Path

from model import regmap
from tb.runner.build import RTL

PKG = RTL / "generated" / "splitrx_regs_pkg.sv"


def package() -> dict[str, int]:
    out = {}
    for name, value in re.findall(r"localparam int unsigned (\w+) = ([^;]+);", PKG.read_text()):
        out[name] = int(value[2:], 16) if value.startswith("'h") else int(value)
    return out


def test_the_package_says_what_the_register_map_says() -> None:
    p = package()
    caps = regmap.CAP_QUEUES.fields
    assert p["RX_QUEUES"] == caps["rx_queues"].reset == regmap.RXQ.entries
    assert p["DESC_CACHE_DEPTH"] == caps["desc_cache"].reset
    assert p["MSIX_VECTORS"] == caps["msix_vectors"].reset == regmap.MSIX_TABLE_BYTES // 16
    assert p["STEER_ENTRIES"] == regmap.CAP_TABLES.fields["mac_entries"].reset
    assert p["DEV_CTRL_ADDR"] == regmap.DEV_CTRL.offset
    assert p["MSIX_BASE"] == regmap.MSIX_TABLE_OFFSET
    w = p["MSIX_WINDOW_BYTES"]
    assert w & (w - 1) == 0 and p["MSIX_BASE"] % w == 0
    assert regmap.MSIX_PBA_OFFSET + regmap.MSIX_PBA_BYTES <= p["MSIX_BASE"] + w


def test_the_register_map_counts_every_drop_reason() -> None:
    """DROP[] in regs/splitrx.rdl has one counter per DropReason (model/records.py)."""
    from model.records import DropReason

    assert regmap.DROP.entries == len(DropReason)


def test_splitrx_core_takes_every_number_from_the_package() -> None:
    core = (RTL / "splitrx_core.sv").read_text()
    for name in package():
        assert f"splitrx_regs_pkg::{name}" in core, name


# A localparam named for one of the package's numbers, or for the core's own names of them,
# given a literal: a second definition.
ALIASES = {"NQ", "DESC_CACHE", "MSIX_ADDR_W"}


def test_no_rtl_file_spells_a_register_map_number_as_a_literal() -> None:
    names = set(package()) | ALIASES
    rx = re.compile(r"localparam\b[^=;]*\b(\w+)\s*=\s*(?:\w+'\()?\s*'?h?\d[\w']*\)?\s*;")
    hits = []
    for f in sorted(RTL.glob("*.sv")):
        for i, line in enumerate(f.read_text().splitlines(), 1):
            m = rx.search(line.split("//", 1)[0])
            if m and m.group(1) in names:
                hits.append(f"{f.name}:{i}: {line.strip()}")
    assert hits == [], "\n".join(hits)


def test_the_literal_check_catches_a_copy(tmp_path: Path) -> None:
    rx = re.compile(r"localparam\b[^=;]*\b(\w+)\s*=\s*(?:\w+'\()?\s*'?h?\d[\w']*\)?\s*;")
    for line in ("    localparam int NQ = 8;", "    localparam int MSIX_ADDR_W = 13;",
                 "    localparam logic [15:0] MSIX_BASE = BAR0_ADDR_W'('h8000);",
                 "    localparam int unsigned STEER_ENTRIES = 16;"):  # fmt: skip
        m = rx.search(line)
        assert m and m.group(1) in set(package()) | ALIASES, line
    assert not rx.search("    localparam int NQ = splitrx_regs_pkg::RX_QUEUES;")

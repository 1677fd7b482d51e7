# SPDX-License-Identifier: MIT
"""Checks of the files Vivado would read, made without Vivado (make synth; docs/synth.md).

- synth/splitrx.xdc: every cell, pin, port and clock pattern must match something in the
  design's unflattened netlist, named as Vivado names it (hierarchy joined by '/', a register
  `foo_q[3]` as the cell `foo_q_reg[3]`, a memory `mem` as cells `mem_reg...`). A constraint
  whose pattern matches nothing is silently dropped by Vivado (a warning in a long log), and
  the crossing it was meant to cover is then timed as if it were synchronous, or not at all.
- synth/pcie_ip.tcl: the IP settings must agree with splitrx_top's parameters and the
  register map: interface width and user widths, link width and speed for the user clock,
  client tags, no RC straddling, BAR0 size and the MSI-X table and PBA location.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tools import netlevels as nl

REPO = Path(__file__).resolve().parent.parent
XDC = REPO / "synth" / "splitrx.xdc"
IP_TCL = REPO / "synth" / "pcie_ip.tcl"


# ---------------------------------------------------------------- Vivado-style names
@dataclass
class Names:
    """What XDC patterns are matched against."""

    cells: set[str]
    pins: set[str]
    ports: set[str]


def _paths(instances: Iterable[str]) -> dict[str, str]:
    """Instance path (yosys, '.'-joined cell names) -> Vivado path ('/'-joined)."""
    insts = sorted(i for i in instances if i)
    out = {"": ""}
    for inst in insts:  # parents sort before children
        parent = max((p for p in out if p and inst.startswith(p + ".")), key=len, default="")
        local = inst[len(parent) + 1 :] if parent else inst
        out[inst] = f"{out[parent]}/{local}" if parent else local
    return out


def _reg_cell(local: str) -> str:
    """`foo_q[3]` -> `foo_q_reg[3]`; `foo_q` -> `foo_q_reg`."""
    base, sep, idx = local.partition("[")
    return f"{base}_reg{sep}{idx}"


def vivado_names(flat: nl.Flat) -> Names:
    paths = _paths(flat.instances)
    cells: set[str] = set()
    pins: set[str] = set()
    for c in flat.cells:
        inst = nl.owner(c.name, flat.instances)
        here = paths[inst]
        prefix = inst + "." if inst else ""
        names: set[str] = set()
        if c.type in nl.FF_TYPES:
            for bits in c.outs.values():
                for n in bits:
                    for x in flat.all_names.get(n, []):
                        if x.startswith(prefix) and nl.owner(x, flat.instances) == inst:
                            names.add(_reg_cell(x[len(prefix) :]))
        elif c.type in nl.LUTRAM_LUTS or c.type in nl.BRAM_TYPES:
            mem = c.name[len(prefix) :].split(".", 1)[0]
            names.add(f"{mem}_reg")
        for local in names:
            full = f"{here}/{local}" if here else local
            cells.add(full)
            pins.update(f"{full}/{p}" for p in (*c.ins, *c.outs))
    ports = set(flat.inputs) | set(flat.outputs)
    return Names(cells, pins, ports)


# ---------------------------------------------------------------- XDC
_QUERY = re.compile(
    r"\[(get_cells|get_pins|get_ports|get_clocks)\s+((?:-\w+\s+)*)(\{[^}]*\}|[^\s\[\]]+)\s*\]"
)


def _glob(pattern: str) -> re.Pattern[str]:
    """Vivado's wildcards: `*` any run of characters, `?` one; brackets are literal."""
    out = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(out + r"\Z")


def xdc_queries(text: str) -> list[tuple[int, str, str]]:
    """(line, query, pattern) for every object query in an XDC file."""
    out = []
    lines = text.splitlines()
    # join continuation lines, remembering where each command started
    i = 0
    while i < len(lines):
        start, cmd = (
            i + 1,
            lines[i].split("#", 1)[0] if not lines[i].lstrip().startswith("#") else "",
        )
        while cmd.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd.rstrip()[:-1] + " " + lines[i]
        for m in _QUERY.finditer(cmd):
            arg = m.group(3)
            pat = arg[1:-1].strip() if arg.startswith("{") else arg
            if "-filter" in m.group(2):
                pat = pat.split("=~", 1)[-1].strip()
            out.append((start, m.group(1), pat))
        i += 1
    return out


def check_xdc(text: str, names: Names, where: str = "synth/splitrx.xdc") -> list[str]:
    """One line per pattern that matches nothing."""
    clocks = set(re.findall(r"create_clock\b[^\n]*?-name\s+(\S+)", text))
    pools = {"get_cells": names.cells, "get_pins": names.pins, "get_ports": names.ports,
             "get_clocks": clocks}  # fmt: skip
    fails = []
    for line, query, pat in xdc_queries(text):
        rx = _glob(pat)
        if not any(rx.match(x) for x in pools[query]):
            fails.append(f"{where}:{line}: [{query} {pat}] matches nothing in the netlist")
    return fails


# ---------------------------------------------------------------- the IP settings
# PG213: the user interface widths of the UltraScale+ PCIe block per data width (no parity,
# no straddling on RC): (RQ, RC, CQ, CC) tuser bits.
USER_WIDTHS = {64: (62, 75, 88, 33), 128: (62, 75, 88, 33), 256: (62, 75, 88, 33),
               512: (137, 161, 183, 81)}  # fmt: skip
GEN_GBPS = {"2.5_GT/s": 2.5 * 8 / 10, "5.0_GT/s": 5.0 * 8 / 10, "8.0_GT/s": 8.0 * 128 / 130,
            "16.0_GT/s": 16.0 * 128 / 130}  # fmt: skip


def ip_settings(text: str) -> dict[str, str]:
    return dict(re.findall(r"CONFIG\.(\w+)\s+\{([^}]*)\}", text))


def rtl_params(path: Path) -> dict[str, int]:
    """Integer parameter defaults of one RTL module."""
    return {
        k: int(v) for k, v in re.findall(r"parameter\s+int\s+(\w+)\s*=\s*(\d+)", path.read_text())
    }


def check_ip(text: str, core: Mapping[str, int], regmap: Mapping[str, int],
             where: str = "synth/pcie_ip.tcl") -> list[str]:  # fmt: skip
    """One line per IP setting that disagrees with the RTL or the register map."""
    s = ip_settings(text)
    fails: list[str] = []

    def want(key: str, value: str, why: str) -> None:
        got = s.get(key)
        if got is None or got.lower() != value.lower():
            fails.append(f"{where}: CONFIG.{key} is {got!r}, {why} needs {value!r}")

    width = core["AXIS_PCIE_W"]
    want("axisten_if_width", f"{width}_bit", f"AXIS_PCIE_W = {width}")
    users = (core["RQ_USER_W"], core["RC_USER_W"], core["CQ_USER_W"], core["CC_USER_W"])
    if USER_WIDTHS.get(width) != users:
        fails.append(f"{where}: splitrx_core's tuser widths {users} are not PG213's "
                     f"{USER_WIDTHS.get(width)} for a {width}-bit interface")  # fmt: skip
    try:
        lanes = int(s.get("PL_LINK_CAP_MAX_LINK_WIDTH", "X0")[1:])
        link = lanes * GEN_GBPS[s.get("PL_LINK_CAP_MAX_LINK_SPEED", "")]
        user = width * float(s.get("axisten_freq", "0")) / 1000
    except (KeyError, ValueError):
        fails.append(f"{where}: link width, speed or user clock missing or unknown")
    else:
        if not link <= user < 2 * link:
            speed, freq = s.get("PL_LINK_CAP_MAX_LINK_SPEED"), s.get("axisten_freq")
            fails.append(f"{where}: x{lanes} at {speed} carries {link:.1f} Gb/s, the "
                         f"{width}-bit user interface at {freq} MHz {user:.1f}: "
                         "not the PG213 pairing")  # fmt: skip
    want("axisten_if_enable_client_tag", "true", "the RQ path's own tags (rtl/pcie_us_rq.sv)")
    want("AXISTEN_IF_RC_STRADDLE", "false", "rtl/pcie_us_rc.sv (one TLP per beat)")
    ext = s.get("extended_tag_field", "false").lower() == "true"
    if core["TAGS"] > (256 if ext else 32):
        fails.append(f"{where}: TAGS = {core['TAGS']} outstanding reads need extended tags")
    scale = {"Kilobytes": 1 << 10, "Megabytes": 1 << 20}.get(s.get("pf0_bar0_scale", ""), 0)
    bar = int(s.get("pf0_bar0_size", "0")) * scale
    if bar != regmap["BAR0_SIZE"]:
        fails.append(f"{where}: BAR0 is {bar} bytes, the register map needs {regmap['BAR0_SIZE']}")
    want("PF0_MSIX_CAP_TABLE_OFFSET", f"{regmap['MSIX_TABLE_OFFSET']:08x}", "the register map")
    want("PF0_MSIX_CAP_PBA_OFFSET", f"{regmap['MSIX_PBA_OFFSET']:08x}", "the register map")
    want("PF0_MSIX_CAP_TABLE_SIZE", f"{regmap['MSIX_VECTORS'] - 1:03x}", "the register map")
    want("PF0_MSIX_CAP_TABLE_BIR", f"BAR_1:{regmap['MSIX_BIR']}", "the register map")
    want("PF0_MSIX_CAP_PBA_BIR", f"BAR_1:{regmap['MSIX_BIR']}", "the register map")
    return fails


def regmap_values() -> dict[str, int]:
    from model import regmap

    return {
        "BAR0_SIZE": regmap.BAR0_SIZE,
        "MSIX_TABLE_OFFSET": regmap.MSIX_TABLE_OFFSET,
        "MSIX_PBA_OFFSET": regmap.MSIX_PBA_OFFSET,
        "MSIX_VECTORS": regmap.CAP_QUEUES.fields["msix_vectors"].reset,
        "MSIX_BIR": regmap.MSIX_BIR,
    }


def check_all(flat: nl.Flat) -> list[str]:
    """Both checks on the design (make synth)."""
    fails = check_xdc(XDC.read_text(), vivado_names(flat))
    fails += check_ip(IP_TCL.read_text(), core_params(), regmap_values())
    return fails


def core_params() -> dict[str, int]:
    """splitrx_core's parameters, with the read-tag count rx_dma gives its descriptor cache
    (splitrx_core leaves it at rx_dma's default)."""
    return {**rtl_params(REPO / "rtl" / "splitrx_core.sv"),
            "TAGS": rtl_params(REPO / "rtl" / "rx_dma.sv")["TAGS"]}  # fmt: skip

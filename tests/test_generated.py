# SPDX-License-Identifier: MIT
"""Generated files are current: editing regs/splitrx.rdl or model/records.py without
`make regs` fails here. And model/regmap.py describes every register of the compiled RDL
(regfiles nested in regfiles included) at its address, with its fields."""

from __future__ import annotations

from model import regmap
from tools.gen import REPO, _bar0_nodes, generate

# BAR0 address -> (register path below csr, {field: (lsb, width, reset)})
RegTable = dict[int, tuple[str, dict[str, tuple[int, int, int]]]]


def test_generated_files_are_current() -> None:
    stale = [
        str(p.relative_to(REPO))
        for p, text in generate().items()
        if not p.exists() or p.read_text() != text
    ]
    assert not stale, f"stale generated files (run 'make regs'): {stale}"


def _rdl_registers() -> RegTable:
    """Every register instance of the compiled RDL, arrays unrolled."""
    from systemrdl.node import RegNode

    csr = _bar0_nodes().get_child_by_name("csr")
    out: RegTable = {}
    for node in csr.descendants(unroll=True):
        if isinstance(node, RegNode):
            path = node.get_path().removeprefix(csr.get_path() + ".").upper()
            fields = {
                f.inst_name: (f.lsb, f.width, int(f.get_property("reset") or 0))
                for f in node.fields()
            }
            assert node.absolute_address not in out, path
            out[node.absolute_address] = (path, fields)
    return out


def _regmap_registers() -> RegTable:
    """Every register model/regmap.py describes, arrays unrolled."""
    out: RegTable = {}

    def add(addr: int, path: str, reg: regmap.Reg) -> None:
        assert addr not in out, f"{path} and {out[addr][0]} both at {addr:#x}"
        out[addr] = (path, {n: (f.lsb, f.width, f.reset) for n, f in reg.fields.items()})

    for name, reg in regmap.REGISTERS.items():
        count = getattr(regmap, f"{name}_COUNT", 1)
        for i in range(count):
            stride = getattr(regmap, f"{name}_STRIDE", 0)
            add(reg.offset + i * stride, f"{name}[{i}]" if count > 1 else name, reg)
    for name, rf in regmap.REGFILES.items():
        for i in range(rf.entries):
            element = f"{name}[{i}]" if rf.entries > 1 else name
            for rname, reg in rf.regs.items():
                add(rf.addr(i, rname), f"{element}.{rname}", reg)
    return out


def test_regmap_describes_every_register_of_the_compiled_rdl() -> None:
    rdl, ours = _rdl_registers(), _regmap_registers()
    missing = [f"{a:#06x} {rdl[a][0]}" for a in sorted(rdl.keys() - ours.keys())]
    extra = [f"{a:#06x} {ours[a][0]}" for a in sorted(ours.keys() - rdl.keys())]
    assert not missing and not extra, f"not in regmap: {missing}; not in the RDL: {extra}"
    assert ours == rdl


def test_queue_counters_are_in_the_rxq_regfile() -> None:
    """RXQ[i].PACKETS / BYTES / DROPS (cnt64_rf nested in rxq_rf) appear under dotted names,
    each laid out like the global 64-bit counters (RX_FRAMES, DROP[r]): LO, then HI."""
    g = regmap.RX_FRAMES.regs
    for name in ("PACKETS", "BYTES", "DROPS"):
        lo, hi = regmap.RXQ.regs[f"{name}.LO"], regmap.RXQ.regs[f"{name}.HI"]
        assert (lo.fields, hi.fields) == (g["LO"].fields, g["HI"].fields)
        assert hi.offset - lo.offset == g["HI"].offset - g["LO"].offset

# SPDX-License-Identifier: MIT
"""Logic levels of a mapped UltraScale+ netlist (yosys ``write_json`` after ``synth_xilinx``).

The rule (docs/synth.md, "Logic levels"): between two sequential elements, each LUT and each
MUXF7/F8/F9 counts one level; a carry chain counts one level per 8 bits (one CARRY8, or half a
level per CARRY4); a LUTRAM's write inputs end a path and its asynchronous read (address to
data out) counts one level inside a path; flip-flops, block RAM, DSP and shift-register outputs
start paths and their inputs end them. yosys's own ``ltp`` counts every cell as one level and
does not know which pins of a RAM are combinational, hence this walk of our own.

Netlists come one module at a time (children left as instances of other modules of the same
set); :func:`flatten` stitches them into one graph of global nets, keeping each cell's
hierarchical name (``u_dma.u_place.<cell>``), so paths that cross module boundaries are seen
and each path can still be attributed to the modules it runs through.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

# ---------------------------------------------------------------- the primitive library
FF_TYPES = {"FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1"}
LATCH_TYPES = {"LDCE", "LDPE", "LDCE_1", "LDPE_1"}
LUT_TYPES = {f"LUT{i}" for i in range(1, 7)} | {"INV"}
MUXF_TYPES = {"MUXF7", "MUXF8", "MUXF9"}
CARRY_LEVEL = {"CARRY8": 1.0, "CARRY4": 0.5}  # one level per 8 bits of carry chain
BRAM_TYPES = {"RAMB18E2": 0.5, "RAMB36E2": 1.0}  # in RAMB36 units
DSP_TYPES = {"DSP48E2"}
SRL_TYPES = {"SRL16E", "SRLC16E", "SRLC32E"}
PASS_TYPES = {"BUFG", "BUFGCE", "IBUF", "OBUF", "BUF"}
CONST_TYPES = {"GND", "VCC"}
# LUTRAM cells: LUTs each one occupies (UltraScale+ SLICEM), and which read address feeds
# which data output. Every input pin of a LUTRAM also ends a path (its write side).
LUTRAM_LUTS = {
    "RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
    "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM256X1D": 8,
    "RAM32M": 4, "RAM64M": 4, "RAM32M16": 8, "RAM64M8": 8, "RAM512X1S": 8,
}  # fmt: skip


def _lutram_read_pins(ctype: str, out_pin: str, in_pins: Iterable[str]) -> list[str]:
    """The address pins whose value selects what ``out_pin`` shows (its asynchronous read)."""
    ins = list(in_pins)
    m = re.fullmatch(r"DO([A-H])", out_pin)
    if m:  # RAM32M / RAM64M / RAM32M16 / RAM64M8: DOx is read at ADDRx
        return [p for p in ins if p == f"ADDR{m.group(1)}"]
    if out_pin == "DPO":  # dual-port: the read-only port's address
        return [p for p in ins if p.startswith("DPRA")]
    if out_pin in ("SPO", "O"):  # the read/write port's address
        return [p for p in ins if re.fullmatch(r"A\d*", p)]
    raise NetlistError(f"LUTRAM {ctype}: no read rule for output pin {out_pin}")


def _lutram_read_only(ctype: str, in_pins: Iterable[str]) -> set[str]:
    """Address pins that only read (they end no path): a multi-port RAM's ports other than the
    last one (the write port: ADDRD of RAM32M/RAM64M, ADDRH of RAM32M16/RAM64M8) and the
    dual-port cells' DPRA."""
    ins = set(in_pins)
    addr = sorted(p for p in ins if re.fullmatch(r"ADDR[A-H]", p))
    return set(addr[:-1]) | {p for p in ins if p.startswith("DPRA")}


class NetlistError(RuntimeError):
    """The netlist holds something the level rule does not know; the message is one line."""


# ---------------------------------------------------------------- flattening
@dataclass
class Cell:
    """One primitive of the flattened netlist."""

    name: str  # hierarchical: instance path + '.' + cell name
    type: str
    ins: dict[str, list[int]]  # pin -> global net per bit
    outs: dict[str, list[int]]
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Flat:
    """A flattened design: cells, net names, top ports."""

    cells: list[Cell]
    net_names: dict[int, str]  # best readable name per global net
    inputs: dict[str, list[int]]  # top input port -> nets
    outputs: dict[str, list[int]]
    instances: dict[str, str]  # instance path ('' for top) -> module name
    all_names: dict[int, list[str]] = field(default_factory=dict)  # every name of each net


class _Nets:
    """Global net ids with union-find (a child's port bit is its parent's net)."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def new(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, n: int) -> int:
        root = n
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[n] != root:
            self.parent[n], n = root, self.parent[n]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


CONST0, CONST1, CONSTX = -1, -2, -3
_CONSTS = {"0": CONST0, "1": CONST1, "x": CONSTX, "z": CONSTX}


def _name_score(name: str) -> tuple[int, int]:
    """Prefer user names (no '$') and short ones."""
    return (name.count("$") > 0, len(name))


def flatten(modules: Mapping[str, Json], top: str) -> Flat:
    """Stitch per-module netlists (yosys JSON ``modules`` entries) into one from ``top``.

    A cell whose type names another module of ``modules`` is an instance and is expanded; every
    other cell is a primitive. Cell and net names keep their instance path."""
    nets = _Nets()
    raw_cells: list[tuple[str, str, dict[str, list[int]], dict[str, list[int]], dict[str, str]]]
    raw_cells = []
    names: list[tuple[int, str]] = []
    instances: dict[str, str] = {}

    def expand(mod_name: str, prefix: str, binding: dict[int, int]) -> None:
        mod = modules[mod_name]
        instances[prefix.rstrip(".")] = mod_name
        local: dict[int | str, int] = {}

        def net(bit: int | str) -> int:
            if isinstance(bit, str):
                return _CONSTS[bit]
            if bit not in local:
                local[bit] = binding[bit] if bit in binding else nets.new()
            return local[bit]

        for nname, info in mod.get("netnames", {}).items():
            for i, bit in enumerate(info["bits"]):
                if isinstance(bit, str):
                    continue
                suffix = f"[{i}]" if len(info["bits"]) > 1 else ""
                names.append((net(bit), f"{prefix}{nname}{suffix}"))
        for cname, cell in mod.get("cells", {}).items():
            ctype = cell["type"]
            conns = {p: [net(b) for b in bits] for p, bits in cell["connections"].items()}
            if ctype in modules:
                child = modules[ctype]
                child_bind: dict[int, int] = {}
                for pname, port in child["ports"].items():
                    for cb, pb in zip(port["bits"], conns.get(pname, []), strict=False):
                        if isinstance(cb, str):
                            continue
                        if pb < 0:  # a constant tied to a child port: give it a net of its own
                            pb_net = nets.new()
                            raw_cells.append(
                                (
                                    f"{prefix}{cname}.$tie",
                                    "GND" if pb == CONST0 else "VCC",
                                    {},
                                    {"G": [pb_net]},
                                    {},
                                )
                            )
                            pb = pb_net
                        if cb in child_bind:
                            nets.union(child_bind[cb], pb)
                        else:
                            child_bind[cb] = pb
                expand(ctype, f"{prefix}{cname}.", child_bind)
                continue
            dirs = cell.get("port_directions", {})
            ins = {p: v for p, v in conns.items() if dirs.get(p, "input") == "input"}
            outs = {p: v for p, v in conns.items() if dirs.get(p) == "output"}
            params = {k: str(v) for k, v in cell.get("parameters", {}).items()}
            raw_cells.append((f"{prefix}{cname}", ctype, ins, outs, params))

    top_mod = modules[top]
    top_bind: dict[int, int] = {}
    for port in top_mod["ports"].values():
        for b in port["bits"]:
            if not isinstance(b, str) and b not in top_bind:
                top_bind[b] = nets.new()
    expand(top, "", top_bind)

    def f(n: int) -> int:
        return n if n < 0 else nets.find(n)

    cells = [
        Cell(
            n, t, {p: [f(b) for b in v] for p, v in i.items()},
            {p: [f(b) for b in v] for p, v in o.items()}, prm,
        )
        for n, t, i, o, prm in raw_cells
    ]  # fmt: skip
    best: dict[int, str] = {}
    every: dict[int, list[str]] = defaultdict(list)
    for n, name in names:
        g = f(n)
        if g < 0:
            continue
        every[g].append(name)
        if g not in best or _name_score(name) < _name_score(best[g]):
            best[g] = name
    inputs: dict[str, list[int]] = {}
    outputs: dict[str, list[int]] = {}
    for pname, port in top_mod["ports"].items():
        bits = [f(top_bind[b]) if not isinstance(b, str) else _CONSTS[b] for b in port["bits"]]
        (inputs if port["direction"] == "input" else outputs)[pname] = bits
    return Flat(cells, best, inputs, outputs, instances, dict(every))


# ---------------------------------------------------------------- resources
@dataclass
class Resources:
    """Cell counts in UltraScale+ terms."""

    lut: int = 0  # logic LUTs (LUT1..LUT6)
    ff: int = 0
    lutram: int = 0  # LUTs used as distributed RAM
    srl: int = 0  # LUTs used as shift registers
    bram: float = 0.0  # RAMB36 units (a RAMB18 is 0.5)
    dsp: int = 0
    carry: int = 0  # CARRY8 (or CARRY4) cells
    muxf: int = 0
    latch: int = 0

    def add(self, other: Resources) -> None:
        for k in vars(self):
            setattr(self, k, getattr(self, k) + getattr(other, k))


def count(cells: Iterable[Cell]) -> Resources:
    r = Resources()
    for c in cells:
        t = c.type
        if t in LUT_TYPES:
            r.lut += 1
        elif t in FF_TYPES:
            r.ff += 1
        elif t in LATCH_TYPES:
            r.latch += 1
        elif t in LUTRAM_LUTS:
            r.lutram += LUTRAM_LUTS[t]
        elif t in SRL_TYPES:
            r.srl += 1
        elif t in BRAM_TYPES:
            r.bram += BRAM_TYPES[t]
        elif t in DSP_TYPES:
            r.dsp += 1
        elif t in CARRY_LEVEL:
            r.carry += 1
        elif t in MUXF_TYPES:
            r.muxf += 1
        elif t not in PASS_TYPES | CONST_TYPES:
            raise NetlistError(f"cell {c.name}: unknown primitive {t}")
    return r


# ---------------------------------------------------------------- timing graph
CLOCK_PINS = {"C", "CLK", "WCLK", "CLKARDCLK", "CLKBWRCLK", "RDCLK", "WRCLK"}


@dataclass(frozen=True)
class Path:
    """The longest path into one end point."""

    levels: float
    start: str  # register (its output net's name) or 'in:<port>'
    end: str  # register (its output net's name, with the pin) or 'out:<port>'
    start_clock: str  # top clock port of the start register ('' for a top input)
    end_clock: str
    cells: tuple[str, ...]  # the combinational cells on it, in order


@dataclass
class _Arc:
    cell: int
    src: int
    dst: int
    weight: float


@dataclass
class Graph:
    """Arcs between nets through combinational cells, with path starts and ends."""

    flat: Flat
    arcs_from: dict[int, list[_Arc]]
    indeg: dict[int, int]
    starts: dict[int, tuple[str, str, int]]  # net -> (start name, clock, owning cell or -1)
    ends: list[tuple[int, str, str, int]]  # (net, end name, clock, cell index or -1)
    clock_of: dict[int, str]  # sequential cell index -> clock port name


def _clock_name(flat: Flat, n: int) -> str:
    for pname, bits in flat.inputs.items():
        if n in bits:
            return pname
    return flat.net_names.get(n, f"net{n}")


def _is_sequential(c: Cell) -> bool:
    return c.type in FF_TYPES | LATCH_TYPES | set(BRAM_TYPES) | DSP_TYPES | SRL_TYPES


def graph(flat: Flat) -> Graph:
    """The timing graph of ``flat`` under the level rule."""
    arcs: dict[int, list[_Arc]] = defaultdict(list)
    indeg: dict[int, int] = defaultdict(int)
    starts: dict[int, tuple[str, str, int]] = {}
    ends: list[tuple[int, str, str, int]] = []
    clock_of: dict[int, str] = {}

    def arc(ci: int, src: int, dst: int, w: float) -> None:
        if src < 0 or dst < 0:
            return
        arcs[src].append(_Arc(ci, src, dst, w))
        indeg[dst] += 1

    for ci, c in enumerate(flat.cells):
        t = c.type
        out_nets = [n for bits in c.outs.values() for n in bits]
        if t in LUT_TYPES or t in MUXF_TYPES or t in CARRY_LEVEL or t in PASS_TYPES:
            w = 0.0 if t in PASS_TYPES else CARRY_LEVEL.get(t, 1.0)
            for bits in c.ins.values():
                for s in bits:
                    for d in out_nets:
                        arc(ci, s, d, w)
        elif t in CONST_TYPES:
            continue
        elif _is_sequential(c) or t in LUTRAM_LUTS:
            clk_nets = [n for p in CLOCK_PINS & c.ins.keys() for n in c.ins[p]]
            clock = _clock_name(flat, clk_nets[0]) if clk_nets else ""
            clock_of[ci] = clock
            reg_name = _cell_label(flat, c)
            read_only = _lutram_read_only(t, c.ins.keys()) if t in LUTRAM_LUTS else set()
            for p, bits in c.ins.items():
                if p in CLOCK_PINS or p in read_only:
                    continue
                for n in bits:
                    if n >= 0:
                        ends.append((n, f"{reg_name} ({p})", clock, ci))
            if t in LUTRAM_LUTS:
                for op, obits in c.outs.items():
                    for ap in _lutram_read_pins(t, op, c.ins.keys()):
                        for s in c.ins[ap]:
                            for d in obits:
                                arc(ci, s, d, 1.0)
            if t not in LUTRAM_LUTS:
                for n in out_nets:
                    if n >= 0:
                        starts[n] = (_bit_name(flat, n, reg_name), clock, ci)
        else:
            raise NetlistError(f"cell {c.name}: unknown primitive {t}")
    for pname, bits in flat.inputs.items():
        for i, n in enumerate(bits):
            if n >= 0 and n not in starts:
                starts[n] = (f"in:{pname}[{i}]" if len(bits) > 1 else f"in:{pname}", "", -1)
    for pname, bits in flat.outputs.items():
        for i, n in enumerate(bits):
            if n >= 0:
                ends.append((n, f"out:{pname}[{i}]" if len(bits) > 1 else f"out:{pname}", "", -1))
    return Graph(flat, arcs, indeg, starts, ends, clock_of)


def _bit_name(flat: Flat, n: int, label: str) -> str:
    """The name of one output bit of a register labelled ``label``: a name of that bit's net
    with the label's bus name, else the best name of the net."""
    stem = label.split("[")[0]
    for x in flat.all_names.get(n, []):
        if x.split("[")[0] == stem:
            return x
    return flat.net_names.get(n, label)


def owner(cell: str, instances: Mapping[str, str]) -> str:
    """The innermost instance path that holds a cell ('' for the top)."""
    parts = cell.split(".")
    for i in range(len(parts) - 1, 0, -1):
        cand = ".".join(parts[:i])
        if cand in instances:
            return cand
    return ""


def _cell_label(flat: Flat, c: Cell) -> str:
    """A sequential cell's readable name: for a flip-flop, the name its output net has inside
    the flip-flop's own module (not the parent's name for the same wire); for a RAM, DSP or
    shift register, the cell's own name (it carries the memory's name)."""
    if c.type not in FF_TYPES | LATCH_TYPES:
        return c.name
    home = owner(c.name, flat.instances)
    for bits in c.outs.values():
        for n in bits:
            if n < 0:
                continue
            names = flat.all_names.get(n, [])
            own = [x for x in names if owner(x, flat.instances) == home]
            if own:
                return min(own, key=_name_score)
            if n in flat.net_names:
                return flat.net_names[n]
    return c.name


def longest(g: Graph, within: str | None = None) -> list[Path]:
    """The longest path into every end point, worst first.

    ``within`` restricts the walk to the cells of one instance path (and its children), and to
    paths that start and end at its own registers: that module's internal paths."""
    cells = g.flat.cells

    def inside(ci: int) -> bool:
        return within is None or within == "" or cells[ci].name.startswith(within + ".")

    level: dict[int, float] = {}
    pred: dict[int, tuple[int, int]] = {}  # net -> (cell, src net) on the longest path
    origin: dict[int, int] = {}  # net -> start net
    indeg: dict[int, int] = defaultdict(int)
    for lst in g.arcs_from.values():
        for a in lst:
            if inside(a.cell):
                indeg[a.dst] += 1
    ready: list[int] = []
    for n, (_, _, ci) in g.starts.items():
        if within is not None and within != "" and (ci < 0 or not inside(ci)):
            continue
        level[n] = 0.0
        origin[n] = n
    seen_nets = set(g.arcs_from) | set(indeg)
    for n in seen_nets:
        if indeg.get(n, 0) == 0:
            ready.append(n)
    done = 0
    while ready:
        n = ready.pop()
        done += 1
        for a in g.arcs_from.get(n, ()):
            if not inside(a.cell):
                continue
            if n in level and level[n] + a.weight > level.get(a.dst, -1.0):
                level[a.dst] = level[n] + a.weight
                pred[a.dst] = (a.cell, n)
                origin[a.dst] = origin[n]
            indeg[a.dst] -= 1
            if indeg[a.dst] == 0:
                ready.append(a.dst)
    stuck = [n for n, d in indeg.items() if d > 0]
    if stuck:
        names = sorted({g.flat.net_names.get(n, f"net{n}") for n in stuck})[:5]
        raise NetlistError(f"combinational loop through {len(stuck)} nets, e.g. {', '.join(names)}")
    paths: list[Path] = []
    for n, end_name, clock, ci in g.ends:
        if n not in level:
            continue
        if within and (ci < 0 or not inside(ci)):
            continue
        trail: list[str] = []
        m = n
        while m in pred:
            cell, m = pred[m]
            trail.append(cells[cell].name)
        start = origin[n]
        sname, sclock, _ = g.starts[start]
        paths.append(Path(level[n], sname, end_name, sclock, clock, tuple(reversed(trail))))
    paths.sort(key=lambda p: (-p.levels, p.end))
    return paths


_BIT = re.compile(r"\[\d+\]")


def bus(name: str) -> str:
    """A register name with its bit indices removed, to group the bits of one bus."""
    return _BIT.sub("", name)


def worst_by_end_bus(paths: Iterable[Path], n: int) -> list[Path]:
    """The ``n`` worst paths with distinct end registers (bits of one bus counted once)."""
    out: list[Path] = []
    seen: set[str] = set()
    for p in paths:
        key = bus(p.end.split(" (")[0])
        if key in seen:
            continue
        seen.add(key)
        out.append(p)
        if len(out) == n:
            break
    return out


def worst_per_domain(paths: Iterable[Path]) -> dict[str, float]:
    """The worst register-to-register level count per clock (start and end on that clock)."""
    out: dict[str, float] = {}
    for p in paths:
        if p.start_clock and p.start_clock == p.end_clock:
            out[p.start_clock] = max(out.get(p.start_clock, 0.0), p.levels)
    return out


def top_n(paths: Iterable[Path], n: int) -> list[Path]:
    return heapq.nsmallest(n, paths, key=lambda p: (-p.levels, p.end))

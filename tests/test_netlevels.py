# SPDX-License-Identifier: MIT
"""tools.netlevels: the logic-level rule of docs/synth.md on small hand-made netlists.

Each netlist is written here in yosys's JSON form with the level count worked out by hand
from the rule (LUT/MUXF one each, CARRY8 one per cell, LUTRAM read one, FF/BRAM start and end),
so a walker that counts cells the way `ltp` does, or misses a pin role, fails."""

from __future__ import annotations

from typing import Any

import pytest

from tools.netlevels import (
    NetlistError,
    count,
    flatten,
    graph,
    longest,
    worst_by_end_bus,
    worst_per_domain,
)

IN, OUT = "input", "output"
DIRS = {
    "FDRE": {"C": IN, "CE": IN, "R": IN, "D": IN, "Q": OUT},
    "LUT2": {"I0": IN, "I1": IN, "O": OUT},
    "LUT1": {"I0": IN, "O": OUT},
    "MUXF7": {"I0": IN, "I1": IN, "S": IN, "O": OUT},
    "CARRY8": {"CI": IN, "CI_TOP": IN, "DI": IN, "S": IN, "O": OUT, "CO": OUT},
    "RAM64X1D": {
        "WCLK": IN, "WE": IN, "D": IN, "A0": IN, "A1": IN, "A2": IN, "A3": IN, "A4": IN,
        "A5": IN, "DPRA0": IN, "DPRA1": IN, "DPRA2": IN, "DPRA3": IN, "DPRA4": IN, "DPRA5": IN,
        "SPO": OUT, "DPO": OUT,
    },
    "RAMB36E2": {"CLKARDCLK": IN, "ADDRARDADDR": IN, "DOUTADOUT": OUT},
    "RAM64M": {
        "WCLK": IN, "WE": IN, "DIA": IN, "DIB": IN, "DIC": IN, "DID": IN, "ADDRA": IN,
        "ADDRB": IN, "ADDRC": IN, "ADDRD": IN, "DOA": OUT, "DOB": OUT, "DOC": OUT, "DOD": OUT,
    },
}  # fmt: skip


class Mod:
    """A tiny builder for yosys JSON modules."""

    def __init__(self) -> None:
        self.ports: dict[str, Any] = {}
        self.cells: dict[str, Any] = {}
        self.netnames: dict[str, Any] = {}
        self.next = 10

    def net(self, name: str | None = None, width: int = 1) -> list[int]:
        bits = list(range(self.next, self.next + width))
        self.next += width
        if name:
            self.netnames[name] = {"hide_name": 0, "bits": bits}
        return bits

    def port(self, name: str, direction: str, width: int = 1) -> list[int]:
        bits = self.net(name, width)
        self.ports[name] = {"direction": direction, "bits": bits}
        return bits

    def cell(self, name: str, ctype: str, **pins: list[int] | str) -> None:
        conns = {p: ([v] if isinstance(v, str) else v) for p, v in pins.items()}
        self.cells[name] = {
            "type": ctype,
            "port_directions": DIRS.get(ctype, {}),
            "connections": conns,
        }

    def ff(self, name: str, clk: list[int], d: list[int]) -> list[int]:
        q = self.net(name)
        self.cell(f"{name}_reg", "FDRE", C=clk, CE="1", R="0", D=d, Q=q)
        return q

    def json(self) -> dict[str, Any]:
        return {"ports": self.ports, "cells": self.cells, "netnames": self.netnames}


def lut(m: Mod, name: str, *ins: list[int]) -> list[int]:
    o = m.net()
    pins = {f"I{i}": v for i, v in enumerate(ins)}
    m.cell(name, f"LUT{len(ins)}", O=o, **pins)
    return o


def test_luts_and_muxf_count_one_level_each() -> None:
    m = Mod()
    clk = m.port("clk", IN)
    d_a = m.net()
    a = m.ff("a_q", clk, d_a)
    x = lut(m, "l1", a, a)
    y = lut(m, "l2", x, a)
    z = m.net()
    m.cell("mux", "MUXF7", I0=y, I1=x, S=a, O=z)
    m.ff("b_q", clk, z)
    m.cell("fb", "LUT1", I0=a, O=d_a)  # a_q toggles: a one-level path into itself
    paths = longest(graph(flatten({"top": m.json()}, "top")))
    worst = paths[0]
    assert worst.levels == 3.0
    assert worst.start == "a_q" and worst.end.startswith("b_q")
    assert worst.cells == ("l1", "l2", "mux")
    assert worst_per_domain(paths) == {"clk": 3.0}


def test_carry8_counts_one_level_per_8_bits() -> None:
    m = Mod()
    clk = m.port("clk", IN)
    a = m.ff("a_q", clk, m.net())
    s = lut(m, "pre", a, a)
    co0, o0 = m.net(width=8), m.net(width=8)
    m.cell("c0", "CARRY8", CI="0", CI_TOP="0", DI=[a[0]] * 8, S=s * 8, O=o0, CO=co0)
    co1, o1 = m.net(width=8), m.net(width=8)
    m.cell("c1", "CARRY8", CI=[co0[7]], CI_TOP="0", DI=[a[0]] * 8, S=s * 8, O=o1, CO=co1)
    m.ff("sum_q", clk, [o1[7]])
    worst = longest(graph(flatten({"top": m.json()}, "top")))[0]
    assert worst.levels == 3.0  # LUT + two CARRY8 (16 bits of chain)
    assert worst.cells == ("pre", "c0", "c1")


def test_lutram_read_is_one_level_and_write_inputs_end_paths() -> None:
    m = Mod()
    clk = m.port("clk", IN)
    addr = m.ff("addr_q", clk, m.net())
    we = lut(m, "we_l", addr, addr)
    dpo, spo = m.net(), m.net()
    pins = {f"DPRA{i}": addr for i in range(6)} | {f"A{i}": we for i in range(6)}
    m.cell("ram", "RAM64X1D", WCLK=clk, WE=we, D=addr, DPO=dpo, SPO=spo, **pins)
    after = lut(m, "use", dpo, dpo)
    m.ff("out_q", clk, after)
    paths = longest(graph(flatten({"top": m.json()}, "top")))
    by_end = {p.end.split(" (")[0]: p for p in paths}
    assert by_end["out_q"].levels == 2.0  # read (1) + LUT (1)
    assert by_end["out_q"].cells == ("ram", "use")
    # the write enable path ends at the LUTRAM: one LUT, nothing through the RAM's SPO
    we_end = [p for p in paths if p.end.endswith("(WE)")]
    assert we_end and we_end[0].levels == 1.0
    assert count(flatten({"top": m.json()}, "top").cells).lutram == 2


def test_lutram_read_port_in_another_clock_is_no_crossing() -> None:
    """A FIFO's LUTRAM written on one clock and read on another: the read address and the data
    out belong to the reading clock; only the write port ends a path on the writing clock."""
    m = Mod()
    wclk, rclk = m.port("wclk", IN), m.port("rclk", IN)
    wa = m.ff("wa_q", wclk, m.net())
    ra = m.ff("ra_q", rclk, m.net())
    do = {x: m.net() for x in "ABCD"}
    m.cell("fifo_mem", "RAM64M", WCLK=wclk, WE=wa, DIA=wa, DIB=wa, DIC=wa, DID=wa,
           ADDRA=ra * 6, ADDRB=ra * 6, ADDRC=ra * 6, ADDRD=wa * 6,
           **{f"DO{x}": v for x, v in do.items()})  # fmt: skip
    m.ff("out_q", rclk, lut(m, "ol", do["A"], do["B"]))
    paths = longest(graph(flatten({"top": m.json()}, "top")))
    assert all(p.start_clock == p.end_clock for p in paths), [
        (p.start, p.end) for p in paths if p.start_clock != p.end_clock
    ]
    out = next(p for p in paths if p.end.startswith("out_q"))
    assert (out.levels, out.start, out.start_clock) == (2.0, "ra_q", "rclk")
    assert any(p.end == "fifo_mem (ADDRD)" and p.start_clock == "wclk" for p in paths)


def test_block_ram_starts_and_ends_paths() -> None:
    m = Mod()
    clk = m.port("clk", IN)
    a = m.ff("a_q", clk, m.net())
    addr = lut(m, "al", a, a)
    dout = m.net("bram_dout")
    m.cell("bram", "RAMB36E2", CLKARDCLK=clk, ADDRARDADDR=addr, DOUTADOUT=dout)
    m.ff("b_q", clk, lut(m, "bl", dout, dout))
    paths = longest(graph(flatten({"top": m.json()}, "top")))
    ends = {p.end: p.levels for p in paths}
    assert ends["bram (ADDRARDADDR)"] == 1.0
    assert ends["b_q (D)"] == 1.0  # starts again at the RAM's output
    assert count(flatten({"top": m.json()}, "top").cells).bram == 1.0


def test_paths_cross_module_boundaries_and_modules_see_their_own() -> None:
    child = Mod()
    ci = child.port("i", IN)
    co = child.port("o", OUT)
    cclk = child.port("clk", IN)
    inner = child.ff("inner_q", cclk, lut(child, "c_in", ci, ci))
    child.cell("c_out", "LUT2", I0=inner, I1=ci, O=co)
    top = Mod()
    clk = top.port("clk", IN)
    a = top.ff("a_q", clk, top.net())
    x = lut(top, "t1", a, a)
    y = top.net()
    top.cells["u_child"] = {"type": "child", "connections": {"i": x, "o": y, "clk": clk}}
    top.ff("b_q", clk, lut(top, "t2", y, y))
    flat = flatten({"top": top.json(), "child": child.json()}, "top")
    g = graph(flat)
    worst = longest(g)[0]
    assert worst.levels == 3.0  # t1 -> u_child.c_out -> t2
    assert worst.cells == ("t1", "u_child.c_out", "t2")
    own = longest(g, within="u_child")
    assert [p.levels for p in own] == []  # no register-to-register path inside the child
    assert any(name == "u_child.inner_q" for name in flat.net_names.values())


def test_worst_by_end_bus_counts_each_bus_once() -> None:
    m = Mod()
    clk = m.port("clk", IN)
    a = m.ff("a_q", clk, m.net())
    d = m.net("bus_d", 3)
    for i in range(3):
        m.cell(f"l{i}", "LUT1", I0=a, O=[d[i]])
    q = m.net("bus_q", 3)
    for i in range(3):
        m.cell(f"r{i}", "FDRE", C=clk, CE="1", R="0", D=[d[i]], Q=[q[i]])
    paths = longest(graph(flatten({"top": m.json()}, "top")))
    assert len([p for p in paths if p.end.startswith("bus_q")]) == 3
    assert len([p for p in worst_by_end_bus(paths, 10) if p.end.startswith("bus_q")]) == 1


def test_combinational_loop_and_unknown_cells_are_errors() -> None:
    m = Mod()
    a, b = m.net(), m.net()
    m.cell("x", "LUT1", I0=a, O=b)
    m.cell("y", "LUT1", I0=b, O=a)
    with pytest.raises(NetlistError, match="combinational loop"):
        longest(graph(flatten({"top": m.json()}, "top")))
    m2 = Mod()
    m2.cell("z", "WEIRD", I=m2.net(), O=m2.net())
    with pytest.raises(NetlistError, match="unknown primitive WEIRD"):
        graph(flatten({"top": m2.json()}, "top"))

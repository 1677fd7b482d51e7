# SPDX-License-Identifier: MIT
"""`make waves`: open the last `make sim WAVES=1` trace in GTKWave with the project's save file,
and the design-side check behind tests/test_waves.py that every signal the save file names
exists in splitrx_top.

The check needs no traced build: Verilator's ``--json-only`` dump of the elaborated design
(about two seconds) gives every instance, variable and type, and ``trace_names`` derives from
them the names Verilator's FST tracer gives those variables with ``--trace-structs`` (what
``tb.runner.build.build(..., waves=True)`` passes), in the form GTKWave uses in a save file:

- a vector carries its declared range, ``core_inst.rx_fifo_inst.level_bytes[15:0]``; a scalar
  declared without one has none, ``...m_axis_tvalid``; an enum takes its base type's range;
- a struct is a scope of its members, ``...place_inst.hdr_q.addr[63:0]``;
- an array is a scope named like the variable holding its elements,
  ``...cache_inst.head_q.head_q[0][15:0]``, or one scope per element when the elements are
  structs (``...cpl_wr_inst.buf_q.[0].cookie[63:0]``); arrays of more than ``MAX_ARRAY``
  elements are not traced (Verilator's ``--trace-max-array`` default).

Variables local to functions and unnamed blocks are left out: a save file should not name them.
Checked against GTKWave 3.3's own list of a real splitrx_top trace (Verilator 5.049): every
name derived here is in it, and its only other names are parameters and unnamed-block locals.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tb.runner.build import REPO, RTL, ensure_toolchain, top_sources
from tb.sim import WAVES_FILE

TOP = "splitrx_top"
SAVE_FILE = REPO / "tb" / "waves" / "splitrx.gtkw"
MAX_ARRAY = 32

Node = dict[str, Any]


# ---------------------------------------------------------------------------- save file
def save_file_signals(path: Path = SAVE_FILE) -> list[str]:
    """Every signal a GTKWave save file displays, in order.

    Lines starting with ``[`` are settings, ``*`` the zoom, ``@`` display flags, ``-`` group
    and comment labels; ``#{name} a b`` concatenates signals ``a`` and ``b``; anything else is
    one signal. A line this parser does not know fails rather than being skipped.
    """
    names: list[str] = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "[*@-":
            continue
        if line.startswith("#{"):
            names += line.split("}", 1)[1].split()
        elif line[0] in "^+>":
            raise ValueError(f"{path}:{n}: unsupported save-file line {line!r}")
        else:
            names.append(line)
    return names


# ---------------------------------------------------------------------------- design names
class _Design:
    """Verilator's JSON tree of one elaborated top: modules and types by address."""

    def __init__(self, tree: Node) -> None:
        self.nodes: dict[str, Node] = {}
        self._index(tree)
        self.modules = {m["name"]: m for m in tree["modulesp"]}

    def _index(self, n: Any) -> None:
        if isinstance(n, dict):
            if "addr" in n:
                self.nodes[n["addr"]] = n
            for v in n.values():
                self._index(v)
        elif isinstance(n, list):
            for v in n:
                self._index(v)

    def dtype(self, ref: str) -> Node:
        """The type behind a reference, typedefs and member wrappers resolved."""
        t = self.nodes[ref]
        while t["type"] in ("REFDTYPE", "MEMBERDTYPE", "TYPEDEF"):
            t = self.nodes[t.get("refDTypep") or t["dtypep"]]
        return t

    def leaf_range(self, t: Node) -> str | None:
        """``'[msb:lsb]'``, ``''`` for an unranged scalar, None if ``t`` is not a leaf type."""
        if t["type"] == "ENUMDTYPE":
            t = self.dtype(t["refDTypep"])
        if t["type"] != "BASICDTYPE":
            return None
        if "range" not in t:
            return ""
        msb, lsb = t["range"].split(":")
        return f"[{msb}]" if msb == lsb else f"[{msb}:{lsb}]"  # GTKWave: [0:0] -> [0]

    def names(self, scope: str, leaf: str, t: Node) -> Iterator[str]:
        rng = self.leaf_range(t)
        if rng is not None:
            yield f"{scope}{leaf}{rng}"
        elif t["type"] == "STRUCTDTYPE":
            for member in t["membersp"]:
                mtype = self.dtype(member["addr"])
                yield from self.names(f"{scope}{leaf}.", member["name"], mtype)
        elif t["type"] in ("PACKARRAYDTYPE", "UNPACKARRAYDTYPE"):
            bounds = re.fullmatch(r"\[(\d+):(\d+)\]", t["declRange"])
            if bounds is None:
                return
            a, b = int(bounds.group(1)), int(bounds.group(2))
            if abs(a - b) + 1 > MAX_ARRAY:
                return
            elem = self.dtype(t["refDTypep"])
            erng = self.leaf_range(elem)
            for i in range(a, b + (1 if b >= a else -1), 1 if b >= a else -1):
                if erng is not None:
                    yield f"{scope}{leaf}.{leaf}[{i}]{erng}"
                else:
                    yield from self.names(f"{scope}{leaf}.", f"[{i}]", elem)

    def module_names(self, scope: str, stmts: list[Node]) -> Iterator[str]:
        for s in stmts:
            if s["type"] == "VAR" and not s.get("isParam") and s.get("varType") != "GENVAR":
                yield from self.names(scope, s["name"], self.dtype(s["dtypep"]))
            elif s["type"] == "CELL":
                mod = self.nodes[s["modp"]]
                yield from self.module_names(f"{scope}{s['name']}.", mod.get("stmtsp", []))
            elif s["type"] == "GENBLOCK" and s.get("name"):
                # a generate loop's iterations are GENBLOCKs named 'g_x[i]'
                yield from self.module_names(f"{scope}{s['name']}.", s.get("itemsp", []))


def design_tree(top: str = TOP) -> Node:
    """Verilator's ``--json-only`` tree of ``top`` (same sources and order as tb.runner.build)."""
    ensure_toolchain()
    srcs = [RTL / "lint.vlt", *top_sources(top)]
    with tempfile.TemporaryDirectory(prefix="splitrx-json-") as tmp:
        # only names are read here; warnings are `make lint`'s business, so they do not stop it
        cmd = ["verilator", "--json-only", "-Wno-fatal", "--top-module", top, "--Mdir", tmp]
        r = subprocess.run(
            [*cmd, *(str(s) for s in srcs)], capture_output=True, text=True, check=False
        )
        if r.returncode:
            raise RuntimeError(f"verilator --json-only {top} failed:\n{r.stderr[-3000:]}")
        (tree,) = (p for p in Path(tmp).glob("*.tree.json"))
        result: Node = json.loads(tree.read_text())
        return result


def trace_names(top: str = TOP, tree: Node | None = None) -> set[str]:
    """Every FST signal name of ``top``'s module-level variables, as a save file writes it."""
    d = _Design(tree if tree is not None else design_tree(top))
    return set(d.module_names(f"{top}.", d.modules[top]["stmtsp"]))


def unknown_signals(path: Path = SAVE_FILE, known: set[str] | None = None) -> list[str]:
    """Signals the save file names that the design (``known``: ``trace_names()``) lacks."""
    names = trace_names() if known is None else known
    return [s for s in save_file_signals(path) if s not in names]


# ---------------------------------------------------------------------------- make waves
def main() -> int:
    rel = WAVES_FILE.relative_to(REPO) if WAVES_FILE.is_relative_to(REPO) else WAVES_FILE
    if not WAVES_FILE.exists() or WAVES_FILE.stat().st_size == 0:
        print(f"splitrx waves: no trace at {rel}; run 'make sim WAVES=1' first", file=sys.stderr)
        return 1
    gtkwave = shutil.which("gtkwave")
    if gtkwave is None:
        print("splitrx waves: GTKWave is not installed; apt-get install gtkwave", file=sys.stderr)
        return 1
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        print(
            f"splitrx waves: no display (DISPLAY is not set); the trace is {rel}", file=sys.stderr
        )
        return 1
    return subprocess.call([gtkwave, str(WAVES_FILE), str(SAVE_FILE)])


if __name__ == "__main__":
    sys.exit(main())

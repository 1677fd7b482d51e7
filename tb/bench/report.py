# SPDX-License-Identifier: MIT
"""The report of `make bench` as markdown (report.md) and JSON (bench.json), from a
``Report`` (tb.bench.records); the plots are tb.bench.plots."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tb.bench.collect import speed_rows
from tb.bench.plan import (
    MODES,
    RQ_KINDS,
    TARGET_NON_DATA_PER_FRAME,
    USER_CLK_NS,
    lat_label,
    line_rate_pps,
    mean_size,
    size_label,
)
from tb.bench.plots import plots
from tb.bench.records import (
    HostCopyRow,
    PinnedSummary,
    Record,
    Report,
    TbSimRun,
    ThroughputRow,
)


def reasons(drops: dict[str, int]) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in drops.items())})" if drops else ""


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def sizes_in(rows: Sequence[ThroughputRow | HostCopyRow]) -> list[int | str]:
    seen: list[int | str] = []
    for r in rows:
        if r.size not in seen:
            seen.append(r.size)
    return sorted(seen, key=_size_key)


def _size_key(s: int | str) -> tuple[bool, int]:
    """Frame sizes in order, IMIX last."""
    return (s == "imix", 0 if isinstance(s, str) else s)


def _tbsim_cells(label: str, e: TbSimRun) -> list[str]:
    cmd = f"`{e.command}`" + (" with COCOTB_ENABLE_PROFILING=1" if label == "profiled" else "")
    m = e.m
    if m is None:
        return [cmd, "None", "None", "–", "–", "–", "–", fmt(e.process_cpu_s, ".1f"), "–"]
    return [cmd, str(m.scenario), str(m.delivered), fmt(m.sim_ns / 1000, ".1f"),
            fmt(m.wall_s, ".1f"), fmt(m.frames_per_s, ".1f"), fmt(m.clocks_per_s, ",.0f"),
            fmt(e.process_cpu_s, ".1f"), fmt(m.frames_per_cpu_s, ".1f")]  # fmt: skip


def markdown(rep: Report) -> str:
    s = rep.settings
    mach = rep.machine
    workers = mach.workers if mach.workers is not None else 2
    cpu_s = sum(j.cpu_s or 0.0 for j in rep.jobs)
    lats = s.read_latencies_ns
    mrrs = ", ".join(f"MPS {k} B: MRRS {v} B" for k, v in sorted((s.mrrs_by_mps or {}).items()))
    L: list[str] = [
        f"# splitrx benchmark{' (quick)' if rep.quick else ''}",
        "",
        f"Generated {rep.generated} from commit {rep.commit} by "
        f"`python -m tb.bench{' --quick' if rep.quick else ''} --seed {rep.seed}` "
        f"in {rep.wall_s / 60:.1f} min wall on {mach.cpus} cores "
        f"(builds {rep.build_s:.0f} s of it). Definitions and how to run: "
        "[docs/bench.md](../bench.md) (from the repository root: `docs/bench.md`).",
        "",
        f"The simulations used {cpu_s / 60:.1f} CPU-minutes (every simulator process, "
        f"start-up included): alone on {workers} cores about "
        f"{cpu_s / 60 / workers:.1f} min plus builds.",
        "",
        "Machine load while it ran (1-minute load average): mean "
        f"{fmt(mach.load_avg_1min_mean, '.1f')}, "
        f"max {fmt(mach.load_avg_1min_max, '.1f')}; the bench alone keeps it near "
        f"{workers}. Only the simulator-speed figures depend on it.",
        "",
        "All figures except the simulator's own speed are in simulated time and repeat "
        "exactly for the same seed and sources.",
        "",
        "## Set-up",
        "",
        "- DMA measured on `splitrx_core`: frames enter its MAC-side stream (64 bits per "
        "250 MHz user clock) on a 10 GbE schedule; the MAC and clock crossing of "
        "`splitrx_top` are not in these figures (the system runs below include them).",
        f"- PCIe: UltraScale+ Gen3 x8 model, {mrrs} (throughput and latency points at MPS "
        f"256 B); descriptor-read latency {', '.join(lat_label(x) for x in lats)} "
        f"(time from the read request reaching the host to its completion leaving).",
        f"- Host: one NAPI-like loop per queue polls every {s.host_poll_ns / 1000:g} us "
        f"(budget {s.host_poll_budget}), checks every completion and its bytes against the "
        f"reference model, and reposts the buffers it got "
        + (
            "at once (one doorbell per poll). "
            if s.host_refill_batch <= 1
            else f"once it holds {s.host_refill_batch} of them (one doorbell each time). "
        )
        + f"MSI-X enabled, moderation {s.moderation_packets} completions or "
        f"{s.moderation_cycles} clocks ({s.moderation_cycles * USER_CLK_NS / 1000:g} us);"
        f" interrupts are counted, the host polls regardless.",
        f"- Queues: {s.ring_entries}-entry descriptor and completion rings, "
        f"{s.data_buffer_bytes} B data + {s.header_buffer_bytes} B header buffer per "
        f"descriptor (one descriptor per group), data_offset {s.data_offset} (virtio_net_hdr),"
        f" split at {s.split_level}; frames over {s.mergeable_above_bytes} B use mergeable "
        f"queues (several buffers per frame). DMA_CPL_FLUSH {s.dma_cpl_flush_clocks} "
        f"clocks, DMA_DESC_WAIT {s.dma_desc_wait_clocks} (register defaults).",
        f"- Frames: {s.frames}.",
        "",
        "## Shortfalls against the targets",
        "",
    ]
    L += [f"- {x}" for x in rep.shortfalls] or ["- none: every target met."]
    if rep.comparisons:
        L += ["", "Not targets (the request target is set for one queue), shown for "
              "comparison:", ""] + [f"- {x}" for x in rep.comparisons]  # fmt: skip
    if rep.errors:
        L += ["", "Errors while running:", ""] + [f"- {e}" for e in rep.errors]
    # throughput
    tp = rep.throughput
    L += [
        "",
        "## Throughput: % of 10 GbE line rate delivered",
        "",
        "Each cell: delivered wire bits over the time the input took, as % of 10 Gb/s; "
        "after it, frames lost (dropped or late) if any. Target: 100 % and no loss everywhere.",
        "",
        "Frames per point (warm-up + measured; about "
        f"{'20' if rep.quick else '100'} us of offered traffic each): "
        + ", ".join(
            f"{size_label(z)} {r.warmup} + {r.frames}"
            for z in sizes_in(tp)
            for r in [next(x for x in tp if x.size == z)]
        )
        + ".",
        "",
    ]
    cols = [(m, lat) for lat in lats for m in MODES]
    by = {(r.size, r.mode, r.read_latency_ns): r for r in tp}
    rows = []
    for size in sizes_in(tp):
        cells = [size_label(size), f"{line_rate_pps(mean_size(size)) / 1e6:.3f}"]
        for m, lat in cols:
            r = by.get((size, m, lat))
            if r is None:
                cells.append("")
            elif r.m is None:
                cells.append("error")
            else:
                lost = r.m.dropped + r.m.late
                cells.append(f"{r.m.line_rate_pct:.1f}" + (f" (−{lost})" if lost else ""))
        rows.append(cells)
    L += table(["frame", "line rate Mpps", *(f"{m} {lat_label(lat)}" for m, lat in cols)], rows)
    L += ["", "![throughput](throughput.png)", ""]
    rows = []
    for r in tp:
        if r.m is None:
            continue
        rows.append(
            [
                size_label(r.size), r.mode, lat_label(r.read_latency_ns),
                f"{r.warmup} + {r.frames}", str(r.m.delivered), str(r.m.dropped),
                str(r.m.late), str(r.m.input_stall_clocks),
                fmt(r.m.latency_ns.p50), fmt(r.m.latency_ns.p99),
                f"{r.m.desc_per_frame:.1f}",
            ]
        )  # fmt: skip
    L += ["<details><summary>Every throughput point</summary>", ""]
    L += table(
        ["frame", "mode", "read lat.", "warm-up + measured", "delivered", "dropped", "late",
         "input stall clk", "latency p50 ns", "p99 ns", "descriptors/frame"],
        rows,
    )  # fmt: skip
    L += ["", "</details>", ""]
    # latency
    latency = rep.latency
    L += [
        "## Latency: last frame byte into the core → its completion record in host memory",
        "",
        f"Idle: frames {fmt(s.idle_spacing_ns / 1000, 'g')} us apart. Full load: the 64 B "
        "line-rate points above (measured frames). Target at 64 B idle: ≤ 1 us.",
        "",
    ]
    rows = []
    for name, entries in (("idle", latency.idle), ("64 B line rate", latency.load)):
        for e in entries:
            x = e.latency_ns
            rows.append(
                [name, e.mode, lat_label(e.read_latency_ns), str(x.n),
                 fmt(x.min), fmt(x.p50), fmt(x.p99), fmt(x.max)]
            )  # fmt: skip
    L += table(["load", "mode", "read lat.", "frames", "min ns", "median ns", "p99 ns", "max ns"],
               rows)  # fmt: skip
    # the speed runs of a size repeat one another in simulated time: one row per size
    sysl = list({x.size: x for x in reversed(rep.simulator.system)
                 if x.latency_ns.n}.values())[::-1]  # fmt: skip
    if sysl:
        L += [
            "",
            "From the last wire byte (XGMII, through MAC, clock crossing and core), "
            "`splitrx_top` at line rate, FULL, 1 us reads (the first run of each size):",
            "",
        ]
        L += table(
            ["frame", "frames", "min ns", "median ns", "p99 ns", "max ns"],
            [
                [f"{x.size} B", str(x.latency_ns.n), fmt(x.latency_ns.min),
                 fmt(x.latency_ns.p50), fmt(x.latency_ns.p99), fmt(x.latency_ns.max)]
                for x in sysl
            ],
        )  # fmt: skip
    full1 = [(r, r.m) for r in tp if r.m is not None and r.mode == "FULL"
             and r.read_latency_ns == max(lats)]  # fmt: skip
    if full1:
        L += [
            "",
            f"By frame size at line rate (FULL, {lat_label(max(lats))}): the packet FIFO "
            "stores each frame whole and sends it on at 8 bytes per clock, so latency grows "
            "with the frame.",
            "",
        ]
        L += table(
            ["frame", "median ns", "p99 ns", "max ns"],
            [[size_label(r.size), fmt(m.latency_ns.p50), fmt(m.latency_ns.p99),
              fmt(m.latency_ns.max)] for r, m in full1],
        )  # fmt: skip
    L += ["", "![latency CDF](latency_cdf.png)", ""]
    # requests
    L += [
        "## PCIe requests per frame",
        "",
        "TLPs per frame by kind over every frame of the point (warm-up included), at line "
        "rate with 1 us descriptor reads. RQ = device requests, RC = completions of its "
        "reads, CQ = host MMIO to the device (doorbells). Link bytes = TLP header (12 B with "
        "32-bit, 16 B with 64-bit addresses) + payload + 8 B Gen3 framing (STP token, LCRC); "
        "DLLPs and 128b/130b coding not counted. Target: RQ requests other than frame data "
        f"≤ {TARGET_NON_DATA_PER_FRAME} per frame for one queue at 64 B.",
        "",
    ]
    rows = []
    for q in rep.requests:
        t = q.tlps_per_frame
        rows.append(
            [size_label(q.size), q.mode, str(q.queues), f"{q.mps}/{q.mrrs}",
             *(f"{t.get(k, 0.0):.3f}" for k in RQ_KINDS),
             f"**{q.non_data_per_frame:.3f}**",
             f"{t.get('rc_desc_completion', 0.0):.3f}", f"{t.get('cq_mmio_write', 0.0):.3f}",
             f"{q.rq_link_bytes_per_frame:.0f}", f"{q.rc_link_bytes_per_frame:.0f}"]
        )  # fmt: skip
    L += table(
        ["frame", "mode", "queues", "MPS/MRRS", "data wr", "header wr", "cpl wr", "desc rd",
         "MSI-X", "non-data", "RC cpl", "CQ doorbells", "RQ link B", "RC link B"],
        rows,
    )  # fmt: skip
    L += ["", "![requests per frame](requests.png)", ""]
    # host copy
    L += [
        "## Host copy bytes per frame",
        "",
        "What host software writes per frame after the NIC placed it, from the placement "
        "rules (docs/dma.md, docs/design.md) and the header lengths in the completions: FULL — the "
        "virtio_net_hdr only; SPLIT_HOLE — the net header and the header copied from the "
        "header buffer into the hole; SPLIT — nothing (header and payload go to their owner "
        "separately). Full copy, for comparison: a copying backend writes net header + the "
        "whole frame.",
        "",
    ]
    hc = rep.host_copy
    rows = []
    for size in sizes_in(hc):
        cells = [size_label(size)]
        for m in MODES:
            h = next((x for x in hc if x.size == size and x.mode == m), None)
            cells.append("" if h is None else f"{h.total:.0f}")
        h0 = next(x for x in hc if x.size == size)
        cells.append(f"{h0.full_copy:.0f}")
        rows.append(cells)
    L += table(["frame", *(f"{m} B" for m in MODES), "full copy B"], rows)
    # overdrive
    if rep.overdrive:
        L += [
            "",
            "## Headroom: overdrive behind the MAC",
            "",
            "Frames back to back at the core input (one 8-byte beat per clock, no gap: more "
            "than 10 GbE can deliver); sustained = completions per second while the engine "
            "drained them (1 us descriptor reads, the same host loop). Where the input is "
            "faster than the engine, the packet FIFO holds the backlog (latency grows with it) "
            "until it is full and pushes back (input stall clocks). This bench does not locate "
            "what limits the sustained rate.",
            "",
        ]
        L += table(
            ["frame", "mode", "frames", "offered Mpps", "sustained Mpps", "× 10 GbE line rate",
             "dropped", "input stall clk", "latency p50 ns", "max ns"],
            [[size_label(o.size), o.mode, str(o.frames),
              f"{o.offered_pps / 1e6:.2f}",
              fmt(o.sustained_pps and o.sustained_pps / 1e6, ".2f"),
              fmt(o.x_line_rate, ".2f"), f"{o.dropped}" + reasons(o.drop_reasons),
              str(o.input_stall_clocks), fmt(o.latency_ns.p50),
              fmt(o.latency_ns.max)]
             for o in rep.overdrive],
        )  # fmt: skip
    L += pinned_markdown(rep.pinned_pages)
    # simulator
    sim = rep.simulator
    tg = sim.targets_frames_per_s
    L += [
        "",
        "## Simulator speed",
        "",
        f"Wall-clock figures of this machine ({mach.cpus} cores, "
        f"{workers} simulations at a time but the full-system runs alone, "
        "load as stated at the top). "
        f"Targets for the full system: ≥ {tg.get('64', 0):.0f} frames/s at 64 B and "
        f"≥ {tg.get('1518', 0):.0f} at 1518 B.",
        "",
    ]
    if sim.system:
        L += ["Full system (`splitrx_top` from the XGMII wire at line rate, the words played "
              "from a ring in the simulation-only top `splitrx_feed_top`; PCIe model, driver "
              "and model-checked host loop; no vhost/guest):", ""]  # fmt: skip
        L += table(
            ["frame", "frames", "simulated us", "wall s", "frames/s", "target", "clocks/s",
             "CPU s", "frames/CPU-s"],
            [[f"{x.size} B", str(x.delivered), f"{x.sim_ns / 1000:.1f}",
              f"{x.wall_s:.1f}", f"**{x.frames_per_s:.1f}**",
              fmt(x.target_frames_per_s, ".0f"), f"{x.clocks_per_s:,.0f}",
              f"{x.cpu_s:.1f}", f"{x.frames_per_cpu_s:.1f}"]
             for x in sim.system],
        )  # fmt: skip
        med = speed_rows(sim.system)
        L += ["", "Median per size: " + ", ".join(
            f"{m.size} B **{m.median_frames_per_s:.1f}** frames/s over {m.runs} run(s) "
            f"(target {fmt(m.target_frames_per_s, '.0f')})" for m in med) + "."]  # fmt: skip
        L += ["", "Each size runs one or more times in one simulator process, alone on the "
              "machine (after every other job of the bench); the target is judged on the "
              "median. Wall and CPU time from the first frame queued on the wire to the last "
              "completion polled (set-up and start-up excluded); CPU = the simulator "
              "process (Verilator model and Python together)."]  # fmt: skip
    ts = sim.tb_sim
    if ts:
        L += ["", "`python -m tb.sim` (its default scenario, full host stack: vhost, "
              "guests, scoreboard):", ""]  # fmt: skip
        L += table(
            ["run", "scenario", "frames delivered", "simulated us", "wall s", "frames/s",
             "clocks/s", "process CPU s", "frames/CPU-s"],
            [_tbsim_cells(k, e) for k, e in ts.items()],
        )  # fmt: skip
        L += ["", "Wall s and frames/s as tb.sim reports them (its run, set-up included, "
              "Python start-up and build check excluded); process CPU s counts everything the "
              "command used, start-up included."]  # fmt: skip
    L += ["", "Core-level runs (all throughput points of a size together, host checks "
          "included):", ""]  # fmt: skip
    L += table(
        ["frame", "frames", "simulated us", "wall s", "frames/s", "clocks/s", "CPU s",
         "frames/CPU-s"],
        [[size_label(c.size), str(c.frames), f"{c.sim_ns / 1000:.0f}",
          f"{c.wall_s:.1f}", f"{c.frames_per_s:.0f}", f"{c.clocks_per_s:,.0f}",
          f"{c.cpu_s:.1f}", f"{c.frames_per_cpu_s:.0f}"]
         for c in sorted(sim.core, key=lambda c: _size_key(c.size))],
    )  # fmt: skip
    for p in sim.profiles:
        py = p.python_s
        L += [
            "",
            f"Profile of {p.run}: {p.wall_s:.1f} s wall and "
            f"{fmt(p.cpu_s, '.1f')} CPU-s (process start-up included); {py:.1f} s "
            "under cProfile in Python callbacks, the rest is the Verilator model, the GPI and "
            "start-up. cProfile counts wall-clock time (time waiting for a CPU on a loaded "
            "machine included) and slows Python down itself: read the shares, not the "
            "seconds. Self time by package, standard library and built-ins charged to their "
            "callers:",
            "",
        ]
        L += table(
            ["where", "s", "% of Python"],
            [[g, f"{v:.1f}", f"{100 * v / py:.0f}" if py else "–"]
             for g, v in sorted(p.groups_s.items(), key=lambda kv: -kv[1])],
        )  # fmt: skip
        L += ["", "Top functions by self time: " + "; ".join(
            f"`{f.function}` {f.self_s:.1f} s" for f in p.top_functions[:6])]  # fmt: skip
    if rep.pinned_pages is None:
        L += [
            "",
            "## Not measured yet",
            "",
            "- Pinned pages per owner over time (needs the page constructor in the loop: the "
            "core-level runs post host buffers directly). Left for a later issue.",
        ]
    pngs = ["throughput.png", "latency_cdf.png", "requests.png"]
    if rep.pinned_pages is not None:
        pngs.append("pinned_pages.png")
    L += [
        "",
        "## Files",
        "",
        "`bench.json` (every figure, with per-frame latencies at 64 B and the pinned-page "
        "samples), this `report.md`, " + ", ".join(f"`{f}`" for f in pngs) + ".",
        "",
    ]
    return "\n".join(L)


def pinned_markdown(pin: PinnedSummary | None) -> list[str]:
    """The report's section on pinned pages per owner (nothing when not measured)."""
    if pin is None:
        return []
    L = [
        "",
        "## Pinned pages per owner over time",
        "",
        f"The system rig (`splitrx_top` from the XGMII wire, PCIe model, host driver, page "
        f"constructor, one vhost-net backend and virtio guest per owner, every frame "
        f"checked by the scoreboard): {pin.frames} IMIX frames back to back at line rate "
        f"({pin.wire_ns / 1000:.1f} us on the wire), the host served at each interrupt, "
        f"{lat_label(pin.read_latency_ns)} descriptor reads. Pinned pages: the owner's "
        "4 KiB pages the page constructor has mapped for the NIC because a buffer in them is "
        f"held by the NIC, sampled every {pin.sample_ns} ns of simulated time. The "
        "stalled owner never takes what it receives: it stops at its quota (further buffers "
        "refused, its frames dropped) while the others go on; it is torn down once two "
        "thirds of the frames are through (the wire pauses for that) and its pages are "
        "unpinned.",
        "",
    ]
    L += table(
        ["owner", "placement", "NIC ring", "quota pages", "share of frames", "frames sent",
         "taken by the owner", "peak pinned", "mean pinned (wire busy)", "pinned at the end",
         "peak buffers held", "refused (quota)", "torn down at"],
        [[o.name + (" (stalled)" if o.stalled else ""), o.mode,
          str(o.nic_entries), str(o.quota_pages), f"{100 * o.share:.0f} %",
          str(o.frames_sent), str(o.frames_received), str(o.peak_pinned_pages),
          f"{o.mean_pinned_pages:.1f}", str(o.final_pinned_pages),
          str(o.peak_buffers_held), str(o.refusals),
          "–" if o.teardown_ns is None else f"{o.teardown_ns / 1000:.1f} us"]
         for o in pin.owners],
    )  # fmt: skip
    L += ["", "![pinned pages](pinned_pages.png)"]
    return L


def dump(rep: Record | dict[str, Any]) -> str:
    """bench.json text: indented, lists of numbers on one line each (latencies)."""
    text = json.dumps(rep.to_json() if isinstance(rep, Record) else rep, indent=1)
    return (
        re.sub(r"\[\s+([-+\deE.,\s]+?)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text) + "\n"
    )


def write_report(rep: Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(dump(rep))
    (out / "report.md").write_text(markdown(rep))
    return [out / "bench.json", out / "report.md", *plots(rep, out)]

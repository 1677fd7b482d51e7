# SPDX-License-Identifier: MIT
"""`make bench`: line rate per frame size and mode, latency, PCIe requests per frame, host
copy bytes and the simulator's own speed, written as JSON + markdown + PNG plots.

Usage: python -m tb.bench [--quick] [--out DIR] [--seed N]   (make bench, make bench QUICK=1)

Figures are in simulated time (deterministic for a seed); only the simulator-speed section
depends on the machine. The package: plan (what runs), run (the simulator jobs), collect
(the report's records from their results), report (markdown, JSON), plots; the cocotb side
is tb/benches/bench_tb.py. Definitions are in docs/bench.md.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tb.bench.collect import collect, git_commit, request_lines, shortfalls, speed_rows, system_run
from tb.bench.plan import MODES, POLL_NS, SYSTEM_TOP, TARGET_SYSTEM_FPS, plan, size_label, speed_job
from tb.bench.records import SCHEMA, Machine, Report, SpeedReport, check_report
from tb.bench.report import dump, fmt, sizes_in, write_report
from tb.bench.run import BuildFailed, build_top, run_all, run_job
from tb.cli import OneLineParser, positive


def run_speed(seed: int, repeats: int, out: Path, say: Callable[[str], None]) -> int:
    """`--speed`: build the system top, run the system-speed job, print and write speed.json."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        build_top(SYSTEM_TOP)
    except Exception as exc:  # noqa: BLE001 - one line
        print(f"splitrx bench: build failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    job = speed_job(seed, repeats)
    say(f"simulator speed only: splitrx_top at {', '.join(str(s) for s in TARGET_SYSTEM_FPS)} "
        f"B, {repeats} runs each, seed {seed}")  # fmt: skip
    load: list[float] = [os.getloadavg()[0]]
    with ThreadPoolExecutor(max_workers=1) as pool:
        fut = pool.submit(run_job, job)
        while not fut.done():
            time.sleep(1.0)
            load.append(os.getloadavg()[0])
        r = fut.result()
    if r.get("error"):
        print(f"splitrx bench: {r['error']}", file=sys.stderr)
        return 1
    points = (r.get("result") or {}).get("points", [])
    rows = speed_rows([system_run(p) for p in points if not p.get("error")])
    mean_load, max_load = sum(load) / len(load), max(load)
    rep = SpeedReport(
        schema=SCHEMA + "/speed",
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=git_commit(),
        seed=seed,
        machine=Machine(
            cpus=os.cpu_count(), load_avg_1min_mean=mean_load, load_avg_1min_max=max_load
        ),
        system=rows,
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(dump(rep))
    print(f"splitrx bench — simulator speed, full system (splitrx_top from the XGMII wire at "
          f"line rate), seed {seed}; load average {mean_load:.1f} "
          f"(max {max_load:.1f}) on {os.cpu_count()} CPUs")  # fmt: skip
    for x in rows:
        print(
            f"  {x.size:>5} B: {x.frames} frames, {x.sim_ns / 1000:.1f} us simulated; "
            f"frames/s best {x.best_frames_per_s:.1f}, median "
            f"{x.median_frames_per_s:.1f} (runs: "
            + ", ".join(f"{v:.1f}" for v in x.frames_per_s)
            + f"); per CPU-s best {x.best_frames_per_cpu_s:.1f}; target "
            f"{fmt(x.target_frames_per_s)}"
        )
    say(f"wrote {out / 'speed.json'}")
    return 0 if len(rows) == len(TARGET_SYSTEM_FPS) else 1


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(tool="bench", prog="make bench", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset in under 5 minutes")
    ap.add_argument("--out", type=Path, default=None, help="output directory (build/bench)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    ap.add_argument("--jobs", type=positive, default=2, help="simulations at a time (2)")
    ap.add_argument(
        "--poll-ns", type=positive, default=POLL_NS, help=f"host poll interval ({POLL_NS})"
    )
    ap.add_argument(
        "--refill-batch",
        type=positive,
        default=1,
        help="host reposts buffers once it holds this many (1: every poll)",
    )
    ap.add_argument(
        "--report-from",
        type=Path,
        metavar="JSON",
        help="no simulation: write report.md and the plots again from a bench.json",
    )
    ap.add_argument(
        "--speed",
        action="store_true",
        help="only the full-system simulator speed (64 and 1518 B, --repeat runs each): "
        "about a minute; writes speed.json",
    )
    ap.add_argument(
        "--repeat", type=positive, default=3, help="runs per frame size with --speed (3)"
    )
    args = ap.parse_args(argv)
    from tb.runner.build import REPO, ToolchainError, ensure_toolchain

    out: Path = args.out if args.out is not None else REPO / "build" / "bench"
    if out.exists() and not out.is_dir():
        print(f"splitrx bench: --out {out} is a file, not a directory", file=sys.stderr)
        return 2
    if args.report_from is not None:
        return rerender(args.report_from, out)
    try:
        ensure_toolchain()
    except ToolchainError as exc:
        print(f"splitrx bench: toolchain: {exc}", file=sys.stderr)
        return 1

    def say(msg: str) -> None:
        print(f"splitrx bench: {msg}", file=sys.stderr, flush=True)

    if args.speed:
        return run_speed(args.seed, args.repeat, out, say)

    t0 = time.perf_counter()
    jobs = plan(args.quick, args.seed, args.poll_ns, args.refill_batch)
    npts = sum(len(j.get("tasks", [1])) for j in jobs)
    say(f"{'quick' if args.quick else 'full'} run, seed {args.seed}, {npts} points, output {out}")
    load: list[float] = []
    try:
        results, build_s = run_all(jobs, args.jobs, say, load)
    except BuildFailed as exc:
        print(f"splitrx bench: build failed: {exc} (logs: build/sim/*.log)", file=sys.stderr)
        return 1
    machine = Machine(
        cpus=os.cpu_count(),
        workers=args.jobs,
        load_avg_1min_mean=sum(load) / len(load) if load else None,
        load_avg_1min_max=max(load, default=None),
    )
    host = {"poll_ns": args.poll_ns, "refill_batch": args.refill_batch}
    rep = collect(results, args.quick, args.seed, time.perf_counter() - t0, build_s, machine, host)
    files = write_report(rep, out)
    rep.wall_s = time.perf_counter() - t0
    (out / "bench.json").write_text(dump(rep))
    say(f"wrote {', '.join(str(f.relative_to(out)) for f in files)} in {out}")
    summary(rep)
    return 1 if rep.errors else 0


def rerender(src: Path, out: Path) -> int:
    """report.md, the plots and bench.json from an existing bench.json (its figures
    unchanged; the shortfalls and comparisons derived again)."""
    try:
        obj = json.loads(src.read_text())
    except (OSError, ValueError) as exc:
        print(f"splitrx bench: --report-from {src}: {exc}", file=sys.stderr)
        return 2
    rep, problems = check_report(obj)
    if rep is None:
        print(f"splitrx bench: --report-from {src}: {problems[0]}", file=sys.stderr)
        return 2
    rep.shortfalls = shortfalls(rep)
    rep.comparisons = request_lines(rep, one_queue=False)
    files = write_report(rep, out)
    print(f"splitrx bench: wrote {', '.join(f.name for f in files)} in {out}", file=sys.stderr)
    return 0


def summary(rep: Report) -> None:
    """The throughput table and the shortfalls on stdout."""
    tp = rep.throughput
    lats = rep.settings.read_latencies_ns
    cols = [(m, lat) for lat in lats for m in MODES]
    by = {(r.size, r.mode, r.read_latency_ns): r for r in tp}
    head = "frame    " + "".join(f"{m[:10]:>11}{lat / 1000:>4g}u" for m, lat in cols)
    print(f"splitrx bench — % of 10 GbE line rate delivered (seed {rep.seed})")
    print(head)
    for size in sizes_in(tp):
        cells = []
        for m, lat in cols:
            r = by.get((size, m, lat))
            cells.append("" if r is None else "err" if r.m is None else f"{r.m.line_rate_pct:.1f}")
        print(f"{size_label(size):<9}" + "".join(f"{c:>16}" for c in cells))
    for x in rep.shortfalls:
        print(f"  short: {x}")
    for e in rep.errors:
        print(f"  error: {e}")
    print(f"  wall   {rep.wall_s / 60:.1f} min")

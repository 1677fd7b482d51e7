# SPDX-License-Identifier: MIT
"""The report of `make bench` from the jobs' raw results (tb.bench.run): the figures of each
section as typed records (tb.bench.records), and the shortfalls against the targets."""

from __future__ import annotations

import datetime
import math
import os
import subprocess
from typing import Any

from tb.bench.plan import (
    BUF_BYTES,
    DATA_OFFSET,
    DRAIN_NS,
    FCS,
    HDR_BUF_BYTES,
    IDLE_SPACING_NS,
    LATENCIES_NS,
    LINE_RATE_BPS,
    MOD_CYCLES,
    MOD_PACKETS,
    MODES,
    NON_DATA_KINDS,
    POLL_BUDGET,
    POLL_NS,
    RING,
    TARGET_IDLE_LATENCY_NS,
    TARGET_NON_DATA_PER_FRAME,
    TARGET_SYSTEM_FPS,
    USER_CLK_NS,
    beats,
    frame_period_ns,
    lat_label,
    line_rate_pps,
    mean_size,
    percentile,
    size_label,
)
from tb.bench.records import (
    SCHEMA,
    CoreSpeed,
    HostCopyRow,
    JobSummary,
    Latencies,
    Latency,
    LatencyPoint,
    Machine,
    OverdriveRow,
    PinnedOwner,
    PinnedSummary,
    Profile,
    Report,
    RequestRow,
    Settings,
    Simulator,
    SpeedRow,
    SystemRun,
    TbSimFigures,
    TbSimRun,
    ThroughputFigures,
    ThroughputRow,
    TopFunction,
)

# A raw result (a job's, a point's) is the JSON the cocotb side wrote: a dict.
Raw = dict[str, Any]


def latency(x: Raw) -> Latency:
    return Latency(n=x["n"], min=x["min"], p50=x["p50"], p99=x["p99"], max=x["max"])


def per_frame(req: dict[str, dict[str, int]], frames: int, what: str = "tlps") -> dict[str, float]:
    return {k: v[what] / frames for k, v in req.items()} if frames else {}


def throughput_row(p: Raw) -> ThroughputRow:
    t = p["task"]
    size = t["size"]
    row = ThroughputRow(
        size=size,
        mode=t["mode"],
        read_latency_ns=t["read_latency_ns"],
        queues=t.get("queues", 1),
        mps=p.get("mps"),
        mrrs=p.get("mrrs"),
        frames=t["frames"],
        warmup=t["warmup"],
        error=p.get("error"),
    )
    if p.get("error"):
        return row
    off, dlv = p["wire_bytes_offered"], p["wire_bytes_delivered"]
    row.m = ThroughputFigures(
        line_rate_pps=line_rate_pps(mean_size(size)),
        delivered=p["frames_delivered"],
        late=p["frames_late"],
        dropped=p["frames_missing"],
        delivered_pct=100.0 * dlv / off if off else 0.0,
        # delivered wire bits over the time the input actually took (longer than offered if
        # the core pushed back), against 10 Gb/s
        line_rate_pct=100.0 * dlv * 8 / (LINE_RATE_BPS * p["input_span_ns"] * 1e-9),
        input_stall_clocks=p["input_stall_clocks"],
        drop_reasons=p["counters"]["drop_reasons"],
        latency_ns=latency(p["latency_ns"]),
        drain_ns=p["drain_ns"],
        hdr_len_mean=p["hdr_len_mean"],
        desc_per_frame=p["desc_per_frame"],
        mergeable=p["mergeable"],
    )
    return row


def request_row(p: Raw) -> RequestRow:
    t = p["task"]
    n = p["frames_total"]
    req = p["requests"]
    tl = per_frame(req, n)
    lb = per_frame(req, n, "link_bytes")
    return RequestRow(
        size=t["size"],
        mode=t["mode"],
        queues=t.get("queues", 1),
        read_latency_ns=t["read_latency_ns"],
        mps=p["mps"],
        mrrs=p["mrrs"],
        frames=n,
        tlps_per_frame=tl,
        link_bytes_per_frame=lb,
        non_data_per_frame=sum(tl.get(k, 0.0) for k in NON_DATA_KINDS),
        rq_link_bytes_per_frame=sum(v for k, v in lb.items() if k.startswith("rq_")),
        rc_link_bytes_per_frame=sum(v for k, v in lb.items() if k.startswith("rc_")),
    )


def host_copy_rows(tp: list[ThroughputRow]) -> list[HostCopyRow]:
    """Bytes host software writes per frame after the NIC placed it (docs/bench.md)."""
    rows = []
    for r in tp:
        if r.m is None or r.read_latency_ns != 1000.0 or r.queues != 1:
            continue
        n = mean_size(r.size) - FCS
        h = r.m.hdr_len_mean
        net = DATA_OFFSET if r.mode in ("FULL", "SPLIT_HOLE") else 0
        hdr = h if r.mode == "SPLIT_HOLE" else 0.0
        rows.append(
            HostCopyRow(
                size=r.size,
                mode=r.mode,
                net_header=net,
                header_copy=hdr,
                payload_copy=0,
                total=net + hdr,
                full_copy=DATA_OFFSET + n,
            )
        )
    return rows


def pinned_summary(p: Raw) -> PinnedSummary:
    """The pinned-pages figures of the report from the point's samples: per owner its peak,
    its mean while frames were on the wire, and what it still had pinned once every frame
    was served."""
    t = p["t_ns"]
    busy = [i for i, x in enumerate(t) if x <= p["wire_ns"]] or [0]
    owners = []
    for o in p["owners"]:
        pages = p["pinned_pages"][o["name"]]
        held = p["buffers_held"][o["name"]]
        owners.append(
            PinnedOwner(
                **o,
                peak_pinned_pages=max(pages),
                mean_pinned_pages=sum(pages[i] for i in busy) / len(busy),
                final_pinned_pages=pages[-1],
                peak_buffers_held=max(held),
            )
        )
    return PinnedSummary(
        frames=p["frames"],
        sample_ns=p["task"]["sample_ns"],
        read_latency_ns=p["task"]["read_latency_ns"],
        wire_ns=p["wire_ns"],
        owners=owners,
        t_ns=t,
        pinned_pages=p["pinned_pages"],
        buffers_held=p["buffers_held"],
    )


def profile(prof: Raw, run: str, cpu_s: float | None, frames: int | None,
            sim_ns: float | None) -> Profile:  # fmt: skip
    """A profile (tb.bench.run.profile_groups) with what was profiled."""
    return Profile(
        wall_s=prof["wall_s"],
        python_s=prof["python_s"],
        groups_s=prof["groups_s"],
        top_functions=[TopFunction(**f) for f in prof["top_functions"]],
        run=run,
        cpu_s=cpu_s,
        frames=frames,
        sim_ns=sim_ns,
    )


def tbsim_run(run: Raw) -> TbSimRun:
    """A `python -m tb.sim` run (tb.bench.run.run_tbsim) with the figures of its report."""
    entry = TbSimRun(
        command=run["command"],
        returncode=run["returncode"],
        process_wall_s=run["process_wall_s"],
        process_cpu_s=run.get("process_cpu_s"),
    )
    rep = run.get("report") or {}
    if rep:
        delivered = rep.get("delivered", {})
        n = sum(delivered.values()) if isinstance(delivered, dict) else delivered
        entry.m = TbSimFigures(
            scenario=rep.get("scenario"),
            sent=rep.get("sent"),
            delivered=n,
            checks_passed=rep.get("checks_passed"),
            wall_s=rep["wall_s"],
            sim_ns=rep["sim_ns"],
            frames_per_s=n / rep["wall_s"],
            frames_per_cpu_s=n / run["process_cpu_s"] if run.get("process_cpu_s") else None,
            clocks_per_s=rep["sim_ns"] / USER_CLK_NS / rep["wall_s"],
        )
    return entry


def rates(frames: float, wall_s: float, cpu_s: float, sim_ns: float) -> dict[str, float]:
    """A run's simulator speed: frames per wall-second and per CPU-second, user clocks per
    wall-second."""
    return {
        "frames_per_s": frames / wall_s,
        "frames_per_cpu_s": frames / cpu_s,
        "clocks_per_s": sim_ns / USER_CLK_NS / wall_s,
    }


def system_run(p: Raw) -> SystemRun:
    """One system-speed point as the report keeps it: frames, times and rates."""
    size = p["task"]["size"]
    return SystemRun(
        size=size,
        frames=p["frames_sent"],
        delivered=p["frames_delivered"],
        drops=p["drops"],
        wall_s=p["wall_s"],
        cpu_s=p["cpu_s"],
        sim_ns=p["sim_ns"],
        **rates(p["frames_delivered"], p["wall_s"], p["cpu_s"], p["sim_ns"]),
        target_frames_per_s=TARGET_SYSTEM_FPS.get(size),
        latency_ns=latency(p["latency_ns"]),
        latencies_ns=p.get("latencies_ns", []),
        mps=p.get("mps"),
        mrrs=p.get("mrrs"),
    )


def speed_rows(runs: list[SystemRun]) -> list[SpeedRow]:
    """Per frame size, over its system runs (``system_run``): the frames per wall-second and
    per CPU-second of each run, their best and their median. (Each run starts at another
    simulated time, so the phase between the MAC and PCIe clocks, and with it a frame's
    latency, may differ by a clock.)"""
    by: dict[int, list[SystemRun]] = {}
    for x in runs:
        by.setdefault(int(x.size), []).append(x)
    rows = []
    for size, xs in sorted(by.items()):
        fps = [x.frames_per_s for x in xs]
        cpu = [x.frames_per_cpu_s for x in xs]
        rows.append(
            SpeedRow(
                size=size,
                frames=xs[0].delivered,
                sim_ns=xs[0].sim_ns,
                runs=len(xs),
                frames_per_s=fps,
                frames_per_cpu_s=cpu,
                best_frames_per_s=max(fps),
                median_frames_per_s=percentile(fps, 50),
                best_frames_per_cpu_s=max(cpu),
                median_frames_per_cpu_s=percentile(cpu, 50),
                target_frames_per_s=TARGET_SYSTEM_FPS.get(size),
            )
        )
    return rows


def _order(p: Raw) -> tuple[Any, ...]:
    t = p["task"]
    mode_rank = {m: i for i, m in enumerate(MODES)}
    return (-(p.get("mps") or 0), t.get("queues", 1), t["read_latency_ns"],
            mode_rank[t["mode"]], t["size"] == "imix",
            0 if t["size"] == "imix" else t["size"])  # fmt: skip


def _latency_point(p: Raw, idle: bool) -> LatencyPoint:
    t = p["task"]
    return LatencyPoint(
        mode=t["mode"],
        read_latency_ns=t["read_latency_ns"],
        frames=t["frames"],
        spacing_ns=t["spacing_ns"] if idle else None,
        latency_ns=latency(p["latency_ns"]),
        latencies_ns=p.get("latencies_ns", []),
    )


def _overdrive_row(p: Raw) -> OverdriveRow:
    t = p["task"]
    done = p["frames_delivered"] + p["frames_late"]
    span = p.get("cpl_span_ns")
    out_pps = (done - 1) / (span * 1e-9) if span else None
    return OverdriveRow(
        size=t["size"],
        mode=t["mode"],
        read_latency_ns=t["read_latency_ns"],
        frames=t["frames"],
        offered_pps=1e9 / (beats(t["size"] - FCS) * USER_CLK_NS),
        sustained_pps=out_pps,
        x_line_rate=out_pps / line_rate_pps(t["size"]) if out_pps else None,
        dropped=p["frames_missing"],
        drop_reasons=p["counters"]["drop_reasons"],
        input_stall_clocks=p["input_stall_clocks"],
        latency_ns=latency(p["latency_ns"]),
    )


def _core_speed(good: list[Raw]) -> list[CoreSpeed]:
    speed: dict[str, dict[str, float]] = {}
    for p in good:
        if p["task"]["kind"] != "load":
            continue
        key = str(p["task"]["size"])
        s = speed.setdefault(key, {"frames": 0, "wall_s": 0.0, "sim_ns": 0.0, "cpu_s": 0.0})
        s["frames"] += p["frames_total"]
        s["wall_s"] += p["wall_s"]
        s["cpu_s"] += p.get("cpu_s", math.nan)
        s["sim_ns"] += p["sim_ns"]
    return [
        CoreSpeed(
            size=k if k == "imix" else int(k),
            frames=int(v["frames"]),
            wall_s=v["wall_s"],
            sim_ns=v["sim_ns"],
            cpu_s=v["cpu_s"],
            **rates(v["frames"], v["wall_s"], v["cpu_s"], v["sim_ns"]),
        )
        for k, v in speed.items()
    ]


def collect(
    results: list[Raw],
    quick: bool,
    seed: int,
    wall_s: float,
    build_s: float,
    machine: Machine | None = None,
    host: dict[str, int] | None = None,
) -> Report:
    """The report (bench.json) from the jobs' raw results."""
    host = host or {}
    errors: list[str] = []
    core_points: list[Raw] = []
    measured: dict[str, Any] = {}  # settings the core points report
    system: list[SystemRun] = []
    profiles: list[Profile] = []
    tbsim: dict[str, TbSimRun] = {}
    pinned: PinnedSummary | None = None
    for r in results:
        if r.get("error"):
            errors.append(f"job {r['name']}: {r['error']}")
        res = r.get("result") or {}
        if r["type"] == "core":
            for p in res.get("points", []):
                if p.get("error"):
                    errors.append(f"job {r['name']}: point {p['task']}: {p['error']}")
                if "dma_cpl_flush_clocks" in p:
                    measured["dma_cpl_flush_clocks"] = p["dma_cpl_flush_clocks"]
                    measured["dma_desc_wait_clocks"] = p["dma_desc_wait_clocks"]
                if p.get("mps") is not None:
                    measured.setdefault("mrrs_by_mps", {})[str(p["mps"])] = p["mrrs"]
                if p["task"].get("purpose") == "profile":
                    continue
                core_points.append(p)
            if "profile" in r:
                pts = res.get("points", [])
                ok = bool(pts) and not pts[0].get("error")
                profiles.append(
                    profile(
                        r["profile"], "splitrx_core, 64 B FULL at line rate, 1 us reads",
                        r.get("cpu_s"), pts[0]["frames_total"] if ok else None,
                        pts[0]["sim_ns"] if ok else None,
                    )
                )  # fmt: skip
        elif r["type"] == "system":
            system += [system_run(p) for p in res.get("points", [])]
        elif r["type"] == "pinned":
            for p in res.get("points", []):
                if p.get("error"):
                    errors.append(f"job {r['name']}: {p['error']}")
                elif "t_ns" in p:
                    pinned = pinned_summary(p)
        elif r["type"] == "tbsim":
            for label in ("plain", "profiled"):
                run = r.get(label)
                if not run:
                    continue
                entry = tbsim_run(run)
                if run["returncode"] != 0:
                    errors.append(f"{run['command']} ({label}) exited {run['returncode']}")
                tbsim[label] = entry
                if "profile" in run:
                    profiles.append(
                        profile(
                            run["profile"], f"{run['command']} (splitrx_top, full host stack)",
                            run.get("process_cpu_s"), entry.m.delivered if entry.m else None,
                            entry.m.sim_ns if entry.m else None,
                        )
                    )  # fmt: skip
    core_points.sort(key=_order)
    good = [p for p in core_points if not p.get("error")]
    mode_rank = {m: i for i, m in enumerate(MODES)}
    tp = [
        throughput_row(p)
        for p in core_points
        if p["task"]["kind"] == "load" and p["task"].get("queues", 1) == 1
        and p.get("mps") == 256 and not p["task"].get("purpose")
    ]  # fmt: skip
    req = [
        request_row(p)
        for p in good
        if p["task"]["kind"] == "load" and (p["task"]["size"] in (64, 1518))
        and (p["task"]["read_latency_ns"] == 1000.0)
    ]  # fmt: skip
    req.sort(key=lambda q: (q.size, -q.mps, q.queues, mode_rank[q.mode]))
    idle = [_latency_point(p, idle=True) for p in good if p["task"]["kind"] == "idle"]
    at_load = [
        _latency_point(p, idle=False)
        for p in good
        if p["task"]["kind"] == "load" and p["task"]["size"] == 64
        and p["task"].get("queues", 1) == 1 and p["mps"] == 256
        and not p["task"].get("purpose")
    ]  # fmt: skip
    over = [_overdrive_row(p) for p in good if p["task"]["kind"] == "overdrive"]
    report = Report(
        schema=SCHEMA,
        generated=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        commit=git_commit(),
        quick=quick,
        seed=seed,
        wall_s=wall_s,
        build_s=build_s,
        machine=machine or Machine(cpus=os.cpu_count()),
        settings=Settings(
            line_rate_gbps=LINE_RATE_BPS / 1e9,
            user_clock_mhz=1000 / USER_CLK_NS,
            read_latencies_ns=[1000.0] if quick else list(LATENCIES_NS),
            host_poll_ns=host.get("poll_ns", POLL_NS),
            host_poll_budget=POLL_BUDGET,
            host_refill_batch=host.get("refill_batch", 1),
            ring_entries=RING,
            data_buffer_bytes=BUF_BYTES,
            header_buffer_bytes=HDR_BUF_BYTES,
            data_offset=DATA_OFFSET,
            split_level="L4",
            mergeable_above_bytes=BUF_BYTES - DATA_OFFSET + FCS,
            moderation_packets=MOD_PACKETS,
            moderation_cycles=MOD_CYCLES,
            drain_ns=DRAIN_NS,
            idle_spacing_ns=IDLE_SPACING_NS,
            frames="UDP/IPv4 (42 B of headers), random payload, one destination MAC per queue",
            **measured,
        ),
        throughput=tp,
        latency=Latencies(idle=idle, load=at_load),
        requests=req,
        host_copy=host_copy_rows(tp),
        overdrive=over,
        simulator=Simulator(
            core=_core_speed(good),
            system=system,
            tb_sim=tbsim,
            profiles=profiles,
            targets_frames_per_s={str(k): v for k, v in TARGET_SYSTEM_FPS.items()},
        ),
        jobs=[
            JobSummary(
                name=r["name"],
                wall_s=r["wall_s"],
                cpu_s=r.get("cpu_s"),
                points=len((r.get("result") or {}).get("points", [])),
                error=r.get("error"),
            )
            for r in results
        ],
        pinned_pages=pinned,
        errors=errors,
        shortfalls=[],
    )
    report.shortfalls = shortfalls(report)
    report.comparisons = request_lines(report, one_queue=False)
    return report


def git_commit() -> str:
    from tb.runner.build import REPO

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
    except OSError:
        return "unknown"
    return f"{head}{' (uncommitted changes)' if dirty else ''}" if head else "unknown"


# -- against the targets ----------------------------------------------------------------------


def why(r: ThroughputFigures) -> str:
    """Where a throughput point lost frames or time."""
    parts = []
    if r.input_stall_clocks:
        parts.append(
            f"input back-pressure {r.input_stall_clocks} clocks (packet FIFO full: the "
            "engine drained slower than the wire; a real MAC cannot wait, so this is loss)"
        )
    if r.dropped:
        reasons = ", ".join(f"{k} {v}" for k, v in r.drop_reasons.items()) or "reason unknown"
        parts.append(f"{r.dropped} measured frames dropped (point counters: {reasons})")
    if r.late:
        parts.append(
            f"{r.late} completions later than {DRAIN_NS / 1000:g} us after the last frame "
            f"(drain {r.drain_ns:.0f} ns)"
        )
    return "; ".join(parts) or "no loss recorded"


def request_lines(rep: Report, one_queue: bool) -> list[str]:
    """64 B line-rate points whose non-data RQ requests per frame exceed the target, with the
    reason: the one-queue points (the target) or, for comparison, the multi-queue ones."""
    out: list[str] = []
    flush = rep.settings.dma_cpl_flush_clocks
    flush_ns = (64 if flush is None else flush) * USER_CLK_NS
    over: dict[int, list[RequestRow]] = {}  # 64 B rows over the target, by queue count
    for q in rep.requests:
        if (q.queues == 1) != one_queue:
            continue
        if q.size == 64 and q.non_data_per_frame > TARGET_NON_DATA_PER_FRAME:
            over.setdefault(q.queues, []).append(q)
    for nq, rows in sorted(over.items()):

        def span(key: str, rows: list[RequestRow] = rows) -> str:
            v = [r.tlps_per_frame.get(key, 0.0) if key else r.non_data_per_frame
                 for r in rows]  # fmt: skip
            lo, hi = min(v), max(v)
            return f"{lo:.2f}" if f"{lo:.2f}" == f"{hi:.2f}" else f"{lo:.2f}–{hi:.2f}"

        gap = nq * frame_period_ns(64)
        cause = (
            f"each queue gets a frame every {gap:.0f} ns on average, longer than the "
            f"{flush_ns:.0f} ns a record waits for the next one to be coalesced with "
            "(DMA_CPL_FLUSH), so most records are written alone, and each queue's "
            "moderation timer sends its own MSI-X"
            if gap > flush_ns
            else "records are not coalesced as often as the frame rate allows"
        )
        which = ", ".join(f"{r.mode} MPS {r.mps}" for r in rows)
        out.append(
            f"64 B line rate over {nq} queue{'s' if nq > 1 else ''}: {span('')} non-data RQ "
            f"requests per frame (target <= {TARGET_NON_DATA_PER_FRAME}"
            + (", set for one queue: shown for comparison" if nq > 1 else "")
            + f") in {which}: "
            f"completion writes {span('rq_cpl_write')}, MSI-X {span('rq_msix')}, descriptor "
            f"reads {span('rq_desc_read')} per frame. Where: {cause}."
        )
    return out


def shortfalls(rep: Report) -> list[str]:
    out = []
    for r in rep.throughput:
        where = f"{size_label(r.size)} {r.mode} {lat_label(r.read_latency_ns)}"
        if r.m is None:
            out.append(f"{where}: not measured ({r.error})")
        elif r.m.line_rate_pct < 99.95 or r.m.dropped or r.m.late:
            out.append(f"{where}: {r.m.line_rate_pct:.1f} % of line rate: {why(r.m)}")
    for i in rep.latency.idle:
        mx = i.latency_ns.max
        if i.latency_ns.p50 is not None and mx is not None and mx > TARGET_IDLE_LATENCY_NS:
            out.append(f"idle latency {i.mode}: max {mx:.0f} ns > 1 us target")
    out += request_lines(rep, one_queue=True)
    profs = sorted(rep.simulator.profiles, key=lambda p: "tb.sim" not in p.run)
    where = ""
    if profs:
        p = profs[0]
        g = sorted(p.groups_s.items(), key=lambda kv: -kv[1])[:3]
        py = p.python_s or 1.0
        where = (
            f" Where (profile of {p.run.split(' (')[0]}): of the Python time, "
            + ", ".join(f"{k} {100 * v / py:.0f} %" for k, v in g)
            + "."
        )
    for s in speed_rows(rep.simulator.system):
        tgt = s.target_frames_per_s
        if tgt and s.median_frames_per_s < tgt:
            out.append(
                f"simulator, full system at {s.size} B: {s.median_frames_per_s:.0f} "
                f"frames per wall-second ({s.median_frames_per_cpu_s:.0f} per CPU-second of "
                f"the simulator process; median of {s.runs} runs), target >= {tgt:.0f}."
                f"{where}"
            )
    return out

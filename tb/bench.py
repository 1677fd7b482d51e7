# SPDX-License-Identifier: MIT
"""`make bench`: line rate per frame size and mode, latency, PCIe requests per frame, host
copy bytes and the simulator's own speed, written as JSON + markdown + PNG plots.

Usage: python -m tb.bench [--quick] [--out DIR] [--seed N]   (make bench, make bench QUICK=1)

Figures are in simulated time (deterministic for a seed); only the simulator-speed section
depends on the machine. The cocotb side is tb/benches/bench_tb.py; definitions are in docs/bench.md.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import pstats
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from tb.cli import OneLineParser, positive

# -- 10 GbE arithmetic (frame sizes include the FCS) ------------------------------------------

LINE_RATE_BPS = 10e9
WIRE_OVERHEAD = 20  # 8 B preamble/SFD + 12 B minimum inter-frame gap
FCS = 4
USER_CLK_NS = 4.0  # PCIe user clock, 250 MHz
BEAT_BYTES = 8  # MAC-side stream into splitrx_core: 64 bits per user clock
IMIX = ((64, 7), (594, 4), (1518, 1))  # (frame size, share)
SIZES = (64, 65, 128, 256, 512, 1024, 1518, 4096, 9018)
QUICK_SIZES = (64, 1518, 9018)
MODES = ("FULL", "SPLIT_HOLE", "SPLIT")
LATENCIES_NS = (500.0, 1000.0)

# -- host model and buffers, stated in the report --------------------------------------------

POLL_NS = 1000  # NAPI-like poll interval of each queue's host loop
POLL_BUDGET = 256  # completions per poll at most; every buffer polled is reposted at once
RING = 256  # descriptors (and completions) per queue
BUF_BYTES = 2048  # data buffer per descriptor (one descriptor per group)
HDR_BUF_BYTES = 256  # header buffer per descriptor
DATA_OFFSET = 12  # virtio_net_hdr (v1) room in front of each frame
MOD_PACKETS = 32  # interrupt moderation: MSI-X after 32 completions ...
MOD_CYCLES = 250  # ... or 250 user clocks (1 us) after the first unannounced one
DRAIN_NS = 5000  # measurement window: until 5 us after the last frame is in
IDLE_SPACING_NS = 2000.0  # frame spacing of the idle-latency points

# -- pinned pages per owner (the system rig: guests on the page constructor) -----------------

PINNED_SAMPLE_NS = 500  # sampling interval, simulated ns
PINNED_FRAMES = {False: 300, True: 100}  # IMIX frames on the wire (full run, --quick)
# Owners (virtio guests behind vhost-net, buffers pinned by the page constructor): two that
# consume what they receive, and one that never does (it stops at its quota, the others go
# on) and is torn down two thirds in. share: of the frames on the wire; guest_num: its virtio
# ring; nic_entries: the NIC queue's descriptor ring; posts: buffers it posts at start
# (default: its ring full).
PINNED_OWNERS: tuple[dict[str, Any], ...] = (
    {"name": "guest0", "mode": "FULL", "share": 0.4, "guest_num": 64, "nic_entries": 32,
     "quota_pages": 1024},
    {"name": "guest1", "mode": "SPLIT_HOLE", "share": 0.4, "guest_num": 64, "nic_entries": 32,
     "quota_pages": 1024},
    {"name": "guest2", "mode": "FULL", "share": 0.2, "guest_num": 256, "nic_entries": 64,
     "quota_pages": 8, "posts": 160, "stalled": True, "teardown": True},
)  # fmt: skip
FULL_STACK_COST = 4.0  # a full-stack system run costs about this many core points per sim ns

# -- targets (../shared/DESIGN.md, "Performance") ---------------------------------------------

TARGET_IDLE_LATENCY_NS = 1000.0
TARGET_NON_DATA_PER_FRAME = 0.5
TARGET_SYSTEM_FPS = {64: 400.0, 1518: 45.0}
# runs of each size in the system-speed job (full run, --quick); the target is judged on their
# median, the job runs alone after every other job
SYSTEM_REPEATS = {False: 3, True: 1}
# the system-speed job's top: splitrx_top behind a ring of XGMII words (tb/rtl)
SYSTEM_TOP = "splitrx_feed_top"

SCHEMA = "splitrx-bench/1"
RQ_KINDS = ("rq_data_write", "rq_hdr_write", "rq_cpl_write", "rq_desc_read", "rq_msix")
NON_DATA_KINDS = ("rq_cpl_write", "rq_desc_read", "rq_msix")
KIND_LABEL = {
    "rq_data_write": "data writes",
    "rq_hdr_write": "header writes",
    "rq_cpl_write": "completion writes",
    "rq_desc_read": "descriptor reads",
    "rq_msix": "MSI-X",
    "rc_desc_completion": "RC: read completions",
    "cq_mmio_write": "CQ: MMIO writes (doorbells)",
    "cq_mmio_read": "CQ: MMIO reads",
}


def wire_bytes(frame: float) -> float:
    return frame + WIRE_OVERHEAD


def frame_period_ns(frame: float) -> float:
    """Time one frame takes on a 10 GbE wire, preamble and minimum gap included."""
    return wire_bytes(frame) * 8 / LINE_RATE_BPS * 1e9


def frame_period_clk(frame: float) -> float:
    return frame_period_ns(frame) / USER_CLK_NS


def line_rate_pps(frame: float) -> float:
    return 1e9 / frame_period_ns(frame)


def beats(core_bytes: int) -> int:
    """Beats of the MAC-side stream for a frame of ``core_bytes`` (FCS excluded)."""
    return -(-core_bytes // BEAT_BYTES)


def imix_mean() -> float:
    return sum(s * k for s, k in IMIX) / sum(k for _, k in IMIX)


def imix_sizes(n: int, rng: random.Random) -> list[int]:
    """``n`` frame sizes in blocks of 12 (7 x 64, 4 x 594, 1 x 1518), each block shuffled."""
    block = [s for s, k in IMIX for _ in range(k)]
    out: list[int] = []
    while len(out) < n:
        b = list(block)
        rng.shuffle(b)
        out += b
    return out[:n]


def mean_size(size: int | str) -> float:
    return imix_mean() if size == "imix" else float(size)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    s = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(s)))
    return s[rank - 1]


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "min": None, "p50": None, "p99": None, "max": None}
    return {
        "n": len(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values),
    }


# -- the plan ---------------------------------------------------------------------------------


def frame_counts(size: int | str, quick: bool) -> tuple[int, int]:
    """(warm-up, measured) frames for a throughput point: about 100 us (quick: 20 us) of
    offered traffic, 32..1000 measured frames (quick: 8..300), warm-up a tenth (at least 4);
    IMIX in whole blocks of 12."""
    target_ns, lo, hi, warm = (20_000.0, 8, 300, 4) if quick else (100_000.0, 32, 1000, 4)
    n = round(target_ns / frame_period_ns(mean_size(size)))
    n = min(max(n, lo), hi)
    if size == "imix":
        n = max(12, n // 12 * 12)
    return max(warm, n // 10), n


def task(
    kind: str, size: int | str, mode: str, lat: float, quick: bool, **kw: Any
) -> dict[str, Any]:
    warm, n = frame_counts(size, quick)
    t: dict[str, Any] = {"kind": kind, "size": size, "mode": mode, "read_latency_ns": lat}
    t["queues"] = 1
    t.update(warmup=warm, frames=n)
    t.update(kw)
    return t


def est_sim_ns(t: dict[str, Any]) -> float:
    """Rough simulated time of a task (for splitting work between the two workers)."""
    n = t["warmup"] + t["frames"]
    s = mean_size(t["size"])
    if t["kind"] == "idle":
        per = t["spacing_ns"]
    elif t["kind"] == "overdrive":
        per = beats(int(s) - FCS) * USER_CLK_NS
    else:
        per = frame_period_ns(s)
    return float(n * per + DRAIN_NS + 8000)


def plan(
    quick: bool, seed: int, poll_ns: int = POLL_NS, refill_batch: int = 1
) -> list[dict[str, Any]]:
    """The simulator jobs: lists of core points (cut so that two workers stay busy), the
    system-speed runs on splitrx_top, the pinned-pages run (system rig with guests),
    `python -m tb.sim` plain and profiled, and a profiled core point."""
    sizes: list[int | str] = [*(QUICK_SIZES if quick else SIZES), "imix"]
    lats = (1000.0,) if quick else LATENCIES_NS
    mps256: list[dict[str, Any]] = []
    for lat in lats:
        for mode in MODES:
            for size in sizes:
                mps256.append(task("load", size, mode, lat, quick))
    for mode in MODES:
        mps256.append(task("load", 64, mode, 1000.0, quick, queues=8, purpose="requests"))
        n_idle = 10 if quick else 60
        mps256.append(
            task("idle", 64, mode, 1000.0, quick, warmup=2, frames=n_idle,
                 spacing_ns=IDLE_SPACING_NS)
        )  # fmt: skip
    for size in (64,) if quick else (64, 1518):
        for mode in ("FULL",) if quick else MODES:
            mps256.append(task("overdrive", size, mode, 1000.0, quick))
    mps128: list[dict[str, Any]] = []
    for mode in ("FULL",) if quick else MODES:
        mps128.append(task("load", 64, mode, 1000.0, quick, purpose="requests"))
        mps128.append(task("load", 64, mode, 1000.0, quick, queues=8, purpose="requests"))
        if not quick:
            mps128.append(task("load", 1518, mode, 1000.0, quick, purpose="requests"))
    jobs: list[dict[str, Any]] = []
    chunk_ns = 400_000.0 if quick else 1_000_000.0
    for mps, tasks in ((256, mps256), (128, mps128)):
        cur: list[dict[str, Any]] = []
        acc = 0.0
        for t in tasks:
            if cur and acc + est_sim_ns(t) > chunk_ns:
                jobs.append(core_job(f"core-mps{mps}-{len(jobs)}", mps, cur, seed))
                cur, acc = [], 0.0
            cur.append(t)
            acc += est_sim_ns(t)
        if cur:
            jobs.append(core_job(f"core-mps{mps}-{len(jobs)}", mps, cur, seed))
    sys_frames = {64: 100, 1518: 20} if quick else {64: 300, 1518: 60}
    jobs.append(
        {
            "name": "system",
            "type": "system",
            "mps": 256,
            "seed": seed,
            "alone": True,  # a speed measurement: no other simulation beside it
            "tasks": [
                {"kind": "system", "size": s, "frames": n, "read_latency_ns": 1000.0}
                for s, n in sys_frames.items()
                for _ in range(SYSTEM_REPEATS[quick])
            ],
            "est_sim_ns": SYSTEM_REPEATS[quick]
            * sum(n * frame_period_ns(s) + 20_000 for s, n in sys_frames.items()),
        }
    )
    pinned_n = PINNED_FRAMES[quick]
    jobs.append(
        {
            "name": "pinned",
            "type": "pinned",
            "mps": 256,
            "seed": seed,
            "tasks": [
                {"kind": "pinned", "frames": pinned_n, "sample_ns": PINNED_SAMPLE_NS,
                 "read_latency_ns": 1000.0, "owners": [dict(o) for o in PINNED_OWNERS]}
            ],
            "est_sim_ns": (pinned_n * frame_period_ns(imix_mean()) + 20_000) * FULL_STACK_COST,
        }
    )  # fmt: skip
    prof = task("load", 64, "FULL", 1000.0, quick, purpose="profile")
    jobs.append(core_job("profile-core", 256, [prof], seed, profile=True))
    jobs.append(
        {
            "name": "tb-sim",
            "type": "tbsim",
            "frames": 30 if quick else 200,
            "profile": not quick,  # quick: the core-level profile only
            "seed": seed,
            "est_sim_ns": 150_000.0 if quick else 1_500_000.0,
        }
    )
    for j in jobs:  # the host model, for bench_tb.Host
        j.update(poll_ns=poll_ns, refill_batch=refill_batch)
    jobs.sort(key=lambda j: -j["est_sim_ns"])  # longest first: two workers end together
    return jobs


def core_job(
    name: str, mps: int, tasks: list[dict[str, Any]], seed: int, profile: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "type": "core",
        "mps": mps,
        "seed": seed,
        "tasks": tasks,
        "profile": profile,
        "est_sim_ns": sum(est_sim_ns(t) for t in tasks) * (2 if profile else 1),
    }


# -- running (in worker processes) ------------------------------------------------------------


def job_dir(name: str) -> Path:
    from tb.runner.build import BUILD_ROOT

    return BUILD_ROOT / "bench" / name


def build_top(top: str) -> float:
    from tb.runner.build import build, top_sources

    t0 = time.perf_counter()
    build(top, top_sources(top))
    return time.perf_counter() - t0


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job (in a worker process); never raises: a failure is in ``error``."""
    d = job_dir(job["name"])
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"name": job["name"], "type": job["type"], "error": None}
    try:
        if job["type"] == "tbsim":
            out.update(run_tbsim(job, d))
        else:
            out.update(run_cocotb(job, d))
    except Exception as exc:  # noqa: BLE001 - reported, the other jobs go on
        out["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    out["wall_s"] = time.perf_counter() - t0
    return out


def run_cocotb(job: dict[str, Any], d: Path) -> dict[str, Any]:
    from tb.runner.build import build, run, top_sources

    top = {"core": "splitrx_core", "system": SYSTEM_TOP}.get(job["type"], "splitrx_top")
    b = build(top, top_sources(top))
    (d / "job.json").write_text(json.dumps(job))
    result = d / "points.jsonl"
    env = {
        "SPLITRX_BENCH_JOB": str(d / "job.json"),
        "SPLITRX_BENCH_RESULT": str(result),
        "SPLITRX_PROGRESS_FILE": str(d / "progress"),
    }
    if job.get("profile"):
        env["COCOTB_ENABLE_PROFILING"] = "1"
    test = {"system": "system_points", "pinned": "pinned_points"}.get(job["type"], "core_points")
    names = [f"{test}/point={i}" for i in range(len(job["tasks"]))]  # cocotb.parametrize's
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    err = None
    try:
        run(
            b,
            "tb.benches.bench_tb",
            names,
            extra_env=env,
            test_dir=d / "run",
            log_file=d / "sim.log",
        )
    except (AssertionError, SystemExit, RuntimeError) as exc:
        err = f"simulation failed: {exc} (log: {d / 'sim.log'})"
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict[str, Any] = {
        "run_wall_s": wall,
        "cpu_s": ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime,
        "log": str(d / "sim.log"),
    }
    points = []
    if result.exists():
        points = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
    out["result"] = {"points": points}
    if len(points) < len(job["tasks"]) and not err:
        err = f"{len(job['tasks']) - len(points)} points did not report (log: {d / 'sim.log'})"
    if err:
        out["error"] = err
    pstat = d / "run" / "cocotb.pstat"
    if job.get("profile") and pstat.exists():
        out["profile"] = profile_groups(pstat, wall)
    return out


def run_tbsim(job: dict[str, Any], d: Path) -> dict[str, Any]:
    """`python -m tb.sim --frames N --seed S` as a user runs it, then once more with
    COCOTB_ENABLE_PROFILING=1 for the profile (the two share build/sim/last-sim, so they run
    one after the other)."""
    from tb.runner.build import BUILD_ROOT, REPO

    out: dict[str, Any] = {}
    cmd = [
        sys.executable,
        "-m",
        "tb.sim",
        "--frames",
        str(job["frames"]),
        "--seed",
        str(job["seed"]),
    ]
    runs: list[tuple[str, dict[str, str]]] = [("plain", {})]
    if job["profile"]:
        runs.append(("profiled", {"COCOTB_ENABLE_PROFILING": "1"}))
    for label, extra in runs:
        env = dict(os.environ, **extra)
        t0 = time.perf_counter()
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter() - t0
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        (d / f"tb-sim-{label}.out").write_text(p.stdout + p.stderr)
        rep = BUILD_ROOT / "last-sim-report.json"
        run: dict[str, Any] = {
            "command": " ".join(["python", "-m", "tb.sim", *cmd[3:]]),
            "returncode": p.returncode,
            "process_wall_s": wall,
            "process_cpu_s": cpu,  # tb.sim and the simulator it starts, start-up included
            "stdout": p.stdout,
        }
        if rep.exists():
            run["report"] = json.loads(rep.read_text())
        pstat = BUILD_ROOT / "last-sim" / "cocotb.pstat"
        if label == "profiled" and pstat.exists():
            shutil.copy(pstat, d / "tb-sim.pstat")
            pstat.unlink()
            run["profile"] = profile_groups(d / "tb-sim.pstat", wall)
        out[label] = run
    out["cpu_s"] = sum(r["process_cpu_s"] for r in out.values())
    return out


# -- profile ----------------------------------------------------------------------------------

GROUPS = (
    "our code (model/, sw/, tb/)",
    "cocotb",
    "cocotbext-pcie",
    "cocotbext-eth/axi",
    "scapy",
    "Python, not attributed",
)


def file_group(path: str) -> str | None:
    """The group of a profiled function's file; None for the standard library and built-ins
    (charged to whoever called them)."""
    from tb.runner.build import REPO

    p = path.replace("\\", "/")
    if "/cocotbext/pcie/" in p:
        return "cocotbext-pcie"
    if "/cocotbext/eth/" in p or "/cocotbext/axi/" in p:
        return "cocotbext-eth/axi"
    if "/cocotb/" in p or "/cocotb_tools/" in p or "/cocotb_bus/" in p:
        return "cocotb"
    if "/scapy/" in p:
        return "scapy"
    for sub in ("model", "sw", "tb", "tests"):
        if p.startswith(f"{REPO}/{sub}/"):
            return GROUPS[0]
    return None


def profile_groups(path: Path, wall_s: float) -> dict[str, Any]:
    """Self time of every profiled function summed by group; standard-library and built-in
    functions are charged to their callers' groups (in proportion to the time each caller
    spent in them)."""
    st = pstats.Stats(str(path))
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    memo: dict[Any, dict[str, float]] = {}

    def shares(key: Any, seen: frozenset[Any]) -> dict[str, float]:
        if key in memo:
            return memo[key]
        g = file_group(key[0])
        if g is not None:
            res = {g: 1.0}
        else:
            callers = raw[key][4] if key in raw else {}
            tot = sum(v[2] for v in callers.values())
            res = {}
            if tot > 0 and key not in seen:
                for ck, v in callers.items():
                    for grp, f in shares(ck, seen | {key}).items():
                        res[grp] = res.get(grp, 0.0) + f * v[2] / tot
            if not res:
                res = {GROUPS[-1]: 1.0}
        memo[key] = res
        return res

    groups = dict.fromkeys(GROUPS, 0.0)
    for key, (_, _, tt, _, _) in raw.items():
        for grp, f in shares(key, frozenset()).items():
            groups[grp] += tt * f
    top = sorted(raw.items(), key=lambda kv: -kv[1][2])[:12]
    python_s = sum(groups.values())
    return {
        "wall_s": wall_s,
        "python_s": python_s,
        "groups_s": groups,
        "top_functions": [
            {"function": f"{Path(k[0]).name}:{k[1]}({k[2]})", "self_s": v[2], "calls": v[1]}
            for k, v in top
        ],
    }


# -- collecting the results -------------------------------------------------------------------


def per_frame(req: dict[str, dict[str, int]], frames: int, what: str = "tlps") -> dict[str, float]:
    return {k: v[what] / frames for k, v in req.items()} if frames else {}


def throughput_row(p: dict[str, Any]) -> dict[str, Any]:
    t = p["task"]
    size = t["size"]
    row: dict[str, Any] = {
        "size": size,
        "mode": t["mode"],
        "read_latency_ns": t["read_latency_ns"],
        "queues": t.get("queues", 1),
        "mps": p.get("mps"),
        "mrrs": p.get("mrrs"),
        "frames": t["frames"],
        "warmup": t["warmup"],
        "error": p.get("error"),
    }
    if p.get("error"):
        return row
    off, dlv = p["wire_bytes_offered"], p["wire_bytes_delivered"]
    row.update(
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
        latency_ns=p["latency_ns"],
        drain_ns=p["drain_ns"],
        hdr_len_mean=p["hdr_len_mean"],
        desc_per_frame=p["desc_per_frame"],
        mergeable=p["mergeable"],
    )
    return row


def request_row(p: dict[str, Any]) -> dict[str, Any]:
    t = p["task"]
    n = p["frames_total"]
    req = p["requests"]
    tl = per_frame(req, n)
    lb = per_frame(req, n, "link_bytes")
    return {
        "size": t["size"],
        "mode": t["mode"],
        "queues": t.get("queues", 1),
        "read_latency_ns": t["read_latency_ns"],
        "mps": p["mps"],
        "mrrs": p["mrrs"],
        "frames": n,
        "tlps_per_frame": tl,
        "link_bytes_per_frame": lb,
        "non_data_per_frame": sum(tl.get(k, 0.0) for k in NON_DATA_KINDS),
        "rq_link_bytes_per_frame": sum(v for k, v in lb.items() if k.startswith("rq_")),
        "rc_link_bytes_per_frame": sum(v for k, v in lb.items() if k.startswith("rc_")),
    }


def host_copy_rows(tp: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bytes host software writes per frame after the NIC placed it (docs/bench.md)."""
    rows = []
    for r in tp:
        if r.get("error") or r["read_latency_ns"] != 1000.0 or r["queues"] != 1:
            continue
        n = mean_size(r["size"]) - FCS
        h = r["hdr_len_mean"]
        net = DATA_OFFSET if r["mode"] in ("FULL", "SPLIT_HOLE") else 0
        hdr = h if r["mode"] == "SPLIT_HOLE" else 0.0
        rows.append(
            {
                "size": r["size"],
                "mode": r["mode"],
                "net_header": net,
                "header_copy": hdr,
                "payload_copy": 0,
                "total": net + hdr,
                "full_copy": DATA_OFFSET + n,
            }
        )
    return rows


def pinned_summary(p: dict[str, Any]) -> dict[str, Any]:
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
            {
                **o,
                "peak_pinned_pages": max(pages),
                "mean_pinned_pages": sum(pages[i] for i in busy) / len(busy),
                "final_pinned_pages": pages[-1],
                "peak_buffers_held": max(held),
            }
        )
    return {
        "frames": p["frames"],
        "sample_ns": p["task"]["sample_ns"],
        "read_latency_ns": p["task"]["read_latency_ns"],
        "wire_ns": p["wire_ns"],
        "owners": owners,
        "t_ns": t,
        "pinned_pages": p["pinned_pages"],
        "buffers_held": p["buffers_held"],
    }


def collect(
    results: list[dict[str, Any]],
    quick: bool,
    seed: int,
    wall_s: float,
    build_s: float,
    machine: dict[str, Any] | None = None,
    host: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The report (bench.json) from the jobs' raw results."""
    host = host or {}
    errors: list[str] = []
    core_points: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    system: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    tbsim: dict[str, Any] = {}
    pinned: dict[str, Any] | None = None
    for r in results:
        if r.get("error"):
            errors.append(f"job {r['name']}: {r['error']}")
        res = r.get("result") or {}
        if r["type"] == "core":
            for p in res.get("points", []):
                if p.get("error"):
                    errors.append(f"job {r['name']}: point {p['task']}: {p['error']}")
                if "dma_cpl_flush_clocks" in p:
                    settings["dma_cpl_flush_clocks"] = p["dma_cpl_flush_clocks"]
                    settings["dma_desc_wait_clocks"] = p["dma_desc_wait_clocks"]
                if p.get("mps") is not None:
                    settings.setdefault("mrrs_by_mps", {})[str(p["mps"])] = p["mrrs"]
                if p["task"].get("purpose") == "profile":
                    continue
                core_points.append(p)
            if "profile" in r:
                pts = res.get("points", [])
                prof = dict(r["profile"])
                prof["run"] = "splitrx_core, 64 B FULL at line rate, 1 us reads"
                prof["cpu_s"] = r.get("cpu_s")
                if pts and not pts[0].get("error"):
                    prof["frames"] = pts[0]["frames_total"]
                    prof["sim_ns"] = pts[0]["sim_ns"]
                profiles.append(prof)
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
                rep = run.get("report") or {}
                entry: dict[str, Any] = {
                    "command": run["command"],
                    "returncode": run["returncode"],
                    "process_wall_s": run["process_wall_s"],
                    "process_cpu_s": run.get("process_cpu_s"),
                }
                if rep:
                    delivered = rep.get("delivered", {})
                    n = sum(delivered.values()) if isinstance(delivered, dict) else delivered
                    entry.update(
                        scenario=rep.get("scenario"),
                        sent=rep.get("sent"),
                        delivered=n,
                        checks_passed=rep.get("checks_passed"),
                        wall_s=rep["wall_s"],
                        sim_ns=rep["sim_ns"],
                        frames_per_s=n / rep["wall_s"],
                        frames_per_cpu_s=n / run["process_cpu_s"]
                        if run.get("process_cpu_s")
                        else None,
                        clocks_per_s=rep["sim_ns"] / USER_CLK_NS / rep["wall_s"],
                    )
                if run["returncode"] != 0:
                    errors.append(f"{run['command']} ({label}) exited {run['returncode']}")
                tbsim[label] = entry
                if "profile" in run:
                    prof = dict(run["profile"])
                    prof["run"] = f"{run['command']} (splitrx_top, full host stack)"
                    prof["cpu_s"] = run.get("process_cpu_s")
                    prof["frames"] = entry.get("delivered")
                    prof["sim_ns"] = entry.get("sim_ns")
                    profiles.append(prof)
    mode_rank = {m: i for i, m in enumerate(MODES)}

    def order(p: dict[str, Any]) -> tuple[Any, ...]:
        t = p["task"]
        return (-(p.get("mps") or 0), t.get("queues", 1), t["read_latency_ns"],
                mode_rank[t["mode"]], t["size"] == "imix",
                0 if t["size"] == "imix" else t["size"])  # fmt: skip

    core_points.sort(key=order)
    good = [p for p in core_points if not p.get("error")]
    load = [p for p in core_points if p["task"]["kind"] == "load"]
    tp = [
        throughput_row(p)
        for p in load
        if p["task"].get("queues", 1) == 1 and p.get("mps") == 256 and not p["task"].get("purpose")
    ]
    req = [
        request_row(p)
        for p in good
        if p["task"]["kind"] == "load" and (p["task"]["size"] in (64, 1518))
        and (p["task"]["read_latency_ns"] == 1000.0)
    ]  # fmt: skip
    req.sort(key=lambda q: (q["size"], -q["mps"], q["queues"], mode_rank[q["mode"]]))
    idle = [
        {
            "mode": p["task"]["mode"],
            "read_latency_ns": p["task"]["read_latency_ns"],
            "frames": p["task"]["frames"],
            "spacing_ns": p["task"]["spacing_ns"],
            "latency_ns": p["latency_ns"],
            "latencies_ns": p.get("latencies_ns", []),
        }
        for p in good
        if p["task"]["kind"] == "idle"
    ]
    at_load = [
        {
            "mode": p["task"]["mode"],
            "read_latency_ns": p["task"]["read_latency_ns"],
            "frames": p["task"]["frames"],
            "latency_ns": p["latency_ns"],
            "latencies_ns": p.get("latencies_ns", []),
        }
        for p in good
        if p["task"]["kind"] == "load" and p["task"]["size"] == 64
        and p["task"].get("queues", 1) == 1 and p["mps"] == 256
        and not p["task"].get("purpose")
    ]  # fmt: skip
    over = []
    for p in good:
        if p["task"]["kind"] != "overdrive":
            continue
        t = p["task"]
        done = p["frames_delivered"] + p["frames_late"]
        span = p.get("cpl_span_ns")
        out_pps = (done - 1) / (span * 1e-9) if span else None
        over.append(
            {
                "size": t["size"],
                "mode": t["mode"],
                "read_latency_ns": t["read_latency_ns"],
                "frames": t["frames"],
                "offered_pps": 1e9 / (beats(t["size"] - FCS) * USER_CLK_NS),
                "sustained_pps": out_pps,
                "x_line_rate": out_pps / line_rate_pps(t["size"]) if out_pps else None,
                "dropped": p["frames_missing"],
                "drop_reasons": p["counters"]["drop_reasons"],
                "input_stall_clocks": p["input_stall_clocks"],
                "latency_ns": p["latency_ns"],
            }
        )
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
    core_speed = [
        {
            "size": k if k == "imix" else int(k),
            "frames": v["frames"],
            "wall_s": v["wall_s"],
            "sim_ns": v["sim_ns"],
            "cpu_s": v["cpu_s"],
            "frames_per_s": v["frames"] / v["wall_s"],
            "frames_per_cpu_s": v["frames"] / v["cpu_s"],
            "clocks_per_s": v["sim_ns"] / USER_CLK_NS / v["wall_s"],
        }
        for k, v in speed.items()
    ]
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "quick": quick,
        "seed": seed,
        "wall_s": wall_s,
        "build_s": build_s,
        "machine": machine or {"cpus": os.cpu_count()},
        "settings": {
            "line_rate_gbps": LINE_RATE_BPS / 1e9,
            "user_clock_mhz": 1000 / USER_CLK_NS,
            "read_latencies_ns": [1000.0] if quick else list(LATENCIES_NS),
            "host_poll_ns": host.get("poll_ns", POLL_NS),
            "host_poll_budget": POLL_BUDGET,
            "host_refill_batch": host.get("refill_batch", 1),
            "ring_entries": RING,
            "data_buffer_bytes": BUF_BYTES,
            "header_buffer_bytes": HDR_BUF_BYTES,
            "data_offset": DATA_OFFSET,
            "split_level": "L4",
            "mergeable_above_bytes": BUF_BYTES - DATA_OFFSET + FCS,
            "moderation_packets": MOD_PACKETS,
            "moderation_cycles": MOD_CYCLES,
            "drain_ns": DRAIN_NS,
            "idle_spacing_ns": IDLE_SPACING_NS,
            "frames": "UDP/IPv4 (42 B of headers), random payload, one destination MAC per queue",
            **settings,
        },
        "throughput": tp,
        "latency": {"idle": idle, "load": at_load},
        "requests": req,
        "host_copy": host_copy_rows(tp),
        "overdrive": over,
        "simulator": {
            "core": core_speed,
            "system": system,
            "tb_sim": tbsim,
            "profiles": profiles,
            "targets_frames_per_s": {str(k): v for k, v in TARGET_SYSTEM_FPS.items()},
        },
        "jobs": [
            {
                "name": r["name"],
                "wall_s": r["wall_s"],
                "cpu_s": r.get("cpu_s"),
                "points": len((r.get("result") or {}).get("points", [])),
                "error": r.get("error"),
            }
            for r in results
        ],  # fmt: skip
        "pinned_pages": pinned,
        "errors": errors,
    }
    report["shortfalls"] = shortfalls(report)
    report["comparisons"] = request_lines(report, one_queue=False)
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


def size_label(size: int | str) -> str:
    return "IMIX" if size == "imix" else f"{size} B"


def lat_label(ns: float) -> str:
    return f"{ns / 1000:g} us"


def why(r: dict[str, Any]) -> str:
    """Where a throughput point lost frames or time."""
    parts = []
    if r["input_stall_clocks"]:
        parts.append(
            f"input back-pressure {r['input_stall_clocks']} clocks (packet FIFO full: the "
            "engine drained slower than the wire; a real MAC cannot wait, so this is loss)"
        )
    if r["dropped"]:
        reasons = ", ".join(f"{k} {v}" for k, v in r["drop_reasons"].items()) or "reason unknown"
        parts.append(f"{r['dropped']} measured frames dropped (point counters: {reasons})")
    if r["late"]:
        parts.append(
            f"{r['late']} completions later than {DRAIN_NS / 1000:g} us after the last frame "
            f"(drain {r['drain_ns']:.0f} ns)"
        )
    return "; ".join(parts) or "no loss recorded"


def request_lines(rep: dict[str, Any], one_queue: bool) -> list[str]:
    """64 B line-rate points whose non-data RQ requests per frame exceed the target, with the
    reason: the one-queue points (the target) or, for comparison, the multi-queue ones."""
    out: list[str] = []
    flush_ns = rep["settings"].get("dma_cpl_flush_clocks", 64) * USER_CLK_NS
    over: dict[int, list[dict[str, Any]]] = {}  # 64 B rows over the target, by queue count
    for q in rep["requests"]:
        if (q["queues"] == 1) != one_queue:
            continue
        if q["size"] == 64 and q["non_data_per_frame"] > TARGET_NON_DATA_PER_FRAME:
            over.setdefault(q["queues"], []).append(q)
    for nq, rows in sorted(over.items()):

        def span(key: str, rows: list[dict[str, Any]] = rows) -> str:
            v = [r["tlps_per_frame"].get(key, 0.0) if key else r["non_data_per_frame"]
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
        which = ", ".join(f"{r['mode']} MPS {r['mps']}" for r in rows)
        out.append(
            f"64 B line rate over {nq} queue{'s' if nq > 1 else ''}: {span('')} non-data RQ "
            f"requests per frame (target <= {TARGET_NON_DATA_PER_FRAME}"
            + (", set for one queue: shown for comparison" if nq > 1 else "")
            + f") in {which}: "
            f"completion writes {span('rq_cpl_write')}, MSI-X {span('rq_msix')}, descriptor "
            f"reads {span('rq_desc_read')} per frame. Where: {cause}."
        )
    return out


def shortfalls(rep: dict[str, Any]) -> list[str]:
    out = []
    for r in rep["throughput"]:
        if r.get("error"):
            out.append(
                f"{size_label(r['size'])} {r['mode']} {lat_label(r['read_latency_ns'])}: "
                f"not measured ({r['error']})"
            )
        elif r["line_rate_pct"] < 99.95 or r["dropped"] or r["late"]:
            out.append(
                f"{size_label(r['size'])} {r['mode']} {lat_label(r['read_latency_ns'])}: "
                f"{r['line_rate_pct']:.1f} % of line rate: {why(r)}"
            )
    for i in rep["latency"]["idle"]:
        p50 = i["latency_ns"]["p50"]
        if p50 is not None and i["latency_ns"]["max"] > TARGET_IDLE_LATENCY_NS:
            out.append(
                f"idle latency {i['mode']}: max {i['latency_ns']['max']:.0f} ns > 1 us target"
            )
    out += request_lines(rep, one_queue=True)
    profs = sorted(rep["simulator"]["profiles"], key=lambda p: "tb.sim" not in p["run"])
    where = ""
    if profs:
        p = profs[0]
        g = sorted(p["groups_s"].items(), key=lambda kv: -kv[1])[:3]
        py = p["python_s"] or 1.0
        where = (
            f" Where (profile of {p['run'].split(' (')[0]}): of the Python time, "
            + ", ".join(f"{k} {100 * v / py:.0f} %" for k, v in g)
            + "."
        )
    for s in speed_rows(rep["simulator"]["system"]):
        tgt = s["target_frames_per_s"]
        if tgt and s["median_frames_per_s"] < tgt:
            out.append(
                f"simulator, full system at {s['size']} B: {s['median_frames_per_s']:.0f} "
                f"frames per wall-second ({s['median_frames_per_cpu_s']:.0f} per CPU-second of "
                f"the simulator process; median of {s['runs']} runs), target >= {tgt:.0f}."
                f"{where}"
            )
    return out


# -- schema check (tests/test_bench.py) -------------------------------------------------------

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema": str,
    "generated": str,
    "commit": str,
    "quick": bool,
    "seed": int,
    "wall_s": (int, float),
    "settings": dict,
    "throughput": list,
    "latency": dict,
    "requests": list,
    "host_copy": list,
    "overdrive": list,
    "simulator": dict,
    "errors": list,
    "shortfalls": list,
}
_TP_KEYS = ("size", "mode", "read_latency_ns", "frames", "delivered", "dropped", "late",
            "line_rate_pct", "delivered_pct", "input_stall_clocks", "latency_ns",
            "mps")  # fmt: skip
_SETTINGS_KEYS = ("read_latencies_ns", "host_poll_ns", "mrrs_by_mps", "ring_entries",
                  "moderation_cycles", "dma_cpl_flush_clocks")  # fmt: skip


def validate_report(rep: dict[str, Any]) -> list[str]:
    """What is wrong with a bench.json (empty when it has the documented shape)."""
    bad = []
    for k, t in _REQUIRED.items():
        if not isinstance(rep.get(k), t):
            bad.append(f"{k}: missing or not {t}")
    if bad:
        return bad
    if rep["schema"] != SCHEMA:
        bad.append(f"schema {rep['schema']!r}, expected {SCHEMA!r}")
    for k in _SETTINGS_KEYS:
        if k not in rep["settings"]:
            bad.append(f"settings.{k} missing")
    for i, r in enumerate(rep["throughput"]):
        if r.get("error"):
            continue
        for k in _TP_KEYS:
            if k not in r:
                bad.append(f"throughput[{i}].{k} missing")
        if all(k in r for k in _TP_KEYS):
            if r["delivered"] + r["dropped"] + r["late"] != r["frames"]:
                bad.append(f"throughput[{i}]: delivered + dropped + late != frames")
            if not 0 <= r["delivered_pct"] <= 100.0 + 1e-9:
                bad.append(f"throughput[{i}]: delivered_pct {r['delivered_pct']}")
    for k in ("idle", "load"):
        if not isinstance(rep["latency"].get(k), list):
            bad.append(f"latency.{k} missing")
    for i, q in enumerate(rep["requests"]):
        for k in ("mps", "mrrs", "tlps_per_frame", "non_data_per_frame", "queues"):
            if k not in q:
                bad.append(f"requests[{i}].{k} missing")
    for k in ("core", "system", "tb_sim", "profiles"):
        if k not in rep["simulator"]:
            bad.append(f"simulator.{k} missing")
    pin = rep.get("pinned_pages")
    if pin is not None:  # None: not measured (reports before it was)
        n = len(pin.get("t_ns", []))
        for o in pin.get("owners", []):
            for k in ("name", "quota_pages", "peak_pinned_pages", "final_pinned_pages"):
                if k not in o:
                    bad.append(f"pinned_pages.owners.{k} missing")
            if len(pin.get("pinned_pages", {}).get(o.get("name"), [])) != n:
                bad.append(f"pinned_pages: {o.get('name')} has not one sample per time")
            elif o.get("peak_pinned_pages", 0) > o.get("quota_pages", 0):
                bad.append(f"pinned_pages: {o.get('name')} above its quota")
        if not n or not pin.get("owners"):
            bad.append("pinned_pages: no samples or no owners")
    return bad


# -- report: markdown and plots ---------------------------------------------------------------


def reasons(drops: dict[str, int]) -> str:
    return f" ({', '.join(f'{k} {v}' for k, v in drops.items())})" if drops else ""


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def sizes_in(rows: list[dict[str, Any]]) -> list[int | str]:
    seen: list[int | str] = []
    for r in rows:
        if r["size"] not in seen:
            seen.append(r["size"])
    return sorted(seen, key=lambda s: (s == "imix", 0 if s == "imix" else s))


def markdown(rep: dict[str, Any]) -> str:
    s = rep["settings"]
    mach = rep.get("machine", {})
    cpu_s = sum(j.get("cpu_s") or 0.0 for j in rep.get("jobs", []))
    lats = s["read_latencies_ns"]
    mrrs = ", ".join(f"MPS {k} B: MRRS {v} B" for k, v in sorted(s.get("mrrs_by_mps", {}).items()))
    L: list[str] = [
        f"# splitrx benchmark{' (quick)' if rep['quick'] else ''}",
        "",
        f"Generated {rep['generated']} from commit {rep['commit']} by "
        f"`python -m tb.bench{' --quick' if rep['quick'] else ''} --seed {rep['seed']}` "
        f"in {rep['wall_s'] / 60:.1f} min wall on {mach.get('cpus')} cores "
        f"(builds {rep['build_s']:.0f} s of it). Definitions and how to run: "
        "[docs/bench.md](../bench.md) (from the repository root: `docs/bench.md`).",
        "",
        f"The simulations used {cpu_s / 60:.1f} CPU-minutes (every simulator process, "
        f"start-up included): alone on {mach.get('workers', 2)} cores about "
        f"{cpu_s / 60 / mach.get('workers', 2):.1f} min plus builds.",
        "",
        "Machine load while it ran (1-minute load average): mean "
        f"{fmt(mach.get('load_avg_1min_mean'), '.1f')}, "
        f"max {fmt(mach.get('load_avg_1min_max'), '.1f')}; the bench alone keeps it near "
        f"{mach.get('workers', 2)}. Only the simulator-speed figures depend on it.",
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
        f"- Host: one NAPI-like loop per queue polls every {s['host_poll_ns'] / 1000:g} us "
        f"(budget {s['host_poll_budget']}), checks every completion and its bytes against the "
        f"reference model, and reposts the buffers it got "
        + (
            "at once (one doorbell per poll). "
            if s.get("host_refill_batch", 1) <= 1
            else f"once it holds {s['host_refill_batch']} of them (one doorbell each time). "
        )
        + f"MSI-X enabled, moderation {s['moderation_packets']} completions or "
        f"{s['moderation_cycles']} clocks ({s['moderation_cycles'] * USER_CLK_NS / 1000:g} us);"
        f" interrupts are counted, the host polls regardless.",
        f"- Queues: {s['ring_entries']}-entry descriptor and completion rings, "
        f"{s['data_buffer_bytes']} B data + {s['header_buffer_bytes']} B header buffer per "
        f"descriptor (one descriptor per group), data_offset {s['data_offset']} (virtio_net_hdr),"
        f" split at {s['split_level']}; frames over {s['mergeable_above_bytes']} B use mergeable "
        f"queues (several buffers per frame). DMA_CPL_FLUSH {s.get('dma_cpl_flush_clocks')} "
        f"clocks, DMA_DESC_WAIT {s.get('dma_desc_wait_clocks')} (register defaults).",
        f"- Frames: {s['frames']}.",
        "",
        "## Shortfalls against the targets",
        "",
    ]
    L += [f"- {x}" for x in rep["shortfalls"]] or ["- none: every target met."]
    if rep.get("comparisons"):
        L += ["", "Not targets (the request target is set for one queue), shown for "
              "comparison:", ""] + [f"- {x}" for x in rep["comparisons"]]  # fmt: skip
    if rep["errors"]:
        L += ["", "Errors while running:", ""] + [f"- {e}" for e in rep["errors"]]
    # throughput
    tp = rep["throughput"]
    L += [
        "",
        "## Throughput: % of 10 GbE line rate delivered",
        "",
        "Each cell: delivered wire bits over the time the input took, as % of 10 Gb/s; "
        "after it, frames lost (dropped or late) if any. Target: 100 % and no loss everywhere.",
        "",
        "Frames per point (warm-up + measured; about "
        f"{'20' if rep['quick'] else '100'} us of offered traffic each): "
        + ", ".join(
            f"{size_label(z)} {r['warmup']} + {r['frames']}"
            for z in sizes_in(tp)
            for r in [next(x for x in tp if x["size"] == z)]
        )
        + ".",
        "",
    ]
    cols = [(m, lat) for lat in lats for m in MODES]
    by = {(r["size"], r["mode"], r["read_latency_ns"]): r for r in tp}
    rows = []
    for size in sizes_in(tp):
        cells = [size_label(size), f"{line_rate_pps(mean_size(size)) / 1e6:.3f}"]
        for m, lat in cols:
            r = by.get((size, m, lat))
            if r is None:
                cells.append("")
            elif r.get("error"):
                cells.append("error")
            else:
                lost = r["dropped"] + r["late"]
                cells.append(f"{r['line_rate_pct']:.1f}" + (f" (−{lost})" if lost else ""))
        rows.append(cells)
    L += table(["frame", "line rate Mpps", *(f"{m} {lat_label(lat)}" for m, lat in cols)], rows)
    L += ["", "![throughput](throughput.png)", ""]
    rows = []
    for r in tp:
        if r.get("error"):
            continue
        rows.append(
            [
                size_label(r["size"]), r["mode"], lat_label(r["read_latency_ns"]),
                f"{r['warmup']} + {r['frames']}", str(r["delivered"]), str(r["dropped"]),
                str(r["late"]), str(r["input_stall_clocks"]),
                fmt(r["latency_ns"]["p50"]), fmt(r["latency_ns"]["p99"]),
                f"{r['desc_per_frame']:.1f}",
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
    lat = rep["latency"]
    L += [
        "## Latency: last frame byte into the core → its completion record in host memory",
        "",
        f"Idle: frames {fmt(s['idle_spacing_ns'] / 1000, 'g')} us apart. Full load: the 64 B "
        "line-rate points above (measured frames). Target at 64 B idle: ≤ 1 us.",
        "",
    ]
    rows = []
    for name, entries in (("idle", lat["idle"]), ("64 B line rate", lat["load"])):
        for e in entries:
            x = e["latency_ns"]
            rows.append(
                [name, e["mode"], lat_label(e["read_latency_ns"]), str(x["n"]),
                 fmt(x["min"]), fmt(x["p50"]), fmt(x["p99"]), fmt(x["max"])]
            )  # fmt: skip
    L += table(["load", "mode", "read lat.", "frames", "min ns", "median ns", "p99 ns", "max ns"],
               rows)  # fmt: skip
    # the speed runs of a size repeat one another in simulated time: one row per size
    sysl = list({x["size"]: x for x in reversed(rep["simulator"]["system"])
                 if x["latency_ns"]["n"]}.values())[::-1]  # fmt: skip
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
                [f"{x['size']} B", str(x["latency_ns"]["n"]), fmt(x["latency_ns"]["min"]),
                 fmt(x["latency_ns"]["p50"]), fmt(x["latency_ns"]["p99"]),
                 fmt(x["latency_ns"]["max"])]
                for x in sysl
            ],
        )  # fmt: skip
    full1 = [r for r in tp if not r.get("error") and r["mode"] == "FULL"
             and r["read_latency_ns"] == max(lats)]  # fmt: skip
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
            [[size_label(r["size"]), fmt(r["latency_ns"]["p50"]), fmt(r["latency_ns"]["p99"]),
              fmt(r["latency_ns"]["max"])] for r in full1],
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
    for q in rep["requests"]:
        t = q["tlps_per_frame"]
        rows.append(
            [size_label(q["size"]), q["mode"], str(q["queues"]), f"{q['mps']}/{q['mrrs']}",
             *(f"{t.get(k, 0.0):.3f}" for k in RQ_KINDS),
             f"**{q['non_data_per_frame']:.3f}**",
             f"{t.get('rc_desc_completion', 0.0):.3f}", f"{t.get('cq_mmio_write', 0.0):.3f}",
             f"{q['rq_link_bytes_per_frame']:.0f}", f"{q['rc_link_bytes_per_frame']:.0f}"]
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
        "rules (docs/dma.md, DESIGN.md) and the header lengths in the completions: FULL — the "
        "virtio_net_hdr only; SPLIT_HOLE — the net header and the header copied from the "
        "header buffer into the hole; SPLIT — nothing (header and payload go to their owner "
        "separately). Full copy, for comparison: a copying backend writes net header + the "
        "whole frame.",
        "",
    ]
    hc = rep["host_copy"]
    rows = []
    for size in sizes_in(hc):
        cells = [size_label(size)]
        for m in MODES:
            r = next((x for x in hc if x["size"] == size and x["mode"] == m), None)
            cells.append("" if r is None else f"{r['total']:.0f}")
        r0 = next(x for x in hc if x["size"] == size)
        cells.append(f"{r0['full_copy']:.0f}")
        rows.append(cells)
    L += table(["frame", *(f"{m} B" for m in MODES), "full copy B"], rows)
    # overdrive
    if rep["overdrive"]:
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
            [[size_label(o["size"]), o["mode"], str(o["frames"]),
              f"{o['offered_pps'] / 1e6:.2f}",
              fmt(o["sustained_pps"] and o["sustained_pps"] / 1e6, ".2f"),
              fmt(o["x_line_rate"], ".2f"), f"{o['dropped']}" + reasons(o["drop_reasons"]),
              str(o["input_stall_clocks"]), fmt(o["latency_ns"]["p50"]),
              fmt(o["latency_ns"]["max"])]
             for o in rep["overdrive"]],
        )  # fmt: skip
    L += pinned_markdown(rep.get("pinned_pages"))
    # simulator
    sim = rep["simulator"]
    tg = sim["targets_frames_per_s"]
    L += [
        "",
        "## Simulator speed",
        "",
        f"Wall-clock figures of this machine ({mach.get('cpus')} cores, "
        f"{mach.get('workers', 2)} simulations at a time but the full-system runs alone, "
        "load as stated at the top). "
        f"Targets for the full system: ≥ {tg.get('64', 0):.0f} frames/s at 64 B and "
        f"≥ {tg.get('1518', 0):.0f} at 1518 B.",
        "",
    ]
    if sim["system"]:
        L += ["Full system (`splitrx_top` from the XGMII wire at line rate, the words played "
              "from a ring in the simulation-only top `splitrx_feed_top`; PCIe model, driver "
              "and model-checked host loop; no vhost/guest):", ""]  # fmt: skip
        L += table(
            ["frame", "frames", "simulated us", "wall s", "frames/s", "target", "clocks/s",
             "CPU s", "frames/CPU-s"],
            [[f"{x['size']} B", str(x["delivered"]), f"{x['sim_ns'] / 1000:.1f}",
              f"{x['wall_s']:.1f}", f"**{x['frames_per_s']:.1f}**",
              fmt(x["target_frames_per_s"], ".0f"), f"{x['clocks_per_s']:,.0f}",
              f"{x['cpu_s']:.1f}", f"{x['frames_per_cpu_s']:.1f}"]
             for x in sim["system"]],
        )  # fmt: skip
        med = speed_rows(sim["system"])
        L += ["", "Median per size: " + ", ".join(
            f"{m['size']} B **{m['median_frames_per_s']:.1f}** frames/s over {m['runs']} run(s) "
            f"(target {fmt(m['target_frames_per_s'], '.0f')})" for m in med) + "."]  # fmt: skip
        L += ["", "Each size runs one or more times in one simulator process, alone on the "
              "machine (after every other job of the bench); the target is judged on the "
              "median. Wall and CPU time from the first frame queued on the wire to the last "
              "completion polled (set-up and start-up excluded); CPU = the simulator "
              "process (Verilator model and Python together)."]  # fmt: skip
    ts = sim["tb_sim"]
    if ts:
        L += ["", "`python -m tb.sim` (its default scenario, full host stack: vhost, "
              "guests, scoreboard):", ""]  # fmt: skip
        L += table(
            ["run", "scenario", "frames delivered", "simulated us", "wall s", "frames/s",
             "clocks/s", "process CPU s", "frames/CPU-s"],
            [[f"`{e['command']}`" + (" with COCOTB_ENABLE_PROFILING=1" if k == "profiled" else ""),
              str(e.get("scenario")), str(e.get("delivered")),
              fmt(e.get("sim_ns") and e["sim_ns"] / 1000, ".1f"), fmt(e.get("wall_s"), ".1f"),
              fmt(e.get("frames_per_s"), ".1f"), fmt(e.get("clocks_per_s"), ",.0f"),
              fmt(e.get("process_cpu_s"), ".1f"), fmt(e.get("frames_per_cpu_s"), ".1f")]
             for k, e in ts.items()],
        )  # fmt: skip
        L += ["", "Wall s and frames/s as tb.sim reports them (its run, set-up included, "
              "Python start-up and build check excluded); process CPU s counts everything the "
              "command used, start-up included."]  # fmt: skip
    L += ["", "Core-level runs (all throughput points of a size together, host checks "
          "included):", ""]  # fmt: skip
    L += table(
        ["frame", "frames", "simulated us", "wall s", "frames/s", "clocks/s", "CPU s",
         "frames/CPU-s"],
        [[size_label(c["size"]), str(c["frames"]), f"{c['sim_ns'] / 1000:.0f}",
          f"{c['wall_s']:.1f}", f"{c['frames_per_s']:.0f}", f"{c['clocks_per_s']:,.0f}",
          f"{c['cpu_s']:.1f}", f"{c['frames_per_cpu_s']:.0f}"]
         for c in sorted(sim["core"], key=lambda c: (c["size"] == "imix",
                         0 if c["size"] == "imix" else c["size"]))],
    )  # fmt: skip
    for p in sim["profiles"]:
        py = p["python_s"]
        L += [
            "",
            f"Profile of {p['run']}: {p['wall_s']:.1f} s wall and "
            f"{fmt(p.get('cpu_s'), '.1f')} CPU-s (process start-up included); {py:.1f} s "
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
             for g, v in sorted(p["groups_s"].items(), key=lambda kv: -kv[1])],
        )  # fmt: skip
        L += ["", "Top functions by self time: " + "; ".join(
            f"`{f['function']}` {f['self_s']:.1f} s" for f in p["top_functions"][:6])]  # fmt: skip
    if rep.get("pinned_pages") is None:
        L += [
            "",
            "## Not measured yet",
            "",
            "- Pinned pages per owner over time (needs the page constructor in the loop: the "
            "core-level runs post host buffers directly). Left for a later issue.",
        ]
    pngs = ["throughput.png", "latency_cdf.png", "requests.png"]
    if rep.get("pinned_pages") is not None:
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


def pinned_markdown(pin: dict[str, Any] | None) -> list[str]:
    """The report's section on pinned pages per owner (nothing when not measured)."""
    if pin is None:
        return []
    L = [
        "",
        "## Pinned pages per owner over time",
        "",
        f"The system rig (`splitrx_top` from the XGMII wire, PCIe model, host driver, page "
        f"constructor, one vhost-net backend and virtio guest per owner, every frame "
        f"checked by the scoreboard): {pin['frames']} IMIX frames back to back at line rate "
        f"({pin['wire_ns'] / 1000:.1f} us on the wire), the host served at each interrupt, "
        f"{lat_label(pin['read_latency_ns'])} descriptor reads. Pinned pages: the owner's "
        "4 KiB pages the page constructor has mapped for the NIC because a buffer in them is "
        f"held by the NIC, sampled every {pin['sample_ns']} ns of simulated time. The "
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
        [[o["name"] + (" (stalled)" if o.get("stalled") else ""), o["mode"],
          str(o["nic_entries"]), str(o["quota_pages"]), f"{100 * o['share']:.0f} %",
          str(o["frames_sent"]), str(o["frames_received"]), str(o["peak_pinned_pages"]),
          f"{o['mean_pinned_pages']:.1f}", str(o["final_pinned_pages"]),
          str(o["peak_buffers_held"]), str(o["refusals"]),
          "–" if o.get("teardown_ns") is None else f"{o['teardown_ns'] / 1000:.1f} us"]
         for o in pin["owners"]],
    )  # fmt: skip
    L += ["", "![pinned pages](pinned_pages.png)"]
    return L


def plots(rep: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    tp = [r for r in rep["throughput"] if not r.get("error")]
    styles = {"FULL": "o-", "SPLIT_HOLE": "s--", "SPLIT": "^:"}
    # throughput vs size
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    num = sorted({r["size"] for r in tp if r["size"] != "imix"})
    if num:
        xs = [x for x in range(num[0], num[-1] + 1, max(1, (num[-1] - num[0]) // 400))]
        ax1.plot(xs, [line_rate_pps(x) / 1e6 for x in xs], "k-", lw=3, alpha=0.25,
                 label="10 GbE line rate")  # fmt: skip
    for lat in rep["settings"]["read_latencies_ns"]:
        for m in MODES:
            pts = sorted(
                (r["size"], r) for r in tp
                if r["mode"] == m and r["read_latency_ns"] == lat and r["size"] != "imix"
            )  # fmt: skip
            if not pts:
                continue
            x = [p[0] for p in pts]
            pps = [p[1]["line_rate_pct"] / 100 * line_rate_pps(p[0]) / 1e6 for p in pts]
            lab = f"{m}, {lat_label(lat)} reads"
            ax1.plot(x, pps, styles[m], ms=4, label=lab, alpha=0.85)
            ax2.plot(x, [p[1]["line_rate_pct"] for p in pts], styles[m], ms=4, label=lab,
                     alpha=0.85)  # fmt: skip
            im = [r for r in tp if r["size"] == "imix" and r["mode"] == m
                  and r["read_latency_ns"] == lat]  # fmt: skip
            if im:
                ax2.plot([imix_mean()], [im[0]["line_rate_pct"]], "x", ms=9, color="k")
    ax2.axhline(100, color="k", lw=3, alpha=0.25, label="line rate")
    ax2.annotate("IMIX (×)", (imix_mean(), 100), textcoords="offset points", xytext=(4, -14),
                 fontsize=8)  # fmt: skip
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_xlabel("frame size, bytes (FCS included)")
        ax.grid(True, which="both", alpha=0.3)
    ax1.set_yscale("log")
    ax1.set_ylabel("delivered, Mframes/s")
    ax1.set_title("Frames delivered vs 10 GbE line rate")
    ax2.set_ylabel("% of line rate")
    ax2.set_ylim(min([90.0] + [r["line_rate_pct"] - 2 for r in tp]), 102)
    ax2.set_title("Delivered, % of line rate")
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    files.append(out / "throughput.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    # latency CDF
    fig, ax = plt.subplots(figsize=(8, 4.5))
    curves = [(f"idle, {e['mode']}", e["latencies_ns"], "-") for e in rep["latency"]["idle"]]
    curves += [
        (f"64 B line rate, {e['mode']}, {lat_label(e['read_latency_ns'])}", e["latencies_ns"],
         "--" if e["read_latency_ns"] == 1000.0 else ":")
        for e in rep["latency"]["load"]
    ]  # fmt: skip
    curves += [
        (f"system {x['size']} B line rate (from the wire)", x["latencies_ns"], "-.")
        for x in rep["simulator"]["system"] if x["size"] == 64
    ]  # fmt: skip
    for lab, v, ls in curves:
        if v:
            s = sorted(v)
            ax.step(s, [(i + 1) / len(s) for i in range(len(s))], ls, where="post", label=lab)
    ax.axvline(TARGET_IDLE_LATENCY_NS, color="r", alpha=0.4, label="1 us target (idle)")
    ax.set_xlabel("last frame byte in → completion record in host memory, ns")
    ax.set_ylabel("fraction of frames")
    ax.set_title("Latency CDF, 64 B frames")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    files.append(out / "latency_cdf.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    # requests per frame: non-data kinds at the bottom of each bar, against the target
    sizes = sorted({q["size"] for q in rep["requests"]})
    fig, axes = plt.subplots(
        1, max(1, len(sizes)), figsize=(12, 5), squeeze=False,
        gridspec_kw={"width_ratios": [max(1, sum(q["size"] == z for q in rep["requests"]))
                                      for z in sizes] or [1]},
    )  # fmt: skip
    stack = (*NON_DATA_KINDS, "rq_hdr_write", "rq_data_write")
    colors = dict(zip(stack, ("tab:green", "tab:red", "tab:purple", "tab:orange", "tab:blue"),
                      strict=True))  # fmt: skip
    for ax, z in zip(axes[0], sizes, strict=False):
        reqs = [q for q in rep["requests"] if q["size"] == z]
        bottom = [0.0] * len(reqs)
        for k in stack:
            v = [q["tlps_per_frame"].get(k, 0.0) for q in reqs]
            ax.bar(range(len(reqs)), v, bottom=bottom, label=KIND_LABEL[k], color=colors[k])
            bottom = [a + b for a, b in zip(bottom, v, strict=True)]
        if z == 64:
            ax.axhline(TARGET_NON_DATA_PER_FRAME, color="k", ls="--", lw=1,
                       label="target for the non-data part (≤ 0.5)")  # fmt: skip
        ax.set_xticks(range(len(reqs)))
        ax.set_xticklabels(
            [f"{q['mode']}\n{q['queues']} queue{'s' if q['queues'] > 1 else ''}\n"
             f"MPS {q['mps']}" for q in reqs], fontsize=7,
        )  # fmt: skip
        ax.set_title(f"{size_label(z)} frames at line rate")
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("RQ TLPs per frame")
    axes[0][0].legend(fontsize=7, loc="upper left")
    fig.suptitle("RQ requests per frame by kind (1 us descriptor reads)")
    fig.tight_layout()
    files.append(out / "requests.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    pin = rep.get("pinned_pages")
    if pin is not None:
        fig, ax = plt.subplots(figsize=(11, 4.5))
        t_us = [x / 1000 for x in pin["t_ns"]]
        for o in pin["owners"]:
            lab = f"{o['name']} ({o['mode']}{', stalled' if o.get('stalled') else ''})"
            line = ax.step(t_us, pin["pinned_pages"][o["name"]], where="post", label=lab)
            if o["quota_pages"] <= 2 * max(o["peak_pinned_pages"], 1):
                ax.axhline(o["quota_pages"], color=line[0].get_color(), ls=":", lw=1,
                           label=f"{o['name']} quota")  # fmt: skip
            if o.get("teardown_ns") is not None:
                ax.axvline(o["teardown_ns"] / 1000, color=line[0].get_color(), ls="--", lw=1,
                           label=f"{o['name']} torn down")  # fmt: skip
        ax.axvspan(0, pin["wire_ns"] / 1000, color="k", alpha=0.06, label="frames on the wire")
        ax.set_xlabel("simulated time from the first frame, us")
        ax.set_ylabel("pinned pages (4 KiB)")
        ax.set_title("Pinned pages per owner (page constructor), IMIX at line rate")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        files.append(out / "pinned_pages.png")
        fig.savefig(files[-1], dpi=110)
        plt.close(fig)
    return files


def dump(rep: dict[str, Any]) -> str:
    """bench.json text: indented, lists of numbers on one line each (latencies)."""
    text = json.dumps(rep, indent=1)
    return (
        re.sub(r"\[\s+([-+\deE.,\s]+?)\s+\]", lambda m: f"[{' '.join(m[1].split())}]", text) + "\n"
    )


def write_report(rep: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(dump(rep))
    (out / "report.md").write_text(markdown(rep))
    return [out / "bench.json", out / "report.md", *plots(rep, out)]


# -- command line -----------------------------------------------------------------------------


def progress_line(jobs: list[dict[str, Any]], done: set[str], t0: float) -> str:
    total = sum(len(j.get("tasks", [1])) for j in jobs)
    got = 0
    for j in jobs:
        n = len(j.get("tasks", [1]))
        if j["name"] in done:
            got += n
            continue
        try:
            got += int((job_dir(j["name"]) / "progress").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    fill = 30 * got // max(total, 1)
    bar = "#" * fill + "." * (30 - fill)
    return f"  [{bar}] {got}/{total} points, {time.perf_counter() - t0:.0f} s"


def speed_job(seed: int, repeats: int) -> dict[str, Any]:
    """The full bench's system-speed job alone, each frame size run ``repeats`` times in one
    simulator process (one after the other), for `--speed`."""
    job = next(j for j in plan(False, seed) if j["type"] == "system")
    job["name"] = "speed"
    one = {t["size"]: t for t in job["tasks"]}  # the full run repeats each size itself
    job["tasks"] = [t for t in one.values() for _ in range(repeats)]
    return job


def system_run(p: dict[str, Any]) -> dict[str, Any]:
    """One system-speed point as the report keeps it: frames, times and rates."""
    size = p["task"]["size"]
    return {
        "size": size,
        "frames": p["frames_sent"],
        "delivered": p["frames_delivered"],
        "drops": p["drops"],
        "wall_s": p["wall_s"],
        "cpu_s": p["cpu_s"],
        "sim_ns": p["sim_ns"],
        "frames_per_s": p["frames_delivered"] / p["wall_s"],
        "frames_per_cpu_s": p["frames_delivered"] / p["cpu_s"],
        "clocks_per_s": p["sim_ns"] / USER_CLK_NS / p["wall_s"],
        "target_frames_per_s": TARGET_SYSTEM_FPS.get(size),
        "latency_ns": p["latency_ns"],
        "latencies_ns": p.get("latencies_ns", []),
        "mps": p.get("mps"),
        "mrrs": p.get("mrrs"),
    }


def speed_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per frame size, over its system runs (``system_run``): the frames per wall-second and
    per CPU-second of each run, their best and their median. (Each run starts at another
    simulated time, so the phase between the MAC and PCIe clocks, and with it a frame's
    latency, may differ by a clock.)"""
    by: dict[int, list[dict[str, Any]]] = {}
    for x in runs:
        by.setdefault(int(x["size"]), []).append(x)
    rows = []
    for size, xs in sorted(by.items()):
        fps = [x["frames_per_s"] for x in xs]
        cpu = [x["frames_per_cpu_s"] for x in xs]
        rows.append(
            {
                "size": size,
                "frames": xs[0]["delivered"],
                "sim_ns": xs[0]["sim_ns"],
                "runs": len(xs),
                "frames_per_s": fps,
                "frames_per_cpu_s": cpu,
                "best_frames_per_s": max(fps),
                "median_frames_per_s": percentile(fps, 50),
                "best_frames_per_cpu_s": max(cpu),
                "median_frames_per_cpu_s": percentile(cpu, 50),
                "target_frames_per_s": TARGET_SYSTEM_FPS.get(size),
            }
        )
    return rows


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
    rep = {
        "schema": SCHEMA + "/speed",
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "seed": seed,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1min_mean": sum(load) / len(load),
            "load_avg_1min_max": max(load),
        },
        "system": rows,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(dump(rep))
    print(f"splitrx bench — simulator speed, full system (splitrx_top from the XGMII wire at "
          f"line rate), seed {seed}; load average {rep['machine']['load_avg_1min_mean']:.1f} "
          f"(max {rep['machine']['load_avg_1min_max']:.1f}) on {os.cpu_count()} CPUs")  # fmt: skip
    for x in rows:
        print(
            f"  {x['size']:>5} B: {x['frames']} frames, {x['sim_ns'] / 1000:.1f} us simulated; "
            f"frames/s best {x['best_frames_per_s']:.1f}, median "
            f"{x['median_frames_per_s']:.1f} (runs: "
            + ", ".join(f"{v:.1f}" for v in x["frames_per_s"])
            + f"); per CPU-s best {x['best_frames_per_cpu_s']:.1f}; target "
            f"{fmt(x['target_frames_per_s'])}"
        )
    say(f"wrote {out / 'speed.json'}")
    return 0 if len(rows) == len(TARGET_SYSTEM_FPS) else 1


class BuildFailed(Exception):
    """A Verilator build failed; the message is one line (the log is under build/sim)."""


def run_all(
    jobs: list[dict[str, Any]], workers: int, say: Callable[[str], None], load: list[float]
) -> tuple[list[dict[str, Any]], float]:
    """Build both tops, then run the jobs ``workers`` at a time; ``load`` collects the
    1-minute load average every 2 s (other work on the machine slows the simulator)."""
    t0 = time.perf_counter()
    results: list[dict[str, Any]] = []
    tty = sys.stderr.isatty()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        builds = [pool.submit(build_top, t) for t in ("splitrx_core", "splitrx_top", SYSTEM_TOP)]
        try:
            build_s = max(f.result() for f in builds)
        except Exception as exc:  # noqa: BLE001 - one line, then stop
            raise BuildFailed(str(exc).splitlines()[0] if str(exc) else repr(exc)) from None
        say(f"builds ready in {build_s:.0f} s; {len(jobs)} simulator jobs on {workers} workers")
        # speed measurements ("alone") wait until every other job is done, then run one at a time
        later = [j for j in jobs if j.get("alone")]
        pending = {pool.submit(run_job, j) for j in jobs if not j.get("alone")}
        done: set[str] = set()
        while pending or later:
            if not pending:
                pending = {pool.submit(run_job, later.pop(0))}
            fin, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
            load.append(os.getloadavg()[0])
            for f in fin:
                r = f.result()
                results.append(r)
                done.add(r["name"])
                if tty:
                    print("\r\033[K", end="", file=sys.stderr)
                status = f"FAILED: {r['error']}" if r.get("error") else "done"
                say(f"job {r['name']} {status} in {r['wall_s']:.0f} s ({len(done)}/{len(jobs)})")
            if tty and pending:
                print(f"\r\033[K{progress_line(jobs, done, t0)}", end="", file=sys.stderr,
                      flush=True)  # fmt: skip
    return results, build_s


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
    machine = {
        "cpus": os.cpu_count(),
        "workers": args.jobs,
        "load_avg_1min_mean": sum(load) / len(load) if load else None,
        "load_avg_1min_max": max(load, default=None),
    }
    host = {"poll_ns": args.poll_ns, "refill_batch": args.refill_batch}
    rep = collect(results, args.quick, args.seed, time.perf_counter() - t0, build_s, machine, host)
    files = write_report(rep, out)
    rep["wall_s"] = time.perf_counter() - t0
    (out / "bench.json").write_text(dump(rep))
    say(f"wrote {', '.join(str(f.relative_to(out)) for f in files)} in {out}")
    summary(rep)
    return 1 if rep["errors"] else 0


def rerender(src: Path, out: Path) -> int:
    """report.md, the plots and bench.json from an existing bench.json (its figures
    unchanged; the shortfalls and comparisons derived again)."""
    try:
        rep = json.loads(src.read_text())
    except (OSError, ValueError) as exc:
        print(f"splitrx bench: --report-from {src}: {exc}", file=sys.stderr)
        return 2
    problems = validate_report(rep)
    if problems:
        print(f"splitrx bench: --report-from {src}: {problems[0]}", file=sys.stderr)
        return 2
    rep["shortfalls"] = shortfalls(rep)
    rep["comparisons"] = request_lines(rep, one_queue=False)
    files = write_report(rep, out)
    print(f"splitrx bench: wrote {', '.join(f.name for f in files)} in {out}", file=sys.stderr)
    return 0


def summary(rep: dict[str, Any]) -> None:
    """The throughput table and the shortfalls on stdout."""
    tp = rep["throughput"]
    lats = rep["settings"]["read_latencies_ns"]
    cols = [(m, lat) for lat in lats for m in MODES]
    by = {(r["size"], r["mode"], r["read_latency_ns"]): r for r in tp}
    head = "frame    " + "".join(f"{m[:10]:>11}{lat / 1000:>4g}u" for m, lat in cols)
    print(f"splitrx bench — % of 10 GbE line rate delivered (seed {rep['seed']})")
    print(head)
    for size in sizes_in(tp):
        cells = []
        for m, lat in cols:
            r = by.get((size, m, lat))
            cells.append(
                "" if r is None else "err" if r.get("error") else f"{r['line_rate_pct']:.1f}"
            )
        print(f"{size_label(size):<9}" + "".join(f"{c:>16}" for c in cells))
    for x in rep["shortfalls"]:
        print(f"  short: {x}")
    for e in rep["errors"]:
        print(f"  error: {e}")
    print(f"  wall   {rep['wall_s'] / 60:.1f} min")


if __name__ == "__main__":
    sys.exit(main())

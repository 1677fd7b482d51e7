# SPDX-License-Identifier: MIT
"""What `make bench` runs: the 10 GbE arithmetic, the host model and buffers stated in the
report, the targets, and the plan of simulator jobs (plain dicts: they are handed to the
cocotb side, tb/benches/bench_tb.py, as JSON). Imports nothing of the simulator."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

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

# -- targets (docs/design.md, "Performance targets") ----------------------------------------

TARGET_IDLE_LATENCY_NS = 1000.0
TARGET_NON_DATA_PER_FRAME = 0.5
TARGET_SYSTEM_FPS = {64: 400.0, 1518: 45.0}
# runs of each size in the system-speed job (full run, --quick); the target is judged on their
# median, the job runs alone after every other job
SYSTEM_REPEATS = {False: 3, True: 1}
# the system-speed job's top: splitrx_top behind a ring of XGMII words (tb/rtl)
SYSTEM_TOP = "splitrx_feed_top"

RQ_KINDS = ("rq_data_write", "rq_hdr_write", "rq_cpl_write", "rq_desc_read", "rq_msix")
NON_DATA_KINDS = ("rq_cpl_write", "rq_desc_read", "rq_msix")


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


def size_label(size: int | str) -> str:
    return "IMIX" if size == "imix" else f"{size} B"


def lat_label(ns: float) -> str:
    return f"{ns / 1000:g} us"


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


def speed_job(seed: int, repeats: int) -> dict[str, Any]:
    """The full bench's system-speed job alone, each frame size run ``repeats`` times in one
    simulator process (one after the other), for `--speed`."""
    job = next(j for j in plan(False, seed) if j["type"] == "system")
    job["name"] = "speed"
    one = {t["size"]: t for t in job["tasks"]}  # the full run repeats each size itself
    job["tasks"] = [t for t in one.values() for _ in range(repeats)]
    return job

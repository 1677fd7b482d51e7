# SPDX-License-Identifier: MIT
"""The plots of `make bench`'s report (PNG, matplotlib's Agg back end) from a ``Report``."""

from __future__ import annotations

from pathlib import Path

from tb.bench.plan import (
    MODES,
    NON_DATA_KINDS,
    TARGET_IDLE_LATENCY_NS,
    TARGET_NON_DATA_PER_FRAME,
    imix_mean,
    lat_label,
    line_rate_pps,
    size_label,
)
from tb.bench.records import Report


def _size_key(s: int | str) -> tuple[bool, int]:
    return (s == "imix", 0 if isinstance(s, str) else s)


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


def plots(rep: Report, out: Path) -> list[Path]:
    """throughput.png, latency_cdf.png, requests.png and (when measured) pinned_pages.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    tp = [(r, r.m) for r in rep.throughput if r.m is not None]
    styles = {"FULL": "o-", "SPLIT_HOLE": "s--", "SPLIT": "^:"}
    # throughput vs size
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    num = sorted({r.size for r, _ in tp if isinstance(r.size, int)})
    if num:
        xs = [x for x in range(num[0], num[-1] + 1, max(1, (num[-1] - num[0]) // 400))]
        ax1.plot(xs, [line_rate_pps(x) / 1e6 for x in xs], "k-", lw=3, alpha=0.25,
                 label="10 GbE line rate")  # fmt: skip
    for lat in rep.settings.read_latencies_ns:
        for m in MODES:
            pts = sorted(
                ((r.size, f.line_rate_pct) for r, f in tp
                 if r.mode == m and r.read_latency_ns == lat and isinstance(r.size, int)),
                key=lambda p: p[0],
            )  # fmt: skip
            if not pts:
                continue
            x = [p[0] for p in pts]
            pps = [p[1] / 100 * line_rate_pps(p[0]) / 1e6 for p in pts]
            lab = f"{m}, {lat_label(lat)} reads"
            ax1.plot(x, pps, styles[m], ms=4, label=lab, alpha=0.85)
            ax2.plot(x, [p[1] for p in pts], styles[m], ms=4, label=lab,
                     alpha=0.85)  # fmt: skip
            im = [f for r, f in tp if r.size == "imix" and r.mode == m
                  and r.read_latency_ns == lat]  # fmt: skip
            if im:
                ax2.plot([imix_mean()], [im[0].line_rate_pct], "x", ms=9, color="k")
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
    ax2.set_ylim(min([90.0] + [f.line_rate_pct - 2 for _, f in tp]), 102)
    ax2.set_title("Delivered, % of line rate")
    ax2.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    files.append(out / "throughput.png")
    fig.savefig(files[-1], dpi=110)
    plt.close(fig)
    # latency CDF
    fig, ax = plt.subplots(figsize=(8, 4.5))
    curves = [(f"idle, {e.mode}", e.latencies_ns, "-") for e in rep.latency.idle]
    curves += [
        (f"64 B line rate, {e.mode}, {lat_label(e.read_latency_ns)}", e.latencies_ns,
         "--" if e.read_latency_ns == 1000.0 else ":")
        for e in rep.latency.load
    ]  # fmt: skip
    curves += [
        (f"system {x.size} B line rate (from the wire)", x.latencies_ns, "-.")
        for x in rep.simulator.system if x.size == 64
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
    sizes = sorted({q.size for q in rep.requests}, key=_size_key)
    fig, axes = plt.subplots(
        1, max(1, len(sizes)), figsize=(12, 5), squeeze=False,
        gridspec_kw={"width_ratios": [max(1, sum(q.size == z for q in rep.requests))
                                      for z in sizes] or [1]},
    )  # fmt: skip
    stack = (*NON_DATA_KINDS, "rq_hdr_write", "rq_data_write")
    colors = dict(zip(stack, ("tab:green", "tab:red", "tab:purple", "tab:orange", "tab:blue"),
                      strict=True))  # fmt: skip
    for ax, z in zip(axes[0], sizes, strict=False):
        reqs = [q for q in rep.requests if q.size == z]
        bottom = [0.0] * len(reqs)
        for k in stack:
            v = [q.tlps_per_frame.get(k, 0.0) for q in reqs]
            ax.bar(range(len(reqs)), v, bottom=bottom, label=KIND_LABEL[k], color=colors[k])
            bottom = [a + b for a, b in zip(bottom, v, strict=True)]
        if z == 64:
            ax.axhline(TARGET_NON_DATA_PER_FRAME, color="k", ls="--", lw=1,
                       label="target for the non-data part (≤ 0.5)")  # fmt: skip
        ax.set_xticks(range(len(reqs)))
        ax.set_xticklabels(
            [f"{q.mode}\n{q.queues} queue{'s' if q.queues > 1 else ''}\n"
             f"MPS {q.mps}" for q in reqs], fontsize=7,
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
    pin = rep.pinned_pages
    if pin is not None:
        fig, ax = plt.subplots(figsize=(11, 4.5))
        t_us = [x / 1000 for x in pin.t_ns]
        for o in pin.owners:
            lab = f"{o.name} ({o.mode}{', stalled' if o.stalled else ''})"
            line = ax.step(t_us, pin.pinned_pages[o.name], where="post", label=lab)
            if o.quota_pages <= 2 * max(o.peak_pinned_pages, 1):
                ax.axhline(o.quota_pages, color=line[0].get_color(), ls=":", lw=1,
                           label=f"{o.name} quota")  # fmt: skip
            if o.teardown_ns is not None:
                ax.axvline(o.teardown_ns / 1000, color=line[0].get_color(), ls="--", lw=1,
                           label=f"{o.name} torn down")  # fmt: skip
        ax.axvspan(0, pin.wire_ns / 1000, color="k", alpha=0.06, label="frames on the wire")
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

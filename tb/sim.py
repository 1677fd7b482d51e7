# SPDX-License-Identifier: MIT
"""`make sim`: build the RTL once, run a scenario in Verilator, print a report.

Usage: python -m tb.sim [--frames N] [--seed S] [--waves]   (make sim SIM_ARGS='--frames 64')

The default scenario sends mixed frames from the XGMII wire to one virtio guest and checks
every good frame byte for byte in the guest's used ring. With --guest linux (make sim
GUEST=linux) the guest is a real Linux kernel booted in QEMU behind our vhost-user back-end
(docs/guest.md): the report shows what its kernel counted. With --waves (make sim WAVES=1) the
RTL is built a second time with FST tracing and the run writes build/sim/last-sim/dump.fst,
which `make waves` opens in GTKWave with tb/waves/splitrx.gtkw.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sw.qemu_guest import DEFAULT_MAC, GuestImage, GuestUnavailable
from sw.vhost_user_client import BAD_INPUT
from tb.cli import OneLineParser, positive
from tb.runner.build import BUILD_ROOT, REPO, ToolchainError, build, run, top_sources
from tb.sim_scenarios import SCENARIOS, CaptureError, read_capture

# SPLITRX_SIM_DIR: another run directory, so runs can go on side by side (a long one apart)
RUN_DIR = Path(os.environ.get("SPLITRX_SIM_DIR") or BUILD_ROOT / "last-sim").resolve()
# cocotb's Verilator main (share/lib/verilator/verilator.cpp) opens this file in the test
# directory when the build has FST tracing and the run is started with waves=True.
WAVES_FILE = RUN_DIR / "dump.fst"
WAVES_SHOWN = WAVES_FILE.relative_to(REPO) if WAVES_FILE.is_relative_to(REPO) else WAVES_FILE
GUEST_IMAGE = BUILD_ROOT.parent / "guest"  # make guest-image
SECOND_MAC = "02:00:00:00:00:03"  # --second-guest
MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def draw_progress(path: Path, stop: threading.Event, tty: bool) -> None:
    """From the counts the simulation writes to ``path``: on a terminal, redraw a progress
    bar on stderr; otherwise print a progress line every SPLITRX_PROGRESS_S seconds (60), so
    a log shows a long run moving."""
    every_s = float(os.environ.get("SPLITRX_PROGRESS_S") or 60)
    shown = ""
    t0 = last = time.monotonic()
    while True:
        stopping = stop.wait(min(0.5, every_s))
        try:
            done, total = (int(x) for x in path.read_text().split())
        except (OSError, ValueError):
            done, total = 0, 0
        now = time.monotonic()
        if total and not tty and not stopping and now - last >= every_s:
            last = now
            print(
                f"splitrx sim: {done:,} of {total:,} frames ({100 * done // total} %) after "
                f"{now - t0:.0f} s, {done / (now - t0):.0f} frames/s",
                file=sys.stderr,
                flush=True,
            )
        elif total and tty:
            fill = 30 * done // total
            line = f"  [{'#' * fill}{'.' * (30 - fill)}] {done}/{total} frames"
            if line != shown:
                print(f"\r{line}", end="", file=sys.stderr, flush=True)
                shown = line
        if stopping:
            if shown:
                print(file=sys.stderr)
            return


def main(argv: list[str] | None = None) -> int:
    ap = OneLineParser(tool="sim", prog="make sim", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--scenario",
        choices=sorted(SCENARIOS),
        help="model guests only (default two-guests-host); "
        + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()),
    )
    ap.add_argument(
        "--guest",
        choices=("model", "linux"),
        default="model",
        help="model: our Python virtio-net guests (the scenarios); linux: a real Linux guest "
        "in QEMU behind vhost-user, FULL placement, mergeable buffers, MTU 1500 "
        "(make guest-deps guest-image first)",
    )
    ap.add_argument(
        "--guest-mac",
        default=DEFAULT_MAC,
        metavar="MAC",
        help=f"--guest linux: the guest's MAC, for QEMU's mac= and the steering entry "
        f"({DEFAULT_MAC})",
    )
    lx = ap.add_argument_group("--guest linux (docs/guest.md)")
    lx.add_argument(
        "--placement",
        choices=("full", "split-hole"),
        default="full",
        help="how the NIC places frames in the guest's buffers (full); split-hole: "
        "headers into host buffers, copied into the hole by the host",
    )
    lx.add_argument(
        "--mergeable",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="VIRTIO_NET_F_MRG_RXBUF (on); without it Linux posts 1530-byte "
        "buffers, so the MTU stays 1500",
    )
    lx.add_argument(
        "--mtu",
        type=positive,
        default=1500,
        help="the guest's MTU (1500); above 1500 a share of the frames are jumbo "
        "frames up to MTU + 14 bytes (needs --mergeable)",
    )
    lx.add_argument(
        "--guest-csum",
        action="store_true",
        help="VIRTIO_NET_F_GUEST_CSUM: the host passes DATA_VALID; a share of the "
        "frames are UDP with right and wrong checksums",
    )
    lx.add_argument(
        "--event-idx",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="VIRTIO_RING_F_EVENT_IDX (on)",
    )
    lx.add_argument(
        "--second-guest",
        metavar="MAC",
        nargs="?",
        const=SECOND_MAC,
        help=f"a second Linux guest (MAC {SECOND_MAC}, NIC queue 2) and the "
        "host's own queue (queue 0, the host's MAC, broadcast)",
    )
    lx.add_argument(
        "--kill",
        choices=("linux0", "linux1"),
        help="kill that guest's QEMU a third of the way through the traffic, then "
        "attach a new guest to its socket",
    )
    lx.add_argument(
        "--bad-input",
        metavar="KINDS",
        help="our own vhost-user front-end (a fake guest on NIC queue 3) sends "
        f"bad input of these kinds, comma-separated: {', '.join(BAD_INPUT)}",
    )
    ap.add_argument(
        "--frames",
        type=positive,
        help="frames on the wire (200); with --pcap the whole capture once, or N: its first N "
        "frames, from its start again while N is more",
    )
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    ap.add_argument(
        "--pcap",
        metavar="FILE",
        help="replay a capture (pcap or pcapng, Ethernet) onto the wire instead of random frames",
    )
    ap.add_argument(
        "--runts",
        action="store_true",
        help="--pcap: every frame shorter than 60 B is a true runt, sent unpadded (else only "
        "those with the pcapng comment 'runt'; the others are padded to 60 B)",
    )
    ap.add_argument(
        "--pcap-out", metavar="DIR", help="per-owner captures, dropped.pcap and dropped.csv"
    )
    ap.add_argument(
        "--dump", metavar="DIR", help="guest RAM images and manifest.json (buffers used once)"
    )
    ap.add_argument(
        "--waves",
        action="store_true",
        help=f"FST trace to {WAVES_SHOWN} (make waves)",
    )
    args = ap.parse_args(argv)
    frames_given = args.frames is not None
    if not frames_given:
        args.frames = 200
    linux = args.guest == "linux"
    if linux:
        for opt, given in (("--scenario", args.scenario), ("--dump", args.dump)):
            if given:
                ap.error(f"{opt} is for model guests, not --guest linux")
        args.guest_mac = args.guest_mac.lower()
        macs = [("--guest-mac", args.guest_mac)]
        if args.second_guest:
            args.second_guest = args.second_guest.lower()
            macs.append(("--second-guest", args.second_guest))
        for opt, mac in macs:
            if not MAC_RE.match(mac) or int(mac[:2], 16) & 1:
                ap.error(f"{opt} {mac}: not a unicast MAC like {DEFAULT_MAC}")
        if args.second_guest == args.guest_mac:
            ap.error(f"--second-guest {args.second_guest}: the first guest's MAC too")
        if not args.mergeable and args.mtu > 1500:
            ap.error(
                f"--mtu {args.mtu} needs --mergeable: without mergeable buffers Linux "
                "posts 1530-byte buffers"
            )
        if not 68 <= args.mtu <= 9000:
            ap.error(f"--mtu {args.mtu}: not in 68..9000 (the MAC takes frames up to 9022 B)")
        if args.kill == "linux1" and not args.second_guest:
            ap.error("--kill linux1 needs --second-guest")
        kinds = [k for k in (args.bad_input or "").split(",") if k]
        for k in kinds:
            if k not in BAD_INPUT:
                ap.error(f"--bad-input {k}: not one of {', '.join(BAD_INPUT)}")
        try:
            GuestImage.find(GUEST_IMAGE, REPO / "guest")
        except GuestUnavailable as exc:
            print(f"splitrx sim: --guest linux: {exc}", file=sys.stderr)
            return 2
    else:
        for opt, given in (("--placement", args.placement != "full"),
                           ("--no-mergeable", not args.mergeable), ("--mtu", args.mtu != 1500),
                           ("--guest-csum", args.guest_csum), ("--no-event-idx",
                           not args.event_idx), ("--second-guest", args.second_guest),
                           ("--kill", args.kill), ("--bad-input", args.bad_input)):  # fmt: skip
            if given:
                ap.error(f"{opt} is for --guest linux")
    scenario = args.scenario or "two-guests-host"
    if args.pcap and scenario == "hostile":
        ap.error(
            "--pcap: not with --scenario hostile, whose traffic is its own attack "
            "(the wire saturated towards the hostile guest)"
        )
    if args.pcap:
        try:  # before anything is built or simulated
            read_capture(args.pcap)
        except CaptureError as exc:
            print(f"splitrx sim: --pcap {args.pcap}: {exc}", file=sys.stderr)
            return 2
    elif args.runts:
        ap.error("--runts is for --pcap")
    for opt, d in (("--pcap-out", args.pcap_out), ("--dump", args.dump)):
        if d and Path(d).exists() and not Path(d).is_dir():
            print(f"splitrx sim: {opt} {d}: exists and is not a directory", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    try:
        b = build("splitrx_top", top_sources("splitrx_top"), waves=args.waves)
    except ToolchainError as exc:
        print(f"splitrx sim: toolchain: {exc}", file=sys.stderr)
        return 1
    t_build = time.perf_counter() - t0
    report_path = RUN_DIR.parent / f"{RUN_DIR.name}-report.json"
    report_path.unlink(missing_ok=True)
    # a trace left by an earlier run would not match this run's log
    WAVES_FILE.unlink(missing_ok=True)
    log = RUN_DIR / "sim.log"
    what = f"{args.frames} frames"
    if args.pcap:
        what = f"{what} of {args.pcap}" if frames_given else f"frames of {args.pcap}"
    print(f"splitrx sim: {what}, seed {args.seed} (log: {log})", file=sys.stderr)
    progress_path = RUN_DIR.parent / f"{RUN_DIR.name}-progress"
    progress_path.unlink(missing_ok=True)
    stop = threading.Event()
    bar = threading.Thread(
        target=draw_progress, args=(progress_path, stop, sys.stderr.isatty()), daemon=True
    )
    bar.start()
    guest_env = {
        "SPLITRX_LINUX_PLAN": json.dumps(linux_plan(args)) if linux else "",
        "SPLITRX_GUEST_IMAGE": str(GUEST_IMAGE),
        "SPLITRX_GUEST_WORKDIR": str(RUN_DIR / "guest"),
    }
    try:
        run(
            b,
            "tb.benches.linux_tb" if linux else "tb.benches.sim_tb",
            extra_env={
                **(guest_env if linux else {}),
                "SPLITRX_REPORT": str(report_path),
                # empty: the whole capture
                "SPLITRX_FRAMES": str(args.frames) if frames_given or not args.pcap else "",
                "SPLITRX_SEED": str(args.seed),
                "SPLITRX_SCENARIO": scenario,
                "SPLITRX_PCAP": str(Path(args.pcap).resolve()) if args.pcap else "",
                "SPLITRX_RUNTS": "1" if args.runts else "",
                "SPLITRX_PCAP_OUT": str(Path(args.pcap_out).resolve()) if args.pcap_out else "",
                "SPLITRX_DUMP": str(Path(args.dump).resolve()) if args.dump else "",
                "SPLITRX_PROGRESS_FILE": str(progress_path),
            },
            test_dir=RUN_DIR,
            log_file=log,
        )
    except (AssertionError, SystemExit) as exc:
        if not report_path.exists():
            stop.set()
            print(f"splitrx sim: FAILED: {exc} (log: {log})", file=sys.stderr)
            if args.waves and WAVES_FILE.exists():
                print(f"splitrx sim: waves: {WAVES_FILE} (make waves)", file=sys.stderr)
            return 1
    finally:
        stop.set()
        if bar.is_alive():
            bar.join()
    r = json.loads(report_path.read_text())
    if r.get("guest") == "linux":
        for line in linux_report(r, t_build):
            print(line)
        return 0 if r["checks_passed"] else 1
    cycles_s = r["user_clk_cycles"] / r["wall_s"]
    delivered = sum(r["delivered"].values())
    placement = ", ".join(f"{o} {m}" for o, m in r["placement"].items())
    print(f"splitrx sim — scenario {r['scenario']}, seed {r['seed']} ({placement})")
    replay, passes = r.get("replay") or {}, ""
    if replay.get("passes", 1) > 1:
        passes = f" ({replay['passes']} passes over its {replay['capture_frames']} frames)"
    print(f"  sent       {r['sent']} frames on the wire{passes}")
    if replay:
        print(
            f"  capture    {replay['file']} ({replay['format']}): {replay['frames']} frames, "
            f"{replay['truncated']} truncated (caplen < len: replayed as captured), "
            f"{replay['padded']} padded to 60 B, {replay['runts']} true runts (sent unpadded), "
            f"{replay['oversize']} oversize"
        )
    for owner, n in r["delivered"].items():
        print(f"  delivered  {owner}: {n}")
    drops = ", ".join(f"{k} {v}" for k, v in r["dropped"].items()) or "none"
    print(f"  dropped    {drops}")
    print(f"  host       {r['interrupts']} MSI-X interrupts served")
    print(
        f"  checks     {'all passed' if r['checks_passed'] else 'FAILED'}: {r['checks']} "
        f"scoreboard checks (model placement, completions, byte-exact frames, order), "
        f"accounting, {r['tracker_violations']} stray writes, {r['dma_faults']} DMA faults"
    )
    for m in r["problems"]:
        print(f"  PROBLEM    {m}")
    if r.get("rss"):
        x = r["rss"]
        print(
            f"  rss        {x['key']}, UDP over the "
            f"{'4' if x['udp_4tuple'] else '2'}-tuple, 128 entries over host queues "
            + ", ".join(str(q) for q in x["queues"])
            + ": "
            + ", ".join(f"{o} {r['placed'].get(o, 0)}" for o in x["owners"])
            + " placed"
        )
    for name, x in r.get("xsk", {}).items():
        print(
            f"  xsk        {name}: {x['frames']} frames through its completion ring "
            f"({x['split']} split, headers copied in front of the payload), "
            f"{x['recycled']} chunks recycled (too long), {x['fill_taken']} fill entries "
            f"taken, {x['pinned_pages']} pages pinned at the end"
        )
    for name, x in r.get("chains", {}).items():
        print(
            f"  chains     {name}: big-packet chains of "
            + "/".join(str(n) for n in x["segments_per_chain"])
            + " segments, frames by segments filled "
            + ", ".join(f"{k}: {v}" for k, v in x["frames_by_segments_filled"].items())
            + f", {x['recycled_too_long']} chains reposted (too long)"
        )
    for key, label in (("pcap_out", "captures"), ("dump", "dump")):
        if r.get(key):
            print(f"  {label:<10} " + ", ".join(f"{k}: {v}" for k, v in r[key].items()))
    if r.get("hostile"):
        x = r["hostile"]
        print("  hostile    pinned pages vs quota, drops, the others' share:")
        print(
            f"    quota {x['quota_pages']} pages; posted {x['posted_buffers']} buffers; "
            f"refused {x['refusals']}; pinned peak {x['peak_pinned']}, before teardown "
            f"{x['pinned_before_teardown']}, after teardown {x['pinned_after_teardown']}"
        )
        for owner, n in x["sent_to"].items():
            got, placed = r["delivered"].get(owner, 0), r["placed"].get(owner, 0)
            print(
                f"    {owner:<12} sent {n:>4}  placed {placed:>4}  taken by the owner "
                f"{got:>4} ({100 * got / n:.1f} %)"
            )
        print(
            f"    IOMMU faults {x['iommu_faults']}, tracker violations "
            f"{x['tracker_violations']}, writes into its RAM after teardown "
            f"{x['writes_after_teardown']}"
        )
    print(f"  simulated  {r['sim_ns'] / 1000:.1f} us = {r['user_clk_cycles']:,} user-clock cycles")
    print(
        f"  wall       {r['wall_s']:.1f} s: {delivered / r['wall_s']:.0f} frames/s, "
        f"{cycles_s:,.0f} cycles/s (build {t_build:.1f} s)"
    )
    if args.waves:
        if not WAVES_FILE.exists() or WAVES_FILE.stat().st_size == 0:
            print(f"  waves      MISSING: the run wrote no {WAVES_FILE}")
            return 1
        size_mb = WAVES_FILE.stat().st_size / 1e6
        print(f"  waves      {WAVES_FILE} ({size_mb:.1f} MB; open with: make waves)")
    return 0 if r["checks_passed"] else 1


def linux_plan(args: Any) -> dict[str, Any]:
    """The plan tb/benches/linux_tb.py runs, from the --guest linux options."""
    guest = {"mode": args.placement.upper().replace("-", "_"), "mergeable": args.mergeable,
             "mtu": args.mtu, "csum": args.guest_csum, "event_idx": args.event_idx}  # fmt: skip
    guests = [{"name": "linux0", "mac": args.guest_mac, "queue": 1, **guest}]
    if args.second_guest:
        guests.append({"name": "linux1", "mac": args.second_guest, "queue": 2, **guest})
    return {
        "guests": guests,
        "host_queue": bool(args.second_guest),
        "frames": args.frames,
        "seed": args.seed,
        "jumbo": 0.3 if args.mtu > 1500 else 0.0,
        "csum_udp": 0.25 if args.guest_csum else 0.0,
        "kill": args.kill,
        "bad_input": [k for k in (args.bad_input or "").split(",") if k],
        "pcap": str(Path(args.pcap).resolve()) if args.pcap else "",
        "pcap_out": str(Path(args.pcap_out).resolve()) if args.pcap_out else "",
    }


def linux_report(r: dict[str, Any], t_build: float) -> list[str]:
    """The lines of `make sim GUEST=linux`'s report."""
    src = f"frames of {r['pcap']}" if r.get("pcap") else "mixed frames"
    to = ", ".join(f"{k} {v}" for k, v in r.get("sent_to", {}).items())
    host = r.get("host_delivered")
    lines = [
        f"splitrx sim — real Linux guests (kernel {r['kernel']}), seed {r['seed']}",
        f"  sent       {r['sent']} {src} on the wire ({to})",
        f"  delivered  {r['delivered']} into the guests' RAM (RTL DMA through the IOMMU)"
        + ("" if host is None else f"; {host} to the host's queue"),
        "  dropped    " + (", ".join(f"{k} {v}" for k, v in r["dropped"].items()) or "none"),
    ]
    for name, g in r.get("linux", {}).items():
        lines += linux_guest_lines(name, g)
    t = r.get("teardown") or {}
    for c in t.get("checks", []):
        lines.append(
            f"  teardown   {c['owner']} killed mid-traffic; {t.get('close_seen_s', 0):.2f} s "
            f"later the back-end saw its socket close ({c['reason']}): "
            f"{c['lost_pending'] + c['lost_completed']} frames in flight lost with it; after: "
            f"{c['pinned_after']} of {c['pages_checked']} pages pinned, "
            f"{c['iommu_mapped_after']} mapped in the IOMMU, {c['ram_still_mapped']} RAM "
            f"ranges mapped, {c['writes_after']} DMA writes into it"
        )
    if "reattach_boot_s" in t:
        lines.append(f"  teardown   a new guest attached to the same socket, ready in "
                     f"{t['reattach_boot_s']:.1f} s")  # fmt: skip
    for x in r.get("bad_input", []):
        line = x["error_lines"][0] if x["error_lines"] else "no error line"
        read = f"after {x['frames_read']} frames read, " if x["frames_read"] else ""
        lines.append(
            f"  bad input  {x['kind']}: {read}{len(x['error_lines'])} line ({line}); socket "
            f"{'closed' if x['socket_closed'] else 'OPEN'}, memfd "
            f"{'unchanged' if x['memfd_unchanged'] else 'WRITTEN'}, stopped in "
            f"{x['stopped_s']:.2f} s"
        )
    lines.append(
        f"  checks     {'all passed' if r['checks_passed'] else 'FAILED'}: {r['checks']} "
        "scoreboard checks, NIC accounting, guest counters, stray writes, DMA faults; "
        f"{r['pinned_pages_after']} pages pinned after the guests powered off"
    )
    lines += [f"  PROBLEM    {m}" for m in r["problems"]]
    if r.get("pcap_out"):
        lines.append("  captures   " + ", ".join(f"{k}: {v}" for k, v in r["pcap_out"].items()))
    boot = ", ".join(f"{k} {v:.1f} s" for k, v in r.get("boot_s", {}).items())
    lines.append(
        f"  wall       boot {boot}, traffic {r['traffic_s']:.1f} s: "
        f"{r['frames_per_s']:.0f} frames/s on the wire; {r['wall_s']:.1f} s in all "
        f"(build {t_build:.1f} s)"
    )
    return lines


def linux_guest_lines(name: str, g: dict[str, Any]) -> list[str]:
    """One guest's part of the report: its settings, its kernel's counters against the
    wire's, its receiver, checksums, placement, rings."""
    got, want = g.get("counters", {}), g.get("expected", {})

    def cmp(key: str) -> str:
        ok = got.get(key) == want.get(key)
        return f"{got.get(key, '?')}{'' if ok else f' (expected {want.get(key)})'}"

    feats = ", ".join(
        x
        for x, on in (
            ("mergeable", g["mergeable"]),
            ("GUEST_CSUM", g["csum"]),
            ("EVENT_IDX", g["event_idx"]),
        )
        if on  # fmt: skip
    )
    boots = ", then ".join(f"{b:.1f} s" for b in g["boot_s"])
    lines = [
        f"  {g['owner']:<10} {g['placement']}, {feats or 'no offloads'}, MTU {g['mtu']}; mac "
        f"{g['mac']}, NIC queue {g['queue']}; ready in {boots}",
        f"    guest    rx_packets {cmp('rx_packets')}, rx_bytes {cmp('rx_bytes')}, "
        f"rx_dropped {cmp('rx_dropped')}",
        f"    guest    Udp InDatagrams {cmp('udp_in_datagrams')}, InCsumErrors "
        f"{cmp('udp_in_csum_errors')}; Udp6 InDatagrams {cmp('udp6_in_datagrams')}, "
        f"InCsumErrors {cmp('udp6_in_csum_errors')}; Tcp InCsumErrors "
        f"{cmp('tcp_in_csum_errors')}",
        f"    receiver {g['receiver_frames']} frames on an AF_PACKET socket "
        + ("byte-exact with the wire (length and FNV-1a hash, in order)"
           if g["receiver_matches_wire"] else "DIFFERENT from the wire")
        + f"; {g['datagrams_read']} UDP datagrams read, "
        + ("exactly the good ones" if g["datagrams_match"] else "NOT the good ones"),
        f"    csum     {g['csum_valid_frames']} frames held as verified by the guest kernel "
        f"(DATA_VALID); {g['csum_plain_frames']} with checksums the NIC checks all right, "
        f"{g['csum_bad_frames']} with one wrong",
        f"    buffers  largest frame {g['largest_frame']} B; {g['multi_buffer_frames']} frames "
        f"over several buffers (num_buffers up to {g['num_buffers_max']}); "
        f"{g['split_frames']} split, header copied into the hole by the host "
        f"({g['backend'].get('hdr_copy_bytes', 0)} bytes)",
    ]  # fmt: skip
    rg = g.get("rings", {})
    if rg:
        lines.append(
            f"    rings    RX: {rg.get('rx_calls', 0)} calls for {rg.get('rx_used_updates', 0)} "
            f"used-ring updates, {rg.get('rx_calls_asked', 0)} asked for by the guest's "
            f"{'used_event' if g['event_idx'] else 'flags'}; {rg.get('rx_kicks', 0)} kicks, "
            f"{rg.get('rx_kicks_asked', 0)} asked for by our "
            f"{'avail_event' if g['event_idx'] else 'flags'} (+{rg.get('rx_kick_races', 0)} "
            f"racing); TX: {rg.get('tx_calls', 0)} calls, {rg.get('tx_kicks', 0)} kicks; the "
            f"guest took {g['virtio_irqs']} interrupts"
        )
    lines.append(f"    guest TX {g['tx_frames']} frames drained from its TX queue")
    return lines


if __name__ == "__main__":
    sys.exit(main())

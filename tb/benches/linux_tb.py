# SPDX-License-Identifier: MIT
"""cocotb side of `make sim GUEST=linux` and the real-guest tests: frames from the wire
through splitrx_top (MAC, parser, steering, DMA, PCIe) into real Linux guests booted in QEMU,
each behind our vhost-user back-end; the scoreboard checks every frame as the vhost backend
hands it to a guest, then each guest's receiver and kernel counters are compared with the
wire.

What runs is a plan (JSON in SPLITRX_LINUX_PLAN, ``Plan``): the guests (placement, mergeable
buffers, MTU, checksum offload, event index), the host's own queue, the traffic (jumbo
frames, UDP checksum cases), a guest killed mid-traffic and a new one attached to its
socket, and bad input from our own front-end (``sw.vhost_user_client``) next to them.
Figures go to the JSON file named by SPLITRX_REPORT (tb/sim.py prints them)."""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cocotb
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiFrame
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import rdpcap, wrpcap

from model.records import DropReason, PlacementMode
from model.virtio import VIRTIO_NET_HDR_V1_SIZE
from sw.qemu_guest import GuestImage
from sw.vhost_user import Request
from sw.vhost_user_client import FakeFrontEnd
from tb.lib.linux_guest import (
    LINUX_MIN_BUF,
    Device,
    FakeSpec,
    LinuxGuestRig,
    delta,
    guest_checks,
    linux_spec,
    teardown_checks,
    workdir_for,
)
from tb.lib.scoreboard import ScoreboardMismatch
from tb.lib.specs import HOST_MAC
from tb.lib.traffic import PEER_MAC, scapy_frame

BATCH = 8
MAX_WIRE_FRAME = 9026  # the MAC's limit with FCS
MTU_FRAME = 1514  # the largest untagged frame at MTU 1500, FCS excluded
#: Checksum cases for a guest (Plan.csum_udp): UDP over IPv4 and IPv6, right or wrong UDP
#: checksum, and a wrong IPv4 header checksum under a right UDP one.
CSUM_CASES = ("udp4", "udp4-bad", "udp6", "udp6-bad", "ip4-hdr-bad")


@dataclass
class GuestPlan:
    name: str = "linux0"
    mac: str = "02:00:00:00:00:01"
    queue: int = 1
    mode: str = "FULL"
    mergeable: bool = True
    mtu: int = 1500
    csum: bool = False
    event_idx: bool = True


@dataclass
class Plan:
    guests: list[GuestPlan] = field(default_factory=lambda: [GuestPlan()])
    host_queue: bool = False
    frames: int = 200
    seed: int = 1
    jumbo: float = 0.0  # share of a jumbo guest's frames above 1514 B
    csum_udp: float = 0.0  # share of a guest's frames that are checksum cases
    bad_fcs: float = 0.05
    kill: str | None = None  # the guest whose QEMU is killed halfway through the traffic
    reattach: bool = True  # ... and a new one attached to its socket
    bad_input: list[str] = field(default_factory=list)  # BAD_INPUT kinds, by a fake guest
    pcap: str = ""
    pcap_out: str = ""

    @classmethod
    def from_json(cls, text: str) -> Plan:
        raw = json.loads(text)
        raw["guests"] = [GuestPlan(**g) for g in raw.get("guests", [asdict(GuestPlan())])]
        return cls(**raw)


FAKE = FakeSpec("fake0", "02:00:00:00:00:51", 3)


def progress(done: int, total: int) -> None:
    path = os.environ.get("SPLITRX_PROGRESS_FILE")
    if path:
        with open(path, "w") as f:
            f.write(f"{done} {total}\n")


def csum_frame(rng: random.Random, dst: str, i: int, case: str, size: int) -> bytes:
    """A UDP frame of ``size`` bytes to the guest's port 9 for checksum case ``case``
    (CSUM_CASES): a wrong checksum is the right one with two bits flipped."""
    eth = Ether(dst=dst, src=PEER_MAC)
    v6 = case.startswith("udp6")
    l3 = IPv6(src="fd00::2", dst="fd00::1") if v6 else IP(src="10.0.0.2", dst="10.0.0.1")
    hdr = eth / l3 / UDP(sport=4000 + (i & 0xFFF), dport=9)
    body = bytes(rng.getrandbits(8) for _ in range(max(0, size - len(hdr))))
    raw = bytearray(bytes(hdr / Raw(body)))
    l4 = 14 + (40 if v6 else 20)
    if case.endswith("-bad") and case != "ip4-hdr-bad":
        raw[l4 + 6] ^= 0x01
        raw[l4 + 7] ^= 0x01
    if case == "ip4-hdr-bad":
        raw[14 + 10] ^= 0x01
        raw[14 + 11] ^= 0x01
    return bytes(raw)


async def send_captured(rig: LinuxGuestRig, frame: bytes) -> None:
    """A frame of a capture as a link partner would send it: padded to 60 bytes; one longer
    than the MAC takes is expected as an oversize drop."""
    if len(frame) < 60:
        frame += bytes(60 - len(frame))
    if len(frame) + 4 > MAX_WIRE_FRAME:
        rig.stats.sent += 1
        rig.sb.wire(frame, DropReason.OVERSIZE)
        await rig.wire.send(XgmiiFrame.from_payload(frame))
        return
    await rig.send(frame)


class Traffic:
    """The frames of the run, a batch at a time, to whichever owners are up."""

    def __init__(self, rig: LinuxGuestRig, plan: Plan, rng: random.Random) -> None:
        self.rig = rig
        self.plan = plan
        self.rng = rng
        self.replay = [bytes(p) for p in rdpcap(plan.pcap)] if plan.pcap else []
        self.total = len(self.replay) or plan.frames
        self.sent = 0
        self.to: dict[str, int] = {}  # frames sent per destination
        self.dead: set[str] = set()  # MACs of devices that went away (frames still sent)

    def dests(self) -> list[tuple[str, str]]:
        """(destination, MAC): every running Linux guest, the fake guest while it runs, the
        host's queue, and devices that went away."""
        out = []
        for name, dev in self.rig.devices.items():
            if dev.vu.rx_running:
                out.append((name, dev.mac))
            elif dev.mac in self.dead:
                out.append((f"{name} (gone)", dev.mac))
        if self.plan.host_queue:
            out.append(("host", HOST_MAC))
        return out

    def frame(self, dest: str, mac: str) -> bytes:
        rng = self.rng
        dev = self.rig.devices.get(dest)
        spec = dev.spec if dev is not None else None
        top = spec.guest.mtu + 14 if spec is not None else MTU_FRAME
        if spec is not None and top > MTU_FRAME and rng.random() < self.plan.jumbo:
            size = rng.randint(MTU_FRAME + 1, top)
        else:
            size = rng.randint(60, min(top, MTU_FRAME))
        if spec is not None and rng.random() < self.plan.csum_udp:
            return csum_frame(rng, mac, self.sent, rng.choice(CSUM_CASES), size)
        return scapy_frame(rng, size, self.sent, dst=mac)

    async def batch(self, n: int = BATCH, wait: bool = True) -> None:
        """``n`` frames (or what is left of a capture) to random destinations; first waits
        until each guest has the buffers its frames need at the NIC; then, with ``wait``,
        until every frame routed to an owner was delivered."""
        rig = self.rig
        frames: list[tuple[str, bytes, bool]] = []
        dests = self.dests()
        for _ in range(n):
            if self.replay:
                if self.sent + len(frames) >= len(self.replay):
                    break
                f = self.replay[self.sent + len(frames)]
                frames.append(("pcap", f, False))
                continue
            dest, mac = self.rng.choice(dests)
            bad = self.rng.random() < self.plan.bad_fcs
            frames.append((dest, self.frame(dest, mac), bad))
        need: dict[str, int] = {}
        for dest, f, _ in frames:
            dev = rig.devices.get(dest)
            if dev is not None and dev.vu.rx_running:
                per = math.ceil((len(f) + VIRTIO_NET_HDR_V1_SIZE) / LINUX_MIN_BUF)
                need[dest] = need.get(dest, 0) + per
        if self.replay:  # a capture's frames go wherever their MAC says: room for all
            need = {d.name: 2 * BATCH for d in rig.devices.values() if d.vu.rx_running}
        for dest, k in need.items():
            await rig.wait_buffers(dest, k)
        for dest, f, bad in frames:
            self.to[dest] = self.to.get(dest, 0) + 1
            if dest == "pcap":
                await send_captured(rig, f)
            else:
                await rig.send(f, bad_fcs=bad)
            self.sent += 1
        if wait:
            await rig.receive_all()
        progress(self.sent, self.total)

    async def burst(self, dest: str, n: int = BATCH) -> None:
        """``n`` frames to ``dest`` alone, not waited for: they are on the wire and in the
        NIC when whatever comes next happens."""
        mac = self.rig.devices[dest].mac
        for _ in range(n):
            await self.rig.send(self.frame(dest, mac))
            self.to[dest] = self.to.get(dest, 0) + 1
            self.sent += 1

    async def run(self, until: int) -> None:
        while self.sent < min(until, self.total):
            await self.batch(min(BATCH, until - self.sent))


# -- bad input from our own front-end ---------------------------------------------------------


async def fake_attach(rig: LinuxGuestRig, dev: Device) -> FakeFrontEnd:
    """Our front-end connects to the fake guest's socket, negotiates, maps its memfd, starts
    both rings and posts buffers."""
    fe = FakeFrontEnd(dev.socket)
    dev.fe = fe

    def setup() -> None:
        fe.negotiate()
        fe.send_mem_table()
        if fe.reply_u64(Request.SET_MEM_TABLE) != 0:
            raise AssertionError("SET_MEM_TABLE refused")
        rx, tx = fe.make_rx(16), fe.make_tx(16)
        fe.setup_ring(0, rx.layout)
        fe.setup_ring(1, tx.layout)

    await rig.run_client(f"{dev.name}: our front-end's set-up", setup)
    await rig.until(lambda: dev.vu.rx_running, 10.0, f"{dev.name}'s RX ring started")
    assert fe.rx is not None
    fe.rx.fill()
    await rig.until(
        lambda: bool(dev.backend and dev.backend.in_flight),
        10.0,
        f"{dev.name}'s buffers at the NIC",
    )
    return fe


async def bad_input_run(rig: LinuxGuestRig, traffic: Traffic, kinds: list[str]) -> list[dict]:
    """Each kind against the fake guest, the Linux guests and the host receiving meanwhile:
    "malformed" arrives while the fake guest runs with buffers at the NIC and frames in
    flight; the others on a fresh connection before any ring runs. Each must give one error
    line, stop that device (socket closed), write nothing into its memfd, hang nothing."""
    dev = rig.devices[FAKE.name]
    out = []
    for k, kind in enumerate(kinds):
        errors_before = len(dev.errors)
        if k:  # each connection its own owner, as for a guest attaching anew
            dev.vu.owner = f"{dev.name}.{k + 1}"
        dev.delivered, dev.fake_read = [], []
        t0 = time.monotonic()
        if kind == "malformed":
            fe = await fake_attach(rig, dev)
            await traffic.burst(dev.name)
            await rig.receive_all()
            await traffic.burst(dev.name)  # frames to it in flight as the message comes
            fe.send_bad(kind)
        else:
            fe = FakeFrontEnd(dev.socket)
            dev.fe = fe
            await rig.run_client(f"{dev.name}: negotiation", fe.negotiate)
            fe.send_bad(kind)  # (the device reads it at the next pump)
        before = bytes(fe.mm)
        await rig.until(
            lambda: not dev.vu.connected, 10.0, f"{dev.name} stopped after a {kind} message"
        )
        stopped_s = time.monotonic() - t0
        dev.fe = None  # our front-end stops serving its side: its memfd stays as it is now
        if kind == "malformed":
            before = bytes(fe.mm)  # it ran until the message: what it wrote till then counts
        closed = fe.closed_by_peer()
        traffic.dead.add(dev.mac)
        await traffic.batch()  # the others carry on; frames to its MAC find no queue
        await traffic.batch()
        lines = dev.errors[errors_before:]
        read = dev.fake_read
        out.append(
            {
                "kind": kind,
                "frames_read": len(read),
                "read_matches": dev.delivered[: len(read)] == read,
                "error_lines": lines,
                "socket_closed": closed,
                "memfd_unchanged": bytes(fe.mm) == before,
                "stopped_s": stopped_s,
                "device_running": dev.vu.rx_running,
            }
        )
        fe.close()
    return out


# -- the run ----------------------------------------------------------------------------------


def device_report(rig: LinuxGuestRig, dev: Device) -> dict[str, object]:
    spec = dev.spec
    assert spec is not None
    return {
        "owner": dev.owner,
        "mac": dev.mac,
        "queue": dev.queue,
        "placement": spec.mode.name,
        "mergeable": spec.mergeable,
        "mtu": spec.guest.mtu,
        "csum": spec.csum,
        "event_idx": spec.event_idx,
        "boot_s": dev.boot_s,
        "delivered": len(dev.delivered),
        "tx_frames": dev.vu.stats.tx_frames,
    }


@cocotb.test()
async def linux_guest(dut: object) -> None:
    """Boot the guests, run the plan's traffic and events, compare what each counted."""
    plan = Plan.from_json(os.environ.get("SPLITRX_LINUX_PLAN", "{}"))
    rng = random.Random(plan.seed)
    image = GuestImage.find(Path(os.environ["SPLITRX_GUEST_IMAGE"]))
    workdir = workdir_for(Path(os.environ.get("SPLITRX_GUEST_WORKDIR", "build/sim/guest")))
    wall0 = time.perf_counter()
    specs = [
        linux_spec(
            g.name,
            g.mac,
            g.queue,
            mode=PlacementMode[g.mode],
            mergeable=g.mergeable,
            mtu=g.mtu,
            csum=g.csum,
            event_idx=g.event_idx,
        )
        for g in plan.guests
    ]
    if os.environ.get("SPLITRX_GUEST_BOOT_TIMEOUT"):
        for s in specs:
            s.boot_timeout_s = float(os.environ["SPLITRX_GUEST_BOOT_TIMEOUT"])
    fakes = [FAKE] if plan.bad_input else []
    rig = LinuxGuestRig(dut, specs, image, workdir, fakes=fakes, host_queue=plan.host_queue)
    await rig.start()
    traffic = Traffic(rig, plan, rng)
    problems: list[str] = []
    seen = (0, 0)  # tracker violations and DMA faults already reported by finish()
    guests: dict[str, dict[str, object]] = {}
    teardown: dict[str, object] = {}
    bad_input: list[dict[str, Any]] = []
    boot: dict[str, float] = {}
    traffic_s = 0.0
    sim0 = get_sim_time("ns")
    names = [s.name for s in specs]
    baselines: dict[str, dict[str, int]] = {}
    rings0: dict[str, dict[str, int]] = {}
    try:
        boot = await rig.boot()
        await rig.settle_pumps()
        for n in names:
            baselines[n] = await rig.guest_stats(n)
            rings0[n] = rig.ring_figures(n)
        rig.start_pumper()
        t0 = time.perf_counter()
        if plan.kill:
            victim = rig.devices[plan.kill]
            await traffic.run(traffic.total // 3)
            await traffic.burst(plan.kill)  # on the wire and in the NIC as QEMU dies
            teardown["close_seen_s"] = await rig.kill(plan.kill)
            traffic.dead.add(victim.mac)
            await traffic.run(2 * traffic.total // 3)
            teardown["killed"] = victim.stops[-1].owner if victim.stops else None
            teardown["stops"] = [asdict(s) | {"spans": len(s.spans)} for s in victim.stops]
            for rec in victim.stops:
                section, tproblems = teardown_checks(rig, rec)
                teardown.setdefault("checks", []).append(section)  # type: ignore[union-attr]
                problems += tproblems
            if plan.reattach:
                teardown["reattach_boot_s"] = await rig.reattach(plan.kill)
                traffic.dead.discard(victim.mac)
                await rig.settle_pumps()
                baselines[plan.kill] = await rig.guest_stats(plan.kill)
                rings0[plan.kill] = rig.ring_figures(plan.kill)
            else:
                names.remove(plan.kill)
        if plan.bad_input:
            bad_input = await bad_input_run(rig, traffic, plan.bad_input)
            for rec in rig.devices[FAKE.name].stops:
                section, tproblems = teardown_checks(rig, rec)
                teardown.setdefault("fake", []).append(section)  # type: ignore[union-attr]
                problems += tproblems
        await traffic.run(traffic.total)
        await rig.settle()
        problems += await rig.finish()
        seen = (len(rig.tracker.violations), len(rig.h.host.faults))
        for n in names:
            await rig.guest_read(n, len(rig.devices[n].delivered))
        traffic_s = time.perf_counter() - t0
        await rig.settle_pumps()
        for n in names:
            dev = rig.devices[n]
            stats = await rig.guest_stats(n)
            section, gproblems = guest_checks(dev, stats, baselines[n], dev.qemu.workdir)
            section |= device_report(rig, dev)
            section["rings"] = delta(rig.ring_figures(n), rings0[n])
            b = dev.backend
            section["backend"] = dict(vars(b.stats)) if b is not None else {}
            guests[n] = section
            problems += gproblems
    except (ScoreboardMismatch, AssertionError) as exc:
        problems.append(str(exc))
    finally:
        rig.stop_pumper()
        qemu_rc = await rig.shutdown()
    for dev in rig.devices.values():
        if dev.owner in rig.pool.owners:
            problems.append(f"{dev.owner} still registered with the page constructor")
        # a stop at power-off is orderly: nothing may be left in flight then
        for rec in dev.stops:
            if rec.reason is None and (rec.lost_pending or rec.lost_completed):
                problems.append(
                    f"{rec.owner}: {rec.lost_pending} frames without completion, "
                    f"{rec.lost_completed} undelivered at its orderly stop"
                )
    expected_errors = sum(len(x["error_lines"]) for x in bad_input)
    unexpected = rig.errors[: len(rig.errors)]
    for x in bad_input:
        for line in x["error_lines"]:
            unexpected.remove(line)
        if len(x["error_lines"]) != 1:
            problems.append(f"bad input {x['kind']}: {len(x['error_lines'])} error lines")
        for key in ("socket_closed", "memfd_unchanged"):
            if not x[key]:
                problems.append(f"bad input {x['kind']}: {key} is false")
        if x["device_running"]:
            problems.append(f"bad input {x['kind']}: the device still runs")
        if x["kind"] == "malformed" and not (x["frames_read"] and x["read_matches"]):
            problems.append(
                f"bad input malformed: our front-end read {x['frames_read']} frames before "
                "it (each as delivered: " + str(x["read_matches"]) + ")"
            )
    problems += [f"vhost-user: {e}" for e in unexpected]
    if len(rig.tracker.violations) > seen[0]:
        problems.append(f"DMA write tracker: {rig.tracker.violations[seen[0]]}")
    if len(rig.h.host.faults) > seen[1]:
        problems.append(f"DMA fault: {rig.h.host.faults[seen[1]]}")
    for name, rc in qemu_rc.items():
        killed_for_good = name == plan.kill and not plan.reattach
        if not killed_for_good and rc not in (0, None):
            problems.append(f"{name}: QEMU exited {rc}")
    c = await rig.drv.counters()
    host = rig.hosts.get(0)
    report: dict[str, object] = {
        "guest": "linux",
        "kernel": image.release,
        "seed": plan.seed,
        "plan": asdict(plan),
        "pcap": plan.pcap or None,
        "sent": rig.stats.sent,
        "sent_to": traffic.to,
        "delivered": sum(d.delivered_total for d in rig.devices.values()),
        "host_delivered": len(host.received) if host is not None else None,
        "dropped": {r.name.lower(): n for r, n in c.drops.items() if n},
        "checks": rig.sb.checks,
        "linux": guests,
        "teardown": teardown,
        "bad_input": bad_input,
        "expected_error_lines": expected_errors,
        "boot_s": boot,
        "traffic_s": traffic_s,
        "frames_per_s": rig.stats.sent / traffic_s if traffic_s else 0.0,
        "qemu_exit": qemu_rc,
        "pinned_pages_after": rig.pool.pinned_pages,
        "problems": problems,
        "checks_passed": not problems,
        "sim_ns": get_sim_time("ns") - sim0,
        "wall_s": time.perf_counter() - wall0,
        "qemu_command": {n: d.qemu.command() for n, d in rig.devices.items() if d.qemu},
        "workdir": str(workdir),
    }
    if plan.pcap_out:
        out = Path(plan.pcap_out)
        out.mkdir(parents=True, exist_ok=True)
        files = {}
        for dev in rig.devices.values():
            for name, got in (
                (f"{dev.owner}-rx", dev.delivered),
                (f"{dev.owner}-tx", dev.vu.tx_frames),
            ):
                wrpcap(str(out / f"{name}.pcap"), [Ether(f) for f in got])
                files[name] = str(out / f"{name}.pcap")
        report["pcap_out"] = files
    with open(os.environ["SPLITRX_REPORT"], "w") as fh:
        json.dump(report, fh)
    assert not problems, "\n".join(problems)

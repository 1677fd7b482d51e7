# SPDX-License-Identifier: MIT
"""cocotb tests for rx_steer: destination MAC (+VLAN) table -> queue, group and promiscuous
traffic -> the frame's RSS queue, other unicast -> dropped FILTERED.

Driven by tests/test_rx_steer.py, which builds each parameter set once and passes it here in the
environment (STEER_ENTRIES, STEER_Q_W). The expected verdict comes from ``steer()`` below, a
reference written from the rules (not from the RTL), applied to a Python mirror of the table;
lookup keys are read back from scapy-built Ethernet/802.1Q frames.

One coroutine drives and samples every cycle. Sampling convention (Verilator + cocotb 2.1):
values read right after ``await RisingEdge(clk)`` are the ones held during the cycle that edge
closes. A lookup accepted at an edge sees the table as it was before a write at that same edge,
so the mirror is updated after the expected verdict is computed.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

import cocotb
from cocotb.triggers import RisingEdge
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from model.records import DropReason, SteerRule
from model.steer import BROADCAST, EMPTY, IG_BIT, Entry, Lookup, Verdict, steer
from tb.lib.common import deadline, reset, seeded_rng, start_clock

CLK_NS = 4.0  # 250 MHz user clock

log = logging.getLogger("cocotb.tb")


def mac_str(mac: int) -> str:
    return ":".join(f"{b:02x}" for b in mac.to_bytes(6, "big"))


def lookup_from_frame(frame: bytes, rss_queue: int, promisc: bool) -> Lookup:
    """The lookup key of an Ethernet frame, as scapy parses it (outer VLAN tag, if any)."""
    pkt = Ether(frame)
    mac = int(pkt.dst.replace(":", ""), 16)
    vlan = pkt[Dot1Q].vlan if Dot1Q in pkt else None
    return Lookup(mac, vlan, rss_queue, promisc)


def frame_to(mac: int, vlan: int | None) -> bytes:
    pkt: Any = Ether(dst=mac_str(mac), src="02:00:00:00:00:99")
    if vlan is not None:
        pkt = pkt / Dot1Q(vlan=vlan)
    return bytes(pkt / Raw(bytes(46)))


def random_unicast(rng: Random) -> int:
    return rng.getrandbits(48) & ~IG_BIT


def random_multicast(rng: Random) -> int:
    while True:
        mac = rng.getrandbits(48) | IG_BIT
        if mac != BROADCAST:
            return mac


@dataclass(frozen=True)
class Out:
    verdict: Verdict
    cycle: int


@dataclass(frozen=True)
class Write:
    idx: int
    entry: Entry


class Tb:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.entries = int(os.environ.get("STEER_ENTRIES", "16"))
        self.q_w = int(os.environ.get("STEER_Q_W", "6"))
        self.idx_slots = 1 << (self.entries - 1).bit_length()  # indices the port can name
        self.table = [EMPTY] * self.entries
        self.cycle = 0
        start_clock(dut.clk, CLK_NS)
        dut.promisc.value = 0
        dut.tbl_clear.value = 0
        dut.tbl_wr_en.value = 0
        self.drive_write(Write(0, EMPTY))
        dut.s_req_valid.value = 0
        self.drive_lookup(Lookup(0, None, 0, False))
        dut.m_res_ready.value = 0
        log.info("rx_steer: ENTRIES=%d Q_W=%d", self.entries, self.q_w)

    async def start(self) -> None:
        await reset(self.dut.clk, self.dut.rst)
        self.table = [EMPTY] * self.entries

    def drive_write(self, w: Write) -> None:
        d = self.dut
        d.tbl_wr_idx.value = w.idx
        d.tbl_wr_valid.value = int(w.entry.valid)
        d.tbl_wr_mac.value = w.entry.mac
        d.tbl_wr_vlan_match_en.value = int(w.entry.vlan_en)
        d.tbl_wr_vlan_id.value = w.entry.vlan_id
        d.tbl_wr_queue.value = w.entry.queue

    def drive_lookup(self, r: Lookup) -> None:
        d = self.dut
        d.s_req_dst_mac.value = r.mac
        d.s_req_vlan_present.value = int(r.vlan is not None)
        # Untagged: a VLAN ID the table may hold, which must not count without a tag.
        d.s_req_vlan_id.value = r.vlan if r.vlan is not None else self.cycle & 0xFFF
        d.s_req_rss_queue.value = r.rss_queue
        d.promisc.value = int(r.promisc)

    def apply(self, w: Write) -> None:
        if w.idx < self.entries:
            self.table[w.idx] = w.entry

    async def program(self, writes: Sequence[Write]) -> None:
        """Table writes one per cycle, no lookup in flight."""
        for w in writes:
            self.drive_write(w)
            self.dut.tbl_wr_en.value = 1
            await RisingEdge(self.dut.clk)
            self.cycle += 1
            self.apply(w)
        self.dut.tbl_wr_en.value = 0

    def random_entry(self, rng: Random, macs: Sequence[int], vlans: Sequence[int]) -> Entry:
        return Entry(
            rng.random() < 0.85,
            rng.choice(macs),
            rng.random() < 0.4,
            rng.choice(vlans),
            rng.randrange(1 << self.q_w),
        )

    async def run(
        self,
        reqs: Sequence[Lookup],
        rng: Random,
        valid_p: float = 1.0,
        ready_p: float = 1.0,
        writes: Sequence[Write] = (),
        write_p: float = 0.0,
        what: str = "verdicts",
    ) -> tuple[list[Verdict], list[Out], list[int]]:
        """Send ``reqs`` while writing ``writes`` to the table at random cycles (probability
        write_p per cycle); every verdict must equal the reference applied to the table as it
        was at the accepting edge. m_res must hold while stalled. Returns (expected, got,
        accepting edges)."""
        dut = self.dut
        expected: list[Verdict] = []
        got: list[Out] = []
        accepted_at: list[int] = []
        pending = deque(reqs)
        wpending = deque(writes)
        cur: Lookup | None = None
        wcur: Write | None = None
        held: tuple[int, ...] | None = None

        async def loop() -> None:
            nonlocal cur, wcur, held
            edge = RisingEdge(dut.clk)
            while True:
                # ---- drive this cycle ----
                wcur = None
                if wpending and rng.random() < write_p:
                    wcur = wpending.popleft()
                    self.drive_write(wcur)
                dut.tbl_wr_en.value = int(wcur is not None)
                if cur is None and pending and rng.random() < valid_p:
                    cur = pending.popleft()
                    self.drive_lookup(cur)
                dut.s_req_valid.value = int(cur is not None)
                m_ready = rng.random() < ready_p
                dut.m_res_ready.value = int(m_ready)
                if len(got) == len(reqs) and cur is None and not wpending:
                    break
                # ---- the edge; sample what it closed ----
                await edge
                self.cycle += 1
                if cur is not None and int(dut.s_req_ready.value):
                    expected.append(steer(self.table, cur))
                    accepted_at.append(self.cycle)
                    cur = None
                if wcur is not None:
                    self.apply(wcur)
                if int(dut.m_res_valid.value):
                    vals = (
                        int(dut.m_res_rule.value),
                        int(dut.m_res_queue.value),
                        int(dut.m_res_drop.value),
                        int(dut.m_res_drop_reason.value),
                        int(dut.m_res_entry.value),
                    )
                    assert held is None or vals == held, (
                        f"m_res changed while stalled: {held} -> {vals} at cycle {self.cycle}"
                    )
                    if m_ready:
                        rule, q, drop, reason, entry = vals
                        v = Verdict(SteerRule(rule), q, bool(drop), reason, entry)
                        got.append(Out(v, self.cycle))
                        held = None
                    else:
                        held = vals
                else:
                    assert held is None, f"m_res_valid dropped without a handshake ({self.cycle})"
            dut.tbl_wr_en.value = 0
            dut.s_req_valid.value = 0
            dut.m_res_ready.value = 0

        slow = min(valid_p, ready_p, write_p if writes else 1.0)
        n = max(len(reqs), len(writes))
        await deadline(loop(), round((n * 4 / slow + 200) * CLK_NS), f"{len(reqs)} {what}")
        for k, (exp, out) in enumerate(zip(expected, got, strict=True)):
            r = reqs[k]
            vlan = "untagged" if r.vlan is None else f"VLAN {r.vlan}"
            assert out.verdict == exp, (
                f"{what} #{k} ({mac_str(r.mac)} {vlan}, promisc {int(r.promisc)}, "
                f"RSS queue {r.rss_queue}): got {out.verdict}, expected {exp}"
            )
        return expected, got, accepted_at


def rules_seen(verdicts: Sequence[Verdict]) -> set[SteerRule]:
    return {v.rule for v in verdicts}


# ------------------------------------------------------------------ tests


@cocotb.test()
async def unicast_hits_table_entry_queue(dut: Any) -> None:
    """A random table (some entries VLAN-qualified, some invalid, some MACs repeated);
    frames to table MACs, tagged and untagged, and to unknown unicast MACs: a matching entry's
    queue (lowest index first), otherwise FILTERED; under a stalling sink."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("unicast_hits_table_entry_queue")
    macs = [random_unicast(rng) for _ in range(tb.entries * 2 // 3)]
    vlans = [rng.randrange(4096) for _ in range(4)]
    await tb.program([Write(i, tb.random_entry(rng, macs, vlans)) for i in range(tb.entries)])
    reqs = []
    for _ in range(1500):
        mac = rng.choice(macs) if rng.random() < 0.8 else random_unicast(rng)
        vlan = rng.choice([None, rng.choice(vlans), rng.randrange(4096)])
        reqs.append(lookup_from_frame(frame_to(mac, vlan), rng.randrange(1 << tb.q_w), False))
    exp, _, _ = await tb.run(reqs, rng, 0.7, 0.6, what="unicast verdicts")
    assert rules_seen(exp) == {SteerRule.MATCH, SteerRule.FILTERED}
    assert len({v.entry for v in exp if v.rule == SteerRule.MATCH}) > tb.entries // 3


@cocotb.test()
async def broadcast_and_multicast_take_rss_queue(dut: Any) -> None:
    """Broadcast and multicast (I/G bit) go to the frame's RSS queue in and out of promiscuous
    mode, even when the table holds an entry with that very MAC."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("broadcast_and_multicast_take_rss_queue")
    group = [BROADCAST, 0x01005E000001, 0x333300000001, 0x0180C200000E]
    group += [random_multicast(rng) for _ in range(6)]
    await tb.program(
        [Write(i, Entry(True, group[i % len(group)], False, 0, 1)) for i in range(tb.entries)]
    )
    reqs = []
    for _ in range(600):
        mac = rng.choice(group) if rng.random() < 0.6 else random_multicast(rng)
        vlan = rng.choice([None, rng.randrange(4096)])
        q = rng.randrange(1 << tb.q_w)
        reqs.append(lookup_from_frame(frame_to(mac, vlan), q, rng.random() < 0.5))
    exp, _, _ = await tb.run(reqs, rng, 0.8, 0.8, what="group verdicts")
    assert rules_seen(exp) == {SteerRule.BROADCAST, SteerRule.MULTICAST}


@cocotb.test()
async def unmatched_unicast_filtered_unless_promisc(dut: Any) -> None:
    """Unicast that matches no entry: dropped with reason FILTERED (queue 0) when promisc is
    0, the frame's RSS queue when it is 1; promisc flips between back-to-back lookups and
    matching unicast is unaffected by it."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("unmatched_unicast_filtered_unless_promisc")
    macs = [random_unicast(rng) for _ in range(tb.entries)]
    await tb.program(
        [Write(i, Entry(True, m, False, 0, i % (1 << tb.q_w))) for i, m in enumerate(macs)]
    )
    reqs = []
    for i in range(800):
        mac = rng.choice(macs) if rng.random() < 0.3 else random_unicast(rng)
        promisc = (i // rng.choice([1, 3, 7])) % 2 == 1
        reqs.append(Lookup(mac, None, rng.randrange(1 << tb.q_w), promisc))
    exp, _, _ = await tb.run(reqs, rng, what="promisc verdicts")
    assert rules_seen(exp) == {SteerRule.MATCH, SteerRule.PROMISC, SteerRule.FILTERED}
    for v in exp:
        if v.rule == SteerRule.FILTERED:
            assert v.drop and v.reason == DropReason.FILTERED


@cocotb.test()
async def vlan_match_rules(dut: Any) -> None:
    """Directed: one MAC in entries qualified by VLAN 100 and 200 and one unqualified; tagged
    100/200 hit their entries, another VLAN and untagged frames hit the unqualified one; an
    entry qualified by VLAN 7 never matches an untagged frame even with vlan_id 7 on the port;
    invalid entries and writes beyond ENTRIES never match; the lowest index wins."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("vlan_match_rules")
    qmax = (1 << tb.q_w) - 1
    a, b, c, d = (random_unicast(rng) for _ in range(4))
    writes = [
        Write(3, Entry(True, a, True, 100, 1 % qmax)),
        Write(5, Entry(True, a, True, 200, 2 % qmax)),
        Write(9, Entry(True, a, False, 0, 3 % qmax)),
        Write(1, Entry(True, b, True, 7, qmax)),
        Write(2, Entry(False, c, False, 0, qmax)),  # invalid
        Write(12, Entry(True, d, False, 0, 1)),
        Write(14, Entry(True, d, False, 0, 2)),  # same MAC, higher index
        Write(11, Entry(True, a, True, 100, qmax)),  # higher index than entry 3
    ]
    if tb.idx_slots > tb.entries:
        writes.append(Write(tb.entries, Entry(True, c, False, 0, qmax)))  # out of range
    await tb.program(writes)
    reqs = [
        Lookup(a, 100, 0, False),
        Lookup(a, 200, 0, False),
        Lookup(a, 300, 0, False),
        Lookup(a, None, 0, False),
        Lookup(b, 7, 0, False),
        Lookup(b, None, 0, False),  # vlan_id port may be 7; untagged must not match
        Lookup(b, 8, 0, False),
        Lookup(c, None, 0, False),
        Lookup(d, None, 0, False),
        Lookup(d, 42, 0, False),
    ]
    exp, _, _ = await tb.run(reqs * 3, rng, 0.5, 0.5, what="VLAN verdicts")
    entries = [v.entry if v.rule == SteerRule.MATCH else None for v in exp[: len(reqs)]]
    assert entries == [3, 5, 9, 9, 1, None, None, None, 12, 12], entries
    # An untagged frame whose vlan_id input happens to equal the entry's VLAN ID.
    tb.drive_lookup(Lookup(b, None, 0, False))
    dut.s_req_vlan_id.value = 7
    dut.s_req_valid.value = 1
    dut.m_res_ready.value = 1
    await RisingEdge(dut.clk)
    dut.s_req_valid.value = 0
    await RisingEdge(dut.clk)
    assert int(dut.m_res_valid.value) == 1
    assert SteerRule(int(dut.m_res_rule.value)) == SteerRule.FILTERED


@cocotb.test()
async def table_rewrite_while_running(dut: Any) -> None:
    """Lookups at up to one per cycle while random table writes (valid and invalid entries,
    indices beyond ENTRIES too) land at random cycles, under a stalling sink: each verdict
    matches the table as it was at the lookup's accepting edge."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("table_rewrite_while_running")
    macs = [random_unicast(rng) for _ in range(tb.entries // 2)] + [random_multicast(rng)]
    vlans = [1, 2, 4095]
    for valid_p, ready_p, write_p in [(1.0, 1.0, 0.5), (0.8, 0.6, 0.3), (1.0, 0.4, 0.9)]:
        writes = [
            Write(rng.randrange(tb.idx_slots), tb.random_entry(rng, macs, vlans))
            for _ in range(1000)
        ]
        reqs = []
        for _ in range(1500):
            mac = (
                rng.choice(macs)
                if rng.random() < 0.85
                else rng.choice([BROADCAST, random_unicast(rng)])
            )
            vlan = rng.choice([None, *vlans])
            reqs.append(Lookup(mac, vlan, rng.randrange(1 << tb.q_w), rng.random() < 0.3))
        exp, _, _ = await tb.run(reqs, rng, valid_p, ready_p, writes, write_p, "rewrite verdicts")
        assert rules_seen(exp) == set(SteerRule), f"rules seen: {rules_seen(exp)}"


@cocotb.test()
async def one_lookup_per_cycle(dut: Any) -> None:
    """With the sink always ready, a lookup is accepted every cycle and its verdict is on
    m_res one cycle after the accepting edge."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("one_lookup_per_cycle")
    macs = [random_unicast(rng) for _ in range(tb.entries)]
    await tb.program([Write(i, Entry(True, m, False, 0, 1)) for i, m in enumerate(macs)])
    reqs = [Lookup(rng.choice(macs), None, 0, False) for _ in range(200)]
    _, got, acc = await tb.run(reqs, rng, what="full-rate verdicts")
    gaps = {b - a for a, b in zip(acc, acc[1:], strict=False)}
    lat = {o.cycle - a for o, a in zip(got, acc, strict=True)}
    assert gaps == {1}, f"accept gaps {gaps}"
    assert lat == {1}, f"latency {lat}"


@cocotb.test()
async def reset_clears_the_table(dut: Any) -> None:
    """After reset every entry is invalid: known unicast MACs are FILTERED until rewritten."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("reset_clears_the_table")
    macs = [random_unicast(rng) for _ in range(tb.entries)]
    await tb.program([Write(i, Entry(True, m, False, 0, 1)) for i, m in enumerate(macs)])
    reqs = [Lookup(m, None, 0, False) for m in macs]
    exp, _, _ = await tb.run(reqs, rng, what="verdicts before reset")
    assert rules_seen(exp) == {SteerRule.MATCH}
    await tb.start()
    exp, _, _ = await tb.run(reqs, rng, what="verdicts after reset")
    assert rules_seen(exp) == {SteerRule.FILTERED}

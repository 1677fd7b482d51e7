# SPDX-License-Identifier: MIT
"""cocotb tests for rss_toeplitz: tuple requests in, hash / RSS type / queue out.

Driven by tests/test_rss.py, which builds each parameter set once and passes it here in the
environment (RSS_BYTES_PER_CYCLE, RSS_Q_W). Every expected value comes from model/rss.py (a
bit-serial Toeplitz written from Microsoft's specification) or from Microsoft's published
verification table, never from the RTL.

One coroutine drives and samples every cycle. Sampling convention (Verilator + cocotb 2.1):
values read right after ``await RisingEdge(clk)`` are the ones held during the cycle that edge
closes, so a request counts as accepted at an edge where s_req_valid (as driven) and
s_req_ready were both 1, and it sees the key and udp_4tuple driven in that cycle.
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
from cocotb.triggers import ClockCycles, RisingEdge

from model.records import RssType
from model.rss import MS_VERIFICATION_KEY, Flow, RssResult, key_to_int, rss, rss_input
from tb.lib.common import deadline, reset, seeded_rng, start_clock
from tests.test_model_rss import MS_IPV4, MS_IPV6

CLK_NS = 4.0  # 250 MHz user clock

log = logging.getLogger("cocotb.tb")


@dataclass(frozen=True)
class Req:
    """One request: the flow and the udp_4tuple level driven with it."""

    flow: Flow
    udp_4tuple: bool = False


@dataclass(frozen=True)
class Out:
    hash: int
    rss_type: int
    queue: int
    cycle: int  # edge at which it was taken


@dataclass
class RunResult:
    expected: list[RssResult]
    got: list[Out]
    accepted_at: list[int]


def random_flow(rng: Random, kind: str | None = None) -> Flow:
    """A random flow; ``kind`` in v4/v6/none (None: any). Protocol and fragment bits random."""
    kind = kind or rng.choice(["v4", "v4", "v6", "v6", "none"])
    tcp = rng.random() < 0.4
    udp = rng.random() < 0.5
    frag = rng.random() < 0.15
    if kind == "none":
        return Flow(False, rng.random() < 0.5, tcp, udp, frag, b"", b"", rng.getrandbits(16), 0)
    n = 16 if kind == "v6" else 4
    return Flow(
        True,
        kind == "v6",
        tcp,
        udp,
        frag,
        rng.randbytes(n),
        rng.randbytes(n),
        rng.getrandbits(16),
        rng.getrandbits(16),
    )


def flow_bytes(flow: Flow, udp_4tuple: bool) -> int:
    return len(rss_input(flow, udp_4tuple)[1])


class Tb:
    def __init__(self, dut: Any) -> None:
        self.dut = dut
        self.bpc = int(os.environ.get("RSS_BYTES_PER_CYCLE", "8"))
        self.q_w = int(os.environ.get("RSS_Q_W", "6"))
        self.key = bytes(40)
        self.table = [0] * 128
        self.cycle = 0
        self.junk = Random(0)  # fills the bits the RTL must ignore
        start_clock(dut.clk, CLK_NS)
        dut.key.value = 0
        dut.udp_4tuple.value = 0
        dut.ind_wr_en.value = 0
        dut.ind_wr_addr.value = 0
        dut.ind_wr_queue.value = 0
        dut.s_req_valid.value = 0
        dut.m_res_ready.value = 0
        self.drive_flow(Req(Flow(False, False, False, False, False, b"", b"", 0, 0)))
        log.info("rss_toeplitz: BYTES_PER_CYCLE=%d Q_W=%d", self.bpc, self.q_w)

    async def start(self) -> None:
        await reset(self.dut.clk, self.dut.rst)

    def chunks(self, nbytes: int) -> int:
        """Cycles of hashing for a tuple of ``nbytes`` (the RTL's C)."""
        return -(-nbytes // self.bpc)

    def drive_key(self, key: bytes) -> None:
        self.dut.key.value = key_to_int(key)
        self.key = key

    async def program_table(self, table: Sequence[int]) -> None:
        """Write all 128 indirection entries, one per cycle, with no request in flight."""
        assert len(table) == 128 and all(0 <= q < 1 << self.q_w for q in table)
        dut = self.dut
        for i, q in enumerate(table):
            dut.ind_wr_en.value = 1
            dut.ind_wr_addr.value = i
            dut.ind_wr_queue.value = q
            await RisingEdge(dut.clk)
            self.cycle += 1
        dut.ind_wr_en.value = 0
        self.table = list(table)

    def random_table(self, rng: Random) -> list[int]:
        return [rng.randrange(1 << self.q_w) for _ in range(128)]

    def drive_flow(self, req: Req) -> None:
        """Put ``req`` on the request inputs; bits the hash must ignore get random junk
        (upper 96 address bits of IPv4, addresses and ports of non-IP)."""
        f, dut, j = req.flow, self.dut, self.junk
        dut.s_req_is_ip.value = int(f.is_ip)
        dut.s_req_is_ipv6.value = int(f.is_ipv6)
        dut.s_req_is_tcp.value = int(f.is_tcp)
        dut.s_req_is_udp.value = int(f.is_udp)
        dut.s_req_is_frag.value = int(f.is_frag)
        dut.udp_4tuple.value = int(req.udp_4tuple)
        if f.is_ip and f.is_ipv6:
            src, dst = int.from_bytes(f.src, "big"), int.from_bytes(f.dst, "big")
        elif f.is_ip:
            src = j.getrandbits(96) << 32 | int.from_bytes(f.src, "big")
            dst = j.getrandbits(96) << 32 | int.from_bytes(f.dst, "big")
        else:
            src, dst = j.getrandbits(128), j.getrandbits(128)
        dut.s_req_src_addr.value = src
        dut.s_req_dst_addr.value = dst
        dut.s_req_src_port.value = f.sport
        dut.s_req_dst_port.value = f.dport

    async def run(
        self,
        reqs: Sequence[Req],
        rng: Random,
        valid_p: float = 1.0,
        ready_p: float = 1.0,
        key_change_p: float = 0.0,
        what: str = "results",
    ) -> RunResult:
        """Send ``reqs`` (a request waits a random number of cycles with probability
        1 - valid_p per cycle), take results with probability ready_p per cycle, change the key
        at random cycles with probability key_change_p; check that m_res holds while stalled.
        The indirection table must not be written meanwhile."""
        dut = self.dut
        res = RunResult([], [], [])
        pending = deque(reqs)
        cur: Req | None = None
        held: tuple[int, int, int] | None = None
        m_ready = False

        async def loop() -> None:
            nonlocal cur, held, m_ready
            edge = RisingEdge(dut.clk)
            while True:
                # ---- drive this cycle ----
                if key_change_p and rng.random() < key_change_p:
                    self.drive_key(rng.randbytes(40))
                if cur is None and pending and rng.random() < valid_p:
                    cur = pending.popleft()
                    self.drive_flow(cur)
                dut.s_req_valid.value = int(cur is not None)
                m_ready = rng.random() < ready_p
                dut.m_res_ready.value = int(m_ready)
                if len(res.got) == len(reqs) and cur is None:
                    break
                # ---- the edge; sample what it closed ----
                await edge
                self.cycle += 1
                if cur is not None and int(dut.s_req_ready.value):
                    res.expected.append(rss(cur.flow, self.key, cur.udp_4tuple, self.table))
                    res.accepted_at.append(self.cycle)
                    cur = None
                if int(dut.m_res_valid.value):
                    vals = (
                        int(dut.m_res_hash.value),
                        int(dut.m_res_rss_type.value),
                        int(dut.m_res_queue.value),
                    )
                    assert held is None or vals == held, (
                        f"m_res changed while stalled: {held} -> {vals} at cycle {self.cycle}"
                    )
                    if m_ready:
                        res.got.append(Out(*vals, self.cycle))
                        held = None
                    else:
                        held = vals
                else:
                    assert held is None, f"m_res_valid dropped without a handshake ({self.cycle})"
            dut.s_req_valid.value = 0
            dut.m_res_ready.value = 0

        slow = min(valid_p, ready_p)
        timeout = (len(reqs) * 12 / slow + 200) * CLK_NS
        await deadline(loop(), round(timeout), f"{len(reqs)} {what}")
        assert len(res.expected) == len(reqs)
        for k, (exp, got) in enumerate(zip(res.expected, res.got, strict=True)):
            req = reqs[k]
            where = f"{what} #{k} ({req})"
            assert (got.hash, got.rss_type) == (exp.hash, int(exp.rss_type)), (
                f"{where}: hash {got.hash:#010x} type {RssType(got.rss_type).name}, "
                f"expected {exp.hash:#010x} {exp.rss_type.name}"
            )
            assert got.queue == exp.queue, f"{where}: queue {got.queue}, expected {exp.queue}"
        return res


# ------------------------------------------------------------------ tests


@cocotb.test()
async def published_verification_hashes(dut: Any) -> None:
    """Microsoft's verification key and table: IPv4/IPv6 IP-only and with-TCP hashes equal the
    published values (UDP with udp_4tuple too), and the queue is indirection[hash[6:0]]."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("published_verification_hashes")
    tb.drive_key(MS_VERIFICATION_KEY)
    await tb.program_table(tb.random_table(rng))
    reqs: list[Req] = []
    published: list[tuple[int, RssType]] = []
    for src, sport, dst, dport, h_ip, h_tcp in MS_IPV4 + MS_IPV6:
        v6 = ":" in src
        reqs.append(Req(Flow.from_strings(src, dst, sport, dport)))
        published.append((h_ip, RssType.IPV6 if v6 else RssType.IPV4))
        reqs.append(Req(Flow.from_strings(src, dst, sport, dport, tcp=True)))
        published.append((h_tcp, RssType.IPV6_TCP if v6 else RssType.IPV4_TCP))
        reqs.append(Req(Flow.from_strings(src, dst, sport, dport, udp=True), udp_4tuple=True))
        published.append((h_tcp, RssType.IPV6_UDP if v6 else RssType.IPV4_UDP))
        reqs.append(Req(Flow.from_strings(src, dst, sport, dport, udp=True), udp_4tuple=False))
        published.append((h_ip, RssType.IPV6 if v6 else RssType.IPV4))
    res = await tb.run(reqs, rng, what="published vectors")
    for k, ((h, t), got) in enumerate(zip(published, res.got, strict=True)):
        assert (got.hash, got.rss_type) == (h, int(t)), (
            f"vector {k} ({reqs[k]}): {got.hash:#010x} {RssType(got.rss_type).name}, "
            f"published {h:#010x} {t.name}"
        )
        assert got.queue == tb.table[h & 0x7F]


@cocotb.test()
async def random_tuples_keys_and_backpressure_match_model(dut: Any) -> None:
    """Seeded random IPv4/IPv6/non-IP tuples, TCP/UDP/other/fragment, udp_4tuple per request,
    random keys (also changed at random cycles while hashing: sampled at the accepting edge),
    random tables, idle cycles and a stalling sink: every result equals the Python model."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("random_tuples_keys_and_backpressure_match_model")
    for batch, (valid_p, ready_p, key_p) in enumerate(
        [(1.0, 1.0, 0.0), (0.6, 0.5, 0.05), (1.0, 0.3, 0.2), (0.3, 1.0, 0.1)]
    ):
        tb.drive_key(rng.randbytes(40))
        await tb.program_table(tb.random_table(rng))
        reqs = [Req(random_flow(rng), rng.random() < 0.5) for _ in range(400)]
        await tb.run(reqs, rng, valid_p, ready_p, key_p, what=f"batch {batch} results")


@cocotb.test()
async def selection_rules_pick_tuple_and_type(dut: Any) -> None:
    """Every combination of IP version, TCP/UDP bits, fragment and udp_4tuple: 4-tuple for TCP,
    for UDP only with udp_4tuple, 2-tuple for fragments and other protocols, no hash without
    IP (hash 0, NONE, indirection entry 0); junk in ignored bits changes nothing."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("selection_rules_pick_tuple_and_type")
    tb.drive_key(rng.randbytes(40))
    await tb.program_table(tb.random_table(rng))
    reqs: list[Req] = []
    for is_ip in (False, True):
        for v6 in (False, True):
            for tcp in (False, True):
                for udp in (False, True):
                    for frag in (False, True):
                        for u4 in (False, True):
                            n = 16 if v6 else 4
                            src = rng.randbytes(n) if is_ip else b""
                            dst = rng.randbytes(n) if is_ip else b""
                            f = Flow(is_ip, v6, tcp, udp, frag, src, dst, 0xBEEF, 0x1234)
                            reqs.append(Req(f, u4))
    res = await tb.run(reqs, rng, what="selection results")
    counts: dict[str, int] = {}
    for req, exp in zip(reqs, res.expected, strict=True):
        counts[exp.rss_type.name] = counts.get(exp.rss_type.name, 0) + 1
        if not req.flow.is_ip:
            assert exp.rss_type == RssType.NONE and exp.hash == 0 and exp.queue == tb.table[0]
    assert set(counts) == {t.name for t in RssType}, f"types covered: {counts}"


@cocotb.test()
async def indirection_table_rewrite_moves_queues(dut: Any) -> None:
    """Same flows before and after rewriting the indirection table: hashes stay, queues follow
    the new table; a single-entry rewrite moves exactly the flows of that entry."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("indirection_table_rewrite_moves_queues")
    tb.drive_key(rng.randbytes(40))
    reqs = [Req(random_flow(rng, rng.choice(["v4", "v6"])), True) for _ in range(300)]
    await tb.program_table(tb.random_table(rng))
    first = await tb.run(reqs, rng, 0.8, 0.8, what="results, table A")
    await tb.program_table(tb.random_table(rng))
    second = await tb.run(reqs, rng, 0.8, 0.8, what="results, table B")
    assert [o.hash for o in first.got] == [o.hash for o in second.got]
    assert [o.queue for o in first.got] != [o.queue for o in second.got], "table B moved nothing"
    # One entry: every flow hashing to it moves to a queue no other entry uses.
    entry = first.got[0].hash & 0x7F
    table = [q % ((1 << tb.q_w) - 1) for q in tb.table]
    await tb.program_table(table)
    dut.ind_wr_en.value = 1
    dut.ind_wr_addr.value = entry
    dut.ind_wr_queue.value = (1 << tb.q_w) - 1
    await RisingEdge(dut.clk)
    dut.ind_wr_en.value = 0
    tb.table[entry] = (1 << tb.q_w) - 1
    third = await tb.run(reqs, rng, what="results, one entry moved")
    moved = [o.hash & 0x7F == entry for o in third.got]
    assert [o.queue == (1 << tb.q_w) - 1 for o in third.got] == moved
    assert any(moved)


@cocotb.test()
async def cycles_per_hash_back_to_back(dut: Any) -> None:
    """Back-to-back requests of one kind with the sink always ready: a request is accepted
    every C + 1 cycles and its result appears C + 1 cycles after the accepting edge, C =
    ceil(tuple bytes / BYTES_PER_CYCLE) (the first chunk is hashed in the accepting cycle);
    without hash, at most every 2 cycles, each result 2 cycles after. Every kind fits the
    ~16.8-cycle budget of a 64-byte frame at 10 GbE."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("cycles_per_hash_back_to_back")
    tb.drive_key(rng.randbytes(40))
    await tb.program_table(tb.random_table(rng))
    kinds = {
        "IPv4 2-tuple": ("v4", False, False),
        "IPv4 4-tuple": ("v4", True, False),
        "IPv6 2-tuple": ("v6", False, False),
        "IPv6 4-tuple": ("v6", True, False),
        "no hash": ("none", False, False),
    }
    report = []
    for name, (kind, tcp, udp) in kinds.items():
        reqs = []
        for _ in range(24):
            f = random_flow(rng, kind)
            f = Flow(f.is_ip, f.is_ipv6, tcp, udp, False, f.src, f.dst, f.sport, f.dport)
            reqs.append(Req(f))
        res = await tb.run(reqs, rng, what=f"{name} results")
        gaps = [b - a for a, b in zip(res.accepted_at, res.accepted_at[1:], strict=False)]
        lat = [o.cycle - a for o, a in zip(res.got, res.accepted_at, strict=True)]
        c = tb.chunks(flow_bytes(reqs[0].flow, False)) if kind != "none" else 0
        report.append(f"{name}: {max(gaps)} cycles/hash, latency {max(lat)}")
        if kind == "none":
            assert max(gaps) <= 2 and set(lat) == {2}, f"{name}: gaps {gaps}, latency {lat}"
        else:
            assert set(gaps) == {c + 1}, f"{name}: accept gaps {gaps}, expected {c + 1}"
            assert set(lat) == {c + 1}, f"{name}: latency {lat}, expected {c + 1}"
            assert c + 1 <= 16, f"{name}: {c + 1} cycles per hash is below 10 GbE 64 B line rate"
    log.info("BYTES_PER_CYCLE=%d: %s", tb.bpc, "; ".join(report))


@cocotb.test()
async def reset_mid_hash_drops_the_request_and_recovers(dut: Any) -> None:
    """Reset while a hash is in flight and a result is stalled: no ready and no result during
    or after reset, then a fresh batch is exact (the indirection table keeps its contents)."""
    tb = Tb(dut)
    await tb.start()
    rng = seeded_rng("reset_mid_hash_drops_the_request_and_recovers")
    tb.drive_key(rng.randbytes(40))
    await tb.program_table(tb.random_table(rng))
    f = random_flow(rng, "v6")
    tb.drive_flow(Req(Flow(True, True, True, False, False, f.src, f.dst, 1, 2)))
    dut.s_req_valid.value = 1
    dut.m_res_ready.value = 0
    await RisingEdge(dut.clk)
    tb.drive_flow(Req(Flow(True, True, True, False, False, f.dst, f.src, 3, 4)))
    await ClockCycles(dut.clk, 12)  # first result stalled, second hash in flight
    assert int(dut.m_res_valid.value) == 1
    dut.s_req_valid.value = 0
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    for _ in range(4):
        await RisingEdge(dut.clk)
        assert int(dut.s_req_ready.value) == 0, "s_req_ready during reset"
    dut.rst.value = 0
    dut.m_res_ready.value = 1
    for _ in range(20):
        await RisingEdge(dut.clk)
        assert int(dut.m_res_valid.value) == 0, "a result survived reset"
    reqs = [Req(random_flow(rng), rng.random() < 0.5) for _ in range(100)]
    await tb.run(reqs, rng, 0.7, 0.7, what="results after reset")

# SPDX-License-Identifier: MIT
"""cocotb tests for req_sf_fifo, the store-and-forward FIFO on the request stream.

Driven by tests/test_req_sf_fifo.py, which passes the build's AXIS_W, USER_W and DEPTH in the
environment (SFF_*). Every expectation is computed here from the beats that went in and the
handshakes seen, never read back from the RTL.

Sampling convention (Verilator + cocotb 2.1): values read right after ``await RisingEdge(clk)``
are the ones held during the cycle that edge closes, so a handshake at that edge is
``valid and ready`` as read there; writes made there take effect after it. The bookkeeping
counts (beats in, beats out, last beats in and out) are updated after the checks of an edge,
so during the checks they describe the FIFO during the cycle that edge closes.
"""

from __future__ import annotations

import os
import random
from typing import Any, NamedTuple

import cocotb
from cocotb.triggers import RisingEdge

from tb.lib.common import reset, seeded_rng, start_clock

AXIS_W = int(os.environ.get("SFF_AXIS_W", "64"))
USER_W = int(os.environ.get("SFF_USER_W", "13"))
DEPTH = int(os.environ.get("SFF_DEPTH", "8"))
KEEP_W = AXIS_W // 32
CLK_NS = 4.0
STALL_CLOCKS = 500  # no beat in or out for this long: the FIFO is deadlocked


class Beat(NamedTuple):
    data: int
    keep: int
    user: int
    last: int


async def setup(dut: Any) -> None:
    start_clock(dut.clk, CLK_NS)
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tkeep.value = 0
    dut.s_axis_tlast.value = 0
    dut.s_axis_tuser.value = 0
    dut.m_axis_tready.value = 0
    await reset(dut.clk, dut.rst)


def random_request(rng: random.Random, n: int) -> list[Beat]:
    """n beats of random data, nonzero keep and random tuser; tlast on the last."""
    return [
        Beat(
            rng.getrandbits(AXIS_W),
            rng.randrange(1, 1 << KEEP_W),
            rng.getrandbits(USER_W),
            int(i == n - 1),
        )
        for i in range(n)
    ]


def drive(dut: Any, beat: Beat | None, rng: random.Random) -> None:
    """Offer ``beat`` next cycle, or drop valid and put noise on the other inputs."""
    if beat is None:
        dut.s_axis_tvalid.value = 0
        beat = Beat(
            rng.getrandbits(AXIS_W),
            rng.getrandbits(KEEP_W),
            rng.getrandbits(USER_W),
            rng.getrandbits(1),
        )
    else:
        dut.s_axis_tvalid.value = 1
    dut.s_axis_tdata.value = beat.data
    dut.s_axis_tkeep.value = beat.keep
    dut.s_axis_tuser.value = beat.user
    dut.s_axis_tlast.value = beat.last


def out_beat(dut: Any) -> Beat:
    return Beat(
        int(dut.m_axis_tdata.value),
        int(dut.m_axis_tkeep.value),
        int(dut.m_axis_tuser.value),
        int(dut.m_axis_tlast.value),
    )


async def exchange(
    dut: Any, reqs: list[list[Beat]], p_valid: float, p_ready: float, rng: random.Random
) -> int:
    """Offer the beats of ``reqs`` in order with valid on a fraction p_valid of clocks, take
    with ready on p_ready of them, and check every clock against the bookkeeping. Returns how
    many requests cut through (first beat offered before the last was in)."""
    beats = [b for r in reqs for b in r]
    req_of: list[int] = []  # beat index -> request index
    first: list[int] = []  # request index -> beat index of its first beat
    last: list[int] = []  # request index -> beat index of its last beat
    for ri, r in enumerate(reqs):
        first.append(len(req_of))
        req_of += [ri] * len(r)
        last.append(len(req_of) - 1)
    what = f"valid {p_valid} ready {p_ready}"
    sent = 0  # beats in
    out = 0  # beats out
    lasts_in = 0
    lasts_out = 0
    offered = False  # s_axis_tvalid is high this cycle
    ready = 0  # m_axis_tready this cycle
    stalled: Beat | None = None  # beat on offer, not taken, at the previous edge
    flowing = False  # a request that fits has started to leave and its last beat has not
    cut_through = 0
    idle = 0
    while out < len(beats):
        await RisingEdge(dut.clk)
        s_ready = int(dut.s_axis_tready.value)
        m_valid = int(dut.m_axis_tvalid.value)
        busy = int(dut.busy.value)
        held = sent - out  # beats inside during the cycle just closed
        complete = lasts_in - lasts_out  # requests inside whose last beat is in
        where = f"{what}, beat {out} out / {sent} in, {held} held, {complete} complete"
        # (e) ready upstream exactly while there is room
        assert s_ready == (held < DEPTH), f"s_ready {s_ready}: {where}"
        # (d) busy: a request whose last beat is in has not wholly left
        assert busy == (complete > 0), f"busy {busy}: {where}"
        assert not m_valid or held > 0, f"m_valid with the FIFO empty: {where}"
        # (f) a beat on offer and not taken stays on offer, unchanged
        if stalled is not None:
            assert m_valid, f"m_valid fell with a beat on offer not taken: {where}"
            assert out_beat(dut) == stalled, f"stalled output beat changed: {where}"
        # (c) a request that fits leaves back to back
        if flowing:
            assert m_valid, f"bubble inside request {req_of[out]}: {where}"
        if m_valid:
            ri = req_of[out]
            # (b) a first beat is offered once its request's last beat is in, or the FIFO
            # is full of a request longer than it
            if out == first[ri] and last[ri] >= sent:
                assert held == DEPTH and len(reqs[ri]) > DEPTH, (
                    f"request {ri} ({len(reqs[ri])} beats) offered before its last beat "
                    f"is in: {where}"
                )
                if stalled is None:
                    cut_through += 1
            got = out_beat(dut)
            # (a) the beats leave as they came in
            assert got == beats[out], f"beat {out} of request {ri}: {got} != {beats[out]}"
            if ready:
                out += 1
                idle = 0
                if got.last:
                    lasts_out += 1
                    flowing = False
                elif len(reqs[ri]) <= DEPTH:
                    flowing = True
                stalled = None
            else:
                stalled = got
        if offered and s_ready:
            lasts_in += beats[sent].last
            sent += 1
            idle = 0
        idle += 1
        assert idle < STALL_CLOCKS, f"nothing moved for {STALL_CLOCKS} clocks: {where}"
        # next cycle's inputs
        offered = sent < len(beats) and rng.random() < p_valid
        drive(dut, beats[sent] if offered else None, rng)
        ready = int(rng.random() < p_ready)
        dut.m_axis_tready.value = ready
    offered = False
    drive(dut, None, rng)
    return cut_through


@cocotb.test()
async def random_requests_leave_whole_in_order(dut: Any) -> None:
    await setup(dut)
    rng = seeded_rng("req_sf_fifo random requests")
    for p_valid, p_ready in ((1.0, 1.0), (0.5, 0.5), (1.0, 0.3), (0.3, 1.0), (0.9, 0.9)):
        reqs = [random_request(rng, rng.randint(1, DEPTH + 4)) for _ in range(1500)]
        long_reqs = sum(len(r) > DEPTH for r in reqs)
        cut = await exchange(dut, reqs, p_valid, p_ready, rng)
        # every request longer than the FIFO has to start leaving before its last beat is in
        assert cut == long_reqs, f"{cut} requests cut through, {long_reqs} longer than {DEPTH}"


@cocotb.test()
async def one_beat_request_through_empty_fifo_in_one_clock(dut: Any) -> None:
    """A one-beat request is on the output right after the edge that takes it in; a request
    that trickles in is not offered until its last beat is in, then leaves in one burst."""
    await setup(dut)
    rng = seeded_rng("req_sf_fifo latency")
    dut.m_axis_tready.value = 1

    (one,) = random_request(rng, 1)
    drive(dut, one, rng)
    await RisingEdge(dut.clk)  # the push edge
    assert int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value), "push refused"
    assert not int(dut.m_axis_tvalid.value), "m_valid with the FIFO empty"
    assert not int(dut.busy.value), "busy with the FIFO empty"
    drive(dut, None, rng)
    await RisingEdge(dut.clk)  # the beat is on offer during the cycle this edge closes
    assert int(dut.m_axis_tvalid.value), "one-beat request not offered one clock after push"
    assert int(dut.busy.value), "busy low with a complete request inside"
    assert out_beat(dut) == one, f"{out_beat(dut)} != {one}"
    await RisingEdge(dut.clk)
    assert not int(dut.m_axis_tvalid.value), "m_valid after the only beat was taken"
    assert not int(dut.busy.value), "busy after the only request left"

    req = random_request(rng, 4)
    pushed_at: list[int] = []
    taken: list[tuple[int, Beat]] = []
    sent = 0
    for clk in range(4 * 3 + 10):
        if sent < len(req) and clk % 3 == 0:
            drive(dut, req[sent], rng)
        else:
            drive(dut, None, rng)
        await RisingEdge(dut.clk)
        m_valid = int(dut.m_axis_tvalid.value)
        busy = int(dut.busy.value)
        # the last beat's push edge is the last edge before which nothing may be offered
        complete_before = len(pushed_at) == len(req)
        assert busy == (complete_before and len(taken) < len(req)), f"busy {busy} at clock {clk}"
        if not complete_before:
            assert not m_valid, f"offered at clock {clk} with {len(pushed_at)} of 4 beats in"
        if m_valid:
            taken.append((clk, out_beat(dut)))
        if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
            pushed_at.append(clk)
            sent += 1
    assert len(pushed_at) == len(req), f"pushed at {pushed_at}"
    t = pushed_at[-1]
    assert [c for c, _ in taken] == [t + 1, t + 2, t + 3, t + 4], (
        f"last beat pushed at {t}, beats left at {[c for c, _ in taken]}"
    )
    assert [b for _, b in taken] == req, f"{taken} != {req}"


@cocotb.test()
async def longer_than_depth_cuts_through(dut: Any) -> None:
    """A request three times the FIFO's depth, offered every clock to a sink always ready:
    its first beat leaves only once DEPTH beats are in, and all of it comes out in order."""
    await setup(dut)
    rng = seeded_rng("req_sf_fifo cut-through")
    req = random_request(rng, 3 * DEPTH)
    dut.m_axis_tready.value = 1
    sent = 0
    out: list[Beat] = []
    first_out_after: int | None = None  # beats in when the first beat left
    bound = 20 * len(req) + 50
    for _ in range(bound):
        drive(dut, req[sent] if sent < len(req) else None, rng)
        await RisingEdge(dut.clk)
        if int(dut.m_axis_tvalid.value):
            if not out:
                first_out_after = sent
            out.append(out_beat(dut))
        if int(dut.s_axis_tvalid.value) and int(dut.s_axis_tready.value):
            sent += 1
        if len(out) == len(req):
            break
    drive(dut, None, rng)
    assert len(out) == len(req), (
        f"{len(out)} of {len(req)} beats out, {sent} in, after {bound} clocks"
    )
    assert out == req, "beats out of order or changed"
    assert first_out_after == DEPTH, (
        f"first beat left with {first_out_after} beats in, not {DEPTH} (a full FIFO)"
    )

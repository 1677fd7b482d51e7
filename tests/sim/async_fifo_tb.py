# SPDX-License-Identifier: MIT
"""cocotb tests for the clock crossing: sync_2ff and async_frame_fifo.

Driven by tests/test_async_fifo.py, which builds each parameter set once and passes the clock
periods and traffic shape in the environment (ASYNC_*), the simulator seed on the command line
(+verilator+seed+N, so the synchronizers' $urandom jitter follows the test seed too).

Sampling convention (checked for Verilator + cocotb 2.1): values read right after
``await RisingEdge(clk)`` are the ones held during the cycle that edge closes, so a handshake
at that edge is ``tvalid and tready`` as read there; writes made there take effect after it.
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass, field
from typing import Any

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, Timer
from cocotb.utils import get_sim_time

from tb.lib.common import deadline, reset, seeded_rng, start_clock

# m_clk starts this long after s_clk. Periods in the tests are multiples of 100 ps, so with a
# 37 ps offset no s_clk edge ever coincides with an m_clk edge (the cross-domain bookkeeping
# below relies on each edge's coroutine running before or after the other domain's, never tied).
PHASE_PS = 1037

Word = tuple[int, int, int, int]  # (tdata, tkeep, tlast, tuser)


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def make_frames(rng: random.Random, n_words: int, user_w: int) -> list[Word]:
    """MAC-shaped words: frames of 1..24 words, tkeep all ones but on the last word (1..8
    bytes from lane 0), tuser (frame status) only on the last word. At least n_words."""
    words: list[Word] = []
    while len(words) < n_words:
        length = rng.randint(1, 24)
        for i in range(length):
            last = i == length - 1
            keep = (1 << rng.randint(1, 8)) - 1 if last else 0xFF
            user = rng.getrandbits(user_w) if last else 0
            words.append((rng.getrandbits(64), keep, int(last), user))
    return words


@dataclass
class Tally:
    """Shared between the two clock domains' coroutines (each updates its own fields)."""

    accepted: int = 0  # s_axis handshakes so far
    delivered: int = 0  # m_axis handshakes so far
    full_cycles: int = 0  # s_clk cycles with s_full reported
    empty_cycles: int = 0  # m_clk cycles with m_empty after the first delivery
    not_ready_cycles: int = 0  # s_clk cycles with tvalid high and tready low
    first_accept_cycle: int = -1
    last_accept_cycle: int = -1
    levels: list[int] = field(default_factory=list)  # s_level at each s_clk edge while sending
    accept_ns: list[float] = field(default_factory=list)
    deliver_ns: list[float] = field(default_factory=list)


async def start(dut: Any, s_ns: float, m_ns: float) -> None:
    """Clocks at unrelated phases, both resets asserted together, then released."""
    dut.s_axis_tvalid.value = 0
    dut.m_axis_tready.value = 0
    dut.s_rst.value = 1
    dut.m_rst.value = 1
    start_clock(dut.s_clk, s_ns)
    await Timer(PHASE_PS, "ps")
    start_clock(dut.m_clk, m_ns)
    m_reset = cocotb.start_soon(reset(dut.m_clk, dut.m_rst, 8))
    await reset(dut.s_clk, dut.s_rst, 8)
    await m_reset


async def source(
    dut: Any, words: list[Word], rng: random.Random, idle_p: float, idle_max: int, t: Tally
) -> None:
    """AXI-stream source on s_clk with random idle runs; checks the write-side flags every
    cycle against the true occupancy (words accepted - delivered - the one in m_axis)."""
    depth = 2 ** (len(dut.s_level) - 1)
    idx = 0
    valid = False
    idle_left = 0
    cycle = 0
    while idx < len(words):
        await RisingEdge(dut.s_clk)
        cycle += 1
        tready = int(dut.s_axis_tready.value)
        full = int(dut.s_full.value)
        level = int(dut.s_level.value)
        in_mem = t.accepted - t.delivered - int(dut.m_axis_tvalid.value)
        assert full == 1 - tready, f"s_full={full} but s_axis_tready={tready}"
        assert full == (level == depth), f"s_full={full} but s_level={level} (depth {depth})"
        assert 0 <= in_mem <= depth, f"memory holds {in_mem} words, depth is {depth}"
        assert level >= in_mem, f"s_level={level} under-reports {in_mem} words in the memory"
        t.levels.append(level)
        t.full_cycles += full
        if valid:
            if tready:
                t.accepted += 1
                t.accept_ns.append(get_sim_time("ns"))
                if t.first_accept_cycle < 0:
                    t.first_accept_cycle = cycle
                t.last_accept_cycle = cycle
                idx += 1
                valid = False
            else:
                t.not_ready_cycles += 1
                continue  # AXI: a presented word stays until accepted
        if idx == len(words):
            break
        if idle_left == 0 and rng.random() < idle_p:
            idle_left = rng.randint(1, idle_max)
        if idle_left:
            idle_left -= 1
            dut.s_axis_tvalid.value = 0
            continue
        data, keep, last, user = words[idx]
        dut.s_axis_tdata.value = data
        dut.s_axis_tkeep.value = keep
        dut.s_axis_tlast.value = last
        dut.s_axis_tuser.value = user
        dut.s_axis_tvalid.value = 1
        valid = True
    dut.s_axis_tvalid.value = 0


async def sink(
    dut: Any, words: list[Word], rng: random.Random, stall_p: float, stall_max: int, t: Tally
) -> None:
    """AXI-stream sink on m_clk with random back-pressure runs; every word must be the next
    one sent, and m_empty must match m_axis_tvalid."""
    ready = 0
    stall_left = 0
    while t.delivered < len(words):
        await RisingEdge(dut.m_clk)
        valid = int(dut.m_axis_tvalid.value)
        empty = int(dut.m_empty.value)
        assert empty == 1 - valid, f"m_empty={empty} but m_axis_tvalid={valid}"
        if empty and t.delivered:
            t.empty_cycles += 1
        if valid and ready:
            n = t.delivered
            assert n < t.accepted, f"underflow: word {n} delivered, only {t.accepted} accepted"
            got = (
                int(dut.m_axis_tdata.value),
                int(dut.m_axis_tkeep.value),
                int(dut.m_axis_tlast.value),
                int(dut.m_axis_tuser.value),
            )
            if got != words[n]:
                raise AssertionError(
                    f"word {n}: got (tdata, tkeep, tlast, tuser) = {got!r}, sent {words[n]!r}"
                )
            t.delivered += 1
            t.deliver_ns.append(get_sim_time("ns"))
        if stall_left == 0 and rng.random() < stall_p:
            stall_left = rng.randint(1, stall_max)
        if stall_left:
            stall_left -= 1
            ready = 0
        else:
            ready = 1
        dut.m_axis_tready.value = ready


async def transfer(
    dut: Any,
    words: list[Word],
    t: Tally,
    rng: random.Random,
    *,
    idle_p: float,
    idle_max: int,
    stall_p: float,
    stall_max: int,
    timeout_ns: float,
) -> None:
    """Run source and sink (each with its own RNG drawn from rng) under one watchdog."""
    src_rng = random.Random(rng.getrandbits(64))
    snk_rng = random.Random(rng.getrandbits(64))
    src = cocotb.start_soon(source(dut, words, src_rng, idle_p, idle_max, t))
    snk = cocotb.start_soon(sink(dut, words, snk_rng, stall_p, stall_max, t))
    try:
        await deadline(snk, timeout_ns, f"delivery of all {len(words)} words on m_axis")
    except AssertionError as exc:
        if str(exc).startswith("watchdog"):
            raise AssertionError(
                f"{exc}; {t.accepted} accepted on s_axis, {t.delivered} delivered"
            ) from None
        raise
    await deadline(src, 10 * timeout_ns / len(words), "source task to finish")
    assert t.accepted == t.delivered == len(words)


@cocotb.test()
async def frames_cross_intact(dut: Any) -> None:
    """Every word arrives once, in order, unmodified; flags never lie (random idles and
    back-pressure, SIM_JITTER_EN synchronizers, clock periods from the environment)."""
    s_ns = _env_float("ASYNC_S_NS", 6.4)
    m_ns = _env_float("ASYNC_M_NS", 4.0)
    n = int(os.environ.get("ASYNC_WORDS", "4000"))
    depth = 2 ** (len(dut.s_level) - 1)
    rng = seeded_rng(f"frames_cross_intact {s_ns}->{m_ns} ns")
    words = make_frames(rng, n, len(dut.s_axis_tuser))
    await start(dut, s_ns, m_ns)
    t = Tally()
    await transfer(
        dut,
        words,
        t,
        rng,
        idle_p=_env_float("ASYNC_IDLE_P", 0.08),
        idle_max=12,
        stall_p=_env_float("ASYNC_STALL_P", 0.04),
        stall_max=3 * depth,
        timeout_ns=len(words) * 20 * max(s_ns, m_ns),
    )
    frames = sum(w[2] for w in words)
    dut._log.info(
        "%d words / %d frames crossed %.1f -> %.1f ns; s_full %d cycles, m_empty %d cycles",
        len(words),
        frames,
        s_ns,
        m_ns,
        t.full_cycles,
        t.empty_cycles,
    )
    # The traffic must have exercised both flags, or the checks above proved little.
    assert t.full_cycles > 0, "s_full never asserted: back-pressure did not fill the FIFO"
    assert t.empty_cycles > 0, "m_empty never asserted after data: idles did not drain it"


@cocotb.test()
async def mac_to_pcie_sustains_one_word_per_mac_cycle(dut: Any) -> None:
    """156.25 -> 250 MHz, source always valid, sink always ready: one word per s_clk cycle
    with s_axis_tready never low, bounded latency and a level that does not grow."""
    s_ns, m_ns = 6.4, 4.0
    n = int(os.environ.get("ASYNC_WORDS", "4000"))
    depth = 2 ** (len(dut.s_level) - 1)
    rng = seeded_rng("mac_to_pcie_sustains_one_word_per_mac_cycle")
    words = make_frames(rng, n, len(dut.s_axis_tuser))
    await start(dut, s_ns, m_ns)
    t = Tally()
    await transfer(
        dut,
        words,
        t,
        rng,
        idle_p=0.0,
        idle_max=1,
        stall_p=0.0,
        stall_max=1,
        timeout_ns=len(words) * 4 * s_ns,
    )
    span = t.last_accept_cycle - t.first_accept_cycle + 1
    latency_cycles = max(d - a for a, d in zip(t.accept_ns, t.deliver_ns, strict=True)) / m_ns
    half = len(t.levels) // 2
    first_max, second_max = max(t.levels[:half]), max(t.levels[half:])
    dut._log.info(
        "%d words in %d s_clk cycles; tready low %d cycles; worst latency %.2f m_clk cycles; "
        "max s_level %d (first half) / %d (second half) of %d",
        len(words),
        span,
        t.not_ready_cycles,
        latency_cycles,
        first_max,
        second_max,
        depth,
    )
    assert t.not_ready_cycles == 0, f"s_axis_tready low for {t.not_ready_cycles} cycles"
    assert span == len(words), f"{len(words)} words took {span} s_clk cycles, not one each"
    # Word written at s_clk edge t0: m_clk edges e1 (first flop), e2 or e3 (second flop,
    # jitter), pop into the output register at the next edge, handshake at the one after.
    assert latency_cycles <= 5, f"worst s_axis -> m_axis latency {latency_cycles:.2f} m_clk cycles"
    # Occupancy is set by the pointer round trip, not by the run length: it must not grow.
    assert second_max <= first_max < depth, f"s_level grew: {first_max} then {second_max}"


# ---------------------------------------------------------------------------------- sync_2ff


def _gray(x: int) -> int:
    return x ^ (x >> 1)


@cocotb.test()
async def sync_delay_per_change(dut: Any) -> None:
    """Without jitter q after clk edge n is d at edge n-1. With SIM_JITTER_EN, each bit of the
    latest change of d made before edge n-1 may still be old (3 cycles instead of 2); bits of
    earlier changes may not, so a gray code moving two steps between edges stays a valid code
    (old or new), while bits changing in one step resolve independently. ASYNC_SYNC_JITTER
    says which to expect; with jitter both delays must occur for every bit."""
    jitter = os.environ["ASYNC_SYNC_JITTER"] == "1"
    width = len(dut.d)
    full_mask = (1 << width) - 1
    rng = seeded_rng("sync_delay_per_change")
    start_clock(dut.clk, 4.0)
    dut.d.value = 0
    await reset(dut.clk, dut.rst, 4)
    late = [0] * width
    on_time = [0] * width
    multi = {"mixed": 0, "all_late": 0, "all_on_time": 0}
    gray_steps = {"old": 0, "new": 0}
    trace = hashlib.sha256()
    st = {"cur": 0, "old": 0, "s": 0, "mask": 0}  # d now, d before its latest change, at edge

    async def step(values: list[int], gray_pair: tuple[int, int] | None = None) -> int:
        await FallingEdge(dut.clk)
        for i, v in enumerate(values):
            if i:
                await Timer(1, "ns")  # a second change before the edge: a faster source
            dut.d.value = v
            if v != st["cur"]:
                st["old"], st["cur"] = st["cur"], v
        await RisingEdge(dut.clk)
        s_prev, mask_prev = st["s"], st["mask"]
        st["s"] = st["cur"]
        st["mask"] = (st["cur"] ^ st["old"]) & (st["cur"] ^ s_prev)
        await ReadOnly()
        q = int(dut.q.value)
        trace.update(q.to_bytes(4, "little"))
        free = mask_prev if jitter else 0  # bits that may still show their old value
        assert (q ^ s_prev) & ~free & full_mask == 0, (
            f"q={q:#x}: expected d at the previous edge {s_prev:#x}"
            + (f", bits {free:#x} possibly still old" if free else "")
        )
        late_bits = (q ^ s_prev) & free
        if gray_pair is not None:  # two gray steps since the edge before: old or new code only
            assert q in gray_pair, (
                f"q={q:#x} is neither gray code {gray_pair[0]:#x} nor {gray_pair[1]:#x}"
            )
        if bin(mask_prev).count("1") == 1:
            b = mask_prev.bit_length() - 1
            (late if late_bits else on_time)[b] += 1
        elif mask_prev:
            if late_bits == 0:
                multi["all_on_time"] += 1
            elif late_bits == mask_prev:
                multi["all_late"] += 1
            else:
                multi["mixed"] += 1
        return q

    async def scenario() -> None:
        d = 0
        for _ in range(3000):  # one bit toggles in some cycles, often back to back
            if rng.random() < 0.6:
                d ^= 1 << rng.randrange(width)
            await step([d])
        counter = 0
        for _ in range(1000):  # gray counter stepping twice between edges (fast source)
            g1 = _gray((counter + 1) & full_mask)
            g2 = _gray((counter + 2) & full_mask)
            counter += 2
            await step([g1, g2])
            q = await step([g2], (g1, g2))  # q now shows what was captured with d = g2
            gray_steps["new" if q == g2 else "old"] += 1
        for _ in range(1000):  # unrelated bits changing in one step (binary-like)
            await step([rng.getrandbits(width)])

    await deadline(scenario(), 7000 * 4.0 * 4, "the sync_2ff stimulus to finish")
    dut._log.info(
        "single-bit changes late/on time per bit: %s / %s; multi-bit changes %s; "
        "double gray steps %s",
        late,
        on_time,
        multi,
        gray_steps,
    )
    if jitter:
        for b in range(width):
            total = late[b] + on_time[b]
            assert total > 100, f"bit {b}: only {total} single-bit changes"
            assert 0.25 < late[b] / total < 0.75, f"bit {b}: {late[b]} of {total} late"
        assert multi["mixed"] > 50, f"bits changing together never resolved apart: {multi}"
        assert min(gray_steps.values()) > 100, f"double gray steps: {gray_steps}"
    else:
        assert sum(late) == 0 and multi["mixed"] + multi["all_late"] == 0, "3 cycles, no jitter"
    sig_file = os.environ.get("ASYNC_SIGNATURE_FILE")
    if sig_file:
        with open(sig_file, "w") as f:
            f.write(trace.hexdigest() + "\n")

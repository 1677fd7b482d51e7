# SPDX-License-Identifier: MIT
"""The clock crossing under stress, at rx_frontend level (MAC -> crossing -> packet FIFO), with
the test's own clocks: a user clock too slow for the wire, and each side reset alone while the
other runs. Every frame that comes out is checked byte for byte against one frame sent, in
order; frames that do not come out are counted as cdc_drop (or, around a MAC reset, lost on
the wire). Run through tests/test_frontend_cdc.py."""

from __future__ import annotations

import random
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotb.utils import get_sim_time
from cocotbext.eth import XgmiiSource

from model.records import DropReason
from tb.lib.common import deadline, seeded_rng
from tests.sim.line_rate_tb import MAC_NS, drops, frames_of, setup


class Out:
    """Frames leaving the packet FIFO (its output is always ready), as bytes."""

    def __init__(self, dut: Any) -> None:
        self.frames: list[bytes] = []
        self._cur = bytearray()
        self._task = cocotb.start_soon(self._run(dut))

    async def _run(self, dut: Any) -> None:
        edge = RisingEdge(dut.clk)
        while True:
            await edge
            if int(dut.rst.value):  # the consumer is reset with the FIFO: a frame half out is gone
                self._cur = bytearray()
                continue
            if not int(dut.q_tvalid.value):
                continue
            keep = int(dut.q_tkeep.value)
            data = int(dut.q_tdata.value).to_bytes(8, "little")
            self._cur += data[: bin(keep).count("1")]
            if int(dut.q_tlast.value):
                self.frames.append(bytes(self._cur))
                self._cur = bytearray()

    def stop(self) -> None:
        self._task.cancel()


def match_in_order(sent: list[bytes], got: list[bytes]) -> list[int]:
    """Index into ``sent`` of each frame in ``got``: each must equal a sent frame, later ones
    later on the wire. Fails naming the first frame that is merged, cut or out of order."""
    idx: list[int] = []
    j = 0
    for k, g in enumerate(got):
        while j < len(sent) and sent[j] != g:
            j += 1
        assert j < len(sent), (
            f"frame {k} out ({len(g)} B) equals no frame sent after frame "
            f"{idx[-1] if idx else -1}: merged, cut or corrupted (first bytes {g[:16].hex()})"
        )
        idx.append(j)
        j += 1
    return idx


def mixed_sizes(rng: random.Random, n: int) -> list[int]:
    return [rng.choice([64, 65, 128, 300, 1518, rng.randint(64, 1518)]) for _ in range(n)]


@cocotb.test()
async def slow_user_clock_drops_whole_frames(dut: Any) -> None:
    """A 50 MHz user clock drains 3.2 Gb/s from a 10 Gb/s wire: the crossing fills. Frames are
    dropped whole, each counted once as cdc_drop; every frame out is a whole frame sent."""
    await setup(dut, user_ns=20.0)
    rng = seeded_rng("slow user clock")
    sizes = mixed_sizes(rng, 160)
    frames = frames_of(rng, sizes)
    src = XgmiiSource(dut.xgmii_rxd, dut.xgmii_rxc, dut.mac_clk)
    src.log.setLevel("WARNING")
    out = Out(dut)
    for f in frames:
        await src.send(f)
    await deadline(src.wait(), len(sizes) * 1600 * MAC_NS, "the wire to finish sending")
    await ClockCycles(dut.clk, 400)  # the crossing and the FIFO drain
    out.stop()
    sent = [bytes(f.get_payload()) for f in frames]
    got = match_in_order(sent, out.frames)
    d = drops(dut)
    dut._log.info("sent %d, out %d, dropped %s", len(sent), len(got),
                  {r.name: n for r, n in d.items() if n})  # fmt: skip
    assert d[DropReason.CDC_DROP] > 0, "the crossing never filled: the test proves nothing"
    others = {r.name: n for r, n in d.items() if n and r != DropReason.CDC_DROP}
    assert not others, others
    assert len(got) + d[DropReason.CDC_DROP] == len(sent), (
        f"{len(got)} out + {d[DropReason.CDC_DROP]} cdc_drop != {len(sent)} sent"
    )
    assert int(dut.frames_in_good.value) == len(got)


async def _reset_under_traffic(dut: Any, side: str) -> None:
    """Reset one side alone, mid-traffic, for longer than a frame; the other side keeps going."""
    await setup(dut, user_ns=4.0)
    rng = seeded_rng(f"{side} reset")
    sizes = mixed_sizes(rng, 120)
    frames = frames_of(rng, sizes)
    src = XgmiiSource(dut.xgmii_rxd, dut.xgmii_rxc, dut.mac_clk)  # the wire ignores resets
    src.log.setLevel("WARNING")
    out = Out(dut)
    starts: list[float] = []

    async def feed() -> None:
        for f in frames:
            await src.send(f)

    async def note_starts() -> None:  # time each frame's start word is on the bus
        edge = RisingEdge(dut.mac_clk)
        while True:
            await edge
            rxc, rxd = int(dut.xgmii_rxc.value), int(dut.xgmii_rxd.value)
            for lane in (0, 4):
                if rxc >> lane & 1 and (rxd >> (8 * lane)) & 0xFF == 0xFB:
                    starts.append(get_sim_time("ns"))

    cocotb.start_soon(feed())
    watch = cocotb.start_soon(note_starts())
    await Timer(round(sum((n + 20) * 0.8 for n in sizes[:40])), "ns")  # about 40 frames in
    rst = dut.rst if side == "user" else dut.mac_rst
    clk = dut.clk if side == "user" else dut.mac_clk
    rst.value = 1
    t_rst = get_sim_time("ns")
    await ClockCycles(clk, 400)  # 1.6 us (user) / 2.6 us (MAC): several frames
    rst.value = 0
    t_end = get_sim_time("ns")
    await deadline(src.wait(), len(sizes) * 1600 * MAC_NS, "the wire to finish sending")
    await ClockCycles(dut.clk, 600)
    out.stop()
    watch.cancel()
    sent = [bytes(f.get_payload()) for f in frames]
    dut._log.info("reset %.0f..%.0f ns; sent sizes %s; out sizes %s", t_rst, t_end,
                  [len(x) for x in sent[30:60]], [len(x) for x in out.frames[30:60]])  # fmt: skip
    got = match_in_order(sent, out.frames)
    assert len(starts) == len(sent)
    # Frames that start on the wire well after the reset ends come out, every one of them.
    margin = 2000.0  # ns: the frame in flight at the end of the reset, and the crossing
    after = [i for i, t in enumerate(starts) if t > t_end + margin]
    missing = sorted(set(after) - set(got))
    assert after and not missing, f"frames sent after the {side} reset never came out: {missing}"
    # And so do the frames that ended well before it (they left before the reset).
    before = [i for i, t in enumerate(starts) if t + sizes[i] * 0.8 + margin < t_rst]
    assert before and not sorted(set(before) - set(got)), "frames before the reset lost"
    d = drops(dut)
    lost = len(sent) - len(got)
    dut._log.info("%s reset: sent %d, out %d, drops %s", side, len(sent), len(got),
                  {r.name: n for r, n in d.items() if n})  # fmt: skip
    assert lost >= 1, "the reset dropped nothing: it did not hit the traffic"
    if side == "mac":
        # Counted here: frames the crossing dropped whole while the MAC was down, and the one it
        # had begun; frames on the wire while the MAC was in reset are lost uncounted.
        counted = sum(d.values())
        assert set(r for r, n in d.items() if n) <= {DropReason.CDC_DROP}, d
        assert counted <= lost


@cocotb.test()
async def user_reset_alone_under_traffic(dut: Any) -> None:
    await _reset_under_traffic(dut, "user")


@cocotb.test()
async def mac_reset_alone_under_traffic(dut: Any) -> None:
    await _reset_under_traffic(dut, "mac")
